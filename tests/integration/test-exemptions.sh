#!/usr/bin/env bash
# lifecycle-exemptions.yaml end to end (beside the limits file; README: "an entry in
# lifecycle-exemptions.yaml prevents the idle stop"; an entry names a username, exempt_from
# idle_timeout_h and/or max_runtime_h, a reason and an optional expires_on, after which it no
# longer applies). idle_timeout_h 0.0015 (5.4 s; the daemon counts whole seconds: 5 s) for
# everyone; R and M have max_runtime_h 0.001 (3.6 s: 4 s) and a 1 h idle timeout
# (user_overrides); sample_interval_s 1. Five users, one idle container each:
#  - E (exempt from idle_timeout_h): idle well past 5 s, never warned or stopped, no idle
#    deadline in container-list, the runtime cap still shown (the exemption lifts only the idle
#    rule); N (no entry) and X (an entry that expired in 2020) are idle-stopped;
#  - R (exempt from max_runtime_h): runs past its 4 s cap, never warned or stopped, no runtime
#    limit in container-list, and a container-start after its cap is allowed; M (no entry) is
#    stopped at its cap, and its container-start is refused (exit 3);
#  - SIGHUP with a changed file: E's entry now expires in a few seconds (E is idle-stopped after
#    that moment, not before), N gets an entry (N's restarted container stays past its timeout),
#    R's entry is gone (R is stopped at once for its used-up runtime).
# ds01-test: kind=functional threads budget=38
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
# assert_json DESC FILTER JSON: assert_jq, but no JSON at all fails (jq -e passes on empty input).
assert_json() { assert_jq "$1" "$2" "${3:-(no output)}"; }

E=$(ds01_user "it$$e") || fail "cannot create user"
N=$(ds01_user "it$$n") || fail "cannot create user"
X=$(ds01_user "it$$x") || fail "cannot create user"
R=$(ds01_user "it$$r") || fail "cannot create user"
M=$(ds01_user "it$$m") || fail "cannot create user"
ds01_write_lifecycle_limits 'idle_timeout_h: 0.0015'
cat >>"$DS01_LIMITS" <<EOF
user_overrides:
  $R:
    max_runtime_h: 0.001
    idle_timeout_h: 1
  $M:
    max_runtime_h: 0.001
    idle_timeout_h: 1
EOF
EXEMPT=$(dirname "$DS01_LIMITS")/lifecycle-exemptions.yaml
cat >"$EXEMPT" <<EOF
exemptions:
  - username: $E
    exempt_from: [idle_timeout_h]
    reason: "thesis run"
  - username: $X
    exempt_from: idle_timeout_h
    reason: "last year's deadline"
    expires_on: "2020-01-01"
  - username: $R
    exempt_from: [max_runtime_h]
    reason: "long training"
EOF
ds01_start_daemon

ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$2")" | grep -c .; }
# clock USER PROJECT FIELD: a member of the container's container-list entry
clock() { container_entry "$1" "$2" | jq -r ".$3"; }
clock_at_least() { local v; v=$(clock "$1" "$2" "$3"); [ -n "$v" ] && [ "$v" != null ] && [ "$v" -ge "$4" ]; }
wait_kill() { # DESC TYPE CONTAINER SECONDS
	if wait_event "$4" "$(ev_for "$2" "$3")"; then
		ok "$1"
	else
		not_ok "$1" "$(tail -n 8 "$EVENTS")"
	fi
}

for u in E N X R M; do
	p=${u,,}
	assert_exit 0 -m "$u: deploy $p (idle)" as_user "${!u}" container-deploy "$p" --cpu-only
done

# ---- idle_timeout_h
wait_kill "N (no exemption) is idle-stopped" maintenance.idle_kill "n._.$N" 30
wait_kill "X (exemption expired 2020-01-01) is idle-stopped" maintenance.idle_kill "x._.$X" 30
# E has been idle for the timeout and two more ticks: its stop would have come by then.
wait_for 30 clock_at_least "$E" e idle_s 8 || not_ok "E's idle clock reaches 8 s" "$(container_entry "$E" e)"
assert_eq running "$(docker_state "e._.$E")" "E (exempt from idle_timeout_h) still runs, idle for $(clock "$E" e idle_s) s"
assert_eq "0 0" "$(nev maintenance.idle_warning "e._.$E") $(nev maintenance.idle_kill "e._.$E")" \
	"E got no idle warning and no idle stop"
