#!/usr/bin/env bash
# High demand (DS01's high_demand_threshold and high_demand_idle_reduction): with 4 simulated
# GPUs, a threshold of 0.5 and a reduction of 0.5, idle timeouts are as set while one slot is
# leased, and halved once two are: check-limits shows the timeout in force and why, container-list
# the shortened timeout, the idle warnings and the stop say why it is shorter, the stop comes at
# the shortened timeout (not the full one), and system.high_demand is written when the state
# turns on and again when it turns off (the stop released the second slot). A site that does not
# set the threshold never shortens anything (the first part, before the limits change).
# ds01-test: kind=functional budget=45
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.01' \
	"$(printf 'high_demand_threshold: 0.5\nhigh_demand_idle_reduction: 0.5')"
ds01_start_daemon
FULL=36 HALF=18 # llround(0.01 h x 3600) and half of it

A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
IDLE="idle1._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

# one slot of four leased (B's busy container): 25 %, under the threshold
assert_exit 0 -m "B: deploy hog (1 GPU, a CPU loop)" as_user "$B" container-deploy hog -- sh -c "$ACTIVE_LOOP"
capture as_user "$A" check-limits --json
assert_jq "check-limits at 1 of 4: not high demand, the timeout in force is the limit" \
	".high_demand.active == false and .high_demand.leased_slots == 1 and .high_demand.slots == 4
	 and .high_demand.idle_timeout_in_force_h == 0.01
	 and .limits.policies.high_demand_threshold == 0.5
	 and .limits.policies.high_demand_idle_reduction == 0.5" "$OUT"
capture as_user "$A" check-limits
assert_not_contains "$OUT" "High demand" "check-limits says nothing of high demand at 1 of 4"

# two of four: A's idle container gets half the timeout
assert_exit 0 -m "A: deploy idle1 (1 GPU, idle)" as_user "$A" container-deploy idle1
STARTED=$(docker_started_at "$IDLE")
capture as_user "$A" check-limits --json
assert_jq "check-limits at 2 of 4: high demand, the timeout in force halved" \
	".high_demand.active == true and .high_demand.leased_slots == 2
	 and .high_demand.idle_timeout_in_force_h == 0.005" "$OUT"
capture as_user "$A" check-limits
assert_contains "$OUT" "High demand: 2 of 4 GPU slots leased - idle timeouts are 50% shorter: yours is 18s now" \
	"check-limits tells the user the timeout in force and why"
wait_tick 2 || not_ok "two monitor ticks after the deploy"
assert_jq "container-list: idle1's idle timeout is $HALF s" ".idle_timeout_s == $HALF" \
	"$(container_entry "$A" idle1)"
if wait_event 15 '.event_type == "system.high_demand" and .details.state == "on"'; then
	ok "system.high_demand (on) written"
else
	not_ok "system.high_demand (on) written" "$(tail -n 5 "$EVENTS")"
fi
assert_jq "system.high_demand (on) counts 2 of 4 slots" \
	'.details.leased_slots == 2 and .details.slots == 4' \
	"$(first_event '.event_type == "system.high_demand" and .details.state == "on"')"

# the warnings and the stop come at the shortened timeout, and say why
if wait_event $((FULL + 10)) "$(ev_for maintenance.idle_kill "$IDLE")"; then
	ok "idle1 stopped by maintenance.idle_kill"
else
	not_ok "idle1 stopped by maintenance.idle_kill" "$(tail -n 10 "$EVENTS")"
fi
KE=$(first_event "$(ev_for maintenance.idle_kill "$IDLE")")
assert_jq "idle_kill evidence: idle_timeout_s $HALF, idle_s under the full $FULL s" \
	".details.idle_timeout_s == $HALF and .details.idle_s >= $HALF and .details.idle_s < $FULL" "$KE"
wait_for 5 eval 'inbox_json "$A" | grep -q "was stopped after"' || not_ok "the stop reached A's inbox"
STOPMSG=$(inbox_json "$A" | jq -r '.messages[] | select(.message | contains("was stopped after")) | .message')
assert_contains "$STOPMSG" "the idle timeout is 18s, shortened from 36s while the GPUs are in high demand: 2 of 4 slots leased" \
	"the stop (A's inbox) says why the timeout was shorter"
WM=$(first_event "$(ev_for maintenance.idle_warning "$IDLE")" | jq -r '.details.message')
assert_contains "$WM" "while the GPUs are in high demand" "the warning says why the stop comes sooner"
wait_state 5 "$IDLE" exited
FIN=$(docker_finished_epoch "$IDLE")
late=$(awk -v f="$FIN" -v s="$STARTED" -v t="$HALF" 'BEGIN { printf "%.2f", f - (s + t) }')
note "idle1 started $STARTED, stopped $FIN: $late s after $HALF s idle"
awk -v l="$late" 'BEGIN { exit !(l >= -0.1) }' && ok "idle1 not stopped before $HALF s idle" ||
	not_ok "idle1 not stopped before $HALF s idle" "$late s after"
if strict_timing; then
	awk -v l="$late" 'BEGIN { exit !(l <= 3) }' && ok "idle1 stopped within 3 s of $HALF s idle" ||
		not_ok "idle1 stopped within 3 s of $HALF s idle" "$late s after"
fi

# the stop released A's slot: back to 1 of 4, and the state turns off
if wait_event 15 '.event_type == "system.high_demand" and .details.state == "off"'; then
	ok "system.high_demand (off) written once the slot was released"
else
	not_ok "system.high_demand (off) written" "$(tail -n 5 "$EVENTS")"
fi
capture as_user "$A" check-limits --json
assert_jq "check-limits after the release: not high demand, the full timeout" \
	".high_demand.active == false and .high_demand.leased_slots == 1
	 and .high_demand.idle_timeout_in_force_h == 0.01" "$OUT"
assert_eq running "$(docker_state "hog._.$B")" "B's busy container was never stopped"
ds01_done
