#!/usr/bin/env bash
# A Slurm job's container lives as long as its job (cluster mode, issue 17; docs/cluster-design.md),
# on one node on loopback (a munged of its own, slurmctld and slurmd with their files in $T, gres.conf
# over /dev/fakenvidia$$_0-1, ds01d on the fake NVML with 2 GPUs and the `cluster:` key), as a real
# user whose sbatch job scripts run `container-deploy P --slurm-job $SLURM_JOB_ID` and then sleep
# (they never stop their container themselves: what is tested is ds01d's side).
#  - The container ends first: container-retire ends the job (squeue no longer lists it); a
#    container-stop releases its GPU at once, names the job in its event, ends the job (also one
#    whose script ignores SIGTERM: then `scancel ID` after the owner's grace), container-start
#    of it is refused ("its Slurm job N ended"), and the next job gets both GPUs; a runtime stop
#    (max_runtime_h) and an idle stop (idle_timeout_h) end the job too.
#  - The job ends first: scancel of the job stops the container - its process gets SIGTERM and
#    saves its work (a trap writes the workspace) - and retires it, its GPU released.
#  - ds01d restarted: a container whose job still runs is kept with its lease; one whose job was
#    cancelled while ds01d was down is retired at start-up.
#  - slurmctld down: a running container stays running while the watcher's asks fail (ds01 health
#    says so), a --slurm-job deploy is refused ("cannot ask Slurm about job N"), a container-stop
#    does not hang; once slurmctld is back, the stopped container's job is ended and it is retired.
# ds01-test: kind=functional threads needs=slurm budget=136
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"

slurm_tools slurmctld slurmd scontrol sbatch squeue scancel munge munged
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user A"
HA=$(user_home "$A")

NODE=ds01l$$
trap_extra() { slurm_teardown "$A"; }

# --- Slurm: slurmctld and slurmd on loopback, 2 fake GPUs -----------------------------------------
slurm_setup ds01life
mkdir -p "$SL/jobs" && chmod 1777 "$SL/jobs"
# KillWait=2: `scancel ID` of a job that ignores SIGTERM kills it 2 s later
slurm_one_node "$NODE" 2 KillWait=2
ok "slurmctld and slurmd answer, node $NODE idle with gpu:2"

# --- ds01 on the fake NVML's 2 GPUs, in the cluster; SIGTERM grace 3 s -----------------------------
ds01_write_lifecycle_limits '' 'sigterm_grace_s: 3'
fake_nvml_use
fake_nvml_write "$(fake_nvml_inventory 2)"
fake_nvml_config
slurm_ds01_cluster "$NODE"
ds01_start_daemon

# write_job NAME PROJECT [SCRIPT_PREFIX] [-- CMD]: a job script that deploys PROJECT for its job
# (its answer and exit status in $SL/jobs/NAME.*) and then sleeps; it never stops the container.
# SCRIPT_PREFIX runs first (`trap "" TERM`: the script and its sleep ignore SIGTERM).
write_job() {
	local name=$1 project=$2 prefix=${3:-} cmd=
	shift 3 2>/dev/null || shift $#
	[ "${1:-}" = -- ] && shift && cmd=" -- $(printf '%q ' "$@")"
	cat >"$SL/jobs/$name.sh" <<EOS
#!/bin/bash
$prefix
container-deploy $project --slurm-job "\$SLURM_JOB_ID" --json$cmd >"$SL/jobs/$name.out" 2>"$SL/jobs/$name.err"
echo \$? >"$SL/jobs/$name.rc"
sleep 600
EOS
	chmod 755 "$SL/jobs/$name.sh"
}
submit() { # NAME SBATCH_OPTION...: prints the job id
	local name=$1
	shift
	as_user "$A" env SLURM_CONF="$SLURM_CONF" sbatch --parsable -J "$name" -o /dev/null -D / "$@" "$SL/jobs/$name.sh" | cut -d';' -f1
}
has_rc() { [ -s "$SL/jobs/$1.rc" ]; }
job_listed() { [ -n "$(squeue -h -j "$1" -t R,CG -o %A 2>/dev/null)" ]; }
job_gone() { ! job_listed "$1"; }
# deploy_job NAME PROJECT GRES [SCRIPT_PREFIX] [-- CMD]: submits, waits for the deploy, asserts it
# worked; prints the job id
deploy_job() {
	local name=$1 project=$2 gres=$3 j
	shift 3
	write_job "$name" "$project" "$@"
	j=$(submit "$name" --gres="gpu:$gres")
	[ -n "$j" ] || fail "sbatch of $name failed"
	wait_for 30 has_rc "$name" || fail "job $name ($j) did not run its deploy: $(squeue -h -j "$j" -o %T 2>&1)"
	[ "$(cat "$SL/jobs/$name.rc")" = 0 ] || fail "job $name's deploy failed: $(head -c 400 "$SL/jobs/$name.err")"
	echo "$j"
}
container_gone() { ! docker_exists "$1"; }
slot_free() { [ "$(gpu_lease_state "$(fake_nvml_uuid "$1")")" = free ]; }
ev_job() { printf '.event_type == "%s" and (.details.slurm_job | tostring) == "%s"' "$1" "$2"; }
ev_n() { events_query "$1" | grep -c .; }

