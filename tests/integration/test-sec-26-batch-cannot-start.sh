#!/usr/bin/env bash
# Issue 11 item 26: a batch command that cannot start is a failure. As a real user,
# `container-deploy typo --cpu-only -- pyhton3 train.py` exits 127 (as a shell does for a command
# not found) with a message naming the command, and leaves no container behind; a command that
# exists but is not executable exits 126. A command that starts is deployed at once (no waiting
# out a timeout), and container-list (text and --json) shows the exit code of an exited one.
# ds01-test: kind=security budget=15
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")

assert_exit 127 -m "deploy of a mistyped command exits 127" \
	as_user "$A" container-deploy typo --cpu-only -- pyhton3 train.py
assert_contains "$ERR" "pyhton3" "the message names the command"
assert_contains "$ERR" "no such command" "the message says it was not found"
assert_not_contains "$OUT" "Deployed" "it does not say Deployed"
assert_no_container "typo._.$A" "no container is left behind"
capture as_user "$A" check-limits --json
assert_jq "no container counts against the user" '.usage.containers == 0' "$OUT"

as_user "$A" mkdir -p "$HA/workspace/noexec"
as_user "$A" sh -c "printf 'echo hi\n' > $HA/workspace/noexec/run.sh; chmod 644 $HA/workspace/noexec/run.sh"
assert_exit 126 -m "deploy of a command that is not executable exits 126" \
	as_user "$A" container-deploy noexec --cpu-only -- /workspace/run.sh
assert_contains "$ERR" "/workspace/run.sh" "the message names the command"
assert_no_container "noexec._.$A" "no container is left behind (126)"

# The daemon waits up to 5 s for a command to start or fail: one that starts must not wait
# that out (compared with a session container's deploy on this machine, now).
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)
assert_exit 0 -m "deploy of a session container" as_user "$A" container-deploy sess --cpu-only
ds=$(since "$t0")
t0=$(date +%s.%N)
assert_exit 0 -m "deploy of a command that runs" as_user "$A" container-deploy runs --cpu-only -- sleep 30
d=$(since "$t0")
assert_contains "$OUT" "Deployed" "it says Deployed"
if awk -v d="$d" -v s="$ds" 'BEGIN { exit !(d < s + 2.5) }'; then
	ok "a command that starts is deployed at once ($d s; a session container $ds s)"
else
	not_ok "a command that starts is deployed at once" "took $d s, a session container $ds s"
fi

assert_exit 0 -m "deploy of a command that exits 3" \
	as_user "$A" container-deploy three --cpu-only -- sh -c 'exit 3'
wait_state 10 "three._.$A" exited || not_ok "three exited"
list_has_three() { as_user "$A" container-list | grep -Eq '^three +exited \(3\)'; }
if wait_for 5 list_has_three; then
	ok "container-list shows 'exited (3)'"
else
	capture as_user "$A" container-list
	not_ok "container-list shows 'exited (3)'" "$OUT"
fi
assert_jq "container-list --json has exit_code 3" '.state == "exited" and .exit_code == 3' \
	"$(container_entry "$A" three)"

for p in sess runs three; do
	as_user "$A" container-retire "$p" >/dev/null 2>&1
done
assert_instance_empty "nothing left in Docker"
ds01_done
