#!/usr/bin/env bash
# Runtime cap: max_runtime_h 0.01 (36 s) on busy containers (CPU loops, so the idle
# rule never applies): maintenance.runtime_warning at 75 % and 90 %, then maintenance.runtime_kill
# at 36 s after creation -- not before, and not a sample interval late: with the default
# sample_interval_s of 60 the monitor wakes for each warning and for the stop; a keep-alive
# (command and file) does not prevent it; the count is from the container's creation, so it
# survives a restart of the daemon mid-way (the stop still comes at 36 s) and of the container
# (container-start is refused with the reason; a `docker start` behind ds01's back is stopped
# again at once). The loops exit on SIGTERM, so Docker's FinishedAt is when the stop was asked
# for.
# ds01-test: kind=functional budget=42
DS01_CONFIG_EXTRA='sample_interval_s: 60'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'max_runtime_h: 0.01
idle_timeout_h: 0.005'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
R1="rt1._.$A" R2="rt2._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }
created_epoch() { date -d "$(docker inspect -f '{{.Created}}' "$(docker_id "$1")")" +%s.%N; }

for p in rt1 rt2; do
	assert_exit 0 -m "deploy $p -- a CPU loop" \
		as_user "$A" container-deploy "$p" --cpu-only -- sh -c 'trap "exit 0" TERM; while :; do :; done'
done
C1=$(created_epoch "$R1") C2=$(created_epoch "$R2")
assert_exit 0 -m "container-keepalive rt1 1h" as_user "$A" container-keepalive rt1 1h
assert_exit 0 -m "touch ~/workspace/rt1/.keep-alive" as_user "$A" touch "$HA/workspace/rt1/.keep-alive"
sleep 2
E=$(container_entry "$A" rt1)
assert_jq "list: rt1 runtime_limit_s 36, runtime_left_s <= 36, keep-alive shown" \
	'.runtime_limit_s == 36 and .runtime_left_s <= 36 and .runtime_left_s > 20 and .keepalive != null' "$E"

# Restart the daemon mid-way (at ~12 s): the count goes on from the creation time.
while [ "$(awk -v c="$C2" -v n="$(date +%s.%N)" 'BEGIN { print (n - c < 12) }')" = 1 ]; do sleep 0.5; done
ds01_stop_daemon "ds01d stops mid-way (~12 s into the 36 s cap)"
assert_eq running "$(docker_state "$R2")" "rt2 keeps running while ds01d is down"
sleep 4
ds01_start_daemon
ok "ds01d started again at ~$(awk -v c="$C2" -v n="$(date +%s.%N)" 'BEGIN { printf "%.0f", n - c }') s"
sleep 2.5 # the first samples after the restart
E=$(container_entry "$A" rt2)
assert_jq "list after the daemon restart: rt2 runtime_s counts from creation (>= 15)" '.runtime_s >= 15' "$E"

for n in "$R1" "$R2"; do
	if wait_event 35 "$(ev_for maintenance.runtime_kill "$n")"; then
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
	d=$(awk -v f="$F" -v c="$3" 'BEGIN { printf "%.1f", f - c }')
	note "$2: stopped $d s after creation (cap 36 s)"
	if awk -v d="$d" 'BEGIN { exit !(d >= 36 && d <= 38) }'; then
		ok "rt$1 stopped 36-38 s after creation (got $d s)$([ "$1" = 2 ] && echo ' across the daemon restart')"
	else
		not_ok "rt$1 stopped 36-38 s after creation (not before the cap, not a tick late)" "got $d s"
	fi
	mapfile -t W < <(event_epochs "$(ev_for maintenance.runtime_warning "$2")")
	K=$(event_epochs "$(ev_for maintenance.runtime_kill "$2")" | head -n 1)
	C=${3%.*}
	if [ "${#W[@]}" -eq 2 ] && [ "${W[0]}" -lt "${W[1]}" ] && [ "${W[1]}" -lt "$K" ]; then
		ok "rt$1: two runtime warnings, then the kill (+$((W[0] - C)), +$((W[1] - C)), +$((K - C)) s)"
	else
		not_ok "rt$1: two runtime warnings, then the kill" "warnings: ${W[*]:-none} kill: ${K:-none} created: $C"
	fi
	if [ "${#W[@]}" -eq 2 ]; then
		w1=$((W[0] - C)) w2=$((W[1] - C))
		[ "$w1" -ge 27 ] && [ "$w1" -le 30 ] && ok "rt$1: first warning at ~75 % (+$w1 s)" ||
			not_ok "rt$1: first warning at ~75 % (27 s)" "+$w1 s"
		[ "$w2" -ge 32 ] && [ "$w2" -le 35 ] && ok "rt$1: second warning at ~90 % (+$w2 s)" ||
			not_ok "rt$1: second warning at ~90 % (32.4 s)" "+$w2 s"
	fi
done
# A busy container must not be warned as idle, also not right after the daemon restart (the
# first sample after a restart has no CPU delta yet).
assert_eq 0 "$(nev maintenance.idle_warning "$R1")" "no idle warning for busy rt1"
assert_eq 0 "$(nev maintenance.idle_warning "$R2")" "no idle warning for busy rt2 (also after the daemon restart)"
WM=$(first_event "$(ev_for maintenance.runtime_warning "$R1")" | jq -r '.details.message')
assert_match "$WM" "max_runtime_h" "the runtime warning says why (max_runtime_h)"
assert_match "$WM" "will be stopped at [0-9:]+ UTC" "the runtime warning says when"
assert_match "$WM" "keep-alive does not" "the runtime warning says keep-alive does not extend it"
KE=$(first_event "$(ev_for maintenance.runtime_kill "$R1")")
assert_jq "runtime_kill details: runtime_s >= 36, limit_s 36, container" \
	'.details.runtime_s >= 36 and .details.limit_s == 36 and .details.container != null' "$KE"

# Restart of the container: the count does not start over. container-start says so instead of
# starting a container that would be stopped at once.
capture as_user "$A" container-start rt1
assert_eq 3 "$RC" "container-start rt1 after the runtime kill: refused (exit 3)"
assert_match "$ERR" "maximum runtime of 36s \\(max_runtime_h" "the refusal names the limit"
assert_match "$ERR" "container-retire rt1" "the refusal says what to do (container-retire rt1)"
assert_eq exited "$(docker_state "$R1")" "rt1 stays stopped"
# Started behind ds01's back: the start event wakes the monitor, which stops it again at once
# (not at the next 60 s sample).
docker start "$(docker_id "$R1")" >/dev/null
two_kills() { [ "$(nev maintenance.runtime_kill "$R1")" -ge 2 ]; }
if wait_for 10 two_kills; then
	ok "rt1 started with docker start: stopped again by maintenance.runtime_kill within 10 s"
else
	not_ok "rt1 started with docker start: stopped again within 10 s" "state: $(docker_state "$R1")"
fi
wait_state 5 "$R1" exited
assert_eq exited "$(docker_state "$R1")" "rt1 exited again"
assert_eq 2 "$(nev maintenance.runtime_kill "$R1")" "rt1: a second maintenance.runtime_kill, no more"

for p in rt1 rt2; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
