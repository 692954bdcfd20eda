#!/usr/bin/env bash
# Allocation under a storm (issue #3): 20 real users issue 200 deploys at once (10 each, all in
# the background) against 8 simulated GPUs with max_gpu_equivalents 1.0 and
# max_containers_per_user 3. Afterwards: no slot leased twice (ledger, and every container's
# label ds01.gpu.uuids and NVIDIA_VISIBLE_DEVICES pairwise disjoint), no user over 1.0,
# exactly 8 GPUs leased by 8 successful deploys, every failure exits 3 (or 1 with a clear
# "try again" message); retiring everything frees all 8 GPUs and leaves Docker empty.
# Most attempts fail fast (quota / no GPU free / no MIG slice) so this stays quick.
# Under a sanitizer the storm is a quarter of that (stress_count): 5 users, 50 deploys, 2 GPUs,
# still more users than GPUs.
# ds01-test: kind=stress threads needs=cpu budget=41
. "$(dirname "$0")/lib.sh"
NUSERS=$(stress_count 20)
NGPUS=$((NUSERS * 2 / 5))
NDEPLOYS=$((NUSERS * 10))
DS01_GPUS=$NGPUS
ds01_setup
cat >"$DS01_LIMITS" <<'EOF2'
defaults:
  max_gpu_equivalents: 1.0
  max_gpu_slots_per_container: 1
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
    max_gpu_equivalents: 1.0
    max_containers_per_user: 3
EOF2
ds01_start_daemon

USERS=()
for i in $(seq 1 "$NUSERS"); do
	USERS+=("$(ds01_user "it$$u$i")") || fail "cannot create user $i"
done
ALL=$(gpus_json | jq -r '[.slots[] | select(.allocatable) | .uuid] | sort | join(" ")')
assert_eq "$NGPUS" "$(echo $ALL | wc -w)" "$NGPUS allocatable GPUs"

# 10 attempts per user: 8 x 1 GPU (at most one can win: quota 1.0), 1 x --gpus 2 (over
# quota and over the 1-slot limit), 1 x --mig 1g (no MIG slices on this server).
mkdir -p "$T/storm"
t0=$(date +%s%N)
PIDS=()
for u in "${USERS[@]}"; do
	for k in 0 1 2 3 4 5 6 7 8 9; do
		case $k in
		8) args=(--gpus 2) ;;
		9) args=(--mig 1g) ;;
		*) args=() ;;
		esac
		(
			as_user "$u" container-deploy "s$k" "${args[@]}" >"$T/storm/$u.s$k.out" 2>"$T/storm/$u.s$k.err"
			echo $? >"$T/storm/$u.s$k.rc"
		) &
		PIDS+=($!)
	done
done
for p in "${PIDS[@]}"; do wait "$p"; done
note "$NDEPLOYS deploys took $((($(date +%s%N) - t0) / 1000000)) ms"
ds01_daemon_alive && ok "ds01d survived the storm" || fail "ds01d died during the storm"

# ---- exit codes
n0=0 n3=0 nretry=0 nbad=0 bad=
for f in "$T"/storm/*.rc; do
	b=${f%.rc}
	rc=$(cat "$f")
	case $rc in
	0) n0=$((n0 + 1)) ;;
	3) n3=$((n3 + 1)) ;;
	1)
		if grep -Eqi 'in progress|try again' "$b.err"; then nretry=$((nretry + 1)); else
			nbad=$((nbad + 1)); bad="$bad
${b##*/}: rc 1: $(head -c 300 "$b.err")"; fi ;;
	*)
		nbad=$((nbad + 1))
		bad="$bad
