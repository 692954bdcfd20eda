#!/usr/bin/env bash
# The NVML backend against the test suite's fake libnvidia-ml.so.1 (issue #3): the inventory
# comes from the fake's description (6 GPUs: two NVLink pairs on two NUMA nodes, one GPU with
# MIG instances, one with MIG enabled and no instance = not allocatable); MIG deploys get the
# instance's UUID; --gpus 2 lands on one NVLink group (and NUMA node) even when the other pair
# is split; a MIG reconfiguration shows up at once with `ds01 gpus --rescan` and by itself
# within ~3 s (sample_interval_s: 1); backend nvml with a missing library is a clear start-up
# error naming it; backend auto with a missing library falls back to simulated and says so.
# ds01-test: kind=functional budget=41
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
fake_nvml_use

G0=$(fake_nvml_uuid 0)
G1=$(fake_nvml_uuid 1)
G2=$(fake_nvml_uuid 2)
G3=$(fake_nvml_uuid 3)
G4=$(fake_nvml_uuid 4)
G5=$(fake_nvml_uuid 5)
M43=MIG-00000000-0004-4000-8000-000000000003
M41=MIG-00000000-0004-4000-8000-000000000001
M52=MIG-00000000-0005-4000-8000-000000000002
M51=MIG-00000000-0005-4000-8000-000000000001
# G0+G1 (NUMA 0, two links between them) and G2+G3 (NUMA 1, 80 GB) are NVLink pairs; G4 has a
# 3g and a 1g instance; G5 has MIG on and no instance.
fake_nvml_write "$(fake_nvml_inventory 6 '
	.gpus[2,3] += {name: "NVIDIA A100-SXM4-80GB", memory_mib: 81920}
	| .gpus[0,1].numa_node = 0 | .gpus[2,3,4,5].numa_node = 1
	| .gpus[0].nvlink_peers = [.gpus[1].pci_bus_id, .gpus[1].pci_bus_id]
	| .gpus[1].nvlink_peers = [.gpus[0].pci_bus_id, .gpus[0].pci_bus_id]
	| .gpus[2].nvlink_peers = [.gpus[3].pci_bus_id]
	| .gpus[3].nvlink_peers = [.gpus[2].pci_bus_id]
	| .gpus[4] += {mig_enabled: true, mig_devices: [
		{uuid: $m43, profile: "3g.20gb", slices: 3, memory_mib: 19968},
		{uuid: $m41, profile: "1g.5gb", slices: 1, memory_mib: 4864}]}
	| .gpus[5] += {mig_enabled: true, mig_devices: []}' --arg m43 "$M43" --arg m41 "$M41")" ||
	fail "cannot write the fake NVML description"
fake_nvml_config env

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
# B may take every whole GPU (section 5 fills them)
cat >>"$DS01_LIMITS" <<EOF2
user_overrides:
  $B:
    max_gpu_equivalents: 4.0
    max_containers_per_user: 5
EOF2
ds01_start_daemon

# ---- 1. inventory
capture as_root ds01 gpus --json
assert_eq 0 "$RC" "ds01 gpus --json exits 0"
G=$OUT
sl() { printf '%s' "$G" | jq -c --arg u "$1" '.slots[] | select(.uuid == $u)'; }
assert_jq "backend is nvml" '.backend == "nvml"' "$G"
assert_jq "6 GPUs + 2 MIG instances = 8 slots" '.slots | length == 8' "$G"
for u in $G0 $G1 $G2 $G3; do
	assert_jq "$u: allocatable whole GPU, weight 1" '.allocatable == true and .weight == 1 and .parent == null' "$(sl "$u")"
done
assert_jq "G0: name, memory, index from NVML" '.name == "NVIDIA A100-SXM4-40GB" and .memory_mib == 40960 and .index == 0' "$(sl "$G0")"
assert_jq "G2: 80 GB model" '.name == "NVIDIA A100-SXM4-80GB" and .memory_mib == 81920' "$(sl "$G2")"
assert_jq "G4 (MIG parent) not allocatable" '.allocatable == false' "$(sl "$G4")"
assert_jq "G5 (MIG enabled, no instances) not allocatable" '.allocatable == false' "$(sl "$G5")"
assert_jq "MIG 3g.20gb: parent G4, weight 3/7, 19968 MiB" \
	".allocatable == true and .parent == \"$G4\" and .profile == \"3g.20gb\" and ((.weight - 3/7) | fabs) < 0.001 and .memory_mib == 19968" "$(sl "$M43")"
assert_jq "MIG 1g.5gb: parent G4, weight 1/7" \
	".allocatable == true and .parent == \"$G4\" and .profile == \"1g.5gb\" and ((.weight - 1/7) | fabs) < 0.001" "$(sl "$M41")"
