#!/usr/bin/env bash
# Runtime cap: max_runtime_h 0.004 (14 s: the cap is kept in whole seconds) on busy containers
# (CPU loops, which the idle rule, here 4 s, must see as busy): maintenance.runtime_warning at
# 75 % and 90 %, then maintenance.runtime_kill at 14 s after creation -- not before, and not a
# sample interval late: with sample_interval_s 60 the monitor wakes for each warning and for the
# stop; a keep-alive (command and file) does not prevent it; the count is from the container's
# creation, so it survives a restart of the daemon mid-way (the stop still comes at 14 s) and of
# the container (container-start is refused with the reason; a `docker start` behind ds01's back
# is stopped again at once). The loops exit on SIGTERM, so Docker's FinishedAt is when the stop
# was asked for. The rule is proportional: a short cap tests what a long one does.
# ds01-test: kind=functional budget=42
DS01_CONFIG_EXTRA='sample_interval_s: 60'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'max_runtime_h: 0.004
idle_timeout_h: 0.001'
ds01_start_daemon
CAP=14 # runtime_limit_s: llround(0.004 h x 3600)

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
R1="rt1._.$A" R2="rt2._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }
created_epoch() { date -d "$(docker inspect -f '{{.Created}}' "$(docker_id "$1")")" +%s.%N; }
LOOP=$ACTIVE_LOOP
# list_shows USER PROJECT JQ: the project's container-list row (as of the last tick) matches JQ.
list_shows() { container_entry "$1" "$2" | jq -e "$3" >/dev/null; }

