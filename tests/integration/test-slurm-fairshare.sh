#!/usr/bin/env bash
# Fair share in cluster mode (issue 17): two users wait for the one GPU, and the one with less
# past GPU use goes first though they asked second. One node on loopback with Slurm's
# accounting (a munged of its own, MariaDB, slurmdbd, slurmctld, slurmd with gres gpu:1 over a
# fake device), the multifactor priority weighted by fair share (PriorityWeightFairshare, a
# small age weight) and recalculated every minute (PriorityCalcPeriod=1, Slurm's shortest);
# ds01d on the fake NVML with the `cluster:` key and slurm-sync's account for the group. As
# real users: A uses the GPU for a while (a ds01 job) and retires; once Slurm has counted it
# (sshare: B's fair share above A's), C holds the GPU, A asks with --wait, then B. sprio ranks
# B above A on fair share; `gpu-queue --all` (root) puts B's job first and A's second, and each
# user's own `gpu-queue` shows their place. C retires: B's job starts and deploys B's container
# while A's stays pending; B retires: A's starts.
# ds01-test: kind=functional needs=slurm budget=120
. "$(dirname "$0")/lib.sh"

slurm_tools slurmctld slurmd slurmdbd sacctmgr scontrol sbatch squeue scancel sshare sprio munge munged mariadbd mariadb mariadb-install-db
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
C=$(ds01_user "it$$c") || fail "cannot create user C"

CLUSTER=ds01fs
NODE=ds01f$$
trap_extra() { slurm_teardown "$A" "$B" "$C"; }

# --- Slurm with accounting and fair share, one node with 1 fake GPU ----------------------------
T0=$(now_ms)
slurm_setup "$CLUSTER" accounting
slurm_one_node "$NODE" 1 PriorityCalcPeriod=1 PriorityDecayHalfLife=7-0 \
	PriorityWeightFairshare=100000 PriorityWeightAge=1000 PriorityMaxAge=7-0
ok "MariaDB, slurmdbd, slurmctld and slurmd answer, node $NODE idle with gpu:1 ($(($(now_ms) - T0)) ms)"

# --- ds01 on the fake NVML's GPU, in the cluster; one group for the three users ---------------------
fake_nvml_use
fake_nvml_write "$(fake_nvml_inventory 1)"
fake_nvml_config
slurm_ds01_cluster "$NODE"
ds01_write_limits_sized <<EOL
  max_gpu_equivalents: 1.0
default_group: student
groups:
  student:
    members: [$A, $B, $C]
    max_runtime_h: 2
    priority: 10
EOL
ds01_start_daemon
assert_exit 0 -m "slurm-sync --apply writes the group's account and QOS" as_root ds01 slurm-sync --apply

user_jobs() { squeue -h -u "$1" -o %i 2>/dev/null; }
job_state() { squeue -h -j "$1" -o %T 2>/dev/null; }
# sshare's FIELD (RawUsage, FairShare) of USER in the group's account
share_of() { sshare -n -P -A ds01_student -u "$1" -o "User,$2" 2>/dev/null | awk -F'|' -v u="$1" '$1 == u { print $2 }'; }
# sprio's fair share part of JOB's priority
fs_factor() { sprio -h -j "$1" -o %F 2>/dev/null | tr -d ' '; }
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

# --- A's past use: a container on the GPU for a few seconds, then retired --------------------------
assert_eq 0 "$(share_of "$A" RawUsage)" "before any job, sshare shows no usage of A's"
assert_exit 0 -m "A deploys on the GPU (a Slurm job)" as_user "$A" container-deploy past --gpus 1
sleep 5 # A's job runs: usage Slurm counts in CPU-seconds
assert_exit 0 -m "... and retires it" as_user "$A" container-retire past
wait_for 30 eval '[ -z "$(user_jobs "$A")" ]' || fail "A's job did not end: $(squeue -h)"
# The usage is recorded when the job ends; the fair share factors follow at the next
# recalculation (PriorityCalcPeriod, a minute here).
counted() { above "$(share_of "$A" RawUsage)" 0 && above "$(share_of "$B" FairShare)" "$(share_of "$A" FairShare)"; }
T1=$(now_ms)
if wait_for 90 counted; then
	ok "Slurm counts A's past use (RawUsage $(share_of "$A" RawUsage)): sshare's fair share of B $(share_of "$B" FairShare) is above A's $(share_of "$A" FairShare) ($(($(now_ms) - T1)) ms after the job ended)"
