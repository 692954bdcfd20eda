#!/usr/bin/env bash
# gpus.docker_devices: device-requests on a machine without the NVIDIA runtime (issue #3): the
# container gets HostConfig.DeviceRequests (driver nvidia), Docker refuses to start it with
# `could not select device driver "nvidia"`, and the deploy exits 1 with Docker's message and
# rolls everything back: no container, no lease (ledger, check-limits, ds01 gpus); the
# GPU is still leasable. --cpu-only deploys work (no device request at all).
# ds01-test: kind=functional budget=14
. "$(dirname "$0")/lib.sh"
ds01_setup
if docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
	skip_test "this dockerd has the nvidia runtime: a device request would not fail here"
fi
ds01_write_gpu_config '  backend: simulated
  docker_devices: device-requests
  simulated:
    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960 }
    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960 }
    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960, mig: ["3g.20gb", "3g.20gb", "1g.5gb"] }'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"

check_rolled_back() { # PROJECT
	assert_no_container "$1._.$A" "$1: no container left"
	assert_eq 0 "$(usage_gpueq "$A")" "$1: check-limits usage 0 GPU-equivalents"
	assert_jq "$1: check-limits counts 0 containers" '.usage.containers == 0' "$(as_user "$A" check-limits --json)"
	assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM leases')" "$1: ledger has no lease"
	assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM containers')" "$1: ledger has no container"
	assert_eq 0 "$(gpus_leased_count)" "$1: ds01 gpus shows no lease"
	assert_eq "" "$(container_entry "$A" "$1")" "$1: container-list does not list it"
}

assert_exit 1 -m "A: deploy dr1 (whole GPU, device request) exits 1" as_user "$A" container-deploy dr1
assert_contains "$ERR$OUT" 'could not select device driver' "the message is Docker's 'could not select device driver'"
assert_contains "$ERR$OUT" 'nvidia' "the message names the nvidia driver"
check_rolled_back dr1

assert_exit 1 -m "A: deploy dr2 --mig 3g (MIG device request) exits 1" as_user "$A" container-deploy dr2 --mig 3g
assert_contains "$ERR$OUT" 'could not select device driver' "MIG: Docker's message shown"
check_rolled_back dr2

assert_exit 1 -m "A: deploy dr3 --gpus 2 (two devices) exits 1" as_user "$A" container-deploy dr3 --gpus 2
assert_contains "$ERR$OUT" 'could not select device driver' "2 GPUs: Docker's message shown"
check_rolled_back dr3

assert_exit 1 -m "A: batch deploy dr4 -- true exits 1" as_user "$A" container-deploy dr4 -- true
assert_eq "container-deploy: starting container 'dr4._.$A': could not select device driver \"nvidia\" with capabilities: [[gpu]]" \
	"$ERR" "batch: Docker's message, naming the container"
check_rolled_back dr4

# the rollbacks left nothing in events.jsonl either: no allocation, no container (the check
# was "as many gpu.allocate as gpu.release events", which held with none of either)
assert_eq "" "$(events_query '(.details.container // "") | test("^dr[1-4][.]")')" \
	"events.jsonl has no event of the rolled-back deploys"
assert_eq 1 "$(events_count system.startup)" "... while it has the daemon's start (the check reads the right file)"

# CPU-only works: no device request
assert_exit 0 -m "A: deploy c1 --cpu-only works" as_user "$A" container-deploy c1 --cpu-only
assert_eq running "$(docker_state "c1._.$A")" "c1 running"
DR=$(docker inspect -f '{{json .HostConfig.DeviceRequests}}' "$(docker_id "c1._.$A")")
assert_match "$DR" '^(null|\[\])$' "c1 has no device request ($DR)"
assert_eq "" "$(docker inspect -f '{{index .Config.Labels "ds01.gpu.uuids"}}' "$(docker_id "c1._.$A")")" "c1 has no GPU label value"
assert_not_contains "$(docker inspect -f '{{json .Config.Env}}' "$(docker_id "c1._.$A")")" "VISIBLE_DEVICES=GPU-" "c1 sees no GPU in its env"
assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM leases')" "c1: no lease in the ledger"
assert_exit 0 -m "A: retire c1" as_user "$A" container-retire c1

ds01_stop_daemon "ds01d stops cleanly"
assert_instance_empty "nothing left in Docker"
ds01_done