assert_jq "NUMA nodes: G0, G1 on 0; G2, G3 on 1" \
	"[.slots[] | select(.uuid == \"$G0\" or .uuid == \"$G1\") | .numa_node] == [0, 0] and [.slots[] | select(.uuid == \"$G2\" or .uuid == \"$G3\") | .numa_node] == [1, 1]" "$G"
L0=$(jqr '.link_group' "$(sl "$G0")")
L1=$(jqr '.link_group' "$(sl "$G1")")
L2=$(jqr '.link_group' "$(sl "$G2")")
L3=$(jqr '.link_group' "$(sl "$G3")")
assert_match "$L0" '^[0-9]+$' "G0 has a link group ($L0)"
assert_eq "$L0" "$L1" "G0 and G1 share an NVLink group"
assert_eq "$L2" "$L3" "G2 and G3 share an NVLink group"
assert_ne "$L0" "$L2" "the two pairs are different NVLink groups"
assert_exit 0 -m "ds01 gpus (table) exits 0" as_root ds01 gpus
assert_contains "$OUT" "nvml backend" "table footer names the nvml backend"

# ---- 2. deploys: MIG, and --gpus 2 on one NVLink group
assert_exit 0 -m "A: deploy n1 --mig 1g" as_user "$A" container-deploy n1 --mig 1g
assert_eq "$M41" "$(container_gpus "$A" n1)" "n1 got the 1g.5gb instance"
assert_contains "$(docker inspect -f '{{json .Config.Env}}' "$(docker_id "n1._.$A")")" "\"NVIDIA_VISIBLE_DEVICES=$M41\"" \
	"n1's NVIDIA_VISIBLE_DEVICES is the MIG UUID (docker_devices: env)"
assert_exit 0 -m "A: deploy n2 (1 GPU)" as_user "$A" container-deploy n2
X=$(container_gpus "$A" n2)
case "$X" in "$G0" | "$G1" | "$G2" | "$G3") ok "n2 got a whole GPU ($X)" ;; *) not_ok "n2 got a whole GPU" "got '$X'" ;; esac
assert_exit 0 -m "A: retire n1" as_user "$A" container-retire n1
assert_exit 0 -m "B: deploy p2 --gpus 2 while n2 splits one pair" as_user "$B" container-deploy p2 --gpus 2
P=$(container_gpus "$B" p2 | tr ',' '\n' | sort | tr '\n' ' ')
case "$X" in
"$G0" | "$G1") WANT="$G2 $G3 " ;;
*) WANT="$G0 $G1 " ;;
esac
assert_eq "$WANT" "$P" "p2 got the intact NVLink pair"
assert_exit 0 -m "A: retire n2" as_user "$A" container-retire n2
assert_exit 0 -m "B: retire p2" as_user "$B" container-retire p2
for i in 1 2 3; do
	assert_exit 0 -m "B: deploy t$i --gpus 2 (all free)" as_user "$B" container-deploy "t$i" --gpus 2
	P=$(container_gpus "$B" "t$i" | tr ',' '\n' | sort | tr '\n' ' ')
	case "$P" in "$G0 $G1 " | "$G2 $G3 ") ok "t$i is on one NVLink group ($P)" ;; *) not_ok "t$i is on one NVLink group" "got $P" ;; esac
	assert_exit 0 -m "B: retire t$i" as_user "$B" container-retire "t$i"
done

# ---- 3. rescan: enable MIG with 2 instances on the free G1, picked up by --rescan
fake_nvml_edit '.gpus[1] += {mig_enabled: true, mig_devices: [
	{uuid: "MIG-00000000-0001-4000-8000-000000000002", profile: "2g.10gb", slices: 2, memory_mib: 9856},
	{uuid: "MIG-00000000-0001-4000-8000-000000000001", profile: "1g.5gb", slices: 1, memory_mib: 4864}]}' ||
	fail "cannot edit the fake NVML description"
capture as_root ds01 gpus --rescan --json
assert_eq 0 "$RC" "ds01 gpus --rescan exits 0"
assert_jq "after --rescan: G1 is a MIG parent (not allocatable)" ".slots[] | select(.uuid == \"$G1\") | .allocatable == false" "$OUT"
assert_jq "after --rescan: G1's 2g.10gb and 1g.5gb instances are slots" \
	"[.slots[] | select(.parent == \"$G1\") | .profile] | sort == [\"1g.5gb\", \"2g.10gb\"]" "$OUT"
assert_exit 0 -m "A: deploy r1 --mig 2g lands on the new 2g.10gb" as_user "$A" container-deploy r1 --mig 2g
assert_eq MIG-00000000-0001-4000-8000-000000000002 "$(container_gpus "$A" r1)" "r1 is on G1's new 2g.10gb"
assert_exit 0 -m "A: retire r1" as_user "$A" container-retire r1
capture as_user "$A" ds01 gpus --rescan
assert_eq 5 "$RC" "non-admin ds01 gpus --rescan exits 5"

