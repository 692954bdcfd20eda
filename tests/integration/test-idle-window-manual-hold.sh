#!/usr/bin/env bash
# DS01's idle_detection_window and gpu_hold_after_manual_stop_m, with sample_interval_s 1:
#  - with a 3 s idle timeout and a window of 8 idle samples in a row, W's idle container is
#    stopped only after 8 samples a sample interval apart (not at 3 s, and not sooner because
#    the monitor made extra passes for Q's deadlines), while Q, whose override sets the window to 1, is
#    stopped at the timeout; check-limits shows each one's window;
#  - with gpu_hold_after_stop_h 1 and gpu_hold_after_manual_stop_m 0.05 (3 s), the GPU of a
#    container its owner stopped is released 3 s later (gpu.release says the owner stopped it),
#    while that of a container whose command ended by itself stays held.
# ds01-test: kind=functional budget=32
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
W=$(ds01_user "it$$w") || fail "cannot create user W"
Q=$(ds01_user "it$$q") || fail "cannot create user Q"
H=$(ds01_user "it$$h") || fail "cannot create user H"
ds01_write_lifecycle_limits "$(printf 'idle_timeout_h: 0.0008\ngpu_hold_after_stop_h: 1')" \
	"$(printf 'idle_detection_window: 8\ngpu_hold_after_manual_stop_m: 0.05')"
cat >>"$DS01_LIMITS" <<EOF
user_overrides:
  $Q:
    policies:
      idle_detection_window: 1
  $H:
    idle_timeout_h: 1
EOF
ds01_start_daemon
TO=3 # llround(0.0008 h x 3600)
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

capture as_user "$W" check-limits --json
assert_jq "check-limits: W's window is 8, the manual-stop hold 0.05 min" \
	'.limits.policies.idle_detection_window == 8 and .limits.policies.gpu_hold_after_manual_stop_m == 0.05' "$OUT"
capture as_user "$Q" check-limits --json
assert_jq "check-limits: Q's override makes it 1" '.limits.policies.idle_detection_window == 1' "$OUT"

# --- the idle window -----------------------------------------------------------------------
assert_exit 0 -m "W: deploy idle (CPU only)" as_user "$W" container-deploy idle --cpu-only
assert_exit 0 -m "Q: deploy idle (CPU only)" as_user "$Q" container-deploy idle --cpu-only
WS=$(docker_started_at "idle._.$W") QS=$(docker_started_at "idle._.$Q")
for who in "$W" "$Q"; do
	wait_event 30 "$(ev_for maintenance.idle_kill "idle._.$who")" ||
		not_ok "idle._.$who stopped by maintenance.idle_kill" "$(tail -n 5 "$EVENTS")"
	wait_state 10 "idle._.$who" exited
done
after() { awk -v f="$(docker_finished_epoch "$1")" -v s="$2" 'BEGIN { printf "%.1f", f - s }'; }
WA=$(after "idle._.$W" "$WS") QA=$(after "idle._.$Q" "$QS")
note "W stopped $WA s after its start, Q $QA s (timeout $TO s; W's window 8 samples of 1 s)"
assert_jq "W's idle_kill: after 8 idle samples in a row, not at the first" '.details.idle_samples >= 8' \
	"$(first_event "$(ev_for maintenance.idle_kill "idle._.$W")")"
assert_jq "Q's idle_kill: at its timeout, with fewer" '.details.idle_samples >= 1 and .details.idle_samples < 8' \
	"$(first_event "$(ev_for maintenance.idle_kill "idle._.$Q")")"
# 8 samples at least 3/4 of the 1 s interval apart, the first after a measured one: >= 6.25 s
# (the monitor's extra passes for Q's deadlines do not count as W's samples)
awk -v a="$WA" 'BEGIN { exit !(a >= 6.25) }' && ok "W is stopped well after its timeout ($WA s): 8 samples of 1 s" ||
	not_ok "W is stopped only after 8 samples of 1 s (>= 6.25 s after its start)" "$WA s after its start"
awk -v a="$QA" -v t="$TO" 'BEGIN { exit !(a >= t - 0.1) }' && ok "Q is not stopped before its timeout" ||
	not_ok "Q is not stopped before its timeout" "$QA s"
if strict_timing; then
	awk -v a="$QA" 'BEGIN { exit !(a <= 6) }' && ok "Q (window 1) is stopped at its timeout ($QA s)" ||
		not_ok "Q (window 1) is stopped at its timeout, within 6 s" "$QA s"
fi

# --- the hold after the owner's own stop ---------------------------------------------------
assert_exit 0 -m "H: deploy mine (1 GPU)" as_user "$H" container-deploy mine
assert_exit 0 -m "H: deploy done (1 GPU, a command that ends)" as_user "$H" container-deploy done -- true
wait_state 20 "done._.$H" exited
capture as_user "$H" container-stop mine --json
assert_eq 0 "$RC" "H stops mine ($ERR)"
assert_jq "the stop reports the 3 s hold" '.gpu_hold_after_stop_h * 3600 | round == 3' "$OUT"
if wait_event 15 "$(ev_for gpu.release "mine._.$H")"; then
	ok "mine's GPU was released after the owner's stop"
else
	not_ok "mine's GPU was released after the owner's stop" "$(tail -n 5 "$EVENTS")"
fi
assert_jq "gpu.release: the hold after the owner's stop expired" \
	'.details.reason == "hold after stop expired" and .details.owner_stopped == true' \
	"$(first_event "$(ev_for gpu.release "mine._.$H")")"
sleep 2 # past mine's release, with done's own stop (earlier) also past 3 s
UUID=$(docker inspect --format '{{index .Config.Labels "ds01.gpu.uuids"}}' "done._.$H")
assert_eq held "$(gpu_lease_state "$UUID")" "done's GPU is still held (it stopped by itself: the 1 h hold)"
ds01_done
