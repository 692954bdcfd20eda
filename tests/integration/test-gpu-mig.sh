#!/usr/bin/env bash
# Simulated MIG (issue #3): the inventory in `ds01 gpus --json` (MIG parents not allocatable,
# MIG weights slices/7); best fit (--mig 1g takes a 1g.5gb while a 3g is free, --mig 2g a
# 2g.10gb, then a 3g when no 2g is left); quota arithmetic 3g + 3g + 1g = 1.0 against a 1.0
# quota succeeds and a further 1g is refused (exit 3, naming the holders); allow_full_gpu: false
# makes --gpus 1 a MIG slice even with a whole GPU free; invalid profiles are usage errors.
# ds01-test: kind=functional budget=36
. "$(dirname "$0")/lib.sh"
ds01_setup

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"

# GPU 0: whole; GPU 1: 3g + 2g + 1g; GPU 2: 3g + 3g + 1g
ds01_write_gpu_config '  backend: simulated
  simulated:
    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960 }
    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960, mig: ["3g.20gb", "2g.10gb", "1g.5gb"] }
    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960, mig: ["3g.20gb", "3g.20gb", "1g.5gb"] }'
ds01_write_limits
cat >>"$DS01_LIMITS" <<EOF2
  migonly:
    allow_full_gpu: false
    max_gpu_equivalents: 1.0
    max_gpu_slots_per_container: 2
    max_containers_per_user: 3
    members: [$C]
user_overrides:
  $B:
    max_gpu_equivalents: 1.0
    max_containers_per_user: 5
EOF2
ds01_start_daemon

# ---- 1. inventory
capture as_root ds01 gpus --json
assert_eq 0 "$RC" "ds01 gpus --json as root exits 0"
G=$OUT
assert_jq "backend is simulated" '.backend == "simulated"' "$G"
assert_jq "3 GPUs + 6 MIG instances = 9 slots" '.slots | length == 9' "$G"
assert_jq "GPU 0 is an allocatable whole GPU of weight 1" \
	'[.slots[] | select(.parent == null and .index == 0)] | length == 1 and .[0].allocatable == true and .[0].weight == 1' "$G"
assert_jq "GPUs 1 and 2 are MIG parents, not allocatable" \
	'[.slots[] | select(.parent == null and .index != 0)] | length == 2 and all(.allocatable == false)' "$G"
assert_jq "every MIG instance is allocatable, names its parent and a profile" \
	'[.slots[] | select(.parent != null)] | length == 6 and all(.allocatable == true and (.profile | type == "string"))' "$G"
assert_jq "MIG parents are real slots of the inventory" \
	'([.slots[] | select(.parent == null) | .uuid]) as $p | all(.slots[] | select(.parent != null); .parent as $x | $p | index($x) != null)' "$G"
assert_jq "3g.20gb weighs 3/7" \
	'all(.slots[] | select(.profile == "3g.20gb"); (.weight - 3/7 | fabs) < 0.001)' "$G"
assert_jq "2g.10gb weighs 2/7" \
	'all(.slots[] | select(.profile == "2g.10gb"); (.weight - 2/7 | fabs) < 0.001)' "$G"
assert_jq "1g.5gb weighs 1/7" \
	'all(.slots[] | select(.profile == "1g.5gb"); (.weight - 1/7 | fabs) < 0.001)' "$G"
assert_jq "MIG memory from the profile (3g.20gb: 20 GiB)" \
	'all(.slots[] | select(.profile == "3g.20gb"); .memory_mib == 20480)' "$G"
assert_jq "nothing leased, nothing orphaned" \
	'all(.slots[]; .lease == null) and (.orphaned_leases | length == 0)' "$G"
assert_exit 0 -m "ds01 gpus (table) exits 0" as_root ds01 gpus
assert_contains "$OUT" "MIG parent" "table marks MIG parents"
assert_contains "$OUT" "3g.20gb" "table shows MIG profiles"

WHOLE=$(jqr '.slots[] | select(.parent == null and .allocatable) | .uuid' "$G")
PARENTS=$(jqr '[.slots[] | select(.allocatable == false) | .uuid] | join(" ")' "$G")