# rt2 first: the daemon restarts 2 s into it (before its first warning at 10.5 s); rt1 comes
# after the restart, so its deadlines meet no restart (and no deploy: a container start holds
# up the monitor's tick while Docker starts it).
assert_exit 0 -m "deploy rt2 -- a CPU loop" as_user "$A" container-deploy rt2 --cpu-only -- sh -c "$LOOP"
C2=$(created_epoch "$R2")
sleep "$(awk -v c="$C2" -v n="$EPOCHREALTIME" 'BEGIN { d = c + 2 - n; printf "%.3f", (d > 0 ? d : 0) }')"
ds01_stop_daemon "ds01d stops mid-way (~2 s into rt2's $CAP s cap)"
assert_eq running "$(docker_state "$R2")" "rt2 keeps running while ds01d is down"
T_START=$(now_s)
ds01_start_daemon
UP=$(awk -v c="$C2" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f", n - c }')
# The premise of "across the restart": rt2's warnings and stop all fall to the new daemon.
awk -v u="$UP" -v c="$CAP" 'BEGIN { exit !(u < 0.75 * c) }' &&
	ok "ds01d up again $UP s after rt2's creation, before its first warning ($(awk -v c="$CAP" 'BEGIN { print 0.75 * c }') s)" ||
	not_ok "ds01d up again before rt2's first warning (the machine is too slow for this check)" "up at $UP s"
wait_ticks_total 1 || not_ok "the new daemon's first tick"
LB=$(awk -v c="$C2" -v t="$T_START" 'BEGIN { printf "%d", t - c }')
E=$(container_entry "$A" rt2)
# (a count from the restart would be at most the new daemon's age, under a second or two)
assert_jq "list after the daemon restart: rt2 runtime_s counts from creation (>= $LB)" \
	".runtime_s >= $LB and .runtime_limit_s == $CAP" "$E"

# rt1, kept alive both ways (the file is there before the container starts).
assert_exit 0 -m "touch ~/workspace/rt1/.keep-alive" \
	as_user "$A" sh -c "mkdir -p $HA/workspace/rt1 && touch $HA/workspace/rt1/.keep-alive"
assert_exit 0 -m "deploy rt1 -- a CPU loop" as_user "$A" container-deploy rt1 --cpu-only -- sh -c "$LOOP"
C1=$(created_epoch "$R1")
assert_exit 0 -m "container-keepalive rt1 1h" as_user "$A" container-keepalive rt1 1h
# the container's start wakes the monitor: its row shows the cap from that tick on
wait_for 10 list_shows "$A" rt1 '.runtime_limit_s != null' || not_ok "a monitor tick after rt1's start"
E=$(container_entry "$A" rt1)
assert_jq "list: rt1 runtime_limit_s $CAP, runtime_left_s <= $CAP, keep-alive shown" \
	".runtime_limit_s == $CAP and .runtime_left_s <= $CAP and .runtime_left_s > 0 and .keepalive != null" "$E"

for n in "$R2" "$R1"; do
	if wait_event $((CAP + 15)) "$(ev_for maintenance.runtime_kill "$n")"; then
		ok "$n stopped by maintenance.runtime_kill"
	else
		not_ok "$n stopped by maintenance.runtime_kill" "$(tail -n 8 "$EVENTS")"
	fi
	wait_state 5 "$n" exited
	assert_eq exited "$(docker_state "$n")" "$n exited"
done
for x in "1 $R1 $C1" "2 $R2 $C2"; do
	set -- $x
	F=$(docker_finished_epoch "$2")
	d=$(awk -v f="$F" -v c="$3" 'BEGIN { printf "%.2f", f - c }')
	across=$([ "$1" = 2 ] && echo ' (across the daemon restart)')
	note "$2: stopped $d s after creation (cap $CAP s)"
	awk -v d="$d" -v c="$CAP" 'BEGIN { exit !(d >= c - 0.1) }' &&
		ok "rt$1 not stopped before its cap of $CAP s ($d s)$across" ||
		not_ok "rt$1 not stopped before its cap of $CAP s$across" "stopped at $d s"
	if strict_timing; then
		awk -v d="$d" -v c="$CAP" 'BEGIN { exit !(d <= c + 2) }' &&
			ok "rt$1 stopped within 2 s of its cap ($d s)$across" ||
			not_ok "rt$1 stopped within 2 s of its cap (not a tick late)$across" "stopped at $d s"
	fi
	mapfile -t W < <(event_epochs "$(ev_for maintenance.runtime_warning "$2")")
	K=$(event_epochs "$(ev_for maintenance.runtime_kill "$2")" | head -n 1)
	C=${3%.*}
	# in the order events.jsonl has them (whole-second times may tie)
	ORDER=$(events_query "(.event_type | startswith(\"maintenance.runtime\")) and .details.container == \"$2\"" |
		jq -r '.event_type | ltrimstr("maintenance.")' | paste -sd ' ')
	if [ "$ORDER" = "runtime_warning runtime_warning runtime_kill" ]; then
		ok "rt$1: two runtime warnings, then the kill (+$((W[0] - C)), +$((W[1] - C)), +$((K - C)) s)"
	else
		not_ok "rt$1: two runtime warnings, then the kill" "events: ${ORDER:-none}; warnings at ${W[*]:-none}, kill at ${K:-none}, created $C"
	fi
	if [ "${#W[@]}" -eq 2 ]; then
		# whole seconds (event times are truncated): 75 % = 10.5 s, 90 % = 12.6 s
		w1=$((W[0] - C)) w2=$((W[1] - C))
		[ "$w1" -ge 10 ] && ok "rt$1: first warning not before 75 % (+$w1 s)" ||
			not_ok "rt$1: first warning not before 75 % (10.5 s)" "+$w1 s"
		[ "$w2" -ge 12 ] && ok "rt$1: second warning not before 90 % (+$w2 s)" ||
			not_ok "rt$1: second warning not before 90 % (12.6 s)" "+$w2 s"
		if strict_timing; then
			[ "$w1" -le 12 ] && ok "rt$1: first warning at ~75 % (+$w1 s, at most 12)" ||
				not_ok "rt$1: first warning at ~75 % (10.5 s, at most 12)" "+$w1 s"
			[ "$w2" -le 14 ] && ok "rt$1: second warning at ~90 % (+$w2 s, at most 14)" ||
				not_ok "rt$1: second warning at ~90 % (12.6 s, at most 14)" "+$w2 s"
		fi
	fi
done
# A busy container must not be warned as idle (idle_timeout 4 s, well inside the 14 s), also not
# right after the daemon restart (the first sample after a restart has no CPU delta yet). rt1 is
# kept alive as well; rt2 only its loop keeps.
assert_eq 0 "$(nev maintenance.idle_warning "$R1")" "no idle warning for busy (and kept-alive) rt1"
assert_eq 0 "$(nev maintenance.idle_warning "$R2")" "no idle warning for busy rt2 (also after the daemon restart)"
WM=$(first_event "$(ev_for maintenance.runtime_warning "$R1")" | jq -r '.details.message')
assert_match "$WM" "max_runtime_h" "the runtime warning says why (max_runtime_h)"
assert_match "$WM" "will be stopped at [0-9:]+ UTC" "the runtime warning says when"
assert_match "$WM" "keep-alive does not" "the runtime warning says keep-alive does not extend it"
KE=$(first_event "$(ev_for maintenance.runtime_kill "$R1")")
assert_jq "runtime_kill details: runtime_s >= $CAP, limit_s $CAP, container" \
	".details.runtime_s >= $CAP and .details.limit_s == $CAP and .details.container != null" "$KE"

# Restart of the container: the count does not start over. container-start says so instead of
# starting a container that would be stopped at once.
capture as_user "$A" container-start rt1
assert_eq 3 "$RC" "container-start rt1 after the runtime kill: refused (exit 3)"
assert_match "$ERR" "maximum runtime of ${CAP}s \\(max_runtime_h" "the refusal names the limit"
assert_match "$ERR" "container-retire rt1" "the refusal says what to do (container-retire rt1)"
assert_eq exited "$(docker_state "$R1")" "rt1 stays stopped"
# Started behind ds01's back: the start event wakes the monitor, which stops it again at once
# (not at the next 60 s sample).
docker start "$(docker_id "$R1")" >/dev/null
T_DS=$(now_s)
two_kills() { [ "$(nev maintenance.runtime_kill "$R1")" -ge 2 ]; }
if wait_for 10 two_kills; then
	ok "rt1 started with docker start: stopped again by maintenance.runtime_kill within 10 s"
else
	not_ok "rt1 started with docker start: stopped again within 10 s" "state: $(docker_state "$R1")"
fi
wait_state 5 "$R1" exited
assert_eq exited "$(docker_state "$R1")" "rt1 exited again"
if strict_timing; then
	d=$(awk -v f="$(docker_finished_epoch "$R1")" -v t="$T_DS" 'BEGIN { printf "%.2f", f - t }')
	awk -v d="$d" 'BEGIN { exit !(d <= 3) }' && ok "rt1 stopped again within 3 s of its start ($d s)" ||
		not_ok "rt1 stopped again within 3 s of its start" "$d s"
fi
assert_eq 2 "$(nev maintenance.runtime_kill "$R1")" "rt1: a second maintenance.runtime_kill, no more"

for p in rt1 rt2; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