# --- the container ends first: container-retire ends the job --------------------------------------
J1=$(deploy_job j1 p1 1)
assert_eq running "$(docker_state "p1._.$A")" "job $J1's container p1 runs"
assert_exit 0 -m "container-retire p1" as_user "$A" container-retire p1
wait_for 20 job_gone "$J1"
assert_ok "... and Slurm no longer runs job $J1 (squeue does not list it)" job_gone "$J1"
assert_ne 0 "$(ev_n "$(ev_job container.remove "$J1")")" "... the retire's event names the job"
assert_ne 0 "$(ev_n "$(ev_job slurm.job_end "$J1") and .details.ok == true")" \
	"... and ds01d's scancel of it is recorded (slurm.job_end)"

# --- the job ends first: scancel stops the container (SIGTERM first) and retires it ---------------
rm -f "$HA/workspace/p2/ckpt"
J2=$(deploy_job j2 p2 1 "" -- sh -c 'trap "sleep 1; echo saved > /workspace/ckpt; exit 0" TERM; while :; do sleep 1; done')
assert_eq running "$(docker_state "p2._.$A")" "job $J2's container p2 runs (a process that saves on SIGTERM)"
G2=$(container_gpus "$A" p2)
scancel "$J2"
wait_for 30 container_gone "p2._.$A"
assert_ok "scancel of job $J2: ds01d stops and retires its container" container_gone "p2._.$A"
assert_eq saved "$(cat "$HA/workspace/p2/ckpt" 2>/dev/null)" "... its process got SIGTERM first and saved its work (the workspace is kept)"
assert_eq "" "$(ledger_sql "SELECT name FROM containers WHERE name = 'p2._.$A'")" "... its ledger row is gone"
assert_eq free "$(gpu_lease_state "$G2")" "... and its GPU is free in ds01"
assert_ne 0 "$(ev_n "$(ev_job container.remove "$J2")")" "... the retire's event names the job"
assert_contains "$(inbox_json "$A")" "its Slurm job $J2 is no longer running" "... and the owner is told why"

# --- container-stop: the GPU at once, the job ended (its script ignores SIGTERM), start refused ---
J3=$(deploy_job j3 p3 1 'trap "" TERM')
G3=$(container_gpus "$A" p3)
capture as_user "$A" container-stop p3
assert_eq 0 "$RC" "container-stop p3 (job $J3, whose script ignores SIGTERM): $ERR"
assert_contains "$OUT" "Slurm job $J3, which ends with it" "... it says the job ends with it"
assert_eq free "$(gpu_lease_state "$G3")" "... its GPU is released at once: no hold for a Slurm job's container"
assert_ne 0 "$(ev_n "$(ev_job container.stopped "$J3")")" "... the stop's event names the job"
capture as_user "$A" container-start p3
assert_ne 0 "$RC" "container-start of the stopped container is refused"
assert_contains "$ERR" "its Slurm job $J3 ended" "... saying its job ended"
assert_contains "$ERR" "deploy again" "... and what to do"
wait_for 40 job_gone "$J3"
assert_ok "... job $J3 ends although its script ignores SIGTERM (scancel after the grace)" job_gone "$J3"
# the script's grace after its SIGTERM is its owner's sigterm_grace_s (3 s here), as the
# container's processes had: the two scancels' events are that far apart
end_at() { events_query "$(ev_job slurm.job_end "$J3") and .details.action == \"$1\"" | head -1 | jq -r '.timestamp | fromdateiso8601'; }
T_TERM=$(end_at sigterm) T_KILL=$(end_at cancel)
[ -n "$T_TERM" ] && [ -n "$T_KILL" ] || fail "job $J3's slurm.job_end events: sigterm at '$T_TERM', cancel at '$T_KILL'"
assert_ok "... scancel ID came the owner's grace (3 s) after the SIGTERM: $((T_KILL - T_TERM)) s" test $((T_KILL - T_TERM)) -ge 3
if strict_timing; then
	assert_ok "... and not much later (it was a fixed 10 s): $((T_KILL - T_TERM)) s" test $((T_KILL - T_TERM)) -le 6
fi
wait_for 20 container_gone "p3._.$A"
assert_ok "... then the stopped container is retired" container_gone "p3._.$A"
J7=$(deploy_job j7 p7 2)
assert_eq 2 "$(container_gpus "$A" p7 | tr ',' '\n' | grep -c .)" "the next job gets both GPUs: none is held by a stopped container"
assert_exit 0 -m "container-retire p7" as_user "$A" container-retire p7
wait_for 20 job_gone "$J7" || fail "job $J7 did not end after its container's retire"