# ---- 2. best fit
assert_exit 0 -m "A: deploy f1 --mig 1g" as_user "$A" container-deploy f1 --mig 1g
U=$(container_gpus "$A" f1)
assert_eq 1g.5gb "$(gpu_profile "$U")" "--mig 1g got a 1g.5gb (best fit; 3g slices were free)"
assert_jq "container-list reports one GPU for f1" '.gpus | length == 1' "$(container_entry "$A" f1)"
assert_exit 0 -m "A: deploy f2 --mig 2g" as_user "$A" container-deploy f2 --mig 2g
U2=$(container_gpus "$A" f2)
assert_eq 2g.10gb "$(gpu_profile "$U2")" "--mig 2g got the 2g.10gb"
assert_exit 0 -m "A: deploy f3 --mig 2g.10gb with no 2g left" as_user "$A" container-deploy f3 --mig 2g.10gb
U3=$(container_gpus "$A" f3)
assert_eq 3g.20gb "$(gpu_profile "$U3")" "--mig 2g.10gb got a 3g.20gb when no 2g is free (next larger)"
ENV3=$(docker inspect -f '{{json .Config.Env}}' "$(docker_id "f3._.$A")")
assert_contains "$ENV3" "\"NVIDIA_VISIBLE_DEVICES=$U3\"" "f3's NVIDIA_VISIBLE_DEVICES is exactly its MIG UUID"
assert_contains "$ENV3" "\"CUDA_VISIBLE_DEVICES=$U3\"" "f3's CUDA_VISIBLE_DEVICES is exactly its MIG UUID"
assert_eq "$U3" "$(docker inspect -f '{{index .Config.Labels "ds01.gpu.uuids"}}' "f3._.$A")" "f3's label ds01.gpu.uuids is its MIG UUID"
capture as_user "$A" check-limits --json
assert_jq "A's usage is 1/7 + 2/7 + 3/7 = 6/7" '(.usage.gpu_equivalents - 6/7 | fabs) < 0.01' "$OUT"
for p in f1 f2 f3; do
	assert_exit 0 -m "A: retire $p" as_user "$A" container-retire "$p"
done
assert_eq 0 "$(gpus_leased_count)" "all slots free after A's retires"

# ---- 3. quota arithmetic: 3/7 + 3/7 + 1/7 = 1.0 against a 1.0 quota
assert_exit 0 -m "B: deploy q1 --mig 3g" as_user "$B" container-deploy q1 --mig 3g
assert_exit 0 -m "B: deploy q2 --mig 3g" as_user "$B" container-deploy q2 --mig 3g
assert_exit 0 -m "B: deploy q3 --mig 1g (total exactly 1.0)" as_user "$B" container-deploy q3 --mig 1g
capture as_user "$B" check-limits --json
assert_jq "B's usage is 1.0 GPU-equivalents" '(.usage.gpu_equivalents - 1 | fabs) < 0.001' "$OUT"
assert_jq "B's quota is 1.0 (user override)" '.limits.max_gpu_equivalents == 1' "$OUT"
assert_exit 3 -m "B: deploy q4 --mig 1g beyond 1.0 (a 1g is still free) exits 3" as_user "$B" container-deploy q4 --mig 1g
assert_eq "container-deploy: GPU quota reached: 1.0 of 1.0 GPU-equivalents in use by 'q1' (0.43), 'q2' (0.43), 'q3' (0.14) - retire one (container-retire NAME), or ask for fewer GPUs" \
	"$ERR" "the refusal names the GPU quota and each holder with its weight"
assert_no_container "q4._.$B" "no container for q4"
assert_event gpu.reject "$B"
assert_exit 0 -m "B: retire q3" as_user "$B" container-retire q3
assert_exit 0 -m "B: deploy q4 --mig 1g fits again" as_user "$B" container-deploy q4 --mig 1g
assert_exit 3 -m "B: deploy q5 --gpus 1 (whole GPU 1.0 over quota) exits 3" as_user "$B" container-deploy q5 --gpus 1
assert_contains "$ERR" "GPU quota reached: 1.0 of 1.0 GPU-equivalents in use by" "the refusal names the GPU quota"
assert_no_container "q5._.$B" "no container for q5"
for p in q1 q2 q4; do
	assert_exit 0 -m "B: retire $p" as_user "$B" container-retire "$p"
done

