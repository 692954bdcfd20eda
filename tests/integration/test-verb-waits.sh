#!/usr/bin/env bash
# A user's verb on a container that another operation is busy with waits for it and then does
# its work, instead of failing with "another operation is in progress": here a retire arrives
# while a container-stop --timeout 6 of a container whose process ignores SIGTERM is still in
# its grace (the same happens when the user retires during the monitor's idle stop). The
# retire answers 0 after the stop has finished, the stop answers 0 too, and nothing is left.
# ds01-test: kind=functional budget=13
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
deploy_deaf "$A" deaf

T0=$(now_ms)
as_user_bg "$A" container-stop deaf --timeout 6 >"$T/stop.out"
STOP=$!
# The stop reaches ds01d in milliseconds; if the retire came first instead, the stop would
# find no container and exit 4, which the end of this test checks.
sleep 1.5
capture as_user "$A" container-retire deaf
T1=$(now_ms)
assert_eq 0 "$RC" "container-retire during the stop's grace exits 0" || note "stderr: $ERR"
assert_not_contains "$ERR" "in progress" "the retire does not say another operation is in progress"
awk -v d="$((T1 - T0))" 'BEGIN { exit !(d >= 5500) }' &&
	ok "the retire answered after the stop's 6 s grace ($((T1 - T0)) ms)" ||
	not_ok "the retire answered after the stop's 6 s grace" "after $((T1 - T0)) ms"
wait "$STOP"
assert_eq 0 "$?" "the container-stop it waited for exits 0"
assert_instance_empty "nothing left in Docker"
ds01_done