# ---- 4. a second change, picked up at a sampling tick (no --rescan)
fake_nvml_edit '.gpus[5].mig_devices = [{uuid: $a, profile: "4g.20gb", slices: 4, memory_mib: 19968},
	{uuid: $b, profile: "3g.20gb", slices: 3, memory_mib: 19968}]' --arg a "$M52" --arg b "$M51" ||
	fail "cannot edit the fake NVML description"
has_g5_instances() { gpus_json | jq -e "[.slots[] | select(.parent == \"$G5\")] | length == 2" >/dev/null; }
t0=$(now_ms)
if wait_for 15 has_g5_instances; then
	dt=$(($(now_ms) - t0))
	ok "G5's new MIG instances appear without --rescan ($dt ms)"
	# the monitor scans at every tick (sample_interval_s: 1); sanitizer builds tick slower
	if strict_timing; then
		[ "$dt" -le 4000 ] && ok "... within ~3 s ($dt ms <= 4000 ms)" ||
			not_ok "... within ~3 s" "$dt ms > 4000 ms"
	fi
else
	not_ok "G5's new MIG instances appear without --rescan" "after 15 s: $(gpus_json | jq -c '.slots[] | select(.uuid == "'"$G5"'" or .parent == "'"$G5"'")')"
fi
assert_jq "4g.20gb weighs 4/7" "((.weight - 4/7) | fabs) < 0.001 and .profile == \"4g.20gb\"" "$(gpu_slot "$M52")"
assert_exit 0 -m "A: deploy r2 --mig 4g on G5's new instance" as_user "$A" container-deploy r2 --mig 4g
assert_eq "$M52" "$(container_gpus "$A" r2)" "r2 is on the 4g.20gb"

# ---- 5. MIG changes under leases (no drain first): flagged, and never a second lease of the
# same silicon. r2 holds G5's 4g; G5's MIG is switched off -> r2's lease is orphaned, r2 keeps
# running, and G5 as a whole must not be leased to anyone while r2 holds part of it.
fake_nvml_edit '.gpus[5] += {mig_enabled: false, mig_devices: []}' || fail "cannot edit the fake NVML description"
assert_exit 0 -m "ds01 gpus --rescan after MIG off on G5" as_root ds01 gpus --rescan --json
assert_jq "after MIG off on G5: r2's lease on $M52 is listed in orphaned_leases" 	"any(.orphaned_leases[]; .uuid == \"$M52\" and .container == \"r2._.$A\")" "$OUT"
assert_eq running "$(docker_state "r2._.$A")" "r2 keeps running"
# B takes whole GPUs until refused: G0, G2 and G3, and then none, since G5 is the only other
# whole GPU and r2 still holds a slice of it (G1 and G4 are MIG parents)
for i in 1 2 3; do
	assert_exit 0 -m "B: deploy w$i (a whole GPU)" as_user "$B" container-deploy "w$i"
done
assert_eq "$G0 $G2 $G3 " "$(for i in 1 2 3; do container_gpus "$B" "w$i"; done | sort | tr '\n' ' ')" \
	"w1-w3 hold G0, G2 and G3"
assert_exit 3 -m "B: deploy w4 refused: no whole GPU free (G5 is part-leased to r2)" \
	as_user "$B" container-deploy w4
assert_eq "container-deploy: no GPU free: 4 of 4 GPUs are leased - add --wait to wait in the queue for it, or deploy with --cpu-only" \
	"$ERR" "the refusal counts G5 among the 4 leased whole GPUs"
assert_no_container "w4._.$B" "no container for w4"
assert_eq free "$(gpu_lease_state "$G5")" "G5 is not leased as a whole GPU while r2 holds one of its (vanished) MIG slices"
for i in 1 2 3; do
	assert_exit 0 -m "B: retire w$i" as_user "$B" container-retire "w$i"
done
assert_exit 0 -m "A: retire r2" as_user "$A" container-retire r2
assert_jq "orphaned_leases empty after r2's retire" '.orphaned_leases | length == 0' "$(gpus_json)"

# MIG switched on under a whole-GPU lease: the new instances must not be leased meanwhile
assert_exit 0 -m "A: deploy r3 --gpus 2" as_user "$A" container-deploy r3 --gpus 2
R3=$(container_gpus "$A" r3)
FIRST=${R3%%,*}
fake_nvml_edit '(.gpus[] | select(.uuid == $u)) += {mig_enabled: true, mig_devices: [
	{uuid: "MIG-00000000-0009-4000-8000-000000000001", profile: "7g.40gb", slices: 7, memory_mib: 40192}]}' \
	--arg u "$FIRST" || fail "cannot edit the fake NVML description"
