#!/usr/bin/env bash
# Keep-alive against the idle stop, idle_timeout_h 0.005 (18 s), sample_interval_s 1:
#  - a fresh ~/workspace/P/.keep-alive prevents the stop (container-list: keepalive.source file);
#    removing it lets the stop come (warnings first);
#  - a stale one (mtime 2 days ago, keepalive_max_duration_h 24) does not prevent it;
#  - `container-keepalive P 1m` prevents it (keepalive.source command), `... off` lets it stop;
#  - `container-keepalive P 48h` over keepalive_max_duration_h -> exit 2 naming the maximum;
#    another user's container -> exit 4.
# ds01-test: kind=functional budget=38
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.005' 'keepalive_max_duration_h: 24'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
HA=$(user_home "$A")
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }

for p in kfile kstale kcmd; do
	assert_exit 0 -m "deploy $p" as_user "$A" container-deploy "$p" --cpu-only
done
T0=$SECONDS
assert_exit 0 -m "touch a fresh ~/workspace/kfile/.keep-alive" as_user "$A" touch "$HA/workspace/kfile/.keep-alive"
assert_exit 0 -m "touch -d '2 days ago' ~/workspace/kstale/.keep-alive" \
	as_user "$A" touch -d '2 days ago' "$HA/workspace/kstale/.keep-alive"
assert_exit 0 -m "container-keepalive kcmd 1m" as_user "$A" container-keepalive kcmd 1m
assert_event container.keepalive "$A"

# Refusals.
assert_exit 2 -m "container-keepalive kcmd 48h (max 24h) -> exit 2" as_user "$A" container-keepalive kcmd 48h
assert_match "$ERR" "keepalive_max_duration_h" "the refusal names keepalive_max_duration_h"
assert_match "$ERR" "(24h|24 h|1d|1 day|24:00)" "the refusal names the maximum (24 h)"
assert_exit 4 -m "B: container-keepalive kfile 1h (A's project, B has none) -> exit 4" \
	as_user "$B" container-keepalive kfile 1h
assert_exit 4 -m "B: container-keepalive kfile._.$A 1h (A's container) -> exit 4" \
	as_user "$B" container-keepalive "kfile._.$A" 1h
assert_exit 4 -m "container-keepalive of an unknown project -> exit 4" as_user "$A" container-keepalive nosuch 1h

sleep 3
E=$(container_entry "$A" kfile)
assert_jq "list: kfile keepalive source file, until ~24 h away" \
	'.keepalive.source == "file" and .keepalive.until > (now + 23*3600)' "$E"
E=$(container_entry "$A" kcmd)
assert_jq "list: kcmd keepalive source command, until <= 1 min away" \
	'.keepalive.source == "command" and .keepalive.until <= (now + 61) and .keepalive.until > now' "$E"
assert_jq "list: kcmd idle_left_s counts down the keep-alive" '.idle_left_s > 40 and .idle_left_s <= 60' "$E"
E=$(container_entry "$A" kstale)
assert_jq "list: kstale has no keepalive (stale file)" '.keepalive == null' "$E"

# The stale file does not prevent the stop.
if wait_event 25 "$(ev_for maintenance.idle_kill "kstale._.$A")"; then
	ok "kstale (stale .keep-alive) stopped by maintenance.idle_kill ($((SECONDS - T0)) s)"
else
	not_ok "kstale (stale .keep-alive) stopped by maintenance.idle_kill" "$(tail -n 8 "$EVENTS")"
fi
wait_state 5 "kstale._.$A" exited
assert_eq exited "$(docker_state "kstale._.$A")" "kstale exited"

# ~30 s after deploy: the kept-alive ones are still running, never warned.
while [ $((SECONDS - T0)) -lt 30 ]; do sleep 1; done
for p in kfile kcmd; do
	assert_eq running "$(docker_state "$p._.$A")" "$p still running after 30 s (keep-alive)"
	assert_eq 0 "$(nev maintenance.idle_warning "$p._.$A")" "$p got no idle warning"
	assert_eq 0 "$(nev maintenance.idle_kill "$p._.$A")" "$p got no idle_kill"
done
assert_jq "list: kfile idle_s > 18 (idle, only the keep-alive holds it)" '.idle_s > 18' "$(container_entry "$A" kfile)"

# Lifting the keep-alives lets the (overdue) stops come: two warnings in two ticks, then the stop.
assert_exit 0 -m "container-keepalive kcmd off" as_user "$A" container-keepalive kcmd off
assert_exit 0 -m "rm ~/workspace/kfile/.keep-alive" as_user "$A" rm "$HA/workspace/kfile/.keep-alive"
for p in kcmd kfile; do
	if wait_event 10 "$(ev_for maintenance.idle_kill "$p._.$A")"; then
		ok "$p stopped within 10 s once its keep-alive is gone"
	else
		not_ok "$p stopped within 10 s once its keep-alive is gone" "$(tail -n 8 "$EVENTS")"
	fi
	assert_eq 2 "$(nev maintenance.idle_warning "$p._.$A")" "$p: two warnings before the stop"
done
wait_state 5 "kcmd._.$A" exited
assert_eq exited "$(docker_state "kcmd._.$A")" "kcmd exited"

for p in kfile kstale kcmd; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
