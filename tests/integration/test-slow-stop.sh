#!/usr/bin/env bash
# No lock is held across a Docker call (issue 13 item 3): while a container-stop --timeout 120
# of a container whose process ignores SIGTERM is in its grace, everything else goes on. On the
# NVML path (the fake libnvidia-ml.so.1), where a monitor tick rescans the GPUs and a changed
# inventory is published: a monitor tick ends, `ds01 gpus --rescan` (of a changed inventory,
# which is published), `ds01 reload`, another user's deploy and container-list all
# complete, each well before the stop does; the stop itself is still waiting when they are done.
# ds01-test: kind=functional threads budget=15
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
fake_nvml_use
fake_nvml_write "$(fake_nvml_inventory 2)"
fake_nvml_config
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
deploy_deaf "$A" deaf

T0=$(now_ms)
as_user_bg "$A" container-stop deaf --timeout 120 >"$T/stop.out"
STOP=$!
sleep 1 # the stop reaches ds01d and Docker sends SIGTERM
stopping() { kill -0 "$STOP" 2>/dev/null && [ "$(docker_state "deaf._.$A")" = running ]; }
stopping && ok "the stop is in its grace (deaf still running)" ||
	fail "the stop ended at once: $(cat "$T/stop.out")"

# Each of these, timed; they must all be done while the stop still waits.
timed() { # DESC COMMAND...: runs it, records its duration in ms
	local t0 rc
	t0=$(now_ms)
	"${@:2}" >"$T/out" 2>"$T/err"
	rc=$?
	DUR=$(($(now_ms) - t0))
	[ "$rc" = 0 ] && ok "$1 (${DUR} ms)" || not_ok "$1" "exit $rc: $(cat "$T/err")"
}
timed "a monitor tick ends during the stop" wait_tick 1 15
fake_nvml_edit '.gpus += [.gpus[0] | .uuid = "GPU-00000000-0000-4000-8000-000000000009" | .minor = 9 | .pci_bus_id = "00000000:30:00.0"]' ||
	fail "cannot edit the fake NVML"
timed "ds01 gpus --rescan during the stop" as_root ds01 gpus --rescan --json
assert_jq "the rescan's answer has the new GPU (a new generation was published)" \
	'[.slots[].uuid] | index("GPU-00000000-0000-4000-8000-000000000009") != null' "$(cat "$T/out")"
timed "ds01 reload during the stop" as_root ds01 reload
timed "B: deploy during the stop" as_user "$B" container-deploy bp --cpu-only
timed "B: container-list during the stop" as_user "$B" container-list --json
assert_jq "B's list shows bp" '[.containers[].name] == ["bp._.'"$B"'"]' "$(cat "$T/out")"
assert_eq 3 "$(as_root ds01 gpus --json | jq '.slots | length')" "the published inventory has 3 GPUs"
stopping && ok "the stop was still waiting when all of them were done ($(($(now_ms) - T0)) ms in)" ||
	not_ok "the stop was still waiting when all of them were done" "it ended; a test needs more than 120 s?"

# The end: kill what ignores TERM (this test's own process), and the stop answers.
docker kill "deaf._.$A" >/dev/null 2>&1
wait "$STOP"
assert_eq 0 "$?" "the container-stop exits 0 once its container is gone"
for p in deaf; do as_user "$A" container-retire "$p" >/dev/null 2>&1; done
as_user "$B" container-retire bp >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
