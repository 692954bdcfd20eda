#!/usr/bin/env bash
# MIG in cluster mode (issue 17 item 2): `container-deploy P --mig PROFILE` is a Slurm job for a
# gres of that type, and the node's ds01d deploys on the MIG instance Slurm gave. One node on
# loopback (a munged of its own, slurmctld, slurmd; no accounting: `accounts: false`) whose
# gres.conf has a whole GPU typed a100, two 3g.20gb and a 1g.5gb MIG instance, and a 7g.40gb
# record ds01's GPUs lack, in an order Slurm regroups by type; ds01d on the fake NVML with GPU 0
# whole and GPU 1 split 3g.20gb + 3g.20gb + 1g.5gb. As real users: A's and B's --mig 3g.20gb
# land on the two different 3g.20gb instances (container-list shows each its own); a third
# has no GPU free (exit 3, no job left); a profile no node has is refused at submission (exit
# 3); a short profile (3g) is a usage error naming the whole form; a job Slurm gives the
# 7g.40gb record that ds01 lacks is refused by ds01d ("gres.conf and ds01's GPUs disagree")
# and ends; --gpus 1 gets the whole GPU (its device file's number is NVML's minor). A deploy
# removes the user's job outputs in ~/.ds01/slurm older than 30 days.
# ds01-test: kind=functional needs=slurm budget=47
. "$(dirname "$0")/lib.sh"

slurm_tools slurmctld slurmd scontrol sbatch squeue scancel munge munged
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
C=$(ds01_user "it$$c") || fail "cannot create user C"

NODE=ds01m$$
trap_extra() { slurm_teardown "$A" "$B" "$C"; }

# --- Slurm: one node with typed GPU records over fake device files --------------------------------
T0=$(now_ms)
slurm_setup ds01mig
slurm_fake_gpus 5
DEV=${SLURM_GPU_FILES%%\[*} # /dev/fakenvidia<pid>_
{
	slurm_conf_common
	echo "NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=8 RealMemory=16000 State=UNKNOWN Gres=gpu:3g.20gb:2,gpu:a100:1,gpu:1g.5gb:1,gpu:7g.40gb:1"
	echo "PartitionName=gpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP"
} >"$SL/slurm.conf"
# File numbers: 0 is GPU 0 (NVML minor 0); the MIG records' files only give Slurm a device each
cat >"$SL/gres.conf" <<EOG
AutoDetect=off
NodeName=$NODE Name=gpu Type=3g.20gb File=${DEV}1
NodeName=$NODE Name=gpu Type=a100 File=${DEV}0
NodeName=$NODE Name=gpu Type=1g.5gb File=${DEV}3
NodeName=$NODE Name=gpu Type=3g.20gb File=${DEV}2
NodeName=$NODE Name=gpu Type=7g.40gb File=${DEV}4
EOG
export SLURM_CONF=$SL/slurm.conf
slurm_start_ctld
slurm_start_node "$NODE"
ok "slurmctld and slurmd answer, node $NODE idle with $(sinfo -h -n "$NODE" -o %G) ($(($(now_ms) - T0)) ms)"

# --- ds01 on the fake NVML: GPU 0 whole, GPU 1 split in three ------------------------------------
M0=MIG-00000000-0001-4000-8000-000000000000
M1=MIG-00000000-0001-4000-8000-000000000001
M2=MIG-00000000-0001-4000-8000-000000000002
fake_nvml_use
fake_nvml_write "$(fake_nvml_inventory 2 '.gpus[1] += {mig_enabled: true, mig_devices: [
	{uuid: $m0, profile: "3g.20gb"}, {uuid: $m1, profile: "3g.20gb"}, {uuid: $m2, profile: "1g.5gb"}]}' \
	--arg m0 "$M0" --arg m1 "$M1" --arg m2 "$M2")"
fake_nvml_config
slurm_ds01_cluster "$NODE" "accounts: false"
ds01_write_limits_sized <<EOL
  max_gpu_equivalents: 1.0
  max_containers_per_user: 3
default_group: student
groups:
  student:
    members: [$A, $B, $C]
    max_runtime_h: 2
policies:
  sigterm_grace_s: 2
EOL
ds01_start_daemon

user_jobs() { squeue -h -u "$1" -o %i 2>/dev/null; }
no_jobs_of() { [ -z "$(user_jobs "$1")" ]; }
gpu_of() { container_entry "$1" "$2" | jq -r '.gpus[0] | "\(.uuid) \(.profile // "whole")"'; }

