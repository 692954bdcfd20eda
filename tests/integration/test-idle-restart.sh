#!/usr/bin/env bash
# A daemon restart does not start the idle clock over (README "Idle and runtime enforcement"):
# with idle_timeout_h 0.005 (18 s) and sample_interval_s 1, an idle container that got its first
# warning (80 %, 14.4 s) before ds01d restarted (down ~1 s) is stopped at ~18 s of idleness, not
# 18 s after the restart, and is not warned twice. After a longer outage (over two sample
# intervals + 10 s) the daemon cannot know what happened while it was away: the clock starts
# again at its start, so the container is not stopped at once.
# ds01-test: kind=functional budget=56
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.005'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
R1="idle1._.$A" R2="idle2._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }

# ---- a restart of a second or so: the clock and the warning given are kept
assert_exit 0 -m "deploy idle1 (idle)" as_user "$A" container-deploy idle1 --cpu-only
S1=$(docker_started_epoch "$R1")
wait_event 25 "$(ev_for maintenance.idle_warning "$R1")" ||
	not_ok "idle1: a first idle warning" "$(tail -n 5 "$EVENTS")"
ds01_stop_daemon "ds01d stops after idle1's first warning"
sleep 1
ds01_start_daemon
R=$(awk -v s="$S1" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')
ok "ds01d started again at ~$R s of idleness"
if wait_event 15 "$(ev_for maintenance.idle_kill "$R1")"; then
	ok "idle1 stopped by maintenance.idle_kill"
else
	not_ok "idle1 stopped by maintenance.idle_kill" "$(tail -n 8 "$EVENTS")"
fi
wait_state 5 "$R1" exited
F=$(docker_finished_epoch "$R1")
d=$(awk -v f="$F" -v s="$S1" 'BEGIN { printf "%.1f", f - s }')
# (a clock started over at the restart would stop it at ~$R + 18 s)
if awk -v d="$d" 'BEGIN { exit !(d >= 18 && d <= 22) }'; then
	ok "idle1 stopped at 18-22 s of idleness across the restart (got $d s)"
else
	not_ok "idle1 stopped at 18-22 s of idleness across the restart" "got $d s (restart at $R s)"
fi
assert_eq 2 "$(nev maintenance.idle_warning "$R1")" "idle1: two warnings in all (the first not repeated)"

# ---- an outage longer than 2 x sample_interval_s + 10 s: the clock starts again
assert_exit 0 -m "deploy idle2 (idle)" as_user "$A" container-deploy idle2 --cpu-only
wait_event 25 "$(ev_for maintenance.idle_warning "$R2")" ||
	not_ok "idle2: a first idle warning" "$(tail -n 5 "$EVENTS")"
ds01_stop_daemon "ds01d stops after idle2's first warning, for 13 s"
sleep 13
ds01_start_daemon
# idle for over 28 s by the old clock; by the new one for none
sleep 6
assert_eq running "$(docker_state "$R2")" "idle2 still running 6 s after the long outage" || note "$(docker inspect -f "{{json .State}}" "$(docker_id "$R2")")"
assert_eq 0 "$(nev maintenance.idle_kill "$R2")" "idle2: no idle stop yet"
E=$(container_entry "$A" idle2)
assert_jq "list: idle2's idle clock counts from the restart (idle_s <= 8)" '.idle_s <= 8' "$E"

for p in idle1 idle2; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
