#!/usr/bin/env bash
# A node's ds01d deploys a container for a Slurm job on exactly the job's GPUs (cluster mode,
# item 2's building block; docs/cluster-design.md). One node on loopback: a munged of its
# own, slurmctld and slurmd with their files in $T (SLURM_CONF), gres.conf over
# /dev/fakenvidia0-3 (made here, removed at exit), and ds01d on the fake NVML with 4 GPUs and
# `cluster: {node: ...}`. A real user's `sbatch --gres=gpu:2` job script runs
# `container-deploy P --slurm-job $SLURM_JOB_ID` and sleeps: the container exists, is the
# user's, holds exactly the ds01 GPUs of the job's gres indexes (SLURM_JOB_GPUS), carries the
# ds01.slurm.job label, and the ledger row has the job id; a second user's job gets the last GPU. Placement is Slurm's: with GPU 0 held by another job in Slurm (free in ds01, ds01's own
# pick), the job gets and the container holds indexes 1 and 2. Refused: another user naming the job (not yours, audited auth.denied; also a job whose GPU no container holds), a made-up job id,
# a job without GPUs (from its own script), a finished job, a job whose GPU ds01 leased to
# another container (Slurm and ds01 disagree), a GPU index ds01 does not have, a job on another
# node (ds01d with another cluster.node), and a daemon without the cluster key.
# ds01-test: kind=functional needs=slurm budget=60
. "$(dirname "$0")/lib.sh"

slurm_tools slurmctld slurmd scontrol sbatch squeue scancel munge munged
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"

NODE=ds01n$$
trap_extra() { slurm_teardown "$A" "$B"; }

# --- Slurm: slurmctld and slurmd on loopback, 4 fake GPUs -----------------------------------------
T0=$(now_ms)
slurm_setup ds01dep
mkdir -p "$SL/jobs" && chmod 1777 "$SL/jobs"
slurm_one_node "$NODE" 4
ok "slurmctld and slurmd answer, node $NODE idle with gpu:4 ($(($(now_ms) - T0)) ms)"

# --- ds01 on the fake NVML's 4 GPUs, in the cluster ---------------------------------------------
fake_nvml_use
fake_nvml_write "$(fake_nvml_inventory 4)"
fake_nvml_config
slurm_ds01_cluster "$NODE"
ds01_start_daemon

# A job script: the deploy for its job, its answer and exit status kept in $SL/jobs/NAME.*,
# then it runs until cancelled (or until ds01d ends it with its container).
write_job() { # NAME PROJECT
	cat >"$SL/jobs/$1.sh" <<EOS
#!/bin/sh
echo "\$SLURM_JOB_GPUS" >"$SL/jobs/$1.gpus"
container-deploy $2 --slurm-job "\$SLURM_JOB_ID" --json >"$SL/jobs/$1.out" 2>"$SL/jobs/$1.err"
echo \$? >"$SL/jobs/$1.rc"
exec sleep 600
EOS
	chmod 755 "$SL/jobs/$1.sh"
}
submit() { # USER NAME SBATCH_OPTION...: prints the job id
	local u=$1 name=$2
	shift 2
	as_user "$u" env SLURM_CONF="$SLURM_CONF" sbatch --parsable -J "$name" -o /dev/null -D / "$@" "$SL/jobs/$name.sh" | cut -d';' -f1
}
job_state() { squeue -h -j "$1" -o %T 2>/dev/null; }
has_rc() { [ -s "$SL/jobs/$1.rc" ]; }

