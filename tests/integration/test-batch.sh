#!/usr/bin/env bash
# Batch runs (`container-deploy NAME -- CMD`): CMD is the main process, the container stops when
# it exits, container-logs shows its output and the exit code is kept. Plus the atomic steps:
# container-stop (quick: init exits on SIGTERM), container-start, container-run starting a
# stopped container, container-remove (frees the GPU, keeps the workspace).
# ds01-test: kind=functional budget=23
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")

# --- batch ----------------------------------------------------------------------------------
# Three lines of output, so that --tail has something to leave out.
assert_exit 0 -m "deploy b1 --background -- sh -c 'echo line-1; echo line-2; echo hello-from-batch; exit 0'" \
	as_user "$A" container-deploy b1 --background -- sh -c 'echo line-1; echo line-2; echo hello-from-batch; exit 0'
if wait_for 10 sh -c "[ \"\$(docker inspect -f '{{.State.Status}}' 'b1._.$A' 2>/dev/null)\" = exited ]"; then
	ok "b1 exits by itself within 10 s"
else
	not_ok "b1 exits by itself within 10 s" "state: $(docker_state "b1._.$A")"
fi
assert_eq 0 "$(docker inspect -f '{{.State.ExitCode}}' "b1._.$A" 2>/dev/null)" "b1 exit code 0"
# the daemon learns about the exit from Docker events
b1_listed_exited() { container_entry "$A" b1 | jq -e '.state == "exited"' >/dev/null; }
wait_for 5 b1_listed_exited
assert_jq "container-list shows b1 exited" '.state == "exited"' "$(container_entry "$A" b1)"
assert_exit 0 -m "container-logs b1" as_user "$A" container-logs b1
assert_eq "line-1
line-2
hello-from-batch" "$OUT" "container-logs prints the batch output, all 3 lines in order"
assert_exit 0 -m "container-logs b1 --tail 1" as_user "$A" container-logs b1 --tail 1
assert_eq hello-from-batch "$OUT" "container-logs --tail 1 prints exactly the last line"
assert_exit 0 -m "container-logs b1 --tail 2" as_user "$A" container-logs b1 --tail 2
assert_eq "line-2
hello-from-batch" "$OUT" "container-logs --tail 2 prints exactly the last 2 lines"

assert_exit 0 -m "deploy b2 -- sh -c 'echo out-line; echo err-line >&2; exit 3'" \
	as_user "$A" container-deploy b2 --cpu-only -- sh -c 'echo out-line; echo err-line >&2; exit 3'
wait_for 10 sh -c "[ \"\$(docker inspect -f '{{.State.Status}}' 'b2._.$A' 2>/dev/null)\" = exited ]"
assert_eq 3 "$(docker inspect -f '{{.State.ExitCode}}' "b2._.$A" 2>/dev/null)" "b2 keeps CMD's exit code 3"
assert_exit 0 -m "container-logs b2" as_user "$A" container-logs b2
assert_eq out-line "$OUT" "CMD's stdout is the logs' stdout (and only it)"
assert_eq err-line "$ERR" "CMD's stderr is the logs' stderr (and only it)"
assert_exit 0 -m "deploy b3 -- CMD with a workspace write" \
	as_user "$A" container-deploy b3 --cpu-only -- sh -c 'pwd > /workspace/where; id -u >> /workspace/where'
wait_for 10 sh -c "[ \"\$(docker inspect -f '{{.State.Status}}' 'b3._.$A' 2>/dev/null)\" = exited ]"
assert_eq "/workspace
$(user_uid "$A")" "$(cat "$HA/workspace/b3/where" 2>/dev/null)" "batch CMD runs in /workspace as the user"

for p in b1 b2 b3; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "batch containers gone"
assert_eq 0 "$(usage_gpueq "$A")" "no GPU held after retiring the batch runs"

# --- atomic steps -----------------------------------------------------------------------------
assert_exit 0 -m "deploy s1" as_user "$A" container-deploy s1
start=$(now_ms)
assert_exit 0 -m "container-stop s1" as_user "$A" container-stop s1
el=$(($(now_ms) - start))
[ "$el" -le 5000 ] && ok "stop took <= 5 s (init exits on SIGTERM; $el ms)" ||
	not_ok "stop took <= 5 s (init exits on SIGTERM)" "$el ms"
assert_eq exited "$(docker_state "s1._.$A")" "s1 exited in Docker"
assert_jq "container-list shows s1 exited" '.state == "exited"' "$(container_entry "$A" s1)"
assert_exit 0 -m "container-start s1" as_user "$A" container-start s1
assert_eq running "$(docker_state "s1._.$A")" "s1 running again"
assert_exit 0 -m "container-stop s1 again" as_user "$A" container-stop s1
assert_exit 0 -m "container-run s1 -- echo ran starts the stopped container" \
	as_user "$A" container-run s1 -- echo ran
assert_eq ran "$OUT" "the command ran"
assert_eq running "$(docker_state "s1._.$A")" "s1 running after container-run"
assert_exit 0 -m "container-run s1 writes /workspace/keep.txt" \
	as_user "$A" container-run s1 -- sh -c 'echo keep > /workspace/keep.txt'
assert_exit 0 -m "container-stop s1 before remove" as_user "$A" container-stop s1
assert_exit 0 -m "container-remove s1" as_user "$A" container-remove s1
assert_no_container "s1._.$A" "s1 gone from Docker"
assert_eq 0 "$(usage_gpueq "$A")" "container-remove released the GPU"
assert_eq keep "$(cat "$HA/workspace/s1/keep.txt" 2>/dev/null)" "workspace kept after container-remove"
assert_exit 4 -m "container-stop of a removed container -> 4" as_user "$A" container-stop s1
assert_eq "container-stop: no container 's1' - container-list shows yours, container-deploy s1 creates one" \
	"$ERR" "...saying there is no container s1"
assert_exit 4 -m "container-logs of an unknown project -> 4" as_user "$A" container-logs nosuch
assert_eq "container-logs: no container 'nosuch' - container-list shows yours, container-deploy nosuch creates one" \
	"$ERR" "...saying there is no container nosuch"

assert_instance_empty "nothing left in Docker"
ds01_done
