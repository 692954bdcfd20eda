#!/usr/bin/env bash
# Issue 11 item 11: a .keep-alive touched into the future (touch -d 2099-01-01) counts as touched
# now, so it holds no longer than keepalive_max_duration_h (here 18 s against a 7 s idle
# timeout): the container is kept while that lasts, then stopped for idleness. A fresh
# .keep-alive still keeps a container, and container-list shows the real end of the keep-alive.
# ds01-test: kind=security budget=24
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.002' 'keepalive_max_duration_h: 0.005'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

for p in future fresh; do
	assert_exit 0 -m "deploy $p" as_user "$A" container-deploy "$p" --cpu-only
done
T0=$SECONDS
assert_exit 0 -m "touch -d 2099-01-01 ~/workspace/future/.keep-alive" \
	as_user "$A" touch -d 2099-01-01 "$HA/workspace/future/.keep-alive"
assert_exit 0 -m "touch ~/workspace/fresh/.keep-alive" as_user "$A" touch "$HA/workspace/fresh/.keep-alive"

sleep 2
E=$(container_entry "$A" future)
assert_jq "list: the future .keep-alive holds until now + 18 s at most, not 2099" \
	'.keepalive.source == "file" and .keepalive.until <= (now + 19)' "$E"
sleep 6
assert_exit 0 -m "touch ~/workspace/fresh/.keep-alive again (holds 18 s from now)" \
	as_user "$A" touch "$HA/workspace/fresh/.keep-alive"

# keep-alive (18 s) then the idle timeout: stopped about 18 s after the touch, not in 2099.
if wait_event 30 "$(ev_for maintenance.idle_kill "future._.$A")"; then
	ok "future (.keep-alive dated 2099) stopped for idleness after $((SECONDS - T0)) s"
else
	not_ok "future (.keep-alive dated 2099) stopped for idleness within 30 s" "$(tail -n 5 "$EVENTS")"
fi
[ $((SECONDS - T0)) -ge 16 ] && ok "not before its keep-alive of 18 s ran out" ||
	not_ok "not before its keep-alive of 18 s ran out" "$((SECONDS - T0)) s"
# A fresh .keep-alive still holds: fresh, as idle as future, is still running.
assert_eq running "$(docker_state "fresh._.$A")" "fresh (re-touched) is still running"
E=$(container_entry "$A" fresh)
assert_jq "list: fresh is kept by its file a while more" \
	'.keepalive.source == "file" and .keepalive.until > (now + 2) and .keepalive.until <= (now + 19)' "$E"

for p in future fresh; do as_user "$A" container-retire "$p" >/dev/null 2>&1; done
assert_instance_empty "nothing left in Docker"
ds01_done