else
	fail "sshare does not rank B above A after 90 s: $(sshare -l -a 2>&1)"
fi
assert_eq 0 "$(share_of "$B" RawUsage)" "... B has used nothing"

# --- the GPU taken; A asks first, B second --------------------------------------------------------
assert_exit 0 -m "C takes the one GPU" as_user "$C" container-deploy hold --gpus 1
capture as_user "$A" container-deploy pa --gpus 1 --wait
assert_eq 0 "$RC" "A's --wait deploy joins Slurm's queue: $ERR"
JA=$(user_jobs "$A")
sleep 1 # B's request is the younger by a second: age cannot be what puts it first
capture as_user "$B" container-deploy pb --gpus 1 --wait
assert_eq 0 "$RC" "then B's --wait deploy joins it: $ERR"
JB=$(user_jobs "$B")
assert_eq "PENDING PENDING" "$(job_state "$JA") $(job_state "$JB")" "both jobs pend (A's $JA, B's $JB)"
FA=$(fs_factor "$JA") FB=$(fs_factor "$JB")
if above "$FB" "$FA"; then
	ok "sprio: B's fair share factor $FB is above A's $FA (A used the GPU before)"
else
	not_ok "sprio: B's fair share factor is above A's" "B $FB, A $FA: $(sprio -l 2>&1)"
fi

capture as_root gpu-queue --all --json
assert_eq 0 "$RC" "gpu-queue --all as root: $ERR"
note "the queue: $OUT"
assert_jq "... B's job $JB is first and A's $JA second, by priority" \
	"[.requests[] | .slurm_job] == [\"$JB\", \"$JA\"] and ([.requests[] | .position] == [1, 2])" "$OUT"
capture as_user "$A" gpu-queue --json
assert_jq "A's gpu-queue shows A's request at place 2" \
	".requests | length == 1 and .[0].slurm_job == \"$JA\" and .[0].position == 2" "$OUT"
capture as_user "$B" gpu-queue --json
assert_jq "B's gpu-queue shows B's request at place 1" \
	".requests | length == 1 and .[0].slurm_job == \"$JB\" and .[0].position == 1" "$OUT"

# --- the GPU frees: B's job goes first, then A's ------------------------------------------------------
assert_exit 0 -m "C retires" as_user "$C" container-retire hold
runs() { [ "$(docker_state "$1")" = running ]; }
if wait_for 60 runs "pb._.$B"; then
	ok "... and B's waiting job starts first and deploys B's container"
else
	not_ok "... B's waiting job starts first" "A's $(job_state "$JA"), B's $(job_state "$JB"): $(squeue 2>&1)"
fi
assert_eq PENDING "$(job_state "$JA")" "... while A's, asked earlier, still pends"
assert_no_container "pa._.$A" "... and A has no container yet"
assert_exit 0 -m "B retires" as_user "$B" container-retire pb
if wait_for 60 runs "pa._.$A"; then
	ok "... then A's job starts and deploys A's container"
else
	not_ok "... then A's job starts" "A's job: $(job_state "$JA"): $(squeue 2>&1)"
fi
assert_exit 0 as_user "$A" container-retire pa
wait_for 30 eval '[ -z "$(squeue -h)" ]' || not_ok "the jobs end with their containers" "$(squeue 2>&1)"

ds01_done