# --- B holds GPU 0 in Slurm with a job that deploys nothing: ds01's own pick would be GPU 0 ---
cat >"$SL/jobs/hold.sh" <<EOS
#!/bin/sh
echo "\$SLURM_JOB_GPUS" >"$SL/jobs/hold.gpus"
exec sleep 600
EOS
chmod 755 "$SL/jobs/hold.sh"
JH=$(submit "$B" hold --gres=gpu:1)
has_gpus() { [ -s "$SL/jobs/$1.gpus" ]; }
wait_for 30 has_gpus hold || fail "B's holding job does not run: state $(job_state "$JH"), $(tail -3 "$SL/log/slurmd-$NODE.log")"
assert_eq 0 "$(cat "$SL/jobs/hold.gpus")" "B's job without a container holds gres index 0 in Slurm"
# its GPU is free in ds01 and A has nothing deployed: only the owner check stands between A and it
capture as_user "$A" container-deploy grab --slurm-job "$JH"
assert_ne 0 "$RC" "A naming B's job (no container holds its GPU) is refused"
assert_contains "$ERR" "job $JH is not yours" "... saying it is not A's"
assert_no_container "grab._.$A" "... and nothing is deployed on B's GPU"

# --- A's job with 2 GPUs ----------------------------------------------------------------------
write_job ja pa
JA=$(submit "$A" ja --gres=gpu:2)
[ -n "$JA" ] || fail "sbatch of A's job failed"
wait_for 30 has_rc ja || fail "A's job did not run its deploy: state $(job_state "$JA"), $(tail -3 "$SL/log/slurmd-$NODE.log")"
assert_eq 0 "$(cat "$SL/jobs/ja.rc")" "A's job script deploys with --slurm-job (exit 0): $(head -c 300 "$SL/jobs/ja.err")"
CA=pa._.$A
GA=$(cat "$SL/jobs/ja.gpus")
note "job $JA got gres indexes $GA"
WANT=$(for i in ${GA//,/ }; do fake_nvml_uuid "$i"; done | sort | paste -sd,)
assert_eq 1,2 "$GA" "... Slurm gave the job 2 GPUs, indexes 1 and 2 (0 is the other job's)"
assert_eq "$WANT" "$(jq -r '[.gpus[].uuid] | sort | join(",")' "$SL/jobs/ja.out")" \
	"... the deploy answers exactly the ds01 GPUs of the job's gres indexes"
assert_eq "$WANT" "$(container_gpus "$A" pa | tr ',' '\n' | sort | paste -sd,)" \
	"... container-list shows the container with those GPUs"
LEASED=$(gpus_json | jq -r --arg c "$CA" '[.slots[] | select(.lease.container == $c) | .uuid] | sort | join(",")')
assert_eq "$WANT" "$LEASED" "... ds01 gpus (root) has exactly those slots leased to $CA"
assert_eq free "$(gpu_lease_state "$(fake_nvml_uuid 0)")" "... and GPU 0, free in ds01, is not leased (placement is Slurm's)"
assert_eq running "$(docker_state "$CA")" "... the container runs"
assert_eq "$JA" "$(docker inspect -f '{{index .Config.Labels "ds01.slurm.job"}}' "$CA" 2>/dev/null)" \
	"... it has the label ds01.slurm.job=$JA"
assert_eq "$JA" "$(ledger_sql "SELECT slurm_job FROM containers WHERE name = '$CA'")" \
	"... its ledger row records job $JA"
assert_eq "$JA" "$(jq -r '.slurm_job' "$SL/jobs/ja.out")" "... and the answer names the job"
capture as_user "$A" container-deploy pa --slurm-job "$JA" --json
assert_eq 0 "$RC" "deploying the same job's project again answers its container: $ERR"
assert_jq "... (existed)" '.existed == true' "$OUT"
assert_exit 0 as_user "$A" container-deploy plain --cpu-only --json
capture as_user "$A" container-deploy plain --slurm-job "$JA"
assert_ne 0 "$RC" "a project with a container not of the job is refused"
assert_contains "$ERR" "'plain' already has a container" "... saying so"
assert_exit 0 as_user "$A" container-retire plain
capture as_user "$A" container-deploy second --slurm-job "$JA"
assert_ne 0 "$RC" "a second project for the same job is refused (one container per job)"
assert_contains "$ERR" "Slurm job $JA has container $CA already" "... naming the job's container: $ERR"
assert_no_container "second._.$A" "... and nothing is deployed"

# --- B's job with 1 GPU: the last one -----------------------------------------------------------
write_job jb pb
JB=$(submit "$B" jb --gres=gpu:1)
wait_for 30 has_rc jb || fail "B's job did not run its deploy: state $(job_state "$JB")"
assert_eq 0 "$(cat "$SL/jobs/jb.rc")" "B's job deploys too: $(head -c 300 "$SL/jobs/jb.err")"
assert_eq 3 "$(cat "$SL/jobs/jb.gpus")" "... Slurm gave it index 3"
assert_eq "$(fake_nvml_uuid 3)" "$(container_gpus "$B" pb)" "... and its container has ds01's GPU 3"
assert_eq 3 "$(gpus_leased_count)" "... 3 GPUs are leased in ds01, as Slurm's jobs with containers hold them"

# --- refusals ---------------------------------------------------------------------------------
capture as_user "$B" container-deploy stolen --slurm-job "$JA"
assert_ne 0 "$RC" "B naming A's job is refused"
assert_contains "$ERR" "job $JA is not yours" "... saying it is not theirs"
assert_no_container "stolen._.$B" "... and nothing is deployed"
n=$(events_query ".event_type == \"auth.denied\" and .user == \"$B\" and .details.action == \"container.deploy\"" | grep -c .)
assert_eq 1 "$n" "... audited as auth.denied"

capture as_user "$A" container-deploy ghost --slurm-job 999999
assert_ne 0 "$RC" "a made-up job id is refused"
assert_contains "$ERR" "Slurm has no job 999999" "... saying Slurm has no such job"
capture as_user "$A" container-deploy ghost --slurm-job 12abc
assert_ne 0 "$RC" "a malformed job id is refused"
assert_contains "$ERR" "is not a Slurm job id" "... saying so"

write_job jc pc
# its name tries to pass for the detail fields of scontrol's text, which ds01 does not read
JC=$(submit "$A" jc -J "jc NodeList=$NODE Nodes=$NODE CPU_IDs=0 Mem=0 GRES=gpu:4(IDX:0-3)")
wait_for 30 has_rc jc || fail "A's CPU job did not run its deploy: state $(job_state "$JC")"
assert_ne 0 "$(cat "$SL/jobs/jc.rc")" "a job without GPUs (named like scontrol's GPU fields) is refused, from its own script"
assert_contains "$(cat "$SL/jobs/jc.err")" "holds no GPUs on $NODE" "... saying it holds no GPUs here"
scancel "$JC"
job_done() { s=$(scontrol show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z]*'); [ -n "$s" ] && [ "$s" != JobState=RUNNING ] && [ "$s" != JobState=COMPLETING ]; }
wait_for 20 job_done "$JC" || fail "job $JC did not end"
capture as_user "$A" container-deploy late --slurm-job "$JC"
assert_ne 0 "$RC" "a finished job is refused"
assert_match "$ERR" "job $JC is (CANCELLED|COMPLETED), not RUNNING" "... saying it does not run"
assert_no_container "late._.$A" "... and nothing is deployed"
assert_no_container "pc._.$A" "... nor for the job without GPUs"

# In a cluster the node's GPUs are Slurm's: a GPU deploy of no job is refused by ds01d itself
# (a raw request, as an old CLI or another client would send it), CPU-only is not.
cp "$(dirname "$0")/raw-rpc.py" "$T/raw-rpc.py" && chmod 755 "$T/raw-rpc.py"
capture as_user "$B" /usr/bin/python3 "$T/raw-rpc.py" call container.deploy '{"project":"raw","gpus":1}'
assert_ne 0 "$RC" "a GPU deploy of no job is refused in a cluster"
assert_contains "$OUT" "GPUs are Slurm's" "... saying the GPUs are Slurm's: $OUT"
assert_no_container "raw._.$B" "... and nothing is deployed"
assert_exit 0 -m "a CPU-only deploy of no job is not" as_user "$B" container-deploy cpu --cpu-only
assert_exit 0 as_user "$B" container-retire cpu
# Slurm and ds01 disagree: GPU 0 goes free in Slurm (B's holding job is cancelled) while ds01
# leases it to a container of no job, one B deployed before the node joined the cluster (ds01d
# restarted without, then with the cluster key); a new job on it is refused, naming the
# container. (A Slurm job's container never outlives its job: test-slurm-lifetime.)
scancel "$JH"
wait_for 20 job_done "$JH" || fail "job $JH did not end"
cp "$DS01_CONFIG" "$T/ds01-cluster.yaml"
ds01_stop_daemon "ds01d stops (to start before the node joined the cluster)"
sed -i '/^cluster:/,$d' "$DS01_CONFIG"
ds01_start_daemon
assert_exit 0 as_user "$B" container-deploy pz --gpus 1
assert_eq "$(fake_nvml_uuid 0)" "$(container_gpus "$B" pz)" "B's deploy of no job gets ds01's only free GPU, 0"
ds01_stop_daemon "ds01d stops (to start in the cluster again)"
cp "$T/ds01-cluster.yaml" "$DS01_CONFIG"
ds01_start_daemon
write_job jd pd
JD=$(submit "$A" jd --gres=gpu:1)
wait_for 30 has_rc jd || fail "A's second job did not run its deploy: state $(job_state "$JD")"
assert_eq 0 "$(cat "$SL/jobs/jd.gpus")" "... Slurm gives a new job index 0"
assert_ne 0 "$(cat "$SL/jobs/jd.rc")" "a job whose GPUs ds01 leased to another container is refused"
assert_contains "$(cat "$SL/jobs/jd.err")" "is leased to container pz._.$B" "... naming the container"
assert_no_container "pd._.$A" "... and nothing is deployed"

# A GPU index ds01 does not have: GPU 3 leaves ds01's inventory (B's containers retired first:
# pb's retire ends B's job), and a job Slurm gives indexes 0 and 3 is refused.
assert_exit 0 as_user "$B" container-retire pb
assert_exit 0 as_user "$B" container-retire pz
wait_for 20 job_done "$JB" || fail "job $JB did not end with its container"
scancel "$JD"
wait_for 20 job_done "$JD" || fail "job $JD did not end"
fake_nvml_edit '.gpus |= .[0:3]' || fail "cannot edit the fake NVML"
as_root ds01 gpus --rescan >/dev/null || fail "ds01 gpus --rescan"
write_job je pe
JE=$(submit "$A" je --gres=gpu:2)
wait_for 30 has_rc je || fail "A's third job did not run its deploy: state $(job_state "$JE")"
assert_eq 0,3 "$(cat "$SL/jobs/je.gpus")" "a job gets indexes 0 and 3 in Slurm"
assert_ne 0 "$(cat "$SL/jobs/je.rc")" "... and its deploy is refused: ds01 has no GPU 3"
assert_contains "$(cat "$SL/jobs/je.err")" "GPU 3 of node $NODE (gres type '', device file number 3), which ds01 does not have as a whole GPU" "... saying so"
assert_no_container "pe._.$A" "... and nothing is deployed"
scancel "$JE"

# --- another node's ds01d; then none in a cluster ------------------------------------------------
ds01_stop_daemon "ds01d stops (to start as another node)"
sed -i "s/^  node: $NODE\$/  node: elsewhere/" "$DS01_CONFIG"
ds01_start_daemon
capture as_user "$A" container-deploy away --slurm-job "$JA"
assert_ne 0 "$RC" "a job on another node is refused"
assert_contains "$ERR" "job $JA runs on $NODE, not on this node (elsewhere)" "... saying where it runs"
scancel "$JA"
ds01_stop_daemon "ds01d stops (to start without the cluster key)"
sed -i '/^cluster:/,$d' "$DS01_CONFIG"
ds01_start_daemon
capture as_user "$A" container-deploy nocluster --slurm-job 5
assert_ne 0 "$RC" "without the cluster key --slurm-job is refused"
assert_contains "$ERR" "this server is not in a cluster" "... saying why"

ds01_done
