#!/usr/bin/env bash
# Keep-alive against the idle stop, idle_timeout_h 0.0025 (9 s), sample_interval_s 1:
#  - a fresh ~/workspace/P/.keep-alive prevents the stop (container-list: keepalive.source file);
#    removing it lets the stop come (two warnings, each in its own tick, then the stop);
#  - a stale one (mtime 2 days ago, keepalive_max_duration_h 24) does not prevent it;
#  - `container-keepalive P 5m` prevents it (keepalive.source command), `... off` lets it stop;
#  - `container-keepalive P 48h` over keepalive_max_duration_h -> exit 2 naming the maximum;
#    another user's container -> exit 4.
# ds01-test: kind=functional budget=20
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.0025' 'keepalive_max_duration_h: 24'
ds01_start_daemon
TO=9 # idle_timeout_s

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
HA=$(user_home "$A")
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }

# The keep-alive files are there before the containers start (a user may touch one before the
# deploy; the deploy uses the workspace that is there): no race with the idle clock.
assert_exit 0 -m "mkdir ~/workspace/kfile ~/workspace/kstale" \
	as_user "$A" mkdir -p "$HA/workspace/kfile" "$HA/workspace/kstale"
assert_exit 0 -m "touch a fresh ~/workspace/kfile/.keep-alive" as_user "$A" touch "$HA/workspace/kfile/.keep-alive"
assert_exit 0 -m "touch -d '2 days ago' ~/workspace/kstale/.keep-alive" \
	as_user "$A" touch -d '2 days ago' "$HA/workspace/kstale/.keep-alive"
assert_exit 0 -m "deploy kcmd" as_user "$A" container-deploy kcmd --cpu-only
assert_exit 0 -m "container-keepalive kcmd 5m" as_user "$A" container-keepalive kcmd 5m
assert_event container.keepalive "$A"
# kstale last: a container start holds up the monitor's tick while Docker starts it, and
# kstale's deadline is the one measured.
for p in kfile kstale; do
	assert_exit 0 -m "deploy $p" as_user "$A" container-deploy "$p" --cpu-only
done
declare -A AT
for p in kfile kstale kcmd; do AT[$p]=$(docker_started_at "$p._.$A"); done

# What the list shows, as of a tick after the deploys.
wait_tick 2 || not_ok "two monitor ticks after the deploys"
E=$(container_entry "$A" kstale)
assert_jq "list: kstale has no keepalive (stale file)" '.keepalive == null and .idle_timeout_s == '$TO "$E"
E=$(container_entry "$A" kfile)
assert_jq "list: kfile keepalive source file, until ~24 h away" \
	'.keepalive.source == "file" and .keepalive.until > (now + 23*3600)' "$E"
E=$(container_entry "$A" kcmd)
assert_jq "list: kcmd keepalive source command, until <= 5 min away" \
	'.keepalive.source == "command" and .keepalive.until <= (now + 301) and .keepalive.until > (now + 200)' "$E"
assert_jq "list: kcmd idle_left_s counts down the keep-alive" '.idle_left_s > 200 and .idle_left_s <= 300' "$E"

# Refusals.
assert_exit 2 -m "container-keepalive kcmd 48h (max 24h) -> exit 2" as_user "$A" container-keepalive kcmd 48h
assert_match "$ERR" "keepalive_max_duration_h" "the refusal names keepalive_max_duration_h"
assert_match "$ERR" "(24h|24 h|1d|1 day|24:00)" "the refusal names the maximum (24 h)"
assert_exit 4 -m "B: container-keepalive kfile 1h (A's project, B has none) -> exit 4" \
	as_user "$B" container-keepalive kfile 1h
assert_exit 4 -m "B: container-keepalive kfile._.$A 1h (A's container) -> exit 4" \
	as_user "$B" container-keepalive "kfile._.$A" 1h
assert_exit 4 -m "container-keepalive of an unknown project -> exit 4" as_user "$A" container-keepalive nosuch 1h

