#!/usr/bin/env bash
# The same commands from any node of a Slurm cluster (issue 17 item 3; docs/cluster-design.md
# "The same commands from any node"). Two GPU nodes run in network namespaces of this test's
# making (slurmd under `nsenter --net`), joined by a bridge in a third, "login", namespace; the
# host end of a veth into that bridge carries slurmctld. Each node has gres.conf over fake
# device files of its own and its own ds01d (both on the one dockerd, with distinct instance
# names, sockets and state; slurm.conf's TaskProlog gives a job's tasks their node's socket).
# User A's jobs (named ds01:P, as the sbatch front end names them) deploy on both nodes (-w):
# container-list as A from node 1, node 2 and the ds01d-less login namespace shows both with
# their nodes; container-logs, container-stats, container-run (output and exit code) and
# container-retire of the remote one work from the other node, through srun --overlap into
# the job, as A. User B sees none of A's containers and cannot reach them: B's name for A's
# project finds nothing and B's own srun into A's job is refused by Slurm. A node lost (its
# slurmd and job processes killed, marked down): its jobs end in Slurm and the other node's
# container keeps running and is listed.
# Deploys from the login namespace, whose CLI has no ds01d (DS01_SOCKET names no socket,
# DS01_CLUSTER_SLURM_CONF is set): A's two 1-GPU `container-deploy`s, while each node has one
# GPU free, land on both nodes; container-list there shows them with their nodes; each job's
# time limit is A's runtime cap (the step set it: the login node cannot know it); with no GPU
# free a deploy exits 3, with --wait it pends and gpu-queue (and leave) work from there; 4 GPUs
# (no node has them) are refused with exit 3; `container-deploy lo --gpus 1 --open` in a
# terminal opens a shell in the new container (its workspace, a terminal, its exit status)
# through srun --pty. C's group has a 1-minute cap: the step stops C's
# container with its grace before Slurm's time limit (its TERM trap writes /workspace/ckpt) and
# the job completes.
# ds01-test: kind=functional needs=slurm budget=110
. "$(dirname "$0")/lib.sh"

slurm_tools slurmctld slurmd scontrol sbatch squeue scancel srun munge munged nsenter ip
DS01_GPUS=3
DS01_CONFIG_EXTRA='sample_interval_s: 1' # the watcher of Slurm jobs runs at this interval
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
C=$(ds01_user "it$$c") || fail "cannot create user C"
# A's and B's runtime cap is 2 h (Slurm's time limit of their jobs); C's is 1 minute
cat >"$DS01_LIMITS" <<EOL
defaults:
  max_gpu_equivalents: 2.0
  max_gpu_slots_per_container: 2
  allow_full_gpu: true
  max_cpus: 1
  memory: 256m
  memory_swap: 256m
  shm_size: 64m
  pids_limit: 256
  max_containers_per_user: 3
default_group: student
groups:
  student:
    max_runtime_h: 2
  short:
    members: [$C]
    max_runtime_h: 0.016
policies:
  sigterm_grace_s: 5
EOL