# --- ds01d restarted mid-job ---------------------------------------------------------------------
J5=$(deploy_job j5 p5 1)
J6=$(deploy_job j6 p6 1)
G5=$(container_gpus "$A" p5)
ds01_stop_daemon "ds01d stops while jobs $J5 and $J6 run"
scancel "$J6"
wait_for 20 job_gone "$J6" || fail "job $J6 did not end"
assert_eq running "$(docker_state "p6._.$A")" "job $J6 cancelled while ds01d is down: its container still runs"
ds01_start_daemon
wait_for 20 container_gone "p6._.$A"
assert_ok "at start-up, the container of the job cancelled meanwhile is stopped and retired" container_gone "p6._.$A"
assert_eq running "$(docker_state "p5._.$A")" "... the container whose job still runs is kept"
assert_eq bound "$(gpu_lease_state "$G5")" "... with its GPU lease"
assert_ok "... and its job still runs" job_listed "$J5"

# --- slurmctld down: no news is no news ----------------------------------------------------------
slurm_stop_ctld
note "slurmctld stopped"
capture as_user "$A" container-deploy px --slurm-job "$J5"
assert_ne 0 "$RC" "a --slurm-job deploy while slurmctld is down is refused"
assert_contains "$ERR" "cannot ask Slurm about job $J5" "... saying Slurm cannot be asked"
assert_no_container "px._.$A" "... and nothing is deployed"
health_slurm() { as_root ds01 health --json 2>/dev/null | jq -c '.checks[] | select(.name == "slurm_jobs")'; }
tries_at_least() { health_slurm | jq -e --argjson n "$1" '.ok == false and ((.detail | capture("\\((?<n>[0-9]+) tries\\)").n | tonumber) >= $n)' >/dev/null; }
wait_for 60 tries_at_least 2
assert_ok "ds01 health says Slurm does not answer, after 2 tries" tries_at_least 2
assert_contains "$(health_slurm)" "left as they are" "... and that the containers are left alone"
assert_eq running "$(docker_state "p5._.$A")" "... p5 still runs: 'Slurm does not answer' is no news"
assert_eq bound "$(gpu_lease_state "$G5")" "... and keeps its GPU"
assert_eq 1 "$(grep -c "cannot ask Slurm which jobs run on $NODE" "$DAEMON_LOG")" "... logged once"
T0=$(now_ms)
assert_exit 0 -m "container-stop p5 while slurmctld is down" as_user "$A" container-stop p5
STOP_MS=$(($(now_ms) - T0))
if [ "$STOP_MS" -lt 8000 ]; then ok "... does not wait for Slurm ($STOP_MS ms)"; else not_ok "... does not wait for Slurm" "took $STOP_MS ms"; fi
capture as_user "$A" container-start p5
assert_ne 0 "$RC" "... and container-start of it is refused"
assert_contains "$ERR" "its Slurm job $J5 ended" "... saying so"
slurm_start_ctld
note "slurmctld started again"
wait_for 40 job_gone "$J5"
assert_ok "once slurmctld answers, the stopped container's job $J5 is ended" job_gone "$J5"
wait_for 20 container_gone "p5._.$A"
assert_ok "... and the container is retired" container_gone "p5._.$A"
wait_for 20 eval '[ "$(health_slurm | jq -r .ok)" = true ]'
assert_eq true "$(health_slurm | jq -r .ok)" "... ds01 health is fine again"

# --- a runtime stop ends the job ------------------------------------------------------------------
ds01_write_lifecycle_limits 'max_runtime_h: 0.003' 'sigterm_grace_s: 3'
assert_exit 0 -m "ds01 reload (max_runtime_h 0.003: 10.8 s)" as_root ds01 reload
J4=$(deploy_job j4 p4 1)
wait_for 40 job_gone "$J4"
assert_ok "the runtime stop of job $J4's container ends the job" job_gone "$J4"
assert_ne 0 "$(ev_n "$(ev_job maintenance.runtime_kill "$J4")")" "... the runtime stop's event names the job"
wait_for 20 container_gone "p4._.$A"
assert_ok "... and the container is retired" container_gone "p4._.$A"

# --- an idle stop ends the job (the fake NVML's GPUs are idle; idle_timeout_h 0.003: 11 s) --------
ds01_write_lifecycle_limits 'idle_timeout_h: 0.003' 'sigterm_grace_s: 3'
assert_exit 0 -m "ds01 reload (idle_timeout_h 0.003, no runtime cap)" as_root ds01 reload
J8=$(deploy_job j8 p8 1)
wait_for 60 job_gone "$J8"
assert_ok "the idle stop of job $J8's container ends the job" job_gone "$J8"
assert_ne 0 "$(ev_n "$(ev_job maintenance.idle_kill "$J8")")" "... the idle stop's event names the job"
wait_for 20 container_gone "p8._.$A"
assert_ok "... and the container is retired" container_gone "p8._.$A"

ds01_done