# The stale file does not prevent the stop: it comes at 9 s idle.
if wait_event $((TO + 15)) "$(ev_for maintenance.idle_kill "kstale._.$A")"; then
	ok "kstale (stale .keep-alive) stopped by maintenance.idle_kill"
else
	not_ok "kstale (stale .keep-alive) stopped by maintenance.idle_kill" "$(tail -n 8 "$EVENTS")"
fi
wait_state 5 "kstale._.$A" exited
assert_eq exited "$(docker_state "kstale._.$A")" "kstale exited"
d=$(awk -v f="$(docker_finished_epoch "kstale._.$A")" -v s="${AT[kstale]}" 'BEGIN { printf "%.2f", f - s }')
if awk -v d="$d" -v t="$TO" 'BEGIN { exit !(d >= t - 0.1) }'; then
	ok "kstale stopped not before $TO s idle (at $d s)"
else
	not_ok "kstale stopped not before $TO s idle" "at $d s"
fi
if strict_timing; then
	awk -v d="$d" -v t="$TO" 'BEGIN { exit !(d <= t + 2.5) }' && ok "kstale stopped within 2.5 s of $TO s idle ($d s)" ||
		not_ok "kstale stopped within 2.5 s of $TO s idle" "at $d s"
fi

# Past their own idle deadlines (and a tick after): the kept-alive ones are still running, never
# warned.
LAST=$(awk -v a="${AT[kfile]}" -v b="${AT[kcmd]}" -v t="$TO" 'BEGIN { printf "%.3f", (a > b ? a : b) + t }')
wait_tick_after "$LAST" || not_ok "a monitor tick after kfile's and kcmd's idle deadlines"
for p in kfile kcmd; do
	assert_eq running "$(docker_state "$p._.$A")" "$p still running after its idle timeout (keep-alive)"
	assert_eq 0 "$(nev maintenance.idle_warning "$p._.$A")" "$p got no idle warning"
	assert_eq 0 "$(nev maintenance.idle_kill "$p._.$A")" "$p got no idle_kill"
done
assert_jq "list: kfile idle_s > $TO (idle, only the keep-alive holds it)" ".idle_s > $TO" "$(container_entry "$A" kfile)"

# Lifting the keep-alives lets the (overdue) stops come: two warnings in two ticks, then the stop.
declare -A LIFT
assert_exit 0 -m "container-keepalive kcmd off" as_user "$A" container-keepalive kcmd off
LIFT[kcmd]=$(now_s)
assert_exit 0 -m "rm ~/workspace/kfile/.keep-alive" as_user "$A" rm "$HA/workspace/kfile/.keep-alive"
LIFT[kfile]=$(now_s)
for p in kcmd kfile; do
	if wait_event 15 "$(ev_for maintenance.idle_kill "$p._.$A")"; then
		ok "$p stopped once its keep-alive is gone"
	else
		not_ok "$p stopped once its keep-alive is gone" "$(tail -n 8 "$EVENTS")"
	fi
	assert_eq 2 "$(nev maintenance.idle_warning "$p._.$A")" "$p: two warnings before the stop"
	wait_state 5 "$p._.$A" exited
	assert_eq exited "$(docker_state "$p._.$A")" "$p exited"
	if strict_timing; then
		# the next three ticks (a second apart): a warning, a warning, the stop (from when the
		# keep-alive was surely gone)
		d=$(awk -v f="$(docker_finished_epoch "$p._.$A")" -v l="${LIFT[$p]}" 'BEGIN { printf "%.2f", f - l }')
		awk -v d="$d" 'BEGIN { exit !(d <= 4) }' && ok "$p stopped within 4 s of losing its keep-alive ($d s)" ||
			not_ok "$p stopped within 4 s of losing its keep-alive (three ticks)" "$d s"
	fi
done

for p in kfile kstale kcmd; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
