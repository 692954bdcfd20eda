#!/usr/bin/env bash
# Quota and resource refusals exit 3 and leave nothing behind (no container, no lease):
# slots per container, GPU-equivalents per user (message names the holders), container count,
# and no GPU free (2 simulated GPUs) when another user holds them.
# ds01-test: kind=functional budget=37
DS01_GPUS=2
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

# 1. --gpus 3 > max_gpu_slots_per_container 2
assert_exit 3 -m "A: deploy q3 --gpus 3 exceeds 2 GPUs per container (exit 3)" \
	as_user "$A" container-deploy q3 --gpus 3
assert_eq "container-deploy: a container may have at most 2 GPUs in your group; you asked for 3 - ask for fewer (--gpus 2)" \
	"$ERR" "the message states the per-container limit (2) and the 3 asked for"
assert_eq "" "$OUT" "nothing on stdout"
assert_no_container "q3._.$A" "no container left for q3"
assert_eq 0 "$(usage_gpueq "$A")" "A holds 0 GPU-equivalents after the refusal"

# 2. 2.0 GPU-equivalents in use -> a third GPU is refused, naming the holders
assert_exit 0 -m "A: deploy qa (1 GPU)" as_user "$A" container-deploy qa
assert_exit 0 -m "A: deploy qb (1 GPU)" as_user "$A" container-deploy qb
assert_eq 2 "$(usage_gpueq "$A")" "A holds 2 GPU-equivalents"
assert_exit 3 -m "A: deploy qc beyond 2.0 GPU-equivalents (exit 3)" as_user "$A" container-deploy qc
assert_eq "container-deploy: GPU quota reached: 2.0 of 2.0 GPU-equivalents in use by 'qa' (1.0), 'qb' (1.0) - retire one (container-retire NAME), or ask for fewer GPUs" \
	"$ERR" "the message is the GPU quota (2.0 of 2.0) and names the holders qa and qb"
assert_no_container "qc._.$A" "no container left for qc"
assert_event gpu.reject "$A"

# 3. no GPU free: A holds both GPUs, B asks for one
assert_exit 3 -m "B: deploy qd while A holds every GPU (exit 3)" as_user "$B" container-deploy qd
assert_eq "container-deploy: no GPU free: 2 of 2 GPUs are leased - add --wait to wait in the queue for it, or deploy with --cpu-only" \
	"$ERR" "the message says no GPU is free (2 of 2 leased)"
assert_no_container "qd._.$B" "no container left for qd"
assert_eq 0 "$(usage_gpueq "$B")" "B holds nothing after the refusal"

# the refusals leaked nothing: a freed GPU goes to B
assert_exit 0 -m "A: retire qa" as_user "$A" container-retire qa
assert_exit 0 -m "B: deploy qd now that a GPU is free" as_user "$B" container-deploy qd
assert_eq 1 "$(usage_gpueq "$B")" "B holds 1 GPU-equivalent"
assert_ne "$(container_gpus "$A" qb)" "$(container_gpus "$B" qd)" "A's and B's containers have different GPUs"

# 4. container count: B has qd, two CPU-only ones make 3, a fourth is refused
assert_exit 0 -m "B: deploy c1 --cpu-only" as_user "$B" container-deploy c1 --cpu-only
assert_exit 0 -m "B: deploy c2 --cpu-only" as_user "$B" container-deploy c2 --cpu-only
assert_exit 3 -m "B: 4th container c3 --cpu-only exceeds max_containers_per_user 3 (exit 3)" \
	as_user "$B" container-deploy c3 --cpu-only
# (the list is in creation order; containers created within the same second go by name)
assert_eq "container-deploy: container limit reached: 3 of 3 containers in use (LIST) - retire one (container-retire NAME) first" \
	"$(sed -E "s/\(('[a-z0-9]+'(, )?)+\)/(LIST)/" <<<"$ERR")" "the message is the container limit (3 of 3)"
assert_eq "'c1' 'c2' 'qd'" "$(grep -oE "'[a-z0-9]+'" <<<"$ERR" | sort | paste -sd' ')" \
	"...and names B's three containers"
