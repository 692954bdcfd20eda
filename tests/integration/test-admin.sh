#!/usr/bin/env bash
# container-stats and the administrators' commands (issue #6), against real containers, real
# users and the fake NVML (sample_interval_s 1):
#  - container-stats: a user sees only their own containers, with CPU % (a busy loop shows
#    > 10 %), memory used and the group's memory limit, pids, GPU utilisation and memory per
#    leased GPU as NVML reports them, idle time and time left; another user's NAME is "not
#    found" (4), --all is for administrators (5), root --all sees everyone; --watch redraws
#    until stopped; the table names the projects;
#  - ds01 status: administrators only; one row per slot with owner, container, utilisation and
#    idle time; totals; warnings for a GPU held by a stopped container and a GPU held idle;
#  - ds01 users: each user's group, limits, usage and GPU-hours this month, a members-file
#    user without an account;
#  - ds01 health: every check passes; a broken limits file fails the config check (exit 1);
#  - ds01 reload: refuses the broken file with file:line and keeps the running limits; after
#    the fix it applies the new limits (check-limits shows them).
# ds01-test: kind=functional needs=cpu budget=30
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
# B's idle timeout: status warns at half of it that B's GPU is held idle. 21.6 s (the warning at
# 10.8 s) leaves the status checks below, which need B's container running, half of it; the
# sanitizer passes run slower and get 43.2 s.
if strict_timing; then B_IDLE_H=0.006; else B_IDLE_H=0.012; fi
LIB=$(fake_nvml_lib) || skip_test "fake NVML not built"
[ -n "$LIB" ] || skip_test "fake NVML not built"
export FAKE_NVML_FILE=$T/fake-nvml.json

G=(GPU-00000000-0000-4000-8000-0000000000b0 GPU-00000000-0000-4000-8000-0000000000b1
	GPU-00000000-0000-4000-8000-0000000000b2 GPU-00000000-0000-4000-8000-0000000000b3)
# nvml_util UUID PCT: every GPU at 0 % with 1 GiB used of 40 GiB, UUID at PCT % with 5 GiB
# (the fake counts memory used from its processes).
nvml_util() {
	local i out='{"driver_version": "550.54.15", "gpus": ['
	for i in 0 1 2 3; do
		local u=0 used=1024
		[ "${G[$i]}" = "$1" ] && u=$2 used=5120
		[ "$i" -gt 0 ] && out+=','
		out+="{\"uuid\": \"${G[$i]}\", \"minor\": $i, \"pci_bus_id\": \"00000000:0$i:00.0\","
		out+=" \"memory_mib\": 40960, \"processes\": [{\"pid\": 999999, \"used_memory_mib\": $used}],"
		out+=" \"utilization\": {\"gpu\": $u, \"memory\": 0}}"
	done
	printf '%s]}' "$out"
}
fake_nvml_write "$(nvml_util none 0)"
ds01_write_gpu_config "  backend: nvml
  nvml_library: $LIB
  docker_devices: env"

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
ds01_write_lifecycle_limits 'max_cpus: 1'
GHOST=nobody$$x
mkdir -p "$T/etc/groups"
printf '# listed, no account\n%s\n' "$GHOST" >"$T/etc/groups/student.members"
cat >>"$DS01_LIMITS" <<EOF2
user_overrides:
  $B:
    idle_timeout_h: $B_IDLE_H
EOF2
ds01_start_daemon

# ---- containers: A has a busy CPU-only one and a 1-GPU one; B a 1-GPU one
assert_exit 0 -m "A: deploy busy (a CPU busy loop)" as_user "$A" container-deploy busy --cpu-only -- sh -c 'while :; do :; done'
assert_exit 0 -m "A: deploy train (1 GPU)" as_user "$A" container-deploy train --gpus 1
assert_exit 0 -m "B: deploy idle (1 GPU)" as_user "$B" container-deploy idle --gpus 1
UA=$(container_gpus "$A" train)
UB=$(container_gpus "$B" idle)
case " ${G[*]} " in *" $UA "*) ok "train has a GPU of the fake ($UA)" ;; *) fail "train has no GPU of the fake ('$UA')" ;; esac
fake_nvml_write "$(nvml_util "$UA" 87)"
# Wait for a tick that read the new utilisation, and for busy's CPU rate (its second sample).
sampled() {
	as_user "$A" container-stats --json | jq -e '[.containers[] | select(.project == "train")
		| .stats.gpus[0].util_pct == 87] == [true] and
		[.containers[] | select(.project == "busy") | .stats.cpu_pct | type] == ["number"]'
}
wait_for 15 sampled || not_ok "a tick measured train's 87 % and busy's CPU within 15 s" \
	"$(as_user "$A" container-stats --json 2>&1 | head -c 2000)"

