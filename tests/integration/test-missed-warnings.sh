#!/usr/bin/env bash
# Warnings that fell due while ds01d was down (README "Runtime cap": "Warnings that fell due while
# the daemon was down still come first, one per sample"; "Daemon restarts": after a restart of
# under two sample intervals + 10 s "the stop still comes when it was announced and no warning is
# sent twice"; "the runtime warnings given stay given"). sample_interval_s 5, so an outage of up
# to 20 s keeps the idle clock. Four users deploy a container each with rules far away (1 h);
# then an administrator reloads limits (ds01 reload) that put each container's warnings and stop
# at fixed times after the reload (N), whatever the deploys took on a loaded machine, and ds01d is
# down (SIGTERM) from D's first warning (N+3 s) to N+16 s:
#   D  runtime: warnings at N+3 (given before the outage) and N+15 (in it), stop at N+36: the
#      second warning is given once on return, the first not again; the stop comes at N+36.
#   B  runtime: warnings at N+10 and N+14 (both in the outage), stop at N+36: both given on return,
#      one per sample, in order, each once; the stop comes at N+36.
#   F  runtime: warnings at N+9 and N+11, stop at N+13 (all in the outage): on return the
#      warnings still come first, one per sample, then the stop.
#   C  idle: warnings at N+10 and N+15 of idleness (both in the outage), stop at N+40: both given
#      on return (after a measured sample), each once, naming the stop at N+40, which comes then
#      (the idle clock was not started over by the restart).
# The users' inboxes hold each warning once.
# ds01-test: kind=functional threads budget=90
DS01_CONFIG_EXTRA='sample_interval_s: 5'
. "$(dirname "$0")/lib.sh"
ds01_setup
D=$(ds01_user "it$$d") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
F=$(ds01_user "it$$f") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
ds01_write_lifecycle_limits 'max_runtime_h: 1
idle_timeout_h: 1'
cp "$DS01_LIMITS" "$T/limits.base"
ds01_start_daemon

ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }
# lines EVENT CONTAINER: the line numbers in events.jsonl of the matching events (log order).
lines() {
	jq -r --arg t "$1" --arg c "$2" \
		'select(.event_type == $t and .details.container == $c) | input_line_number' "$EVENTS"
}
now() { date +%s.%N; }
# created_epoch / started_epoch NAME: Docker's creation / start time of NAME (empty if absent).
_docker_epoch() {
	local id t
	id=$(docker_id "$2")
	[ -n "$id" ] && t=$(docker inspect -f "$1" "$id") && [ -n "$t" ] && date -d "$t" +%s.%N
}
created_epoch() { _docker_epoch '{{.Created}}' "$1"; }
started_epoch() { _docker_epoch '{{.State.StartedAt}}' "$1"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# at_least T SECS: SECS or more have passed since T.
at_least() { [ "$(awk -v t="$1" -v s="$2" -v n="$(now)" 'BEGIN { print (n - t >= s) }')" = 1 ]; }
in_range() { [ "$(awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { print (x >= lo && x <= hi) }')" = 1 ]; }
# clock EPOCH: HH:MM:SS (UTC) of the whole second at or after EPOCH, as the warnings round it.
clock() { date -u -d "@$(awk -v t="$1" 'BEGIN { printf "%d", int((t * 1000 + 999) / 1000) }')" +%H:%M:%S; }
LOOP=$ACTIVE_LOOP
RD="rd._.$D" RB="rb._.$B" RF="rf._.$F" RI="ic._.$C"

# The four deploys at once (the timeline starts after them, at the reload).
T0=$(now)
as_user "$D" container-deploy rd --cpu-only -- sh -c "$LOOP" >"$T/deploy-rd" 2>&1 &
P1=$!
as_user "$F" container-deploy rf --cpu-only -- sh -c "$LOOP" >"$T/deploy-rf" 2>&1 &
P2=$!
as_user "$B" container-deploy rb --cpu-only -- sh -c "$LOOP" >"$T/deploy-rb" 2>&1 &
P3=$!
as_user "$C" container-deploy ic --cpu-only >"$T/deploy-ic" 2>&1 &
P4=$!
for x in "$P1 D rd (busy)" "$P2 F rf (busy)" "$P3 B rb (busy)" "$P4 C ic (idle)"; do
	set -- $x
	wait "$1"
	st=$?
	[ "$st" -eq 0 ] && ok "$2: deploy $3 $4" || not_ok "$2: deploy $3 $4" "exit $st: $(cat "$T/deploy-$3")"
done
CD=$(created_epoch "$RD") CB=$(created_epoch "$RB") CF=$(created_epoch "$RF") SC=$(started_epoch "$RI")
for x in "$CD" "$CB" "$CF" "$SC"; do
	case $x in [0-9]*.[0-9]*) ;; *) fail "cannot read the containers' creation times ($CD $CB $CF $SC)" ;; esac
done
note "deploys took $(since "$T0") s"

