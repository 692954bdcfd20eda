#!/usr/bin/env bash
# Idle enforcement: with idle_timeout_h 0.003 (11 s: the timeout is kept in whole seconds) and
# sample_interval_s 1 an idle container gets maintenance.idle_warning at 80 % and then at 95 %
# (separate ticks, both before the stop), is stopped at 11 s idle (the monitor wakes for the
# deadline: not before it, and in the plain pass within 2.5 s of it), its GPU is released
# (gpu.release, check-limits usage 0) and maintenance.idle_kill carries the evidence. In the same
# daemon a container burning CPU is never warned or stopped, and a container that becomes busy
# after its first warning is not stopped (activity resets the clock). The rule is proportional:
# a short timeout tests what a long one does.
# ds01-test: kind=functional budget=31
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.003'
ds01_start_daemon
TO=11 # idle_timeout_s: llround(0.003 h x 3600)

A=$(ds01_user "it$$a") || fail "cannot create user"
IDLE="idle1._.$A" BUSY="busy1._.$A" WAKE="wake1._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }

# busy1 and wake1 first: a container start holds up the monitor's tick while Docker starts it
# (the snapshot inspects the new container), so no deploy falls on idle1's deadlines.
assert_exit 0 -m "deploy busy1 -- an active loop (batch)" \
	as_user "$A" container-deploy busy1 --cpu-only -- sh -c "$ACTIVE_LOOP"
# wake1 becomes busy as soon as its first warning reaches it (/workspace/.ds01-alerts, written
# as the warning is given), whatever the test is doing then. It looks five times a second
# without a process per look (read -t on a FIFO nobody writes, [ is built in): idle, far under
# the 2 % threshold, and busy within 0.2 s of the warning, well inside the 2.2 s between the
# first warning (80 %) and the stop.
assert_exit 0 -m "deploy wake1 (idle until its first warning, then a CPU loop)" \
	as_user "$A" container-deploy wake1 --cpu-only -- sh -c 'mkfifo /tmp/f; exec 3<>/tmp/f
	while [ ! -e /workspace/.ds01-alerts ]; do read -t 0.2 x <&3; done; '"$ACTIVE_LOOP"
assert_exit 0 -m "deploy idle1 (1 GPU, idle shell)" as_user "$A" container-deploy idle1
STARTED=$(docker_started_at "$IDLE")
[ -n "$STARTED" ] || fail "no StartedAt for $IDLE"
BUSY_AT=$(docker_started_at "$BUSY") WAKE_AT=$(docker_started_at "$WAKE")
assert_eq 1 "$(usage_gpueq "$A")" "idle1 holds 1 GPU"

# container-list reports the idle clock and the signals of running containers, as of a tick
# that began after the deploys (it has rates: each start was sampled before).
wait_tick 2 || not_ok "two monitor ticks after the deploys"
E=$(container_entry "$A" idle1)
assert_jq "list: idle1 idle_timeout_s $TO, idle_left_s <= $TO" \
	".idle_timeout_s == $TO and .idle_left_s <= $TO and .idle_s >= 0" "$E"
assert_jq "list: idle1 signals (cpu_pct, net_bytes, gpu_pct unknown, session false)" \
	'.signals.gpu_pct == "unknown" and .signals.session == false and (.signals.cpu_pct | type) == "number" and (.signals.net_bytes | type) == "number"' "$E"
assert_jq "list: idle1 runtime_s present" '(.runtime_s | type) == "number"' "$E"
E=$(container_entry "$A" busy1)
assert_jq "list: busy1 cpu_pct above the 2 % threshold, idle_s small" \
	'.signals.cpu_pct > 2 and .idle_s <= 2' "$E"

# --- wake1: busy after its first warning ---------------------------------------------------
if wait_event $((TO + 15)) "$(ev_for maintenance.idle_warning "$WAKE")"; then
	ok "wake1 got its first idle warning (and starts its CPU loop)"
else
	not_ok "wake1 got its first idle warning" "$(tail -n 5 "$EVENTS")"
fi

# --- idle1: warnings, then the stop ----------------------------------------------------------
if wait_event $((TO + 15)) "$(ev_for maintenance.idle_kill "$IDLE")"; then
	ok "idle1 stopped by maintenance.idle_kill"
else
	not_ok "idle1 stopped by maintenance.idle_kill" "$(tail -n 10 "$EVENTS")"
fi
wait_state 5 "$IDLE" exited
assert_eq exited "$(docker_state "$IDLE")" "idle1 exited in Docker"
FIN=$(docker_finished_epoch "$IDLE")
late=$(awk -v f="$FIN" -v s="$STARTED" -v t="$TO" 'BEGIN { printf "%.2f", f - (s + t) }')
note "idle1 started $STARTED, stopped $FIN: $late s after $TO s idle"
# Not before the deadline in any pass (Docker's times and the daemon's are the same clock).
if awk -v l="$late" 'BEGIN { exit !(l >= -0.1) }'; then
	ok "idle1 not stopped before $TO s idle ($late s after)"
else
	not_ok "idle1 not stopped before $TO s idle" "stopped $late s after start+$TO s"