# ---- container-stats
assert_exit 0 -m "A: container-stats --json" as_user "$A" container-stats --json
S=$OUT
assert_eq "busy,train" "$(jqr '[.containers[].project] | sort | join(",")' "$S")" "A sees exactly their own two containers"
assert_jq "busy: CPU above 10 % (a busy loop; the machine may be loaded)" '.containers[] | select(.project == "busy") | .stats.cpu_pct > 10' "$S"
assert_jq "busy: memory used > 0, limit = the group's 256m" '.containers[] | select(.project == "busy") | .stats.mem_used_bytes > 0 and .stats.mem_limit_bytes == 268435456' "$S"
assert_jq "busy: pids >= 2 (init and sh)" '.containers[] | select(.project == "busy") | .stats.pids >= 2' "$S"
assert_jq "train: GPU utilisation 87 % and 5 GiB used, as NVML says" '.containers[] | select(.project == "train") | .stats.gpus == [{"uuid": "'"$UA"'", "util_pct": 87, "mem_used_bytes": 5368709120, "mem_total_bytes": 42949672960}]' "$S"
assert_jq "train: idle clock and runtime present" '.containers[] | select(.project == "train") | (.idle_s | type) == "number" and has("runtime_s")' "$S"
assert_jq "network rates are numbers" '[.containers[].stats.net_rx_bps | type] | all(. == "number")' "$S"

assert_exit 0 -m "A: container-stats train --json" as_user "$A" container-stats train --json
assert_eq "train" "$(jqr '[.containers[].project] | join(",")' "$OUT")" "container-stats NAME shows that one"
assert_exit 4 -m "A: container-stats of B's container is not found" as_user "$A" container-stats "idle._.$B"
assert_contains "$ERR" "no container" "the refusal says not found"
assert_exit 5 -m "A: container-stats --all is refused" as_user "$A" container-stats --all
assert_exit 0 -m "root: container-stats --all --json" as_root ds01 container-stats --all --json
assert_eq 3 "$(jqr '.containers | length' "$OUT")" "root sees all three containers"
assert_exit 0 -m "A: container-stats (table)" as_user "$A" container-stats
assert_contains "$OUT" "CPU" "the table has a CPU column"
assert_contains "$OUT" "87.0%" "the table shows train's GPU utilisation"
assert_contains "$OUT" "busy" "the table names busy"
# --watch redraws until stopped: 3 frames at --interval 0.5, then Ctrl-C (SIGINT) ends it with
# exit 0. The signal is sent once the frames are there: a loaded machine may take seconds to
# start the CLI, and a SIGINT before its handler is in place would find it ignored (a
# background job's), leaving nothing to stop it.
as_user_bg "$A" container-stats --json --interval 0.5 >"$T/watch.out" 2>"$T/watch.err"
WPID=$! # the CLI itself (as_user_bg execs it)
frames() { grep -c '"containers"' "$T/watch.out"; }
three_frames() { [ "$(frames)" -ge 3 ]; }
W0=$(now_ms)
wait_for 60 three_frames && ok "--interval 0.5 printed $(frames) frames ($(($(now_ms) - W0)) ms)" ||
	not_ok "--watch printed 3 frames within 60 s" "$(frames) frames: $(head -c 300 "$T/watch.err")"
if strict_timing; then
	F1=$(frames)
	sleep 2
	F2=$(frames)
	[ $((F2 - F1)) -ge 3 ] && ok "--interval 0.5: $((F2 - F1)) frames in the next 2 s" ||
		not_ok "--interval 0.5: at least 3 frames in 2 s" "$((F2 - F1))"
fi
kill -INT "$WPID" 2>/dev/null
gone() { ! kill -0 "$WPID" 2>/dev/null; }
wait_for 10 gone || { kill -KILL "$WPID" 2>/dev/null; not_ok "--watch stops on Ctrl-C (SIGINT)" "still running 10 s later"; }
wait "$WPID"
assert_eq 0 "$?" "--watch exits 0 on Ctrl-C"
assert_exit 2 -m "container-stats --interval 0 is a usage error" as_user "$A" container-stats --interval 0

