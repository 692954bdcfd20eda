#!/usr/bin/env bash
# The daemon follows Docker's event stream: a managed container removed behind its
# back (docker rm -f) frees its GPU lease within seconds, without a restart; a container that
# dies (docker kill) shows as exited in container-list.
# ds01-test: kind=functional threads budget=16
DS01_GPUS=2
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

assert_exit 0 -m "A: deploy ev1" as_user "$A" container-deploy ev1
assert_exit 0 -m "A: deploy ev2" as_user "$A" container-deploy ev2
U1=$(container_gpus "$A" ev1)
assert_match "$U1" '^GPU-' "ev1 has a GPU ($U1)"

assert_ok "docker rm -f ev1._.$A (behind ds01's back)" docker rm -f "$(docker_id "ev1._.$A")"
a_one() { [ "$(usage_gpueq "$A")" = 1 ]; }
if wait_for 5 a_one; then
	ok "docker rm -f of a managed container frees its GPU within 5 s"
else
	not_ok "docker rm -f of a managed container frees its GPU within 5 s" "A usage: $(usage_gpueq "$A")"
fi
assert_eq "" "$(container_entry "$A" ev1)" "ev1 no longer listed"
assert_exit 0 -m "B: deploy evb takes the freed GPU" as_user "$B" container-deploy evb
assert_eq "$U1" "$(container_gpus "$B" evb)" "evb has ev1's old GPU"

assert_ok "docker kill ev2._.$A (behind ds01's back)" docker kill "$(docker_id "ev2._.$A")"
ev2_exited() { container_entry "$A" ev2 | jq -e '.state == "exited"' >/dev/null; }
if wait_for 5 ev2_exited; then
	ok "a killed container shows as exited within 5 s"
else
	not_ok "a killed container shows as exited within 5 s" "$(container_entry "$A" ev2)"
fi
assert_exit 0 -m "A: retire the dead ev2" as_user "$A" container-retire ev2
assert_exit 0 -m "B: retire evb" as_user "$B" container-retire evb
assert_eq 0 "$(usage_gpueq "$A")" "A holds nothing"
assert_eq 0 "$(usage_gpueq "$B")" "B holds nothing"
assert_instance_empty "nothing left in Docker"
ds01_done