N1=ds01x$$
N2=ds01y$$
NS_L=ds01l$$ # the login namespace: the bridge, and a CLI without a ds01d
NS_1=ds01p$$ # node 1's network
NS_2=ds01q$$ # node 2's network
HOSTIF=ds01h$$
NET=10.$((200 + $$ % 50)).$((($$ / 50) % 250))
DS01D2_PID=
INSTANCE2=${INSTANCE}-n2
SOCK2=$T/run2/ds01.sock
NETNS=()
trap_extra() {
	local p
	slurm_teardown "$A" "$B" "$C"
	# job processes of the lost node (its slurmd could not end them)
	for p in "$SL"/jobs/*.pid; do
		[ -s "$p" ] && kill -KILL $(cat "$p") 2>/dev/null
	done
	if [ -n "$DS01D2_PID" ]; then
		kill -TERM "$DS01D2_PID" 2>/dev/null
		_ds01_wait_gone "$DS01D2_PID" "$(_ds01_stop_grace_ms)"
		kill -KILL "$DS01D2_PID" 2>/dev/null
		wait "$DS01D2_PID" 2>/dev/null
	fi
	docker ps -aq --filter "label=ds01.instance=$INSTANCE2" | xargs -r docker rm -f >/dev/null 2>&1
	ds01_remove_instance_network "$INSTANCE2"
	ds01_remove_instance_cgroups "$INSTANCE2"
	ip link del "$HOSTIF" >/dev/null 2>&1
	for p in "${NETNS[@]}"; do ip netns del "$p" >/dev/null 2>&1; done
}

# --- the network: a bridge in the login namespace; the nodes and the host on it -----------------
for ns in "$NS_L" "$NS_1" "$NS_2"; do
	ip netns add "$ns" || fail "ip netns add $ns"
	NETNS+=("$ns")
	ip -n "$ns" link set lo up
done
ip -n "$NS_L" link add br0 type bridge && ip -n "$NS_L" link set br0 up &&
	ip -n "$NS_L" addr add "$NET.4/24" dev br0 || fail "the bridge in $NS_L"
ip link add "$HOSTIF" type veth peer name ph netns "$NS_L" &&
	ip -n "$NS_L" link set ph master br0 up && ip addr add "$NET.1/24" dev "$HOSTIF" &&
	ip link set "$HOSTIF" up || fail "the host's veth into $NS_L"
i=2
for ns in "$NS_1" "$NS_2"; do
	ip link add "p$i" netns "$NS_L" type veth peer name eth0 netns "$ns" &&
		ip -n "$NS_L" link set "p$i" master br0 up && ip -n "$ns" addr add "$NET.$i/24" dev eth0 &&
		ip -n "$ns" link set eth0 up || fail "the veth of $ns"
	i=$((i + 1))
done

# --- Slurm: slurmctld on the host's end, one slurmd per node namespace, 2 fake GPUs each ---------
slurm_setup ds01nodes
mkdir -p "$SL/jobs" && chmod 1777 "$SL/jobs"
slurm_fake_gpus 3 a
GPUS1=$SLURM_GPU_FILES
slurm_fake_gpus 3 b
GPUS2=$SLURM_GPU_FILES
# On a real cluster every node's ds01d has the default socket and no TaskProlog is needed; here
# both run on one host, so a task learns its node's socket from the TaskProlog.
cat >"$SL/taskprolog.sh" <<EOS
#!/bin/sh
case "\$SLURMD_NODENAME" in
$N1) echo "export DS01_SOCKET=$SOCK" ;;
$N2) echo "export DS01_SOCKET=$SOCK2" ;;
esac
EOS
chmod 755 "$SL/taskprolog.sh"
{
	slurm_conf_common "$NET.1"
	cat <<EOC
TaskProlog=$SL/taskprolog.sh
NodeName=$N1 NodeAddr=$NET.2 NodeHostname=$N1 CPUs=8 RealMemory=16000 Gres=gpu:3 State=UNKNOWN
NodeName=$N2 NodeAddr=$NET.3 NodeHostname=$N2 CPUs=8 RealMemory=16000 Gres=gpu:3 State=UNKNOWN
PartitionName=gpu Nodes=$N1,$N2 Default=YES MaxTime=INFINITE State=UP
EOC
} >"$SL/slurm.conf"
cat >"$SL/gres.conf" <<EOC
AutoDetect=off
NodeName=$N1 Name=gpu File=$GPUS1
NodeName=$N2 Name=gpu File=$GPUS2
EOC
export SLURM_CONF=$SL/slurm.conf
T0=$(now_ms)
slurm_start_ctld
slurm_start_node "$N1" nsenter --net="/run/netns/$NS_1"
slurm_start_node "$N2" nsenter --net="/run/netns/$NS_2"
ok "slurmctld and two slurmd in their own namespaces answer, both nodes idle ($(($(now_ms) - T0)) ms)"

# --- two ds01d on the one dockerd: node 1 is the test's daemon, node 2 a second instance -------
cluster_key() { # NODE
	printf 'cluster:\n  backend: slurm\n  name: ds01nodes\n  slurm_conf: %s\n  slurm_bin: %s\n  node: %s\n' \
		"$SL/slurm.conf" "$(dirname "$(command -v scontrol)")" "$1"
}
CFG2=$T/ds01-n2.yaml
mkdir -p "$T/run2" "$T/state2" "$T/log2"
chmod 755 "$T/run2"
sed -e "s|^instance: .*|instance: $INSTANCE2|" -e "s|^socket: .*|socket: $SOCK2|" \
	-e "s|^ports_dir: .*|ports_dir: $T/run2/ports|" \
	-e "s|^docker_api_socket: .*|docker_api_socket: $T/run2/docker.sock|" \
	-e "s|^state_dir: .*|state_dir: $T/state2|" -e "s|^log_dir: .*|log_dir: $T/log2|" \
	"$DS01_CONFIG" >"$CFG2"
cluster_key "$N1" >>"$DS01_CONFIG"
cluster_key "$N2" >>"$CFG2"
ds01_start_daemon
"$BIN/ds01d" --config "$CFG2" >>"$T/ds01d.log.n2" 2>&1 </dev/null &
DS01D2_PID=$!
wait_for 10 env DS01_SOCKET="$SOCK2" "$BIN/ds01" version ||
	fail "node 2's ds01d does not answer: $(tail -5 "$T/ds01d.log.n2")"
capture env DS01_SOCKET="$SOCK2" "$BIN/ds01" version --json
assert_eq "$INSTANCE2" "$(jq -r .daemon.instance <<<"$OUT")" "node 2's ds01d is a second instance"

# on_node NS SOCKET USER CMD...: CMD as USER in namespace NS against the ds01d at SOCKET (a
# socket nothing listens on: the login namespace, which has no ds01d).
on_node() {
	local ns=$1 sock=$2
	shift 2
	nsenter --net="/run/netns/$ns" bash -c "$(SOCK=$sock as_user_cmdline "$@")" </dev/null
}
NOSOCK=$T/run/none.sock
on1() { on_node "$NS_1" "$SOCK" "$@"; }
on2() { on_node "$NS_2" "$SOCK2" "$@"; }
onlogin() { local u=$1; shift; on_node "$NS_L" "$NOSOCK" "$u" env DS01_CLUSTER_SLURM_CONF="$SLURM_CONF" "$@"; }

# A job script named ds01:PROJECT: the deploy for its job (output in $SL/jobs/NAME.*), then it
# runs until cancelled. Its pids (the script, its slurmstepd) are kept for the lost node.
write_job() { # NAME PROJECT [CMD...]
	local name=$1 project=$2
	shift 2
	cat >"$SL/jobs/$name.sh" <<EOS
#!/bin/sh
echo "\$\$ \$PPID" >"$SL/jobs/$name.pid"
container-deploy $project --slurm-job "\$SLURM_JOB_ID" --json ${*:+-- $*} >"$SL/jobs/$name.out" 2>"$SL/jobs/$name.err"
echo \$? >"$SL/jobs/$name.rc"
exec sleep 600
EOS
	chmod 755 "$SL/jobs/$name.sh"
}
submit() { # USER NAME PROJECT NODE: prints the job id
	as_user "$1" env SLURM_CONF="$SLURM_CONF" sbatch --parsable -J "ds01:$3" -w "$4" --gres=gpu:1 --no-requeue \
		-o /dev/null -D / "$SL/jobs/$2.sh" | cut -d';' -f1
}
# Docker's view of a container of either instance (lib.sh's docker_state sees only node 1's)
dstate() { docker inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
job_state() { squeue -h -j "$1" -o %T 2>/dev/null; }
has_rc() { [ -s "$SL/jobs/$1.rc" ]; }
deployed() { # NAME JOB DESC
	wait_for 30 has_rc "$1" || fail "job $2 did not run its deploy: state $(job_state "$2"), $(tail -3 "$SL"/slurmd-*.log)"
	assert_eq 0 "$(cat "$SL/jobs/$1.rc")" "$3: $(head -c 300 "$SL/jobs/$1.err")"
}

# --- A's jobs on both nodes, B's on node 1 --------------------------------------------------------
write_job ja pa
write_job jb pb sh -c "'echo pb-says-hello; exec sleep 600'"
write_job jd pd
write_job jc pc
JA=$(submit "$A" ja pa "$N1")
JB=$(submit "$A" jb pb "$N2")
JD=$(submit "$A" jd pd "$N2")
JC=$(submit "$B" jc pc "$N1")
deployed ja "$JA" "A's job ds01:pa on $N1 deploys pa on node 1's ds01d"
deployed jb "$JB" "A's job ds01:pb on $N2 deploys pb on node 2's ds01d"
deployed jd "$JD" "A's job ds01:pd on $N2 deploys pd there too"
deployed jc "$JC" "B's job ds01:pc on $N1 deploys pc there"
assert_eq "$INSTANCE2" "$(docker inspect -f '{{index .Config.Labels "ds01.instance"}}' "pb._.$A" 2>/dev/null)" \
	"... pb is node 2's container (its instance label)"
assert_eq "$INSTANCE" "$(docker inspect -f '{{index .Config.Labels "ds01.instance"}}' "pa._.$A" 2>/dev/null)" \
	"... pa is node 1's"

# --- container-list from each node and from the login namespace --------------------------------
nodes_of() { jq -r '[.containers[] | "\(.project)@\(.node)"] | sort | join(",")' <<<"$1"; }
WANT_A="pa@$N1,pb@$N2,pd@$N2"
for where in on1 on2 onlogin; do
	capture "$where" "$A" container-list --json
	assert_eq 0 "$RC" "container-list --json as A ($where) succeeds: $ERR"
	assert_eq "$WANT_A" "$(nodes_of "$OUT")" "... and shows A's containers on both nodes with their node"
done
capture on1 "$A" container-list
assert_match "$OUT" "NAME +STATE.* NODE" "container-list's table has a NODE column"
assert_match "$(grep '^pb ' <<<"$OUT")" "running.* $N2\$" "... pb's row says running on $N2"
capture onlogin "$B" container-list --json
assert_eq "pc@$N1" "$(nodes_of "$OUT")" "B (from the login namespace) sees only B's own container"
capture on2 "$B" container-list --json
assert_eq "pc@$N1" "$(nodes_of "$OUT")" "... and from node 2 too"

# --- the remote container's commands, from the other node --------------------------------------
capture on1 "$A" container-logs pb
assert_eq 0 "$RC" "container-logs pb from node 1 reaches node 2's container: $ERR"
assert_contains "$OUT" "pb-says-hello" "... and prints its output"
capture on1 "$A" container-stats pb --json
assert_eq 0 "$RC" "container-stats pb from node 1: $ERR"
assert_jq "... names pb's container" "[.. | objects | select(.name? == \"pb._.$A\")] | length > 0" "$OUT"
PA_HOME=$(getent passwd "$A" | cut -d: -f6)
echo "written-on-shared-storage" >"$PA_HOME/workspace/pb/f" && chown "$A:" "$PA_HOME/workspace/pb/f"
capture onlogin "$A" container-run pb -- cat /workspace/f
assert_eq 0 "$RC" "container-run pb -- cat from the login namespace: $ERR"
assert_eq written-on-shared-storage "$OUT" "... runs in pb's container (its workspace's file)"
capture on1 "$A" container-run pb -- sh -c 'hostname >/dev/null; exit 7'
assert_eq 7 "$RC" "... and the command's exit code comes back through srun"
capture on2 "$A" container-run pa -- cat /etc/hostname
assert_eq 0 "$RC" "container-run pa from node 2 reaches node 1's container: $ERR"
# an interactive session: a terminal on stdin (script's pty) goes through srun --pty; the shell
# in pb's container has a terminal too ([ -t 0 ]), runs what is typed, and its exit status
# comes back
RUNPB=$(SOCK=$SOCK as_user_cmdline "$A" container-run pb)
capture bash -c "printf '%s\n' '[ -t 0 ] && echo pty-\$((6 * 7))-ok; exit 5' |
	nsenter --net=/run/netns/$NS_1 script -qec $(printf %q "$RUNPB") /dev/null"
assert_contains "$OUT" "pty-42-ok" "container-run pb with a terminal from node 1 opens a shell with a terminal in pb: $ERR"
assert_eq 5 "$RC" "... and the shell's exit status comes back"

# --- B cannot reach A's containers ---------------------------------------------------------------
capture on1 "$B" container-logs pb
assert_ne 0 "$RC" "B's container-logs pb (A's project) fails"
assert_not_contains "$OUT" "pb-says-hello" "... without A's output"
capture on2 "$B" container-logs "pb._.$A"
assert_ne 0 "$RC" "B naming A's container by its full name on its node fails"
assert_not_contains "$OUT" "pb-says-hello" "... without A's output"
capture on1 "$B" env SLURM_CONF="$SLURM_CONF" srun --overlap --jobid="$JB" "$BIN/ds01" container-logs pb
assert_ne 0 "$RC" "B's own srun into A's job is refused by Slurm"
assert_not_contains "$OUT" "pb-says-hello" "... without A's output"
assert_eq running "$(dstate "pb._.$A")" "A's pb still runs"

# --- retire from the other node ------------------------------------------------------------------
capture on1 "$A" container-retire pb
assert_eq 0 "$RC" "container-retire pb from node 1: $ERR"
assert_contains "$OUT" "Retired 'pb'" "... says so"
assert_eq "" "$(dstate "pb._.$A")" "... and node 2's container is gone"
capture on1 "$A" container-logs pb
assert_eq 4 "$RC" "container-logs of the retired pb: not found (exit 4)"

# pb's retire ended its job jb (ds01d ends the job of a container that ended first)
jb_over() { s=$(job_state "$JB"); [ -z "$s" ] || { [ "$s" != RUNNING ] && [ "$s" != COMPLETING ]; }; }
wait_for 20 jb_over && ok "... and node 2's ds01d ended its job $JB" || not_ok "... its job $JB ended" "$(job_state "$JB")"

# --- deploys from the login namespace: Slurm picks the node, the step sets the time limit -------
# B takes the GPU jb left on node 2: then each node has 2 of its 3 GPUs in jobs (ja, jc; jd, jf)
# and one 1-GPU job fits on each.
write_job jf pf
JF=$(submit "$B" jf pf "$N2")
deployed jf "$JF" "B's job ds01:pf on $N2 takes the GPU jb left"
job_id_of() { sed -n 's/.*slurm job: \([0-9][0-9]*\) on node.*/\1/p' <<<"$1"; }
LJ=()
for p in lx1 lx2; do
	capture onlogin "$A" container-deploy "$p" --gpus 1
	assert_eq 0 "$RC" "A's container-deploy $p --gpus 1 from the login namespace (no ds01d) succeeds: $ERR"
	assert_contains "$OUT" "Deployed '$p' (container $p._.$A) with 1 GPU" "... it prints what a deploy prints"
	LJ+=("$(job_id_of "$OUT")")
	[ -n "${LJ[-1]}" ] || fail "the deploy of $p names no Slurm job: $OUT"
done
capture onlogin "$A" container-list --json
assert_eq 0 "$RC" "container-list --json as A from the login namespace: $ERR"
LX=$(jq -r '[.containers[] | select(.project | startswith("lx")) | .node] | sort | join(",")' <<<"$OUT")
assert_eq "$(printf '%s\n' "$N1" "$N2" | sort | paste -sd,)" "$LX" "... lx1 and lx2 landed on both nodes"
assert_match "$(nodes_of "$OUT")" "^lx1@($N1|$N2),lx2@($N1|$N2),pa@$N1,pd@$N2\$" "... listed with pa and pd"
for j in "${LJ[@]}"; do
	assert_eq "2:00:00|$A|ds01:lx" "$(squeue -h -j "$j" -o '%l|%u|%j' 2>/dev/null | sed 's/[12]$//')" \
		"job $j: A's, named ds01:lx*, time limit 2 h (A's runtime cap, set by its step)"
done
capture onlogin "$A" container-deploy lz --gpus 1
assert_eq 3 "$RC" "with no GPU free a deploy from the login namespace exits 3: $OUT"
assert_contains "$ERR" "no GPU free" "... saying no GPU is free"
capture onlogin "$A" container-deploy lw --gpus 1 --wait
assert_eq 0 "$RC" "with --wait it joins Slurm's queue: $ERR"
assert_contains "$OUT" "'lw' waits for GPUs" "... and says so"
capture onlogin "$A" gpu-queue --json
assert_eq 0 "$RC" "gpu-queue from the login namespace: $ERR"
assert_jq "... lists A's pending lw at place 1" '.requests | length == 1 and .[0].project == "lw" and .[0].position == 1' "$OUT"
LW=$(jq -r '.requests[0].slurm_job' <<<"$OUT")
capture onlogin "$A" gpu-queue leave lw
assert_eq 0 "$RC" "gpu-queue leave lw from the login namespace: $ERR"
lw_gone() { s=$(job_state "$LW"); [ -z "$s" ] || [ "$s" = CANCELLED ]; }
wait_for 10 lw_gone && ok "... cancels its job $LW" || not_ok "... cancels its job $LW" "$(job_state "$LW")"
capture onlogin "$A" container-deploy big --gpus 4
assert_eq 3 "$RC" "4 GPUs (no node has them) from the login namespace: exit 3"
assert_contains "$ERR" "no node of the cluster has 4 GPUs" "... naming the problem: $ERR"
capture onlogin "$A" container-deploy lm --gpus 1 --wait --max-wait 10m
assert_eq 2 "$RC" "--max-wait from the login namespace (no runtime cap known there) is refused"
assert_contains "$ERR" "GPU node" "... saying where it works: $ERR"
for p in lx1 lx2; do
	assert_exit 0 -m "container-retire $p from the login namespace" onlogin "$A" container-retire "$p"
	assert_eq "" "$(dstate "$p._.$A")" "... its container is gone"
done
assert_exit 0 -m "B retires pf from the login namespace" onlogin "$B" container-retire pf
assert_exit 0 -m "A's scancel of their jobs" onlogin "$A" env SLURM_CONF="$SLURM_CONF" scancel "${LJ[@]}"
job_over() { s=$(job_state "$1"); [ -z "$s" ] || { [ "$s" != RUNNING ] && [ "$s" != COMPLETING ]; }; }
lx_over() { job_over "${LJ[0]}" && job_over "${LJ[1]}"; }
wait_for 30 lx_over && ok "... the jobs end" || not_ok "... the jobs end" "$(squeue -h -u "$A" 2>&1)"

# --open from the login namespace, in a terminal (script's pty): the job deploys on a node Slurm
# picks and the shell opens in that container, through srun --pty; what is typed runs there
mkdir -p "$PA_HOME/workspace/lo" && echo "lo-workspace" >"$PA_HOME/workspace/lo/marker" &&
	chown -R "$A:" "$PA_HOME/workspace/lo" || fail "cannot seed lo's workspace"
OPENLO=$(SOCK=$NOSOCK as_user_cmdline "$A" env DS01_CLUSTER_SLURM_CONF="$SLURM_CONF" container-deploy lo --gpus 1 --open)
capture bash -c "{ sleep 1; printf '%s\n' 'cat /workspace/marker; [ -t 0 ] && echo open-\$((6 * 7))-ok; exit 4'; } |
	nsenter --net=/run/netns/$NS_L script -qec $(printf %q "$OPENLO") /dev/null"
assert_contains "$OUT" "slurm job: " "container-deploy lo --gpus 1 --open from the login namespace submits a job: $ERR"
assert_contains "$OUT" "open-42-ok" "... and opens a shell with a terminal in lo's container"
assert_contains "$OUT" "lo-workspace" "... whose /workspace is lo's"
assert_eq 4 "$RC" "... and the shell's exit status comes back"
assert_exit 0 -m "container-retire lo from the login namespace" onlogin "$A" container-retire lo

# C's 1-minute cap: the step's own clock stops the container with its grace (the job from the
# login node has no --signal) and the job completes before Slurm's time limit
HC=$(getent passwd "$C" | cut -d: -f6)
SAVER='trap "sleep 1; echo saved > /workspace/ckpt; exit 0" TERM; while :; do sleep 1; done'
T_C=$(now_ms)
capture onlogin "$C" container-deploy sc --gpus 1 -- sh -c "$SAVER"
assert_eq 0 "$RC" "C's container-deploy sc from the login namespace: $ERR"
JCS=$(job_id_of "$OUT")
assert_eq "1:00|$C" "$(squeue -h -j "$JCS" -o '%l|%u' 2>/dev/null)" "... its job's time limit is C's 1-minute cap"
saved() { [ "$(cat "$HC/workspace/sc/ckpt" 2>/dev/null)" = saved ]; }
wait_for 50 saved
E_C=$((($(now_ms) - T_C) / 1000))
if saved && [ "$E_C" -lt 58 ]; then
	ok "... the step stopped it with its grace ${E_C} s after the deploy, before the 60 s limit (its TERM trap wrote ckpt)"
else
	not_ok "... stopped with its grace before the 60 s limit" "after $E_C s: $(cat "$HC"/.ds01/slurm/sc-*.out 2>&1)"
fi
assert_contains "$(cat "$HC"/.ds01/slurm/sc-"$JCS".out 2>/dev/null)" "time limit is near" "... the step says why"
jc_done() { scontrol show job "$JCS" 2>/dev/null | grep -q 'JobState=COMPLETED'; }
wait_for 20 jc_done && ok "... and the job completed (not TIMEOUT)" || not_ok "... the job completed" "$(scontrol show job "$JCS" 2>&1 | grep -o 'JobState=[A-Z]*')"

# --- node 2 lost -----------------------------------------------------------------------------------
kill -KILL "$(cat "$SL/slurmd-$N2.pid")"
for j in jb jd; do kill -KILL $(cat "$SL/jobs/$j.pid") 2>/dev/null; done
scontrol update nodename="$N2" state=down reason=test || fail "cannot mark $N2 down"
job_ended() { s=$(job_state "$1"); [ -z "$s" ] || { [ "$s" != RUNNING ] && [ "$s" != COMPLETING ]; }; }
wait_for 30 job_ended "$JD" || fail "job $JD on the lost node still $(job_state "$JD")"
assert_match "$(scontrol show job "$JD" 2>/dev/null | grep -o 'JobState=[A-Z_]*')" \
	"JobState=(NODE_FAIL|CANCELLED|FAILED)" "node 2 lost: its jobs end in Slurm"
assert_eq RUNNING "$(job_state "$JA")" "... node 1's job runs on"
assert_eq running "$(dstate "pa._.$A")" "... and its container too"
capture onlogin "$A" container-list --json
assert_eq 0 "$RC" "container-list from the login namespace still works: $ERR"
assert_eq "pa@$N1" "$(nodes_of "$OUT")" "... and lists node 1's container (none of the lost node's jobs runs)"
capture on1 "$A" container-run pa -- cat /etc/hostname
assert_eq 0 "$RC" "container-run pa on node 1 works on: $ERR"
# node 2's ds01d still runs (only its slurmd was lost): its watcher sees job $JD ended in Slurm
pd_gone() { [ -z "$(dstate "pd._.$A")" ]; }
wait_for 30 pd_gone
assert_ok "node 2's ds01d retires the container of its job that Slurm ended (NODE_FAIL)" pd_gone
assert_eq running "$(dstate "pa._.$A")" "... and node 1's container runs on"

ds01_done
