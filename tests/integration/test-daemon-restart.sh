#!/usr/bin/env bash
# The ledger and Docker labels survive a daemon restart: SIGTERM exits cleanly and quickly and
# leaves containers running; after a restart the list shows them with their GPUs, a container
# deleted while the daemon was down frees its GPU (reconcile at start-up), leases still block
# double allocation, retire releases. A SIGHUP with a broken ds01.yaml or limits file keeps the daemon
# running on the last good config and logs the error.
# ds01-test: kind=functional threads budget=19
DS01_GPUS=2
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

assert_exit 0 -m "A: deploy r1" as_user "$A" container-deploy r1
assert_exit 0 -m "A: deploy r2" as_user "$A" container-deploy r2
U1=$(container_gpus "$A" r1)
U2=$(container_gpus "$A" r2)
assert_ne "$U1" "$U2" "r1 and r2 have different GPUs"

t0=$(now_ms)
ds01_stop_daemon "SIGTERM: ds01d exits with status 0 within 10 s"
dt=$(($(now_ms) - t0))
if strict_timing; then
	[ "$dt" -le 5000 ] && ok "SIGTERM exit took <= 5 s ($dt ms)" || not_ok "SIGTERM exit took <= 5 s" "$dt ms"
fi
assert_eq running "$(docker_state "r1._.$A")" "r1 keeps running while the daemon is down"

# deleted while the daemon is down
assert_exit 0 -m "docker rm -f r2 while ds01d is down" docker rm -f "$(docker_id "r2._.$A")"

MARK=$(daemon_log_mark)
ds01_start_daemon
assert_line "$(daemon_log_after "$MARK")" "<6>reconciled ledger with docker: 1 correction(s)" \
	"the restarted daemon reconciled the ledger: one correction (r2's removal)"
assert_eq 2 "$(events_count system.startup)" "events: two system.startup (start, restart)"
assert_eq 1 "$(events_count system.shutdown)" "events: one system.shutdown (the SIGTERM)"
E=$(container_entry "$A" r1)
assert_jq "after restart: r1 listed running" '.state == "running"' "$E"
assert_eq "$U1" "$(container_gpus "$A" r1)" "after restart: r1 keeps its GPU ($U1)"
assert_eq "" "$(container_entry "$A" r2)" "after restart: r2 (removed while down) is not listed"
assert_eq 1 "$(usage_gpueq "$A")" "after restart: A holds 1.0 GPU-equivalent (r2's lease reconciled away)"

assert_exit 0 -m "B: deploy rb gets the GPU freed by reconciling r2" as_user "$B" container-deploy rb
assert_eq "$U2" "$(container_gpus "$B" rb)" "rb has r2's old GPU"
assert_exit 3 -m "A: deploy r3 refused: no GPU free (r1's lease survived the restart)" as_user "$A" container-deploy r3
assert_eq "container-deploy: no GPU free: 2 of 2 GPUs are leased - add --wait to wait in the queue for it, or deploy with --cpu-only" "$ERR" \
	"the refusal says both GPUs are leased"
assert_no_container "r3._.$A" "no container left for r3"

assert_exit 0 -m "A: retire r1 after the restart" as_user "$A" container-retire r1
assert_no_container "r1._.$A" "r1 gone"
assert_eq 0 "$(usage_gpueq "$A")" "A holds nothing"
assert_exit 0 -m "A: deploy r3 now gets r1's GPU" as_user "$A" container-deploy r3
assert_eq "$U1" "$(container_gpus "$A" r3)" "r3 has r1's old GPU"

# SIGHUP with a broken config
# hup DESC TEXT: SIGHUP, then waits (10 s at most) for the daemon's log line with TEXT.
hup() {
	local mark
	mark=$(daemon_log_mark)
	kill -HUP "$DS01_PID"
	if wait_daemon_log 10 "$mark" "$2"; then
		ok "$1"
	else
		not_ok "$1" "no log line with '$2' within 10 s; log since the SIGHUP:
$(daemon_log_after "$mark")"
	fi
	HUP_LOG=$(daemon_log_after "$mark")
}
RELOADED="<5>reloaded $DS01_CONFIG and $DS01_LIMITS"
FAILED="<3>reload failed, keeping the running configuration: "

cp "$DS01_CONFIG" "$T/ds01.yaml.good"
echo 'bogus_key: 1' >>"$DS01_CONFIG"
hup "SIGHUP with a broken ds01.yaml: the daemon logs that the reload failed" "$FAILED"
assert_match "$HUP_LOG" "^$FAILED.*bogus_key" "the error names the bad key"
assert_not_contains "$HUP_LOG" "$RELOADED" "nothing was reloaded"
ds01_daemon_alive && ok "SIGHUP with a broken ds01.yaml: daemon keeps running" ||
	fail "daemon died on SIGHUP with a broken config"
assert_ok "daemon answers ds01 version after the failed reload" as_user "$A" ds01 version
list_json "$A"
assert_jq "container-list works after the failed reload" 'any(.containers[]; .project == "r3")' "$OUT"
cp "$T/ds01.yaml.good" "$DS01_CONFIG"
hup "SIGHUP with the good config: reloaded" "$RELOADED"
ds01_daemon_alive && ok "SIGHUP with the good config: daemon keeps running" || fail "daemon died on SIGHUP"
assert_ok "daemon answers after the good reload" as_user "$A" ds01 version

# broken limits file on SIGHUP: the last good limits stay in force
cp "$DS01_LIMITS" "$T/limits.good"
printf 'groups:\n  student:\n    max_gpu_equivalents: [oops\n' >"$DS01_LIMITS"
hup "SIGHUP with a broken limits file: the daemon logs that the reload failed" "$FAILED"
assert_match "$HUP_LOG" "^$FAILED.*resource-limits\.yaml" "the error names the limits file"
ds01_daemon_alive && ok "SIGHUP with a broken limits file: daemon keeps running" || fail "daemon died on a broken limits file"
assert_exit 0 -m "A: check-limits after the failed reload" as_user "$A" check-limits --json
assert_jq "last good limits still in force" '.limits.max_gpu_equivalents == 2 and .limits.memory == 268435456' "$OUT"
cp "$T/limits.good" "$DS01_LIMITS"
hup "SIGHUP with the good limits again: reloaded" "$RELOADED"

assert_exit 0 -m "A: retire r3" as_user "$A" container-retire r3
assert_exit 0 -m "B: retire rb" as_user "$B" container-retire rb
ds01_stop_daemon "final SIGTERM: clean exit"
assert_instance_empty "nothing left in Docker"
ds01_done
