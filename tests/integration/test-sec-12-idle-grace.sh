#!/usr/bin/env bash
# Issue 11 item 12: activity during grace_period_m does not end the grace. With a 6 s grace
# (grace_period_m 0.1), a 4 s idle timeout (idle_timeout_h 0.001) and sample_interval_s 1, a
# container that burns CPU for its first 1-2 s and then sleeps gets its first idle warning at
# start + 6 + 0.8 x 4 s (9.2 s) and is stopped at start + 6 + 4 s (10 s), not 4 s after its last
# activity (~6 s after the start, as before the fix).
# ds01-test: kind=security budget=15
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.001' 'grace_period_m: 0.1'
ds01_start_daemon
G=6 TO=4

A=$(ds01_user "it$$a") || fail "cannot create user"
C="grace._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

assert_exit 0 -m "deploy grace: 1-2 s of CPU, then idle" as_user "$A" container-deploy grace --cpu-only -- \
	sh -c 'end=$(($(date +%s) + 2)); while [ "$(date +%s)" -lt "$end" ]; do :; done; exec sleep 1000'
STARTED=$(docker_started_at "$C")
[ -n "$STARTED" ] || fail "no StartedAt for $C"

if wait_event $((G + TO + 15)) "$(ev_for maintenance.idle_kill "$C")"; then
	ok "grace stopped by maintenance.idle_kill"
else
	not_ok "grace stopped by maintenance.idle_kill" "$(tail -n 5 "$EVENTS")"
fi
wait_state 5 "$C" exited
W=$(event_epochs "$(ev_for maintenance.idle_warning "$C")" | head -n 1)
F=$(docker_finished_epoch "$C")
if [ -n "$W" ] && [ -n "$F" ]; then
	# event times are whole seconds (truncated): compare with the truncated start
	d1=$((W - ${STARTED%.*}))
	d2=$(awk -v f="$F" -v s="$STARTED" 'BEGIN { printf "%.2f", f - s }')
	note "first warning +$d1 s (whole seconds), stop +$d2 s after the start (expected 9.2 and 10)"
	# Not earlier, in every pass: that is the rule.
	[ "$d1" -ge 9 ] && ok "first warning not before start + grace + 80 % of the timeout (+$d1 s)" ||
		not_ok "first warning not before start + grace + 80 % of the timeout (9.2 s)" "+$d1 s"
	awk -v d="$d2" 'BEGIN { exit !(d >= 9.9) }' &&
		ok "stopped not before start + grace + timeout (+$d2 s)" ||
		not_ok "stopped not before start + grace + timeout (10 s)" "+$d2 s"
	if strict_timing; then
		[ "$d1" -le 10 ] && ok "first warning at ~9.2 s (+$d1 s, at most 10)" ||
			not_ok "first warning at ~9.2 s (at most 10)" "+$d1 s"
		awk -v d="$d2" 'BEGIN { exit !(d <= 12.5) }' && ok "stopped within 2.5 s of 10 s (+$d2 s)" ||
			not_ok "stopped within 2.5 s of start + grace + timeout (10 s)" "+$d2 s"
	fi
else
	not_ok "a warning and a stop were recorded" "warning: ${W:-none}, stop: ${F:-none}"
fi
assert_exit 0 -m "retire grace" as_user "$A" container-retire grace
ds01_done