# ---- ds01 status
assert_exit 5 -m "A: ds01 status is for administrators" as_user "$A" ds01 status
assert_exit 0 -m "root: ds01 status --json" as_root ds01 status --json
ST=$OUT
assert_eq 4 "$(jqr '.totals.slots' "$ST")" "status: 4 slots"
assert_eq 2 "$(jqr '.totals.leased' "$ST")" "status: 2 leased"
assert_jq "status: train's slot shows A, 87 % and an idle time" '.slots[] | select(.uuid == "'"$UA"'") | .lease.user == "'"$A"'" and .lease.project == "train" and .util_pct == 87 and (.idle_s | type) == "number"' "$ST"
assert_jq "status: totals count 3 running containers and 2 users" '.totals.containers_running == 3 and .totals.users == 2' "$ST"
# B's container stays idle (0 % GPU, no CPU): held idle after half its timeout
idle_warned() { as_root ds01 status --json | jq -e --arg c "idle._.$B" '.warnings[] | select(.kind == "gpu_idle" and .container == $c)'; }
if wait_for 45 idle_warned; then
	ok "status warns that idle._.$B holds its GPU idle"
else
	fail "no gpu_idle warning for idle._.$B: $(as_root ds01 status --json | jq -c .warnings)"
fi
assert_exit 0 -m "A: stop train (its GPU is held)" as_user "$A" container-stop train
assert_exit 0 -m "root: ds01 status" as_root ds01 status
assert_contains "$OUT" "held for the stopped container train._.$A" "the table warns about the held GPU"
assert_contains "$OUT" "GPU slots leased" "the table has totals"
assert_exit 0 as_root ds01 status --json
assert_jq "status --json: one held slot" '.totals.held == 1' "$OUT"

# ---- ds01 users
assert_exit 5 -m "A: ds01 users is for administrators" as_user "$A" ds01 users
assert_exit 0 -m "root: ds01 users --json" as_root ds01 users --json
U=$OUT
assert_jq "users: A in group student, 1 GPU-equivalent in use, 2 containers" '.users[] | select(.user == "'"$A"'") | .group == "student" and .usage.gpu_equivalents == 1 and .usage.containers == 2' "$U"
assert_jq "users: B's override (idle_timeout_h $B_IDLE_H)" '.users[] | select(.user == "'"$B"'") | .overridden == true and .limits.idle_timeout_h == '"$B_IDLE_H" "$U"
assert_jq "users: A's GPU-hours this month (train's lease) are counted" '.users[] | select(.user == "'"$A"'") | .this_month.gpu_hours_allocated > 0' "$U"
assert_jq "users: the members-file user without an account is listed" '.users[] | select(.user == "'"$GHOST"'") | .note == "no account on this machine"' "$U"
assert_exit 0 -m "root: ds01 users A" as_root ds01 users "$A"
assert_contains "$OUT" "$A" "ds01 users A shows A"
assert_not_contains "$OUT" "$B" "ds01 users A shows only A"
assert_exit 4 -m "root: ds01 users of an unknown name" as_root ds01 users "nosuch$$"

# ---- ds01 health and reload
assert_exit 0 -m "root: ds01 health passes" as_root ds01 health
for c in docker docker_events nvml ledger config disk_state disk_log monitor; do
	assert_match "$OUT" "^ok +$c " "health reports $c, ok"
done
assert_exit 0 as_root ds01 health --json
assert_jq "health --json: ok and every check ok" '.ok == true and ([.checks[].ok] | all)' "$OUT"
assert_exit 5 -m "A: ds01 health is for administrators" as_user "$A" ds01 health
cp "$DS01_LIMITS" "$T/limits.good"
printf 'defaults:\n  max_containers_per_user: lots\n' >"$DS01_LIMITS"
assert_exit 1 -m "health fails with a broken limits file" as_root ds01 health
assert_match "$OUT" 'FAIL +config .*resource-limits.yaml:2' "the config check names file:line"
assert_exit 1 -m "reload refuses the broken file" as_root ds01 reload
assert_contains "$ERR" "resource-limits.yaml:2" "reload's error names file:line"
assert_exit 0 as_user "$A" check-limits --json
assert_jq "the running limits stay (max 3 containers)" '.limits.max_containers_per_user == 3' "$OUT"
sed 's/max_containers_per_user: 3/max_containers_per_user: 5/' "$T/limits.good" >"$DS01_LIMITS"
assert_exit 0 -m "reload applies the fixed file" as_root ds01 reload
assert_contains "$OUT" "reloaded" "reload says what it read"
assert_exit 0 as_user "$A" check-limits --json
assert_jq "the new limit is in force (max 5 containers)" '.limits.max_containers_per_user == 5' "$OUT"
assert_exit 0 -m "health passes again" as_root ds01 health
assert_exit 5 -m "A: ds01 reload is for administrators" as_user "$A" ds01 reload
assert_event config.reload root

ds01_done