# ---- the limits that put every warning and stop at N + fixed offsets
N=$(awk -v n="$(now)" 'BEGIN { printf "%.3f", n + 1 }') # the reload takes a moment
# cap ORIGIN AT: whole seconds from ORIGIN to N+AT (the monitor counts a cap in whole seconds).
cap() { awk -v o="$1" -v n="$N" -v a="$2" 'BEGIN { printf "%d", n + a - o + 0.5 }'; }
# frac ORIGIN AT CAP: the fraction of CAP at N+AT.
frac() { awk -v o="$1" -v n="$N" -v a="$2" -v c="$3" 'BEGIN { printf "%.6f", (n + a - o) / c }'; }
hours() { awk -v s="$1" 'BEGIN { printf "%.7f", s / 3600 }'; }
KD=$(cap "$CD" 36) KB=$(cap "$CB" 36) KF=$(cap "$CF" 13) KC=$(cap "$SC" 40)
{
	cat "$T/limits.base"
	printf 'user_overrides:\n'
	printf '  %s:\n    max_runtime_h: %s\n    policies:\n' "$D" "$(hours "$KD")"
	printf '      runtime_warn_1: %s\n      runtime_warn_2: %s\n' "$(frac "$CD" 3 "$KD")" "$(frac "$CD" 15 "$KD")"
	printf '  %s:\n    max_runtime_h: %s\n    policies:\n' "$B" "$(hours "$KB")"
	printf '      runtime_warn_1: %s\n      runtime_warn_2: %s\n' "$(frac "$CB" 10 "$KB")" "$(frac "$CB" 14 "$KB")"
	printf '  %s:\n    max_runtime_h: %s\n    policies:\n' "$F" "$(hours "$KF")"
	printf '      runtime_warn_1: %s\n      runtime_warn_2: %s\n' "$(frac "$CF" 9 "$KF")" "$(frac "$CF" 11 "$KF")"
	printf '  %s:\n    idle_timeout_h: %s\n    policies:\n' "$C" "$(hours "$KC")"
	printf '      idle_warn_1: %s\n      idle_warn_2: %s\n' "$(frac "$SC" 10 "$KC")" "$(frac "$SC" 15 "$KC")"
} >"$DS01_LIMITS"
assert_exit 0 -m "root: ds01 reload (the new limits)" as_root ds01 reload
note "caps: rd $KD s, rb $KB s, rf $KF s from creation; ic $KC s of idleness"

# ---- the outage: from D's first warning (N+3) ...
wait_event 15 "$(ev_for maintenance.runtime_warning "$RD")" || fail "D: no first runtime warning within 15 s"
ds01_stop_daemon "ds01d stops after D's first runtime warning"
T_DOWN=$(now)
note "ds01d down at N+$(elapsed "$N" "$T_DOWN") s"
# Nothing else may have fallen due yet (F's first warning at N+9), or the scenario is not the one
# tested.
in_range "$(elapsed "$N" "$T_DOWN")" 0 8.5 ||
	fail "the machine was too slow to stop ds01d before N+8.5 s (F's first warning is due at N+9)"
assert_eq "1 0 0 0" "$(nev maintenance.runtime_warning "$RD") $(nev maintenance.runtime_warning "$RB") $(nev maintenance.runtime_warning "$RF") $(nev maintenance.idle_warning "$RI")" \
	"before the outage: D's first warning only"
# ... until every second warning and F's stop are due (N+15)
wait_for 30 at_least "$N" 16
T_UP=$(now)
ds01_start_daemon
note "ds01d back at N+$(elapsed "$N" "$T_UP") s, after $(elapsed "$T_DOWN" "$T_UP") s"
[ "$(awk -v a="$T_DOWN" -v b="$T_UP" 'BEGIN { print (b - a <= 19) }')" = 1 ] ||
	fail "the outage was longer than the 20 s that keep the idle clock (sample_interval_s 5)"

# ---- F: everything fell due: the warnings still come first, one per sample, then the stop
if wait_event 30 "$(ev_for maintenance.runtime_kill "$RF")"; then
	ok "F: rf stopped by maintenance.runtime_kill"
else
	not_ok "F: rf stopped by maintenance.runtime_kill" "$(tail -n 8 "$EVENTS")"
fi
mapfile -t W < <(lines maintenance.runtime_warning "$RF")
K=$(lines maintenance.runtime_kill "$RF" | head -n 1)
if [ "${#W[@]}" -eq 2 ] && [ -n "$K" ] && [ "${W[0]}" -lt "${W[1]}" ] && [ "${W[1]}" -lt "$K" ]; then
	ok "F: both missed warnings given after the restart, then the stop"
else
	not_ok "F: both missed warnings given after the restart, then the stop" "warning lines: ${W[*]:-none}, kill line: ${K:-none}"
fi
mapfile -t WE < <(event_epochs "$(ev_for maintenance.runtime_warning "$RF")")
if [ "${#WE[@]}" -eq 2 ] && [ "${WE[1]}" -gt "${WE[0]}" ]; then
	ok "F: the two warnings came in different samples (+$((WE[1] - WE[0])) s)"
else
	not_ok "F: the two warnings came in different samples" "warning times: ${WE[*]:-none}"
