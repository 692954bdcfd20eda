#!/usr/bin/env bash
# Issue 11 item 15: an exec session counts as activity only while a client is connected to it.
# As a real user: `container-attach gone -- sleep 100000 &`, then kill -9 of the CLI (the sleep
# goes on running in the container). The container must still be idle-stopped on time
# (idle_timeout_h 0.0025 = 9 s; 14.4 s under a sanitizer, where deploying and attaching take
# longer): before the fix signals.session stayed true for ever. In the same daemon a container
# whose attach client stays connected is not stopped.
# ds01-test: kind=security threads budget=25
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
if strict_timing; then IDLE_H=0.0025; else IDLE_H=0.004; fi
ds01_write_lifecycle_limits "idle_timeout_h: $IDLE_H"
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
session_is() { [ "$(container_entry "$A" "$1" | jq -r '.signals.session')" = "$2" ]; }

assert_exit 0 -m "deploy gone" as_user "$A" container-deploy gone --cpu-only
assert_exit 0 -m "deploy live" as_user "$A" container-deploy live --cpu-only
as_user_bg "$A" container-attach gone -- sleep 100000 >/dev/null 2>&1
GONE=$!
as_user_bg "$A" container-attach live -- sleep 100000 >/dev/null 2>&1
LIVE=$!
for p in gone live; do
	if wait_for 10 session_is "$p" true; then
		ok "$p: the attach session is seen (signals.session true)"
	else
		not_ok "$p: the attach session is seen (signals.session true)" "$(container_entry "$A" "$p")"
	fi
done
kill -9 "$GONE"
wait "$GONE" 2>/dev/null
T0=$SECONDS
note "killed the CLI of gone's session with SIGKILL; its sleep runs on in the container"
# (the abandoned exec is what kept the session open before the fix: it must still be there)
if docker exec "gone._.$A" sh -c 'ps | grep -v grep | grep -q "sleep 100000"' 2>/dev/null; then
	ok "the abandoned sleep still runs in gone"
else
	not_ok "the abandoned sleep still runs in gone" "$(docker exec "gone._.$A" ps 2>&1 | head -n 20)"
fi

if wait_for 10 session_is gone false; then
	ok "gone: no client, so no session (signals.session false)"
else
	not_ok "gone: no client, so no session (signals.session false)" "$(container_entry "$A" gone)"
fi
if wait_event 30 "$(ev_for maintenance.idle_kill "gone._.$A")"; then
	ok "gone was idle-stopped $((SECONDS - T0)) s after its client was killed (timeout $(awk -v h="$IDLE_H" 'BEGIN { print h * 3600 }') s)"
else
	not_ok "gone is idle-stopped although its abandoned exec runs" "$(container_entry "$A" gone)"
fi
wait_state 10 "gone._.$A" exited
assert_eq exited "$(docker_state "gone._.$A")" "gone exited in Docker"

assert_eq running "$(docker_state "live._.$A")" "live (client still connected) still runs"
assert_eq 0 "$(events_query "$(ev_for maintenance.idle_kill "live._.$A")" | grep -c .)" \
	"live was never idle-stopped"
kill "$LIVE" 2>/dev/null
wait "$LIVE" 2>/dev/null

for p in gone live; do
	as_user "$A" container-retire "$p" >/dev/null 2>&1
done
assert_instance_empty "nothing left in Docker"
ds01_done
