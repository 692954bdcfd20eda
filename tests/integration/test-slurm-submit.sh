#!/usr/bin/env bash
# container-deploy in cluster mode is a Slurm job (issue 17 item 2's front end;
# docs/cluster-design.md). One node on loopback with Slurm's accounting: a munged of its own,
# MariaDB, slurmdbd, slurmctld and slurmd (gres gpu:2 over fake devices), files in $T; ds01d on
# the fake NVML with 2 GPUs and the `cluster:` key; `ds01 slurm-sync --apply` writes the groups'
# accounts and QOS. As real users: A's `container-deploy p1 --gpus 1` runs sbatch as A, and the
# job's step deploys the container on the job's GPU (container-list shows it; squeue shows the
# job RUNNING as ds01:p1 in account and QOS ds01_student with the 2 h runtime cap as its time
# limit). B's 2-GPU deploy while one GPU is taken exits 3 ("no GPU free", --wait) and leaves no
# job; with --wait the job stays pending, gpu-queue shows it to B at place 1 with Slurm's
# reason (not to A), A cannot make it leave, `gpu-queue leave p2` cancels it. C's group may use
# 1 GPU: a 2-GPU deploy is refused at submission (the QOS's DenyOnLimit), naming the ds01
# limit. A deploy whose step fails inside the job (no such image) shows the step's error to
# the submitting user, exits non-zero, and the job has ended. What a login node's submission
# relies on: a job without --account/--qos/--time gets the group's account, QOS and MaxWall;
# C's 2 GPUs from a login node (no ds01d) are refused by the default QOS too. scancel of A's
# job: the step gets SIGTERM and stops the container with its grace (a TERM trap inside writes
# /workspace/ckpt). A full cluster: C's --wait job starts and deploys when A retires. A
# reservation made with scontrol for C: B's deploy cannot start (exit 3), C's in it can
# (SBATCH_RESERVATION). Without the cluster key, container-deploy and gpu-queue are the single
# server's again (no job).
# ds01-test: kind=functional needs=slurm budget=75
. "$(dirname "$0")/lib.sh"

slurm_tools slurmctld slurmd slurmdbd sacctmgr scontrol sbatch squeue scancel munge munged mariadbd mariadb mariadb-install-db
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
C=$(ds01_user "it$$c") || fail "cannot create user C"
HA=$(user_home "$A")

CLUSTER=ds01sub
NODE=ds01s$$
trap_extra() { slurm_teardown "$A" "$B" "$C"; }

# --- Slurm with accounting, one node with 2 fake GPUs ------------------------------------------------
T0=$(now_ms)
slurm_setup "$CLUSTER" accounting
slurm_one_node "$NODE" 2 KillWait=30
ok "MariaDB, slurmdbd, slurmctld and slurmd answer, node $NODE idle with gpu:2 ($(($(now_ms) - T0)) ms)"

# --- ds01 on the fake NVML's 2 GPUs, in the cluster; Slurm's accounts from the limits ---------------
fake_nvml_use
fake_nvml_write "$(fake_nvml_inventory 2)"
fake_nvml_config
slurm_ds01_cluster "$NODE"
ds01_write_limits_sized <<EOL
  max_gpu_equivalents: 1.0
  max_gpu_slots_per_container: 2
  allow_full_gpu: true
  max_containers_per_user: 3
default_group: student
groups:
  student:
    members: [$A, $B]
    max_gpu_equivalents: 2.0
    max_runtime_h: 2
  tiny:
    members: [$C]
    max_gpu_equivalents: 1.0
    max_runtime_h: 2
policies:
  sigterm_grace_s: 5
EOL
ds01_start_daemon
assert_exit 0 -m "slurm-sync --apply writes the groups' accounts and QOS" as_root ds01 slurm-sync --apply

