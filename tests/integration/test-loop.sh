#!/usr/bin/env bash
# The whole loop: deploy (background) -> run a command in /workspace as the user -> list ->
# retire (container gone, GPU released, workspace kept) -> deploy again (same files) ->
# deploy of an existing project is a no-op (exit 0) -> retire.
# ds01-test: kind=functional budget=14
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
UA=$(user_uid "$A")
GA=$(user_gid "$A")
HA=$(user_home "$A")
P=loop
C="$P._.$A"
WS="$HA/workspace/$P"

# --- deploy ---------------------------------------------------------------------------------
assert_exit 0 -m "container-deploy $P --background" as_user "$A" container-deploy "$P" --background
assert_eq running "$(docker_state "$C")" "Docker has $C running"
if [ -d "$WS" ] && [ ! -L "$WS" ]; then ok "workspace $WS created"; else not_ok "workspace $WS created"; fi
assert_eq "$UA:$GA" "$(stat -c %u:%g "$WS" 2>/dev/null)" "workspace owned by the user"

# --- run ------------------------------------------------------------------------------------
assert_exit 0 -m "container-run -- CMD (no tty) exits 0" \
	as_user "$A" container-run "$P" -- sh -c 'pwd; id -u; id -g; echo loop-data > /workspace/loop-file.txt'
assert_eq /workspace "$(sed -n 1p <<<"$OUT")" "CMD runs in /workspace"
assert_eq "$UA" "$(sed -n 2p <<<"$OUT")" "CMD runs as the user's uid"
assert_eq "$GA" "$(sed -n 3p <<<"$OUT")" "CMD runs with the user's gid"
assert_eq loop-data "$(cat "$WS/loop-file.txt" 2>/dev/null)" "file written in /workspace is in ~/workspace/$P on the host"
assert_eq "$UA" "$(stat -c %u "$WS/loop-file.txt" 2>/dev/null)" "file written in the container is owned by the user"

assert_exit 7 -m "container-run -- CMD exits with CMD's exit code (7)" \
	as_user "$A" container-run "$P" -- sh -c 'exit 7'
capture as_user "$A" container-run "$P" -- sh -c 'echo to-stdout; echo to-stderr >&2'
assert_eq 0 "$RC" "container-run stdout/stderr command exits 0"
assert_contains "$OUT" to-stdout "CMD's stdout reaches the caller's stdout"
assert_contains "$ERR" to-stderr "CMD's stderr reaches the caller's stderr"
assert_not_contains "$OUT" to-stderr "CMD's stderr is not mixed into stdout"
capture sh -c "printf 'piped-in\n' | $(as_user_cmdline "$A" container-run "$P" -- cat)"
assert_eq 0 "$RC" "container-run -- cat with stdin from a pipe exits 0"
assert_eq piped-in "$OUT" "container-run forwards stdin to CMD"

capture as_user "$A" container-run "$P" -- sh -c 'head -c 1000000 /dev/zero | tr "\\0" a'
assert_eq 0 "$RC" "container-run printing 1 MB exits 0"
assert_eq 1000000 "${#OUT}" "1 MB of output streams through complete"
assert_eq "" "$(tr -d a <<<"$OUT")" "...and it is all the 'a's CMD printed"
capture sh -c "head -c 500000 /dev/zero | $(as_user_cmdline "$A" container-run "$P" -- wc -c)"
assert_eq 0 "$RC" "container-run -- wc -c with 500 kB on stdin exits 0"
assert_eq 500000 "$(tr -d ' ' <<<"$OUT")" "500 kB of stdin reaches CMD complete"
assert_exit 137 -m "a CMD killed by SIGKILL exits 137" as_user "$A" container-run "$P" -- sh -c 'kill -9 $$'
# (Docker 20.10's exec reports a missing file as 126 and puts its message in the exec's output;
# a shell would say 127 on stderr)
assert_exit '126|127' -m "a missing command exits 126/127" as_user "$A" container-run "$P" -- /no/such/cmd
assert_match "$OUT$ERR" '/no/such/cmd.*no such file or directory' "...saying the command does not exist"
assert_eq 666 "$(stat -c %a "$SOCK")" "the socket is mode 0666 (authorisation is by peer credentials)"

