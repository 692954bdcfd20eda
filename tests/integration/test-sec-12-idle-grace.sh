#!/usr/bin/env bash
# Issue 11 item 12: activity during grace_period_m does not end the grace. With a 12 s grace
# (grace_period_m 0.2), a 7.2 s idle timeout (idle_timeout_h 0.002) and sample_interval_s 1, a
# container that burns CPU for its first 3 s and then sleeps gets its first idle warning at
# start + 12 + 0.8 x 7.2 s (~17.8 s) and is stopped at start + 12 + 7.2 s (~19.2 s), not 7.2 s
# after its last activity (~10 s after the start, as before the fix).
# ds01-test: kind=security budget=22
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.002' 'grace_period_m: 0.2'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
C="grace._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

assert_exit 0 -m "deploy grace: 3 s of CPU, then idle" as_user "$A" container-deploy grace --cpu-only -- \
	sh -c 'end=$(($(date +%s) + 3)); while [ "$(date +%s)" -lt "$end" ]; do :; done; exec sleep 1000'
STARTED=$(docker_started_epoch "$C")
[ -n "$STARTED" ] || fail "no StartedAt for $C"

if wait_event 40 "$(ev_for maintenance.idle_kill "$C")"; then
	ok "grace stopped by maintenance.idle_kill"
else
	not_ok "grace stopped by maintenance.idle_kill" "$(tail -n 5 "$EVENTS")"
fi
W=$(event_epochs "$(ev_for maintenance.idle_warning "$C")" | head -n 1)
K=$(event_epochs "$(ev_for maintenance.idle_kill "$C")" | head -n 1)
if [ -n "$W" ] && [ -n "$K" ]; then
	d1=$((W - STARTED)) d2=$((K - STARTED))
	note "first warning +$d1 s, stop +$d2 s after the start (expected ~17.8 and ~19.2)"
	[ "$d1" -ge 17 ] && [ "$d1" -le 22 ] &&
		ok "first warning at start + grace + 80 % of the timeout (+$d1 s), not earlier" ||
		not_ok "first warning at start + grace + 80 % of the timeout (~17.8 s)" "+$d1 s"
	[ "$d2" -ge 18 ] && [ "$d2" -le 24 ] &&
		ok "stopped at start + grace + timeout (+$d2 s), not earlier" ||
		not_ok "stopped at start + grace + timeout (~19.2 s)" "+$d2 s"
else
	not_ok "a warning and a stop were recorded" "warning: ${W:-none}, stop: ${K:-none}"
fi
assert_exit 0 -m "retire grace" as_user "$A" container-retire grace
ds01_done