# squeue's view of one job (as root): JOBID FORMAT
job_field() { squeue -h -j "$1" -o "$2" 2>/dev/null; }
user_jobs() { squeue -h -u "$1" -o %i 2>/dev/null; }
no_jobs_of() { [ -z "$(user_jobs "$1")" ]; }
# waited_ok SECS DESC WHY CMD...: ok DESC once CMD succeeds within SECS, else not_ok with the
# output of the command WHY (run then)
waited_ok() {
	local secs=$1 desc=$2 why=$3
	shift 3
	if wait_for "$secs" "$@"; then ok "$desc"; else not_ok "$desc" "after $secs s: $(eval "$why" 2>&1)"; fi
}
job_id_of() { sed -n 's/.*slurm job: \([0-9][0-9]*\) on node.*/\1/p' <<<"$1"; }

# --- what a login node's submission (no --account, --qos, --time) relies on -----------------------
JH=$(as_user "$A" env SLURM_CONF="$SLURM_CONF" sbatch --parsable --hold --gres=gpu:1 -o /dev/null --wrap true | cut -d';' -f1)
assert_eq "ds01_student|ds01_student|2:00:00" "$(job_field "$JH" '%a|%q|%l')" \
	"a job without --account, --qos and --time (a login node's) gets the group's account and QOS (slurm-sync's defaults) and its MaxWall, the runtime cap"
as_user "$A" env SLURM_CONF="$SLURM_CONF" scancel "$JH"

# --- A: a container for a Slurm job ----------------------------------------------------------------
SAVER='trap "sleep 1; echo saved > /workspace/ckpt; exit 0" TERM; : > /workspace/ready; while :; do sleep 1; done'
capture as_user "$A" container-deploy p1 --gpus 1 -- sh -c "$SAVER"
assert_eq 0 "$RC" "A's container-deploy p1 --gpus 1 in cluster mode succeeds: $ERR"
assert_contains "$OUT" "Deployed 'p1' (container p1._.$A) with 1 GPU" "... it prints what a single server's deploy prints"
JA=$(job_id_of "$OUT")
[ -n "$JA" ] || fail "the deploy names no Slurm job: $OUT"
assert_contains "$OUT" "slurm job: $JA on node $NODE" "... with the job id and the node"
assert_eq "RUNNING|ds01:p1|ds01_student|ds01_student|2:00:00|$A" "$(job_field "$JA" '%T|%j|%a|%q|%l|%u')" \
	"... squeue: job $JA RUNNING as A, named ds01:p1, account and QOS ds01_student, time limit 2 h (max_runtime_h)"
assert_eq running "$(docker_state "p1._.$A")" "... the container runs"
assert_eq "$JA" "$(docker inspect -f '{{index .Config.Labels "ds01.slurm.job"}}' "p1._.$A" 2>/dev/null)" \
	"... for job $JA (its label)"
assert_eq 1 "$(container_entry "$A" p1 | jq '.gpus | length')" "... container-list shows it with 1 GPU"
wait_for 10 test -e "$HA/workspace/p1/ready" || fail "p1's command did not start"

# --- B: 2 GPUs while one is A's --------------------------------------------------------------------
capture as_user "$B" container-deploy p2 --gpus 2
assert_eq 3 "$RC" "B's 2-GPU deploy without --wait exits 3 while one GPU is taken: $OUT"
note "B's refusal: $ERR"
assert_contains "$ERR" "no GPU free" "... saying no GPU is free"
assert_contains "$ERR" "add --wait" "... and naming --wait"
waited_ok 10 "... and leaves no job of B in Slurm" 'user_jobs "$B"' no_jobs_of "$B"

T_SUB=$(date +%s)
capture as_user "$B" container-deploy p2 --gpus 2 --wait --max-wait 10m
assert_eq 0 "$RC" "with --wait it joins Slurm's queue: $ERR"
note "B's --wait: $OUT"
assert_contains "$OUT" "position 1 of 1" "... at position 1"
JB=$(user_jobs "$B")
assert_eq PENDING "$(job_field "$JB" %T)" "... its job $JB is PENDING"
# --max-wait 10m: Slurm removes the job once it cannot start by then with its 2 h time limit
DL=$(scontrol show job "$JB" 2>/dev/null | grep -o 'Deadline=[0-9T:-]*' | cut -d= -f2)
DLS=$(date -d "$DL" +%s 2>/dev/null || echo 0)
W=$((DLS - T_SUB))
if [ "$W" -ge $((600 + 7200 - 5)) ] && [ "$W" -le $((600 + 7200 + 30)) ]; then
	ok "... --max-wait 10m is Slurm's deadline: 10 min + the 2 h time limit from now ($DL)"
