#!/usr/bin/env bash
# A daemon restart does not start the idle clock over (README "Idle and runtime enforcement"):
# with idle_timeout_h 0.0025 (9 s), sample_interval_s 1 and restart_gap_s 2 (down at most
# 2 x 1 + 2 = 4 s counts as a restart; under a sanitizer restart_gap_s 6, so 8 s, and an 18 s
# timeout), an idle container that got its first warning (80 %, 7.2 s) before ds01d restarted
# is stopped at ~9 s of idleness, not 9 s after the restart, and is not warned twice. After a longer outage (over
# that gap) the daemon cannot know what happened while it was away: the clock starts again at
# its start, so the container is not stopped at once (the old clock would stop it at the first
# measured sample).
# ds01-test: kind=functional budget=56
. "$(dirname "$0")/lib.sh"
# A sanitizer build stops and starts more slowly: it gets a wider gap (and a longer outage), and
# a timeout twice as long, so that the test's stop lands between the first warning and the
# deadline (1.8 s apart at 9 s, 3.6 s at 18 s) on a loaded machine too.
RG=2 TOH=0.0025 TO=9 # idle_timeout_h and idle_timeout_s
strict_timing || { RG=6 TOH=0.005 TO=18; }
DS01_CONFIG_EXTRA="sample_interval_s: 1
restart_gap_s: $RG"
ds01_setup
ds01_write_lifecycle_limits "idle_timeout_h: $TOH"
ds01_start_daemon
GAP=$((2 + RG))   # 2 x sample_interval_s + restart_gap_s

A=$(ds01_user "it$$a") || fail "cannot create user"
R1="idle1._.$A" R2="idle2._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }

# ---- a restart within the gap: the clock and the warning given are kept
assert_exit 0 -m "deploy idle1 (idle)" as_user "$A" container-deploy idle1 --cpu-only
S1=$(docker_started_at "$R1")
wait_event $((TO + 15)) "$(ev_for maintenance.idle_warning "$R1")" ||
	not_ok "idle1: a first idle warning" "$(tail -n 5 "$EVENTS")"
T_STOP=$(now_s)
R=$(awk -v s="$S1" -v n="$T_STOP" 'BEGIN { printf "%.1f", n - s }')
ds01_stop_daemon "ds01d stops after idle1's first warning"
assert_eq 0 "$(nev maintenance.idle_kill "$R1")" "idle1 not stopped yet when ds01d stopped"
ds01_start_daemon
# From before the SIGTERM to after the new daemon answers: more than it was really away.
DOWN=$(secs_since "$T_STOP")
if awk -v d="$DOWN" -v g="$GAP" 'BEGIN { exit !(d < g) }'; then
	ok "ds01d down $DOWN s (under the $GAP s that count as a restart), from $R s of idleness"
else
	not_ok "ds01d restarted within $GAP s (the machine is too slow for this check)" "down $DOWN s"
fi
if wait_event $((TO + 15)) "$(ev_for maintenance.idle_kill "$R1")"; then
	ok "idle1 stopped by maintenance.idle_kill"
else
	not_ok "idle1 stopped by maintenance.idle_kill" "$(tail -n 8 "$EVENTS")"
fi
wait_state 5 "$R1" exited
F=$(docker_finished_epoch "$R1")
d=$(awk -v f="$F" -v s="$S1" 'BEGIN { printf "%.1f", f - s }')
note "idle1 stopped at $d s of idleness (restart from $R s; a clock started over: after $R + $TO s)"
awk -v d="$d" -v t="$TO" 'BEGIN { exit !(d >= t - 0.1) }' && ok "idle1 not stopped before $TO s idle ($d s)" ||
	not_ok "idle1 not stopped before $TO s idle" "at $d s"
# The clock kept: sooner than a clock started by the new daemon would allow, in every pass ...
awk -v d="$d" -v r="$R" -v t="$TO" 'BEGIN { exit !(d < r + t) }' &&
	ok "idle1 stopped before $R + $TO s: the clock went on across the restart ($d s)" ||
	not_ok "idle1 stopped before $R + $TO s: the clock went on across the restart" "at $d s"
# ... and in the plain pass when it falls due: at 9 s, or if the restart took idle1 past its
# second warning (95 %), as soon as the new daemon can: its first sample has no rates, the
# second (a second later) gives that warning, the next tick the stop.
if strict_timing; then
	B=$(awk -v r="$R" -v w="$DOWN" -v t="$TO" 'BEGIN { b = r + w + 2; printf "%.1f", (b > t ? b : t) + 1.5 }')
	awk -v d="$d" -v b="$B" 'BEGIN { exit !(d <= b) }' &&
		ok "idle1 stopped when due across the restart ($d s, at most $B)" ||
		not_ok "idle1 stopped when due across the restart (at most $B s: the later of $TO s and the restart + 2 ticks, + 1.5 s)" "at $d s"
fi
assert_eq 2 "$(nev maintenance.idle_warning "$R1")" "idle1: two warnings in all (the first not repeated)"

# ---- an outage longer than the gap: the clock starts again
assert_exit 0 -m "deploy idle2 (idle)" as_user "$A" container-deploy idle2 --cpu-only
wait_event $((TO + 15)) "$(ev_for maintenance.idle_warning "$R2")" ||
	not_ok "idle2: a first idle warning" "$(tail -n 5 "$EVENTS")"
ds01_stop_daemon "ds01d stops after idle2's first warning, for over $GAP s"
T_DOWN=$(now_s) # the clocks were saved before this
W2=$(nev maintenance.idle_warning "$R2")
# The outage itself: ds01d stays down half a second longer than the gap.
sleep "$(awk -v t="$T_DOWN" -v g="$GAP" -v n="$EPOCHREALTIME" 'BEGIN { d = t + g + 0.5 - n; printf "%.3f", (d > 0 ? d : 0) }')"
T_START=$(now_s)
note "ds01d down $(awk -v a="$T_DOWN" -v b="$T_START" 'BEGIN { printf "%.1f", b - a }') s"
ds01_start_daemon
# The old clock (idle since before the outage, one warning given) would warn at the first sample
# with rates, the second tick, and stop at the third.
wait_ticks_total 3 || not_ok "three monitor ticks after the long outage"
assert_eq running "$(docker_state "$R2")" "idle2 still running three ticks after the long outage" ||
	note "$(docker inspect -f "{{json .State}}" "$(docker_id "$R2")")"
assert_eq "$W2" "$(nev maintenance.idle_warning "$R2")" "idle2: no warning since the long outage"
assert_eq 0 "$(nev maintenance.idle_kill "$R2")" "idle2: no idle stop"
E=$(container_entry "$A" idle2)
UP=$(secs_since "$T_START")
assert_jq "list: idle2's idle clock counts from the restart (idle_s <= $UP + 1, not the $TO s and more before it)" \
	".idle_s <= $UP + 1" "$E"

for p in idle1 idle2; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
