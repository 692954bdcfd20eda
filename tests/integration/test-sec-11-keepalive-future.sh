#!/usr/bin/env bash
# Issue 11 item 11: a .keep-alive touched into the future (touch -d 2099-01-01) counts as touched
# now, so it holds no longer than keepalive_max_duration_h (here 10 s against a 4 s idle
# timeout): the container is kept while that lasts, then stopped for idleness (not at 4 s, not
# in 2099). A fresh .keep-alive still keeps a container, and container-list shows the real end of
# the keep-alive.
# ds01-test: kind=security budget=25
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.001' 'keepalive_max_duration_h: 0.003'
ds01_start_daemon
KA=10 # keepalive_max_duration_h in whole seconds (0.003 h = 10.8 s, truncated)

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

# Each container burns CPU until its .keep-alive appears, then sleeps: its idle clock starts at
# the touch, however long the deploys took. Had the future file counted for nothing, the stop
# would come ~5 s after the touch (4 s idle after the last busy sample); held till 2099, never.
for p in future fresh; do
	assert_exit 0 -m "deploy $p (busy until its .keep-alive appears, then idle)" \
		as_user "$A" container-deploy "$p" --cpu-only -- \
		sh -c 'while [ ! -e /workspace/.keep-alive ]; do :; done; exec sleep 1000'
done
TOUCH=$(now_s)
assert_exit 0 -m "touch -d 2099-01-01 ~/workspace/future/.keep-alive" \
	as_user "$A" touch -d 2099-01-01 "$HA/workspace/future/.keep-alive"
assert_exit 0 -m "touch ~/workspace/fresh/.keep-alive" as_user "$A" touch "$HA/workspace/fresh/.keep-alive"

wait_tick 2 || not_ok "two monitor ticks after the deploys"
E=$(container_entry "$A" future)
assert_jq "list: the future .keep-alive holds until now + $KA s at most, not 2099" \
	".keepalive.source == \"file\" and .keepalive.until <= (now + $KA + 1)" "$E"
# fresh's file is touched again every 2 s (a job that keeps its container): it holds past
# future's end, however slow the machine.
(while :; do
	sleep 2
	as_user "$A" touch "$HA/workspace/fresh/.keep-alive" || exit 1
done) >/dev/null 2>&1 &
TOUCHER=$!

# keep-alive (10 s from the touch) then the idle timeout, long passed: stopped then, not in 2099.
if wait_event $((KA + 15)) "$(ev_for maintenance.idle_kill "future._.$A")"; then
	ok "future (.keep-alive dated 2099) stopped for idleness"
else
	not_ok "future (.keep-alive dated 2099) stopped for idleness" "$(tail -n 5 "$EVENTS")"
fi
# The file's ctime is in whole seconds: the keep-alive ends up to 1 s before TOUCH + 10.
wait_state 5 "future._.$A" exited
S=$(awk -v f="$(docker_finished_epoch "future._.$A")" -v t="$TOUCH" 'BEGIN { printf "%.1f", f - t }')
if awk -v s="$S" -v k="$KA" 'BEGIN { exit !(s >= k - 1) }'; then
	ok "not before its keep-alive of $KA s ran out (stopped $S s after the touch)"
else
	not_ok "not before its keep-alive of $KA s ran out" "stopped $S s after the touch"
fi
# A fresh .keep-alive still holds: fresh, as idle as future, is still running.
assert_eq running "$(docker_state "fresh._.$A")" "fresh (its file touched again and again) is still running"
E=$(container_entry "$A" fresh)
# (its end is a later touch's: past the first touch's, and not further than $KA s away)
assert_jq "list: fresh is kept by its file, from a later touch, until at most $KA s from now" \
	".keepalive.source == \"file\" and .keepalive.until > ($TOUCH + $KA) and .keepalive.until <= (now + $KA + 1)" "$E"

kill "$TOUCHER"
wait "$TOUCHER" 2>/dev/null
for p in future fresh; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