assert_exit 0 -m "rescan after enabling MIG on r3's $FIRST" as_root ds01 gpus --rescan --json
assert_jq "the 7g.40gb instance on $FIRST is in the inventory" \
	'any(.slots[]; .uuid == "MIG-00000000-0009-4000-8000-000000000001" and .parent == "'"$FIRST"'")' "$OUT"
assert_exit 3 -m "B: deploy m7 --mig 7g refused: the only 7g is on a GPU leased whole to r3" \
	as_user "$B" container-deploy m7 --mig 7g
assert_eq "container-deploy: no GPU free: 1 of 1 GPUs are leased - add --wait to wait in the queue for it, or deploy with --cpu-only" \
	"$ERR" "the refusal counts the 7g as leased"
assert_no_container "m7._.$B" "no container for m7"
assert_eq free "$(gpu_lease_state MIG-00000000-0009-4000-8000-000000000001)" \
	"a MIG instance of a GPU leased whole to r3 is not leased to another container"
assert_exit 0 -m "A: retire r3" as_user "$A" container-retire r3
fake_nvml_edit '(.gpus[] | select(.uuid == $u)) |= del(.mig_enabled, .mig_devices)' --arg u "$FIRST" ||
	fail "cannot edit the fake NVML description"
assert_exit 0 -m "rescan after MIG off on $FIRST again" as_root ds01 gpus --rescan
assert_eq 0 "$(gpus_leased_count)" "nothing leased"
ds01_stop_daemon "ds01d stops cleanly"

# ---- 6. docker_devices auto with NVML = device requests: Docker refuses here, rolled back
if docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
	note "SKIP section 6: this dockerd has the nvidia runtime, so a device request would not fail here"
else
	fake_nvml_config ""
	ds01_start_daemon
	assert_exit 1 -m "docker_devices auto + NVML: deploy uses DeviceRequests and fails here (exit 1)" \
		as_user "$A" container-deploy dq
	assert_contains "$ERR$OUT" 'could not select device driver' "Docker's message is shown"
	assert_no_container "dq._.$A" "no container left"
	assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM leases')" "no lease left"
	ds01_stop_daemon "ds01d stops cleanly"
fi

# ---- 7. start-up with a missing library: ds01d runs in the foreground, its output appended to
# the daemon log (the cleanup scans all of it for sanitizer reports)
MISSING=$T/no-such-dir/libnvidia-ml.so.1
DLERR="$MISSING: cannot open shared object file: No such file or directory"
ds01_write_gpu_config "  backend: nvml
  nvml_library: $MISSING"
ds01d_once 20
assert_eq 1 "$RC" "backend nvml + missing library: ds01d exits 1 at once"
assert_line "$OUT" "<3>ds01d: cannot load $MISSING: $DLERR - install the NVIDIA driver, or set gpus.backend: simulated (gpus.backend is 'nvml' in $DS01_CONFIG)" \
	"the error names the library, why it failed and the config key"
assert_not_contains "$OUT" "ready: listening" "it never became ready"

ds01_write_gpu_config "  backend: auto
  nvml_library: $MISSING
  simulated:
    - { name: \"NVIDIA A100-SXM4-40GB\", memory_mib: 40960 }"
MARK=$(daemon_log_mark)
ds01_start_daemon
STARTUP=$(daemon_log_after "$MARK")
assert_line "$STARTUP" "<5>gpus.backend auto: NVML not available (cannot load $MISSING: $DLERR - install the NVIDIA driver, or set gpus.backend: simulated); using the simulated inventory" \
	"backend auto + missing library: the log says it fell back to the simulated inventory, and why"
assert_line "$STARTUP" "<6>GPUs: simulated backend, 1 allocatable slot(s)" "the log names the simulated backend and its one GPU"
assert_exit 0 -m "backend auto + missing library: ds01d serves ds01 gpus" as_root ds01 gpus --json
assert_jq "ds01 gpus: simulated backend with the configured GPU" '.backend == "simulated" and (.slots | length == 1)' "$OUT"
ds01_stop_daemon "ds01d (auto) stops cleanly"

# driver refuses at nvmlInit: backend nvml fails, naming the cause
fake_nvml_config env
ds01d_once 20 FAKE_NVML_FAIL_INIT=1
assert_eq 1 "$RC" "backend nvml + nvmlInit failing: ds01d exits 1 at once"
assert_line "$OUT" "<3>ds01d: cannot initialise NVML from $NVML_LIB: Driver Not Loaded (NVML error 9) - check that the NVIDIA kernel driver is loaded (nvidia-smi), or set gpus.backend: simulated (gpus.backend is 'nvml' in $DS01_CONFIG)" \
	"the error gives NVML's reason and code and what to check"
assert_not_contains "$OUT" "ready: listening" "it never became ready"
assert_instance_empty "nothing left in Docker"
ds01_done