else
	not_ok "... --max-wait 10m is Slurm's deadline" "Deadline=$DL, $W s after the submission"
fi
capture as_user "$B" gpu-queue --json
assert_eq 0 "$RC" "gpu-queue as B: $ERR"
assert_jq "... lists B's job $JB for p2 at place 1 with 2 GPUs and Slurm's reason" \
	".requests | length == 1 and .[0].slurm_job == \"$JB\" and .[0].position == 1 and .[0].project == \"p2\" and .[0].gpus == \"2\" and (.[0].reason | length > 0) and .[0].reason != \"None\"" "$OUT"
capture as_user "$B" gpu-queue
assert_match "$OUT" "1 +$JB +$B +p2 +2 +[A-Za-z]+" "... and as a table"
capture as_user "$A" gpu-queue --json
assert_jq "gpu-queue as A does not show B's job" '(.requests | length) == 0 and .waiting == 1' "$OUT"
capture as_user "$A" gpu-queue leave p2
assert_eq 4 "$RC" "A's gpu-queue leave p2 finds no job of A's"
assert_eq PENDING "$(job_field "$JB" %T)" "... and B's job still waits"
capture as_user "$B" gpu-queue leave p2
assert_eq 0 "$RC" "B's gpu-queue leave p2: $ERR"
waited_ok 10 "... cancels B's job (squeue has none of B's)" 'user_jobs "$B"' no_jobs_of "$B"

# --- C's group may use 1 GPU: refused at submission --------------------------------------------
capture as_user "$C" container-deploy big --gpus 2
assert_eq 3 "$RC" "C's 2-GPU deploy over the group's 1 GPU is refused (exit 3): $OUT"
note "C's refusal: $ERR"
assert_contains "$ERR" "Slurm refused the job" "... by Slurm at submission"
assert_contains "$ERR" "group tiny: max_gpu_equivalents 1" "... naming the ds01 limit"
assert_eq "" "$(user_jobs "$C")" "... and no job of C exists"
capture as_user "$C" env DS01_SOCKET="$T/run/none.sock" DS01_CLUSTER_SLURM_CONF="$SLURM_CONF" \
	container-deploy big --gpus 2
assert_eq 3 "$RC" "... and from a login node (no ds01d: no --qos passed, the default QOS's limit): exit 3"
assert_contains "$ERR" "your group's Slurm QOS" "... naming the QOS: $ERR"
assert_eq "" "$(user_jobs "$C")" "... and no job of C exists"

# --- a deploy that fails inside the job ------------------------------------------------------------
capture as_user "$A" container-deploy bad --gpus 1 --image ds01it/nonexistent:nope
assert_ne 0 "$RC" "a deploy whose step fails in the job (no such image) exits non-zero"
note "the failed step: $ERR"
assert_contains "$ERR" "container-deploy: " "... showing the step's error"
assert_contains "$ERR" "nonexistent" "... about the image"
assert_contains "$ERR" "has ended" "... and that the job has ended"
assert_no_container "bad._.$A" "... and nothing is deployed"
only_ja() { [ "$(user_jobs "$A")" = "$JA" ]; }
waited_ok 20 "... its job has ended (A has only job $JA)" 'user_jobs "$A"' only_ja

# --- scancel: the step stops the container with its grace -------------------------------------------
as_user "$A" env SLURM_CONF="$SLURM_CONF" scancel "$JA" || fail "A's scancel $JA"
saved() { [ "$(cat "$HA/workspace/p1/ckpt" 2>/dev/null)" = saved ]; }
waited_ok 30 "scancel of A's job: the container's TERM trap wrote /workspace/ckpt (its grace)" \
	'ls "$HA/workspace/p1"' saved
