#!/usr/bin/env bash
# `docker rename` through ds01's Docker endpoint, as a real user with the real docker CLI: a
# running container with a GPU becomes NEW._.<user>; ds01's verbs, docker ps and exec, the GPU
# lease and the ledger follow it; /workspace is still mounted after a stop and start (its pin
# stays under the name it was created with); the old project can be deployed again; a daemon
# restart between the rename and the retire keeps all of it; the retire frees the GPU and
# removes the pins. A rename Docker made while the daemon was down (a crash between the two
# steps) is adopted at start-up. Refused, each with its message and nothing changed: another user's
# container (No such container), another user's suffix, a name in use (a container, a waiting
# deploy), an invalid name, and a container with published ports (the message says how).
# ds01-test: kind=functional budget=33
DS01_GPUS=1 # training's GPU fills the server: a deploy --wait waits in the queue
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
PINS="$T/state/workspaces"

# --- a container with a GPU and a published port --------------------------------------------------
capture as_user "$A" container-deploy training --gpus 1 --port 8888 --json
assert_eq 0 "$RC" "A: container-deploy training --gpus 1 --port 8888 ($ERR)"
U=$(jqr '.gpus[0] | if type == "object" then .uuid else . end' "$OUT")
assert_ne "" "$U" "the deploy leased a GPU"
assert_exit 0 -m "B: deploy mine" as_user "$B" container-deploy mine --cpu-only
assert_exit 0 -m "A: deploy busy" as_user "$A" container-deploy busy --cpu-only
assert_exit 0 -m "A writes a file in /workspace" \
	as_user "$A" docker exec training sh -c 'echo kept-$$ >/workspace/note; cat /workspace/note'
NOTE=$(as_user "$A" docker exec training cat /workspace/note 2>/dev/null)
ID=$(docker_id "training._.$A")

# --- refusals -------------------------------------------------------------------------------------
capture as_user "$A" docker rename training exp2
assert_ne 0 "$RC" "rename with a published port is refused"
assert_contains "$ERR" "remove the ports first (container-port training remove PORT)" \
	"the refusal says how (8888: $ERR)"
assert_exit 0 -m "A: container-port training remove 8888" as_user "$A" container-port training remove 8888

# an open session (container-attach's exec, as docker exec -it's) holds off the idle stop by name
as_user_bg "$A" container-attach training -- sleep 60 >/dev/null 2>&1
SESSION=$!
wait_for 10 sh -c "docker top 'training._.$A' | grep -q 'sleep 60'"
capture as_user "$A" docker rename training exp2
assert_contains "$ERR" "has sessions open" "rename with a session open is refused ($ERR)"
kill "$SESSION" 2>/dev/null
wait "$SESSION" 2>/dev/null
capture as_user "$B" docker rename "training._.$A" stolen
assert_contains "$ERR" "No such container" "B: another user's container is No such container"
capture as_user "$A" docker rename training "exp2._.$B"
assert_contains "$ERR" "give the new name as PROJECT or PROJECT._.$A" \
	"another user's suffix is refused ($ERR)"
capture as_user "$A" docker rename training busy
assert_contains "$ERR" "is already in use" "a name in use is refused ($ERR)"
capture as_user "$A" container-deploy waiting --wait
assert_contains "$OUT" "waits for GPUs" "A: container-deploy waiting --wait joins the queue ($ERR)"
capture as_user "$A" docker rename training waiting
assert_contains "$ERR" "in use by your deploy waiting in the GPU queue" \
	"the name of a waiting deploy is refused ($ERR)"
assert_exit 0 -m "A: gpu-queue leave waiting" as_user "$A" gpu-queue leave waiting
capture as_user "$A" docker rename training "Bad Name!"
assert_ne 0 "$RC" "an invalid name is refused"
assert_contains "$ERR" "invalid" "the refusal says the name is invalid ($ERR)"
capture as_user "$A" docker rename training "busy._.$A"
assert_contains "$ERR" "is already in use" "a full name in use is refused too"
assert_eq "$ID" "$(docker_id "training._.$A")" "after the refusals training is as it was"
assert_event auth.denied

# --- the rename, while running --------------------------------------------------------------------
capture as_user "$A" docker rename training exp2
assert_eq 0 "$RC" "A: docker rename training exp2 ($ERR)"
assert_eq "$ID" "$(docker_id "exp2._.$A")" "Docker has the same container as exp2._.$A"
assert_eq "" "$(docker_id "training._.$A")" "and none named training._.$A"
assert_eq running "$(docker_state "exp2._.$A")" "it is still running"
capture as_user "$A" docker ps --format '{{.Names}}'
assert_contains "$OUT" "exp2._.$A" "docker ps shows exp2"
assert_not_contains "$OUT" "training._.$A" "and not training"
assert_eq "$U" "$(container_gpus "$A" exp2)" "container-list shows exp2 with its GPU"
assert_eq "" "$(container_entry "$A" training)" "container-list has no training"
assert_jq "ds01 gpus: the lease is exp2's" \
	".slots[] | select(.uuid == \"$U\") | .lease.container == \"exp2._.$A\" and .lease.project == \"exp2\"" \
	"$(gpus_json)"