fi

# ---- D and B: the missed warnings on return, the stop at N+36
for x in "D $RD $CD $KD" "B $RB $CB $KB"; do
	set -- $x
	if wait_event 40 "$(ev_for maintenance.runtime_kill "$2")"; then
		ok "$1: stopped by maintenance.runtime_kill"
	else
		not_ok "$1: stopped by maintenance.runtime_kill" "$(tail -n 8 "$EVENTS")"
	fi
	wait_state 10 "$2" exited
	mapfile -t W < <(lines maintenance.runtime_warning "$2")
	K=$(lines maintenance.runtime_kill "$2" | head -n 1)
	if [ "${#W[@]}" -eq 2 ] && [ -n "$K" ] && [ "${W[1]}" -lt "$K" ]; then
		ok "$1: two runtime warnings in all (none repeated), then the stop"
	else
		not_ok "$1: two runtime warnings in all (none repeated), then the stop" "warning lines: ${W[*]:-none}, kill line: ${K:-none}"
	fi
	DUE=$(awk -v c="$3" -v k="$4" 'BEGIN { printf "%.3f", c + k }')
	LAST=$(events_query "$(ev_for maintenance.runtime_warning "$2")" | tail -n 1 | jq -r '.details.message')
	assert_match "$LAST" "will be stopped at $(clock "$DUE") UTC" "$1: the late warning names the stop at N+36 ($(clock "$DUE") UTC)"
	DS=$(elapsed "$DUE" "$(docker_finished_epoch "$2")")
	if strict_timing; then
		in_range "$DS" 0 2 && ok "$1: stopped 0-2 s after the cap ($DS s)" ||
			not_ok "$1: stopped 0-2 s after the cap (the stop still comes when announced)" "got $DS s"
	else
		in_range "$DS" 0 20 && ok "$1: stopped at or after the cap ($DS s)" ||
			not_ok "$1: stopped at or after the cap" "got $DS s"
	fi
done

# ---- C: the idle warnings come on return, each once; the stop at N+40
if wait_event 30 "$(ev_for maintenance.idle_kill "$RI")"; then
	ok "C: ic stopped by maintenance.idle_kill"
else
	not_ok "C: ic stopped by maintenance.idle_kill" "$(tail -n 8 "$EVENTS")"
fi
wait_state 10 "$RI" exited
mapfile -t W < <(lines maintenance.idle_warning "$RI")
K=$(lines maintenance.idle_kill "$RI" | head -n 1)
if [ "${#W[@]}" -eq 2 ] && [ -n "$K" ] && [ "${W[1]}" -lt "$K" ]; then
	ok "C: two idle warnings in all, both after the restart, then the stop"
else
	not_ok "C: two idle warnings in all, both after the restart, then the stop" "warning lines: ${W[*]:-none}, kill line: ${K:-none}"
fi
DUE=$(awk -v c="$SC" -v k="$KC" 'BEGIN { printf "%.3f", c + k }')
# (an idle warning rounds the stop to the second of the sample it was decided in: +-1 s)
IW=$(events_query "$(ev_for maintenance.idle_warning "$RI")" | tail -n 1 | jq -r '.details.message')
WANT="$(clock "$(awk -v d="$DUE" 'BEGIN { printf "%.3f", d - 1 }')")|$(clock "$DUE")|$(clock "$(awk -v d="$DUE" 'BEGIN { printf "%.3f", d + 1 }')")"
assert_match "$IW" "will be stopped at ($WANT) UTC" "C: the late warning names the stop at N+40 ($(clock "$DUE") UTC)"
DC=$(elapsed "$DUE" "$(docker_finished_epoch "$RI")")
GC=$(elapsed "$SC" "$T_UP")
# A clock started over at the restart would stop it $KC s after it: N+16+40 at least.
in_range "$DC" 0 "$(awk -v g="$GC" 'BEGIN { print g - 1 }')" &&
	ok "C: ic stopped at or after N+40 and before a clock started over at the restart would ($DC s after N+40)" ||
	not_ok "C: ic stopped at N+40, not $KC s after the restart" "stopped $DC s after N+40"
if strict_timing; then
	in_range "$DC" 0 2 && ok "C: ic stopped 0-2 s after N+40 ($DC s)" ||
		not_ok "C: ic stopped 0-2 s after N+40" "got $DC s"
fi

# ---- what the users were told: each warning once
inbox_count() { inbox_json "$1" | jq --arg e "$2" '[.messages[]? | select(.event == $e)] | length'; }
assert_eq "2 2 2 2" "$(inbox_count "$D" runtime_warning) $(inbox_count "$B" runtime_warning) $(inbox_count "$F" runtime_warning) $(inbox_count "$C" idle_warning)" \
	"each user's inbox holds their two warnings once (D, B, F runtime; C idle)"

for x in "$D rd" "$B rb" "$F rf" "$C ic"; do
	set -- $x
	assert_exit 0 -m "retire $2" as_user "$1" container-retire "$2"
done
assert_instance_empty "nothing left in Docker"
ds01_done
