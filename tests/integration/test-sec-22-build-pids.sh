#!/usr/bin/env bash
# Issue 11 item 22: image builds get the group's pids_limit (256 in the test limits). A RUN step
# that starts 400 background processes hits the limit (a fork fails) instead of starting them
# all, and the build ends, failed, within a bounded time.
# ds01-test: kind=security budget=10
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

B=$(ds01_image_user "it$$b") || fail "cannot create user B"
image_dockerfile "$B" bomb \
	'RUN i=0; while [ $i -lt 400 ]; do sleep 20 & i=$((i+1)); done; echo "FORKED=$i"; exit 1'
t0=$(now_ms)
assert_exit 1 -m "B: the forking build fails (exit 1)" as_user "$B" image-create bomb
assert_not_contains "$OUT$ERR" "FORKED=400" "the RUN step could not start 400 processes"
assert_match "$OUT$ERR" "can.t fork|Resource temporarily unavailable" "a fork failed"
note "$(grep -m1 -i "fork" <<<"$OUT$ERR")"
# bounded, not fast: the point is that the forks fail rather than pile up (a loaded machine
# running tests side by side takes 20 s and more for the 256 forks)
d=$(($(now_ms) - t0))
[ "$d" -le 60000 ] && ok "the build ended within 60 s ($d ms)" ||
	not_ok "the build ended within 60 s" "$d ms"
ds01_done