capture as_user "$A" docker exec exp2 cat /workspace/note
assert_eq "$NOTE" "$OUT" "docker exec exp2 sees /workspace"
assert_event container.rename "$A"
assert_eq 1 "$(events_query ".event_type == \"container.rename\" and .details.from == \"training._.$A\" and .details.to == \"exp2._.$A\"" | grep -c .)" \
	"the event names from and to"
capture as_user "$A" docker rename exp2 "exp2._.$A"
assert_ne 0 "$RC" "renaming to its own name is refused"

# --- stop and start: the workspace is mounted again from the original pin -------------------------
assert_exit 0 -m "A: container-stop exp2" as_user "$A" container-stop exp2
assert_exit 0 -m "A: container-start exp2" as_user "$A" container-start exp2
capture as_user "$A" docker exec exp2 cat /workspace/note
assert_eq "$NOTE" "$OUT" "after stop and start the file is still in /workspace"
assert_eq "$U" "$(container_gpus "$A" exp2)" "and the GPU is still exp2's"

# --- the old name is free again -------------------------------------------------------------------
capture as_user "$A" container-deploy training --cpu-only --json
assert_eq 0 "$RC" "A: container-deploy training works again ($ERR)"
assert_exit 0 -m "A: container-stop training" as_user "$A" container-stop training
assert_exit 0 -m "A: container-start training" as_user "$A" container-start training
assert_exit 0 -m "A: container-stop exp2 (its pin is shared with the new training)" \
	as_user "$A" container-stop exp2
assert_exit 0 -m "A: container-start exp2" as_user "$A" container-start exp2
capture as_user "$A" docker exec exp2 cat /workspace/note
assert_eq "$NOTE" "$OUT" "exp2 still mounts the workspace"
assert_exit 0 -m "A: container-retire training (the new one)" as_user "$A" container-retire training
assert_ok "the new training's retire left exp2's pin (the same name) in place" \
	test -d "$PINS/training._.$A"
assert_exit 0 -m "A: container-stop exp2 (the new training gone)" as_user "$A" container-stop exp2
assert_exit 0 -m "A: container-start exp2" as_user "$A" container-start exp2

# --- a daemon restart between the rename and the retire ------------------------------------------
ds01_stop_daemon "SIGTERM before the restart"
ds01_start_daemon
assert_ok "the start-up sweep kept exp2's pin under its old name" test -d "$PINS/training._.$A"
assert_eq "$U" "$(container_gpus "$A" exp2)" "after a restart exp2 still has its GPU"
assert_exit 0 -m "A: container-stop exp2 after the restart" as_user "$A" container-stop exp2
assert_exit 0 -m "A: container-start exp2 after the restart (the start-up sweep kept its pin)" \
	as_user "$A" container-start exp2
capture as_user "$A" docker exec exp2 cat /workspace/note
assert_eq "$NOTE" "$OUT" "after the restart the file is in /workspace"

# --- a crash between Docker's rename and the ledger's: the start-up reconciliation adopts Docker's
# name (the daemon is down while Docker renames it, as after a crash in container_rename) -------
ds01_stop_daemon "SIGTERM before the crash simulation"
docker stop -t 1 "exp2._.$A" >/dev/null || fail "cannot stop in Docker"
docker rename "exp2._.$A" "exp3._.$A" || fail "cannot rename in Docker"
ds01_start_daemon
assert_eq "$U" "$(container_gpus "$A" exp3)" "after the start-up, container-list shows exp3 with the GPU"
assert_eq "" "$(container_entry "$A" exp2)" "and no exp2"
assert_eq held "$(gpu_lease_state "$U")" "its lease follows what it is now (stopped: held)"
assert_exit 0 -m "A: container-start exp3 (on the pin of the name it was created with)" \
	as_user "$A" container-start exp3
capture as_user "$A" docker exec exp3 cat /workspace/note
assert_eq "$NOTE" "$OUT" "exp3 mounts the workspace"
assert_eq 1 "$(events_query ".event_type == \"container.rename\" and .details.by == \"reconcile\"" | grep -c .)" \
	"the adoption is logged as container.rename"

# --- retire ---------------------------------------------------------------------------------------
assert_exit 0 -m "A: container-retire exp3" as_user "$A" container-retire exp3
assert_no_container "exp3._.$A" "exp3 is gone from Docker"
assert_eq free "$(gpu_lease_state "$U")" "its GPU is free"
assert_eq "" "$(ls -A "$PINS" 2>/dev/null | grep -E "^(training|exp2|exp3)\._\.$A$")" \
	"no pin is left under any of its names"
assert_eq 0 "$(ledger_sql "SELECT count(*) FROM containers WHERE name IN ('exp2._.$A', 'exp3._.$A', 'training._.$A')")" \
	"the ledger has none of them"
ds01_done