${b##*/}: rc $rc: $(head -c 300 "$b.err")" ;;
	esac
done
note "exit 0: $n0, exit 3: $n3, exit 1 (retry): $nretry, other: $nbad"
assert_eq "$NDEPLOYS" "$((n0 + n3 + nretry + nbad))" "$NDEPLOYS results collected"
assert_eq 0 "$nbad" "every failure exits 3 (or 1 with a 'try again' message)${bad:+:$bad}"
assert_eq "$NGPUS" "$n0" "exactly $NGPUS deploys succeeded ($NGPUS GPUs, 1.0 quota each)"
for k in 8 9; do
	n=$(cat "$T"/storm/*.s$k.rc | grep -vc '^3$')
	assert_eq 0 "$n" "every s$k attempt (over quota / no MIG) exits 3"
done
f=$(grep -l '' "$T"/storm/*.s9.err | head -n 1)
assert_match "$(cat "$f")" 'MIG|1g' "--mig 1g refusal says why ($(head -c 120 "$f"))"

# ---- the ledger
assert_eq "" "$(ledger_sql 'SELECT slot_uuid, count(*) FROM leases GROUP BY slot_uuid HAVING count(*) > 1')" \
	"ledger: no slot leased twice"
assert_eq "" "$(ledger_sql 'SELECT uid, sum(weight) FROM leases GROUP BY uid HAVING sum(weight) > 1.0001')" \
	"ledger: no uid above 1.0 GPU-equivalents"
assert_eq "$NGPUS" "$(ledger_sql 'SELECT count(*) FROM leases')" "ledger: $NGPUS leases"
assert_eq "$NGPUS" "$(ledger_sql "SELECT count(*) FROM leases WHERE state = 'bound'")" "ledger: all $NGPUS bound"
assert_eq "$NGPUS" "$(ledger_sql 'SELECT count(DISTINCT uid) FROM leases')" "ledger: $NGPUS different users hold them"
assert_eq 0 "$(ledger_sql "SELECT count(*) FROM containers WHERE state = 'reserved'")" "ledger: no reservation left"
assert_eq "$NGPUS" "$(gpus_leased_count)" "ds01 gpus: $NGPUS of $NGPUS GPUs leased"

# ---- Docker: labels and env pairwise disjoint
IDS=$(instance_containers)
assert_eq "$NGPUS" "$(printf '%s\n' "$IDS" | grep -c .)" "Docker: $NGPUS containers of this instance"
: >"$T/uuids.label"
: >"$T/uuids.env"
mismatch=
for id in $IDS; do
	J=$(docker_json "$id")
	lab=$(jqr '.Config.Labels["ds01.gpu.uuids"] // ""' "$J")
	env=$(jqr '[.Config.Env[] | select(startswith("NVIDIA_VISIBLE_DEVICES=")) | sub("^NVIDIA_VISIBLE_DEVICES="; "")] | join(",")' "$J")
	st=$(jqr '.State.Status' "$J")
	[ "$st" = running ] || mismatch="$mismatch $(jqr .Name "$J"):$st"
	[ "$lab" = "$env" ] || mismatch="$mismatch $(jqr .Name "$J"):label=$lab,env=$env"
	printf '%s\n' "$lab" | tr ',' '\n' | grep . >>"$T/uuids.label"
	printf '%s\n' "$env" | tr ',' '\n' | grep . >>"$T/uuids.env"
done
assert_eq "" "$mismatch" "every container runs and its label equals its NVIDIA_VISIBLE_DEVICES"
assert_eq "$NGPUS" "$(sort -u "$T/uuids.label" | grep -c .)" "$NGPUS distinct GPUs in the labels"
assert_eq "" "$(sort "$T/uuids.label" | uniq -d)" "labels pairwise disjoint"
assert_eq "" "$(sort "$T/uuids.env" | uniq -d)" "NVIDIA_VISIBLE_DEVICES pairwise disjoint"
assert_eq "$ALL" "$(sort -u "$T/uuids.label" | tr '\n' ' ' | sed 's/ $//')" "the $NGPUS labels are exactly the $NGPUS GPUs"
LEDGER_UUIDS=$(ledger_sql 'SELECT slot_uuid FROM leases ORDER BY slot_uuid' | tr '\n' ' ' | sed 's/ $//')
assert_eq "$ALL" "$LEDGER_UUIDS" "ledger leases = the $NGPUS GPUs"

# ---- per user: at most 1.0, and what the CLI reports matches (all users ask at once)
mkdir -p "$T/per"
PIDS=()
for u in "${USERS[@]}"; do
	(
		usage_gpueq "$u" >"$T/per/$u.q"
		as_user "$u" container-list --json >"$T/per/$u.list"
	) &
	PIDS+=($!)
done
for p in "${PIDS[@]}"; do wait "$p"; done
over=""
winners=()
for u in "${USERS[@]}"; do
	q=$(cat "$T/per/$u.q")
	awk -v q="$q" 'BEGIN { exit !(q ~ /^[0-9]+(\.[0-9]+)?$/ && q + 0 <= 1.0001) }' || over="$over $u:gpueq='$q'"
	n=$(jq '.containers | length' "$T/per/$u.list")
	[ "$n" -le 1 ] || over="$over $u:${n:-no-list}containers"
	[ "${n:-0}" -ge 1 ] && winners+=("$u")
done
assert_eq "" "$over" "no user above 1.0 GPU-equivalents or with more than 1 container (check-limits, container-list)"
assert_eq "$NGPUS" "${#winners[@]}" "$NGPUS users have a container"

# ---- retire everything (in parallel, as a storm too)
PIDS=()
for u in "${winners[@]}"; do
	for p in $(jq -r '.containers[].project' "$T/per/$u.list"); do
		( as_user "$u" container-retire "$p" >"$T/storm/$u.$p.retire" 2>&1; echo $? >>"$T/storm/$u.$p.retire" ) &
		PIDS+=($!)
	done
done
for p in "${PIDS[@]}"; do wait "$p"; done
assert_eq "$NGPUS" "$(cat "$T"/storm/*.retire | grep -c '^0$')" "$NGPUS retires exit 0"
assert_eq 0 "$(gpus_leased_count)" "all $NGPUS GPUs free"
assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM leases')" "ledger: no lease"
assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM containers')" "ledger: no container"
assert_instance_empty "Docker has no container of this instance"

# ---- one user, one project, 8 deploys at once: one container, one lease
U1=${USERS[0]}
PIDS=()
for k in 1 2 3 4 5 6 7 8; do
	( as_user "$U1" container-deploy same >"$T/storm/same.$k.out" 2>"$T/storm/same.$k.err"; echo $? >"$T/storm/same.$k.rc" ) &
	PIDS+=($!)
done
for p in "${PIDS[@]}"; do wait "$p"; done
RCS=$(cat "$T"/storm/same.*.rc | sort | uniq -c | tr '\n' ' ')
note "same-project deploys: $RCS"
bad=
for k in 1 2 3 4 5 6 7 8; do
	rc=$(cat "$T/storm/same.$k.rc")
	case $rc in
	0 | 3) ;;
	1) grep -Eqi 'in progress|try again|exists' "$T/storm/same.$k.err" || bad="$bad [$k rc 1: $(head -c 200 "$T/storm/same.$k.err")]" ;;
	*) bad="$bad [$k rc $rc: $(head -c 200 "$T/storm/same.$k.err")]" ;;
	esac
done
assert_eq "" "$bad" "same-project racers exit 0, 3, or 1 with a clear message"
grep -qx 0 "$T"/storm/same.*.rc && ok "one same-project deploy succeeded" || not_ok "one same-project deploy succeeded" "$RCS"
assert_eq 1 "$(instance_container_count)" "exactly one container for the project"
assert_eq 1 "$(ledger_sql 'SELECT count(*) FROM leases')" "exactly one lease"
assert_eq 1 "$(usage_gpueq "$U1")" "the user holds 1.0"
assert_exit 0 -m "retire same" as_user "$U1" container-retire same
assert_eq 0 "$(gpus_leased_count)" "all GPUs free again"
assert_instance_empty "Docker empty at the end"
ds01_done
