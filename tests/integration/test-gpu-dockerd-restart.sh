#!/usr/bin/env bash
# Restarting THE machine's dockerd under a running ds01d (issue #3): SIGTERM dockerd (its
# containers stop; `ds01 health` fails, issue #6), start it again as scripts/lib.sh's
# ds01_ensure_dockerd does (health passes again); ds01d stays up,
# container-list works, the stopped container keeps its GPU as `held` (not leaked, not doubled),
# container-start gets it back on the same GPU, the event stream was resumed (an outside
# `docker stop` is seen within 2 s), a new deploy works, retire frees everything.
# It stops every container on the machine, so it only runs with CI=true or
# DS01_TEST_DOCKERD_RESTART=1; dockerd is started again on every exit path.
# ds01-test: kind=functional needs=dockerd budget=13
if [ "${CI:-}" != true ] && [ "${DS01_TEST_DOCKERD_RESTART:-0}" != 1 ]; then
	echo "# SKIP: restarts the machine's dockerd (stops every container); set CI=true or DS01_TEST_DOCKERD_RESTART=1"
	exit 77
fi
DS01_GPUS=2
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup

# ds01_ensure_dockerd in a session of its own: the runner's `timeout` kills the test's whole
# process group on expiry, and the machine's dockerd must not go with it.
_start_dockerd() {
	setsid -w bash -c '. "$1/../../scripts/lib.sh"; DS01_PROG=test-gpu-dockerd-restart.sh ds01_ensure_dockerd' \
		_ "$(cd "$(dirname "$0")" && pwd)" </dev/null
}

# Whatever happens, dockerd runs again before lib.sh's cleanup talks to it.
_dockerd_back() {
	docker info >/dev/null 2>&1 && return 0
	local i
	for i in $(seq 1 300); do # a dockerd still shutting down must finish first
		pgrep -x dockerd >/dev/null 2>&1 || break
		sleep 0.1
	done
	_start_dockerd || echo "# cleanup: could not restart dockerd" >&2
}
trap '_rc=$?; _dockerd_back; (exit $_rc); _ds01_cleanup' EXIT

ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user"

lease_is() { [ "$(gpu_lease_state "$1")" = "$2" ]; }

assert_exit 0 -m "A: deploy r1" as_user "$A" container-deploy r1
U=$(container_gpus "$A" r1)
assert_ne "" "$U" "r1 has a GPU"
assert_exit 0 -m "A: write a file in /workspace" as_user "$A" container-run r1 -- sh -c 'echo kept > /workspace/f'

# ---- stop THE dockerd
DPID=$(pgrep -x dockerd | head -n 1)
[ -n "$DPID" ] || fail "no dockerd process found"
note "stopping dockerd (pid $DPID)"
kill -TERM "$DPID"
end=$((SECONDS + 60))
while docker info >/dev/null 2>&1 && [ $SECONDS -lt $end ]; do sleep 0.2; done
docker info >/dev/null 2>&1 && fail "dockerd still answers 60 s after SIGTERM"
while kill -0 "$DPID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
kill -0 "$DPID" 2>/dev/null && fail "dockerd ($DPID) did not exit within 60 s"
ok "dockerd stopped"
sleep 1
ds01_daemon_alive && ok "ds01d alive while dockerd is down" || fail "ds01d died when dockerd went away"
t0=$(now_ms)
assert_exit 1 -m "container-list fails (exit 1) while dockerd is down" as_user "$A" container-list --json
assert_contains "$ERR" "cannot connect to Docker" "and says Docker is not answering"
d=$(($(now_ms) - t0))
[ "$d" -lt 10000 ] && ok "and answers at once, no hang ($d ms)" || not_ok "and answers at once, no hang" "$d ms"
assert_exit 1 -m "ds01 health fails while dockerd is down" as_root ds01 health
assert_match "$OUT" 'FAIL +docker ' "health names the docker check as failed"
assert_exit 1 as_root ds01 health --json
assert_jq "health --json: ok false, docker and the event stream failed" '.ok == false and ([.checks[] | select(.name == "docker" or .name == "docker_events") | .ok] == [false, false])' "$OUT"

# ---- start it again, as scripts/lib.sh does
t0=$SECONDS
_start_dockerd || fail "dockerd did not come back"
ok "dockerd restarted ($((SECONDS - t0)) s)"

ds01_daemon_alive && ok "ds01d still alive after the dockerd restart" || fail "ds01d died across the dockerd restart"
wait_for 15 as_user "$A" container-list --json && ok "container-list works again" || not_ok "container-list works again" "$(as_user "$A" container-list 2>&1)"
health_ok() { as_root ds01 health >/dev/null; }
if wait_for 20 health_ok; then ok "ds01 health passes again once dockerd is back"; else
	not_ok "ds01 health passes again once dockerd is back" "$(as_root ds01 health 2>&1)"; fi
assert_eq exited "$(docker_state "r1._.$A")" "r1 was stopped by the dockerd restart"
if wait_for 10 lease_is "$U" held; then ok "r1's GPU is held (the die during the outage was noticed)"; else
	not_ok "r1's GPU is held" "state: $(gpu_lease_state "$U")"; fi
assert_eq 1 "$(gpus_leased_count)" "exactly one slot leased (not leaked, not doubled)"
assert_eq 1 "$(ledger_sql 'SELECT count(*) FROM leases')" "ledger: one lease"
assert_eq "r1._.$A" "$(ledger_sql 'SELECT container FROM leases')" "ledger: the lease is r1's"
assert_eq 1 "$(usage_gpueq "$A")" "A holds 1.0"
E=$(container_entry "$A" r1)
assert_jq "container-list shows r1 stopped" '.state != "running"' "$E"

assert_exit 0 -m "A: container-start r1" as_user "$A" container-start r1
assert_eq running "$(docker_state "r1._.$A")" "r1 running again"
assert_eq "$U" "$(container_gpus "$A" r1)" "r1 back on the same GPU"
assert_eq bound "$(gpu_lease_state "$U")" "lease bound"
assert_exit 0 -m "A: /workspace/f survived" as_user "$A" container-run r1 -- cat /workspace/f
assert_eq kept "$OUT" "file content intact"

assert_exit 0 -m "A: deploy r2 after the restart" as_user "$A" container-deploy r2
V=$(container_gpus "$A" r2)
assert_ne "$U" "$V" "r2 got the other GPU"
assert_eq 2 "$(gpus_leased_count)" "2 slots leased"

# the event stream follows the new dockerd
docker stop -t 5 "$(docker_id "r2._.$A")" >/dev/null
if wait_for 2 lease_is "$V" held; then ok "outside docker stop seen within 2 s (event stream resumed)"; else
	not_ok "outside docker stop seen within 2 s (event stream resumed)" "state: $(gpu_lease_state "$V")"; fi
docker rm -f "$(docker_id "r2._.$A")" >/dev/null
if wait_for 2 lease_is "$V" free; then ok "outside docker rm -f releases within 2 s"; else
	not_ok "outside docker rm -f releases within 2 s" "state: $(gpu_lease_state "$V")"; fi

assert_exit 0 -m "A: retire r1" as_user "$A" container-retire r1
assert_eq 0 "$(gpus_leased_count)" "all GPUs free"
assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM leases')" "ledger: no lease"
ds01_stop_daemon "ds01d stops cleanly"
assert_instance_empty "nothing left in Docker"
ds01_done