# --- list -----------------------------------------------------------------------------------
list_json "$A"
assert_eq 0 "$RC" "container-list --json exits 0"
LIST=$OUT
E=$(printf '%s' "$LIST" | jq -c '.containers[]? | select(.project == "loop")' 2>/dev/null)
assert_jq "list: name is $C" ".name == \"$C\"" "$E"
assert_jq "list: state running" '.state == "running"' "$E"
assert_jq "list: user and uid" ".user == \"$A\" and (.uid | tostring) == \"$UA\"" "$E"
assert_jq "list: exactly 1 GPU" '(.gpus | length) == 1' "$E"
assert_jq "list: image is the default image" ".image == \"$DS01_IMAGE\"" "$E"
assert_jq "list: workspace is the host path" ".workspace == \"$WS\"" "$E"
UUID=$(printf '%s' "$E" | jq -r '.gpus[0] | if type == "object" then .uuid else . end' 2>/dev/null)
assert_match "$UUID" '^(GPU|MIG)-' "list: GPU uuid looks like a uuid ($UUID)"
capture as_user "$A" container-list
assert_eq 0 "$RC" "container-list (table) exits 0"
assert_contains "$OUT" "$P" "container-list table names the project"

capture as_user "$A" check-limits --json
assert_jq "check-limits: usage 1.0 gpu-equivalents, 1 container" \
	'.usage.gpu_equivalents == 1 and .usage.containers == 1' "$OUT"

# --- events ---------------------------------------------------------------------------------
assert_event container.create "$A"
assert_event gpu.allocate "$A"
assert_eq "600 root" "$(stat -c '%a %U' "$EVENTS" 2>/dev/null)" "events.jsonl is mode 0600, owned by root"

# --- retire ---------------------------------------------------------------------------------
assert_exit 0 -m "container-retire $P" as_user "$A" container-retire "$P"
assert_no_container "$C" "retired container is gone from Docker"
assert_instance_empty "no container of this instance left in Docker"
assert_eq loop-data "$(cat "$WS/loop-file.txt" 2>/dev/null)" "workspace file survives retire"
assert_eq "$UA" "$(stat -c %u "$WS/loop-file.txt" 2>/dev/null)" "workspace file still owned by the user"
capture as_user "$A" check-limits --json
assert_jq "check-limits after retire: 0 gpu-equivalents, 0 containers" \
	'.usage.gpu_equivalents == 0 and .usage.containers == 0' "$OUT"
list_json "$A"
assert_jq "container-list after retire is empty" '(.containers | length) == 0' "$OUT"
assert_event container.remove "$A"
assert_event gpu.release "$A"

# --- deploy again: same workspace -------------------------------------------------------------
assert_exit 0 -m "deploy $P again" as_user "$A" container-deploy "$P" --json
assert_jq "deploy --json: container, existed=false, 1 gpu, workspace" \
	".container == \"$C\" and .existed == false and (.gpus | length) == 1 and .workspace == \"$WS\"" "$OUT"
assert_exit 0 -m "the old file is visible via container-run -- cat" \
	as_user "$A" container-run "$P" -- cat /workspace/loop-file.txt
assert_eq loop-data "$OUT" "cat /workspace/loop-file.txt prints the data written before retire"

# --- deploying an existing project --------------------------------------------------------------
assert_exit 0 -m "deploying an existing project exits 0" as_user "$A" container-deploy "$P"
assert_eq "'$P' already has a container (running); open a shell with: container-run $P" "$OUT" \
	"it says the project already has a container, and how to open a shell in it"
assert_exit 0 -m "deploy --json of an existing project" as_user "$A" container-deploy "$P" --json
assert_jq "deploy --json reports existed=true" ".existed == true and .container == \"$C\"" "$OUT"
assert_eq 1 "$(instance_container_count)" "still exactly one container"
capture as_user "$A" check-limits --json
assert_jq "re-deploying did not take another GPU" '.usage.gpu_equivalents == 1' "$OUT"

# --- multi-call forms ------------------------------------------------------------------------
assert_exit 0 -m "'ds01 container list --json' works" as_user "$A" ds01 container list --json
assert_jq "'ds01 container list' lists $P" "any(.containers[]; .name == \"$C\")" "$OUT"
assert_exit 0 -m "'ds01 container-list --json' works" as_user "$A" ds01 container-list --json
assert_jq "'ds01 container-list' lists $P" "any(.containers[]; .name == \"$C\")" "$OUT"
assert_exit 0 -m "'ds01 container run $P -- true' works" as_user "$A" ds01 container run "$P" -- true

assert_exit 0 -m "final retire" as_user "$A" container-retire "$P"
assert_instance_empty "nothing left in Docker"
ds01_done