stopped() { [ "$(docker_state "p1._.$A")" != running ]; }
waited_ok 20 "... the container stopped" 'docker_state "p1._.$A"' stopped
ja_gone() { s=$(job_field "$JA" %T); [ -z "$s" ] || [ "$s" = CANCELLED ]; }
waited_ok 30 "... and the job ended" 'job_field "$JA" %T' ja_gone

# --- a full cluster: a waiting job starts when another user retires ------------------------------
retired_p1() { [ -z "$(container_entry "$A" p1)" ] || as_user "$A" container-retire p1 >/dev/null 2>&1; }
wait_for 20 retired_p1 || fail "A's p1 is not retired"
assert_exit 0 -m "A takes one GPU" as_user "$A" container-deploy q1 --gpus 1
assert_exit 0 -m "B takes the other" as_user "$B" container-deploy q2 --gpus 1
capture as_user "$C" container-deploy q3 --gpus 1 --wait
assert_eq 0 "$RC" "with both GPUs taken, C's --wait deploy joins Slurm's queue: $ERR"
JC=$(user_jobs "$C")
assert_eq PENDING "$(job_field "$JC" %T)" "... its job $JC is PENDING"
T1=$(now_ms)
assert_exit 0 -m "A retires q1" as_user "$A" container-retire q1
c_runs() { [ "$(docker_state "q3._.$C")" = running ]; }
waited_ok 60 "... and C's waiting job starts and deploys its container on the freed GPU" \
	'echo "job $(job_field "$JC" %T)"; docker_state "q3._.$C"' c_runs
note "retire to C's container running: $(($(now_ms) - T1)) ms"
assert_eq RUNNING "$(job_field "$JC" %T)" "... C's job runs"
assert_eq 1 "$(container_entry "$C" q3 | jq '.gpus | length')" "... and container-list shows C's container with 1 GPU"
assert_exit 0 as_user "$B" container-retire q2
assert_exit 0 as_user "$C" container-retire q3
waited_ok 30 "... their jobs end with their containers" 'squeue -h' eval '[ -z "$(user_jobs "$B")$(user_jobs "$C")" ]'

# --- a reservation made with scontrol is honoured: the node is C's for the window ---------------
scontrol create reservation ReservationName=ds01res Users="$C" Nodes="$NODE" StartTime=now \
	Duration=10 Flags=IGNORE_JOBS >/dev/null || fail "scontrol create reservation"
capture as_user "$B" container-deploy r0 --gpus 1
assert_eq 3 "$RC" "with the node reserved for C, B's deploy cannot start: exit 3"
assert_contains "$ERR" "no GPU free" "... the usual refusal: $ERR"
waited_ok 10 "... and leaves no job of B" 'user_jobs "$B"' no_jobs_of "$B"
capture as_user "$C" env SBATCH_RESERVATION=ds01res container-deploy r1 --gpus 1
assert_eq 0 "$RC" "C deploys in the reservation (SBATCH_RESERVATION, sbatch's own variable): $ERR"
JR=$(user_jobs "$C")
assert_eq ds01res "$(job_field "$JR" %v)" "... its job $JR runs in the reservation"
assert_exit 0 as_user "$C" container-retire r1
waited_ok 30 "... its job ends with the container" 'user_jobs "$C"' no_jobs_of "$C"
scontrol delete ReservationName=ds01res || fail "scontrol delete reservation (in use?)"

# --- without the cluster key: the single server's deploy and queue --------------------------------
ds01_stop_daemon "ds01d stops (to start without the cluster key)"
sed -i '/^cluster:/,$d' "$DS01_CONFIG"
ds01_start_daemon
capture as_user "$A" container-deploy p4 --gpus 1
assert_eq 0 "$RC" "without the cluster key container-deploy --gpus 1 deploys here: $ERR"
assert_not_contains "$OUT" "slurm job" "... with no Slurm job"
assert_eq "" "$(user_jobs "$A")" "... squeue has no job of A's"
capture as_user "$A" gpu-queue
assert_contains "$OUT" "No request of yours waits" "gpu-queue is ds01's own queue again"

ds01_done