# ---- 4. allow_full_gpu: false -> MIG slices only, even with GPU 0 free
assert_eq free "$(gpu_lease_state "$WHOLE")" "the whole GPU 0 is free"
assert_exit 0 -m "C (allow_full_gpu: false): deploy m1 --gpus 1" as_user "$C" container-deploy m1 --gpus 1
UC=$(container_gpus "$C" m1)
assert_ne "$WHOLE" "$UC" "C did not get the whole GPU"
assert_ne "" "$(gpu_profile "$UC")" "C got a MIG slice ($(gpu_profile "$UC"))"
assert_exit 0 -m "C: deploy m2 (default request)" as_user "$C" container-deploy m2
assert_ne "" "$(gpu_profile "$(container_gpus "$C" m2)")" "C's default deploy is a MIG slice too"
assert_eq free "$(gpu_lease_state "$WHOLE")" "GPU 0 still free"
for u in $PARENTS; do
	assert_eq free "$(gpu_lease_state "$u")" "MIG parent $u never leased"
done
assert_exit 0 -m "C: retire m1" as_user "$C" container-retire m1
assert_exit 0 -m "C: retire m2" as_user "$C" container-retire m2
assert_exit 0 -m "C: deploy m3 --gpus 2 gets two MIG slices" as_user "$C" container-deploy m3 --gpus 2
UU=$(container_gpus "$C" m3)
assert_eq 2 "$(printf '%s' "$UU" | tr ',' '\n' | grep -c '^MIG-')" "m3 has 2 MIG slices ($UU)"
ID3=$(docker_id "m3._.$C")
LAB=$(docker inspect -f '{{index .Config.Labels "ds01.gpu.uuids"}}' "$ID3" | tr ',' '\n' | sort | tr '\n' ',')
ENVV=$(docker inspect -f '{{json .Config.Env}}' "$ID3" | jq -r '.[] | select(startswith("NVIDIA_VISIBLE_DEVICES=")) | sub("^[^=]*="; "")' | tr ',' '\n' | sort | tr '\n' ',')
assert_eq "$(printf '%s' "$UU" | tr ',' '\n' | sort | tr '\n' ',')" "$LAB" "m3's label lists both slices"
assert_eq "$LAB" "$ENVV" "m3's NVIDIA_VISIBLE_DEVICES lists both slices"
capture as_user "$C" check-limits --json
assert_jq "C's usage is the sum of the two slices' weights (2/7 for two 1g)" '(.usage.gpu_equivalents - 2/7 | fabs) < 0.01' "$OUT"
assert_exit 0 -m "C: retire m3" as_user "$C" container-retire m3

# ---- 5. invalid profiles: usage errors, nothing created
for bad in 9g bogus 0g.5gb 8g; do
	assert_exit 2 -m "A: deploy bad --mig '$bad' exits 2" as_user "$A" container-deploy bad --mig "$bad"
	assert_eq "container-deploy: invalid MIG profile '$bad' - give one like '3g.20gb' or '1g' (1 to 7 compute slices; 'ds01 gpus' lists this server's)" \
		"$ERR" "--mig '$bad': the message says what a profile looks like"
	assert_no_container "bad._.$A" "no container for --mig '$bad'"
done
assert_exit 2 -m "A: deploy bad --mig '' exits 2" as_user "$A" container-deploy bad --mig ""
assert_contains "$ERR" "container-deploy: --mig needs a MIG profile such as 3g.20gb" "--mig '': the message asks for a profile"
assert_no_container "bad._.$A" "no container for --mig ''"
assert_exit 2 -m "--mig together with --cpu-only exits 2" as_user "$A" container-deploy bad --mig 1g --cpu-only
assert_contains "$ERR" "container-deploy: --mig and --cpu-only do not go together" "the message names the clash"
for big in 4g 3g.999gb 7g.40gb; do
	assert_exit 3 -m "--mig $big (well-formed, but no such slice here) exits 3" as_user "$A" container-deploy bad --mig "$big"
	assert_eq "container-deploy: no MIG instance of $big or larger exists on this server - 'ds01 gpus' lists its GPUs; ask for another profile, or --gpus N" \
		"$ERR" "the message says no slice of $big or larger exists"
	assert_no_container "bad._.$A" "no container for --mig $big"
done

assert_eq 0 "$(gpus_leased_count)" "every slot free at the end"
assert_instance_empty "nothing left in Docker"
ds01_done
