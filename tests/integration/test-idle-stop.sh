#!/usr/bin/env bash
# Idle enforcement: with idle_timeout_h 0.005 (18 s) and sample_interval_s 1 an idle
# container gets maintenance.idle_warning at 80 % and then at 95 % (separate ticks, both before
# the stop), is stopped within one sample interval (+ slack) of 18 s idle, its GPU is released
# (gpu.release, check-limits usage 0) and maintenance.idle_kill carries the evidence. In the
# same daemon a container burning CPU is never warned or stopped, and a container that becomes
# busy after its first warning is not stopped (activity resets the clock).
# ds01-test: kind=functional budget=31
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.005'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
IDLE="idle1._.$A" BUSY="busy1._.$A" WAKE="wake1._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

assert_exit 0 -m "deploy idle1 (1 GPU, idle shell)" as_user "$A" container-deploy idle1
assert_exit 0 -m "deploy busy1 -- a CPU loop (batch)" \
	as_user "$A" container-deploy busy1 --cpu-only -- sh -c 'while :; do :; done'
# wake1 sleeps until /workspace/go exists, then loops on the CPU.
assert_exit 0 -m "deploy wake1 (idle until /workspace/go appears, then a CPU loop)" \
	as_user "$A" container-deploy wake1 --cpu-only -- \
	sh -c 'while [ ! -e /workspace/go ]; do sleep 1; done; while :; do :; done'
assert_eq 1 "$(usage_gpueq "$A")" "idle1 holds 1 GPU"
STARTED=$(docker_started_epoch "$IDLE")
[ -n "$STARTED" ] || fail "no StartedAt for $IDLE"

# container-list reports the idle clock and the signals of running containers.
sleep 3
E=$(container_entry "$A" idle1)
assert_jq "list: idle1 idle_timeout_s 18, idle_left_s <= 18" \
	'.idle_timeout_s == 18 and .idle_left_s <= 18 and .idle_s >= 0' "$E"
assert_jq "list: idle1 signals (cpu_pct, net_bytes, gpu_pct unknown, session false)" \
	'.signals.gpu_pct == "unknown" and .signals.session == false and (.signals.cpu_pct | type) == "number" and (.signals.net_bytes | type) == "number"' "$E"
assert_jq "list: idle1 runtime_s present" '(.runtime_s | type) == "number"' "$E"
E=$(container_entry "$A" busy1)
assert_jq "list: busy1 cpu_pct above the 2 % threshold, idle_s small" \
	'.signals.cpu_pct > 2 and .idle_s <= 2' "$E"

# --- wake1: busy after its first warning ---------------------------------------------------
if wait_event 20 "$(ev_for maintenance.idle_warning "$WAKE")"; then
	ok "wake1 got its first idle warning"
else
	not_ok "wake1 got its first idle warning" "$(tail -n 5 "$EVENTS")"
fi
assert_exit 0 -m "wake1: touch ~/workspace/wake1/go (the container starts its CPU loop)" \
	as_user "$A" touch "$(user_home "$A")/workspace/wake1/go"

# --- idle1: warnings, then the stop ----------------------------------------------------------
if wait_event 30 "$(ev_for maintenance.idle_kill "$IDLE")"; then
	ok "idle1 stopped by maintenance.idle_kill"
else
	not_ok "idle1 stopped by maintenance.idle_kill" "$(tail -n 10 "$EVENTS")"
fi
wait_state 5 "$IDLE" exited
assert_eq exited "$(docker_state "$IDLE")" "idle1 exited in Docker"
FIN=$(docker_finished_epoch "$IDLE")
late=$(awk -v f="$FIN" -v s="$STARTED" 'BEGIN { printf "%.1f", f - (s + 18) }')
note "idle1 started $STARTED, stopped $FIN: $late s after 18 s idle"
if awk -v l="$late" 'BEGIN { exit !(l >= -1.0 && l <= 4.0) }'; then
	ok "stopped within one sample interval (+3 s slack) of 18 s idle ($late s), not before"
else
	not_ok "stopped within one sample interval (+3 s slack) of 18 s idle" "stopped $late s after start+18 s"
fi

mapfile -t W < <(event_epochs "$(ev_for maintenance.idle_warning "$IDLE")")
K=$(event_epochs "$(ev_for maintenance.idle_kill "$IDLE")" | head -n 1)
assert_eq 2 "${#W[@]}" "idle1 got exactly two idle warnings"
if [ "${#W[@]}" -ge 2 ] && [ -n "$K" ] && [ "${W[0]}" -lt "${W[1]}" ] && [ "${W[1]}" -lt "$K" ]; then
	ok "warning 1 < warning 2 < idle_kill (${W[0]} < ${W[1]} < $K)"
else
	not_ok "warning 1 < warning 2 < idle_kill" "warnings: ${W[*]:-none}, kill: ${K:-none}"
fi
if [ "${#W[@]}" -ge 2 ]; then
	d1=$((W[0] - STARTED)) d2=$((W[1] - STARTED))
	note "warnings at +$d1 s and +$d2 s after start (expected ~14.4 and ~17.1)"
	[ "$d1" -ge 13 ] && [ "$d1" -le 17 ] && ok "first warning at ~80 % (+$d1 s)" ||
		not_ok "first warning at ~80 % of 18 s" "+$d1 s"
	[ "$d2" -ge 16 ] && [ "$d2" -le 19 ] && ok "second warning at ~95 % (+$d2 s)" ||
		not_ok "second warning at ~95 % of 18 s" "+$d2 s"
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
assert_jq "idle_kill evidence: idle_timeout_s 18, idle_s >= 18, gpu unknown, 1 GPU released" \
	'.details.idle_timeout_s == 18 and .details.idle_s >= 18 and .details.idle_s <= 22
	 and .details.gpu_avg_pct == "unknown" and (.details.gpus_released | length) == 1
	 and .details.samples >= 10 and .details.cpu_avg_pct < 2' "$KE"
N=$(events_query "$(ev_for gpu.release "$IDLE")" | grep -c .)
[ "${N:-0}" -ge 1 ] && ok "gpu.release event for idle1" ||
	not_ok "gpu.release event for idle1" "$(tail -n 10 "$EVENTS")"
assert_eq 0 "$(usage_gpueq "$A")" "check-limits: usage 0 after the idle stop"

# --- the busy ones, ~30 s after deploy ---------------------------------------------------------
sleep 8
assert_eq running "$(docker_state "$BUSY")" "busy1 (CPU loop) still running after ~30 s"
assert_eq 0 "$(events_query "$(ev_for maintenance.idle_warning "$BUSY")" | grep -c .)" \
	"busy1 never got an idle warning"
assert_eq running "$(docker_state "$WAKE")" "wake1 (busy after the first warning) still running"
assert_eq 0 "$(events_query "$(ev_for maintenance.idle_kill "$WAKE")" | grep -c .)" \
	"wake1 never got an idle_kill"
E=$(container_entry "$A" wake1)
assert_jq "list: wake1 running, idle_s reset (<= 3 s)" '.state == "running" and .idle_s <= 3' "$E"

for p in idle1 busy1 wake1; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