fi
if strict_timing; then
	if awk -v l="$late" 'BEGIN { exit !(l <= 2.5) }'; then
		ok "idle1 stopped within 2.5 s of $TO s idle ($late s)"
	else
		not_ok "idle1 stopped within 2.5 s of $TO s idle" "stopped $late s after start+$TO s"
	fi
fi

mapfile -t W < <(event_epochs "$(ev_for maintenance.idle_warning "$IDLE")")
K=$(event_epochs "$(ev_for maintenance.idle_kill "$IDLE")" | head -n 1)
assert_eq 2 "${#W[@]}" "idle1 got exactly two idle warnings"
# in the order events.jsonl has them (whole-second times may tie)
ORDER=$(events_query "(.event_type | startswith(\"maintenance.idle\")) and .details.container == \"$IDLE\"" |
	jq -r '.event_type | ltrimstr("maintenance.")' | paste -sd ' ')
assert_eq "idle_warning idle_warning idle_kill" "$ORDER" "idle1: warning, warning, then idle_kill (at ${W[*]:-none}; ${K:-none})"
if [ "${#W[@]}" -ge 2 ]; then
	# whole seconds: event times are truncated, so compare with the truncated start
	S=${STARTED%.*}
	d1=$((W[0] - S)) d2=$((W[1] - S))
	note "warnings at +$d1 s and +$d2 s after start (expected 8.8 and 10.45: 80 and 95 % of $TO s)"
	[ "$d1" -ge 8 ] && ok "first warning not before 80 % (+$d1 s)" ||
		not_ok "first warning not before 80 % of $TO s (8.8 s)" "+$d1 s"
	[ "$d2" -ge 10 ] && ok "second warning not before 95 % (+$d2 s)" ||
		not_ok "second warning not before 95 % of $TO s (10.45 s)" "+$d2 s"
	if strict_timing; then
		[ "$d1" -le 10 ] && ok "first warning at ~80 % (+$d1 s, at most 10)" ||
			not_ok "first warning at ~80 % of $TO s (8.8 s, at most 10)" "+$d1 s"
		[ "$d2" -le 11 ] && ok "second warning at ~95 % (+$d2 s, at most 11)" ||
			not_ok "second warning at ~95 % of $TO s (10.45 s, at most 11)" "+$d2 s"
	fi
fi
WM=$(first_event "$(ev_for maintenance.idle_warning "$IDLE")" | jq -r '.details.message')
assert_contains "$WM" "container-keepalive idle1" "the warning names the command that prevents the stop"
assert_match "$WM" "will be stopped at [0-9:]+ UTC" "the warning says when"
assert_contains "$WM" "idle" "the warning says why"

KE=$(first_event "$(ev_for maintenance.idle_kill "$IDLE")")
assert_eq "$A" "$(jqr .user "$KE")" "idle_kill event user is the owner"
assert_jq "idle_kill evidence has every field" '.details | has("last_activity") and has("idle_s")
	and has("cpu_avg_pct") and has("net_avg_bytes") and has("gpu_avg_pct") and has("samples")
	and has("idle_timeout_s") and has("gpus_released") and has("container")' "$KE"
assert_jq "idle_kill evidence: idle_timeout_s $TO, idle_s $TO..$((TO + 4)), gpu unknown, 1 GPU released, a CPU average under 2 %" \
	".details.idle_timeout_s == $TO and .details.idle_s >= $TO and .details.idle_s <= $((TO + 4))
	 and .details.gpu_avg_pct == \"unknown\" and (.details.gpus_released | length) == 1
	 and .details.samples >= 2 and .details.cpu_avg_pct < 2" "$KE"
# A sample a second (and one at each warning) over 11 s: the evidence is a window of them.
if strict_timing; then
	assert_jq "idle_kill evidence: samples >= $((TO - 3)) (one a second)" ".details.samples >= $((TO - 3))" "$KE"
fi
N=$(nev gpu.release "$IDLE")
[ "${N:-0}" -ge 1 ] && ok "gpu.release event for idle1" ||
	not_ok "gpu.release event for idle1" "$(tail -n 10 "$EVENTS")"
assert_eq 0 "$(usage_gpueq "$A")" "check-limits: usage 0 after the idle stop"

# --- the busy ones, once their own idle deadlines have passed ---------------------------------
# busy1 would have been stopped at BUSY_AT + 11 s, wake1 (without the activity) at WAKE_AT +
# 11 s: a tick after both has decided.
LAST=$(awk -v a="$BUSY_AT" -v b="$WAKE_AT" -v t="$TO" 'BEGIN { printf "%.3f", (a > b ? a : b) + t }')
wait_tick_after "$LAST" || not_ok "a monitor tick after busy1's and wake1's idle deadlines"
assert_eq running "$(docker_state "$BUSY")" "busy1 (CPU loop) still running after its idle timeout"
assert_eq 0 "$(nev maintenance.idle_warning "$BUSY")" "busy1 never got an idle warning"
assert_eq running "$(docker_state "$WAKE")" "wake1 (busy after the first warning) still running"
assert_eq 0 "$(nev maintenance.idle_kill "$WAKE")" "wake1 never got an idle_kill"
E=$(container_entry "$A" wake1)
assert_jq "list: wake1 running, idle_s reset (<= 3 s)" '.state == "running" and .idle_s <= 3' "$E"

for p in idle1 busy1 wake1; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