assert_json "container-list: E's container has no idle deadline, and the runtime cap (24 h) stays" \
	'has("idle_timeout_s") and .idle_timeout_s == null and .runtime_limit_s == 86400' "$(container_entry "$E" e)"

# ---- max_runtime_h
wait_kill "M (no exemption) is stopped at its 4 s runtime cap" maintenance.runtime_kill "m._.$M" 30
wait_for 30 clock_at_least "$R" r runtime_s 6 || not_ok "R's runtime reaches 6 s" "$(container_entry "$R" r)"
assert_eq running "$(docker_state "r._.$R")" "R (exempt from max_runtime_h) still runs after $(clock "$R" r runtime_s) s"
assert_eq "0 0" "$(nev maintenance.runtime_warning "r._.$R") $(nev maintenance.runtime_kill "r._.$R")" \
	"R got no runtime warning and no runtime stop"
assert_json "container-list: R's container has no runtime limit, and the idle timeout (1 h) stays" \
	'has("runtime_limit_s") and .runtime_limit_s == null and .idle_timeout_s == 3600' "$(container_entry "$R" r)"
wait_state 10 "m._.$M" exited
assert_exit 3 -m "M: container-start m after its runtime is used up -> exit 3" as_user "$M" container-start m
assert_contains "$ERR" "maximum runtime" "M: the refusal names the maximum runtime"
assert_exit 0 -m "R: container-stop r" as_user "$R" container-stop r
assert_exit 0 -m "R: container-start r after its cap (exempt) is allowed" as_user "$R" container-start r
assert_eq running "$(docker_state "r._.$R")" "R's container runs again"

# ---- SIGHUP picks up a changed file
wait_state 10 "n._.$N" exited
EXP=$(($(date +%s) + 4))
cat >"$EXEMPT.new" <<EOF
exemptions:
  - username: $E
    exempt_from: [idle_timeout_h]
    reason: "thesis run, until the deadline"
    expires_on: "$(date -u -d "@$EXP" +%Y-%m-%dT%H:%M:%SZ)"
  - username: $N
    exempt_from: [idle_timeout_h]
    reason: "now exempt"
  - username: $X
    exempt_from: idle_timeout_h
    expires_on: "2020-01-01"
EOF
mv -f "$EXEMPT.new" "$EXEMPT"
reloads() { grep -c 'reloaded ' "$DAEMON_LOG"; }
N0=$(reloads)
kill -HUP "$DS01_PID"
reloaded() { [ "$(reloads)" -gt "$N0" ]; }
wait_for 10 reloaded || fail "no 'reloaded' line in the daemon log within 10 s of SIGHUP"
ok "SIGHUP reloaded the limits and lifecycle-exemptions.yaml"
assert_exit 0 -m "N: container-start n (N is exempt now)" as_user "$N" container-start n

wait_kill "R (exemption removed) is stopped for its used-up runtime" maintenance.runtime_kill "r._.$R" 20
wait_kill "E (exemption expired at +4 s) is idle-stopped" maintenance.idle_kill "e._.$E" 30
W=$(event_epochs "$(ev_for maintenance.idle_warning "e._.$E")" | head -n 1)
K=$(event_epochs "$(ev_for maintenance.idle_kill "e._.$E")" | head -n 1)
if [ -n "$W" ] && [ -n "$K" ] && [ "$W" -ge "$EXP" ] && [ "$K" -ge "$EXP" ]; then
	ok "E's first warning (+$((W - EXP)) s) and stop (+$((K - EXP)) s) came after expires_on, not before"
else
	not_ok "E's first warning and stop came after expires_on ($EXP)" "warning: ${W:-none}, stop: ${K:-none}"
fi
wait_for 30 clock_at_least "$N" n idle_s 8 || not_ok "N's idle clock reaches 8 s" "$(container_entry "$N" n)"
assert_eq running "$(docker_state "n._.$N")" "N (exempt after the reload) runs on, idle for $(clock "$N" n idle_s) s"
assert_eq 1 "$(nev maintenance.idle_kill "n._.$N")" "N was not idle-stopped again"
assert_json "container-list: N's container has no idle deadline now" 'has("idle_timeout_s") and .idle_timeout_s == null' "$(container_entry "$N" n)"

for u in E N X R M; do
	p=${u,,}
	assert_exit 0 -m "$u: retire $p" as_user "${!u}" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