# --- two 3g.20gb deploys land on the two instances ----------------------------------------------
# (A's job outputs of before: one 40 days old, one of yesterday; a deploy prunes those over 30)
HA=$(user_home "$A")
as_user "$A" sh -c 'mkdir -p -m 700 ~/.ds01/slurm && cd ~/.ds01/slurm && touch -d "40 days ago" old-1.out && touch -d "1 day ago" new-2.out' ||
	fail "cannot make A's old job outputs"
capture as_user "$A" container-deploy m1 --mig 3g.20gb
assert_eq 0 "$RC" "A's container-deploy m1 --mig 3g.20gb in cluster mode succeeds: $ERR"
assert_match "$OUT" "slurm job: [0-9]+ on node $NODE" "... as a Slurm job on $NODE"
GA=$(gpu_of "$A" m1)
capture as_user "$B" container-deploy m2 --mig 3g.20gb
assert_eq 0 "$RC" "B's --mig 3g.20gb succeeds too: $ERR"
GB=$(gpu_of "$B" m2)
note "A's GPU: $GA; B's: $GB"
assert_eq "$M0 3g.20gb,$M1 3g.20gb" "$(printf '%s\n' "$GA" "$GB" | sort | paste -sd,)" \
	"... container-list shows each on its own 3g.20gb instance (both of GPU 1's)"
assert_contains "$(docker inspect -f '{{json .Config.Env}}' "m1._.$A" 2>/dev/null)" \
	"\"NVIDIA_VISIBLE_DEVICES=$(cut -d' ' -f1 <<<"$GA")\"" "... and A's container sees exactly that MIG device"
assert_eq "new-2.out m1-$(user_jobs "$A").out" "$(cd "$HA/.ds01/slurm" && ls | sort -r | paste -sd' ')" \
	"... its output is in ~/.ds01/slurm, where the deploy removed the output of 40 days ago and kept yesterday's"
JOBS_A=$(user_jobs "$A")
assert_match "$(squeue -h -j "$JOBS_A" -o %b)" "3g.20gb:1" "... A's job asked Slurm for gres gpu:3g.20gb:1"

# --- refusals ----------------------------------------------------------------------------------------
capture as_user "$C" container-deploy m3 --mig 3g.20gb
assert_eq 3 "$RC" "a third --mig 3g.20gb while both are taken exits 3: $OUT"
assert_contains "$ERR" "no GPU free: Slurm cannot start a job with 1 MIG instance 3g.20gb" "... saying so: $ERR"
wait_for 10 no_jobs_of "$C" || not_ok "... and leaves no job of C's" "$(squeue 2>&1)"
capture as_user "$C" container-deploy m4 --mig 2g.10gb
assert_eq 3 "$RC" "--mig 2g.10gb, a profile no node has, is refused at submission (exit 3)"
assert_contains "$ERR" "no node of the cluster has 1 MIG instance 2g.10gb" "... naming it: $ERR"
assert_eq "" "$(user_jobs "$C")" "... and no job of C's exists"
capture as_user "$C" container-deploy m5 --mig 3g
assert_eq 2 "$RC" "--mig 3g (ds01's short form) is a usage error in a cluster"
assert_contains "$ERR" "such as 3g.20gb" "... naming the whole form: $ERR"

# --- a record ds01 does not have: the node's ds01d refuses, the job ends -------------------------------
capture as_user "$C" container-deploy m6 --mig 7g.40gb
assert_ne 0 "$RC" "--mig 7g.40gb, which Slurm has and ds01's GPUs do not, fails"
assert_contains "$ERR" "gres.conf and ds01's GPUs disagree" "... ds01d refuses the job's GPU: $ERR"
assert_no_container "m6._.$C" "... nothing is deployed"
wait_for 20 no_jobs_of "$C" || not_ok "... and the job has ended" "$(squeue 2>&1)"

# --- whole GPUs are found by their device file ------------------------------------------------------
capture as_user "$C" container-deploy w --gpus 1
assert_eq 0 "$RC" "C's --gpus 1 deploys: $ERR"
assert_eq "$(fake_nvml_uuid 0) whole" "$(gpu_of "$C" w)" \
	"... on the whole GPU 0 (Slurm's a100 record, device file ${DEV}0 = NVML minor 0)"

for u in "$A:m1" "$B:m2" "$C:w"; do
	assert_exit 0 as_user "${u%%:*}" container-retire "${u#*:}"
done
wait_for 30 eval '[ -z "$(squeue -h)" ]' || not_ok "the jobs end with their containers" "$(squeue 2>&1)"

ds01_done