assert_no_container "c3._.$B" "no container left for c3"
capture as_user "$B" check-limits --json
assert_jq "check-limits B: 3 containers, 1.0 gpueq, group student" \
	'.usage.containers == 3 and .usage.gpu_equivalents == 1 and .group == "student"' "$OUT"
assert_jq "check-limits B: limits reported" \
	'.limits.max_gpu_equivalents == 2 and .limits.max_containers_per_user == 3 and .limits.max_gpu_slots_per_container == 2' "$OUT"

# 5. after everything is retired, one deploy can take both GPUs: no lease leaked
for x in "$A qb" "$B qd" "$B c1" "$B c2"; do
	set -- $x
	assert_exit 0 -m "$1: retire $2" as_user "$1" container-retire "$2"
done
assert_instance_empty "all containers gone"
assert_exit 0 -m "A: deploy qz --gpus 2 (all GPUs: nothing leaked)" as_user "$A" container-deploy qz --gpus 2
assert_eq 2 "$(container_entry "$A" qz | jq '.gpus | length')" "qz has both GPUs"
assert_exit 0 -m "A: retire qz" as_user "$A" container-retire qz

# 6. races: concurrent deploys never over-allocate
# par_deploy USER PROJECT ARGS...: a deploy in the background; rc in $T/rc.PROJECT
PIDS=()
par_deploy() {
	local u=$1 p=$2
	shift 2
	( as_user "$u" container-deploy "$p" "$@" >"$T/out.$p" 2>&1; echo $? >"$T/rc.$p" ) &
	PIDS+=($!)
}
par_wait() { local pid; for pid in "${PIDS[@]}"; do wait "$pid"; done; PIDS=(); }
count_rc() { # CODE PROJECTS...
	local c=$1 n=0 p
	shift
	for p in "$@"; do [ "$(cat "$T/rc.$p" 2>/dev/null)" = "$c" ] && n=$((n + 1)); done
	echo "$n"
}
for p in ra1 ra2 ra3 rb1 rb2 rb3; do
	case $p in ra*) par_deploy "$A" "$p" ;; *) par_deploy "$B" "$p" ;; esac
done
par_wait
assert_eq 2 "$(count_rc 0 ra1 ra2 ra3 rb1 rb2 rb3)" "6 concurrent 1-GPU deploys on 2 GPUs: exactly 2 succeed"
assert_eq 4 "$(count_rc 3 ra1 ra2 ra3 rb1 rb2 rb3)" "the other 4 exit 3"
assert_eq 2 "$(instance_container_count)" "exactly 2 containers exist"
U=$( { container_gpus "$A" ra1; container_gpus "$A" ra2; container_gpus "$A" ra3
	container_gpus "$B" rb1; container_gpus "$B" rb2; container_gpus "$B" rb3; } | grep . | sort)
assert_eq 2 "$(printf '%s\n' "$U" | grep -c .)" "2 leases in the lists"
assert_eq 2 "$(printf '%s\n' "$U" | sort -u | grep -c .)" "the 2 leases are on distinct GPUs"
for p in ra1 ra2 ra3; do as_user "$A" container-retire "$p" >/dev/null 2>&1; done
for p in rb1 rb2 rb3; do as_user "$B" container-retire "$p" >/dev/null 2>&1; done
assert_instance_empty "race containers retired"
assert_eq 0 "$(usage_gpueq "$A")" "A holds nothing after the race"
assert_eq 0 "$(usage_gpueq "$B")" "B holds nothing after the race"

for p in rc1 rc2 rc3 rc4 rc5 rc6; do par_deploy "$A" "$p" --cpu-only; done
par_wait
assert_eq 3 "$(count_rc 0 rc1 rc2 rc3 rc4 rc5 rc6)" "6 concurrent --cpu-only deploys: exactly 3 (the container limit) succeed"
assert_eq 3 "$(instance_container_count)" "exactly 3 containers exist"
for p in rc1 rc2 rc3 rc4 rc5 rc6; do as_user "$A" container-retire "$p" >/dev/null 2>&1; done
assert_instance_empty "nothing left in Docker"
ds01_done
