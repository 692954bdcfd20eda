#!/usr/bin/env bash
# The GPU queue under a storm (issue 16): 12 users send 48 `container-deploy --wait` at once at
# 4 simulated GPUs, with a quota of 1 GPU each. Every request is deployed, queued, or refused at
# once for the quota (exit 3); no slot is leased twice and nobody holds more than the quota;
# when the 4 running containers are retired, 4 waiting requests are granted, again on distinct
# GPUs, and the queue shrinks by exactly those. (ASan: a quarter of the users, 2 GPUs.)
# ds01-test: kind=stress threads budget=31
. "$(dirname "$0")/lib.sh"
NUSERS=$(stress_count 12)
NG=$((NUSERS > 5 ? 4 : NUSERS - 1)) # fewer GPUs than users: someone always waits
DS01_GPUS=$NG
DS01_CONFIG_EXTRA='queue:
  pass_interval_s: 1'
ds01_setup
cat >"$DS01_LIMITS" <<'EOF2'
defaults:
  max_gpu_equivalents: 1.0
  max_gpu_slots_per_container: 1
  max_cpus: 1
  memory: 256m
  memory_swap: 256m
  pids_limit: 256
  max_containers_per_user: 4
default_group: student
groups:
  student: {}
EOF2
ds01_start_daemon
USERS=()
for i in $(seq 1 "$NUSERS"); do
	USERS+=("$(ds01_user "it$$q$i")") || fail "cannot create user $i"
done

mkdir -p "$T/storm"
PIDS=()
for u in "${USERS[@]}"; do
	for k in 1 2 3 4; do
		(
			as_user "$u" container-deploy "w$k" --wait >"$T/storm/$u.$k.out" 2>"$T/storm/$u.$k.err"
			echo $? >"$T/storm/$u.$k.rc"
		) &
		PIDS+=($!)
	done
done
for p in "${PIDS[@]}"; do wait "$p"; done
ds01_daemon_alive && ok "ds01d survived the storm" || fail "ds01d died during the storm"

n0=0 n3=0 nbad=0 bad=
for f in "$T"/storm/*.rc; do
	b=${f%.rc}
	case $(cat "$f") in
	0) n0=$((n0 + 1)) ;;
	3) if grep -q "quota" "$b.err"; then n3=$((n3 + 1)); else
		nbad=$((nbad + 1)); bad="$bad ${b##*/}: $(head -c 200 "$b.err")"; fi ;;
	*) nbad=$((nbad + 1)); bad="$bad ${b##*/}: rc $(cat "$f"): $(head -c 200 "$b.err")" ;;
	esac
done
assert_eq 0 "$nbad" "every request was deployed, queued, or refused for the quota ($bad)"

# Leases: distinct slots (the ledger's key), nobody over 1 GPU, the server full.
leases() { ledger_sql "SELECT slot_uuid, uid FROM leases"; }
check_leases() { # WHEN N
	local l
	l=$(leases)
	assert_eq "$2" "$(printf '%s\n' "$l" | grep -c .)" "$1: $2 GPUs leased"
	assert_eq "$2" "$(printf '%s\n' "$l" | cut -d'|' -f1 | sort -u | grep -c .)" "$1: on $2 distinct slots"
	assert_eq "" "$(printf '%s\n' "$l" | cut -d'|' -f2 | sort | uniq -d)" "$1: nobody holds two"
}
leased_is() { [ "$(ledger_sql 'SELECT count(*) FROM leases')" = "$1" ]; }
queue_at_most() { [ "$(ledger_sql 'SELECT count(*) FROM queue')" -le "$1" ]; }
wait_for 30 leased_is "$NG"
check_leases "after the storm" "$NG"
WAITING=$(ledger_sql "SELECT count(*) FROM queue")
RUNNING=$(instance_container_count)
assert_eq "$((NUSERS * 4))" "$((RUNNING + WAITING + n3))" \
	"every request is a container ($RUNNING), a waiting request ($WAITING) or a refusal ($n3)"
[ "$WAITING" -gt 0 ] && ok "requests wait ($WAITING)" || not_ok "nobody waits: the storm was too small"

# Retire the running ones: as many waiting requests are granted.
G0=$(events_count queue.grant)
# each user may hold one GPU: as many grants as GPUs, or as users waiting if fewer
WUSERS=$(ledger_sql "SELECT count(DISTINCT uid) FROM queue")
NGRANT=$((WUSERS < NG ? WUSERS : NG))
GRANTED=$(docker ps --filter "label=ds01.instance=$INSTANCE" --format '{{.Names}}')
for name in $GRANTED; do
	u=${name##*._.}
	as_user "$u" container-retire "${name%%._.*}" >/dev/null 2>&1 || not_ok "retire $name"
done
want=$((WAITING - NGRANT))
wait_for 60 queue_at_most "$want" || not_ok "the queue did not shrink to $want"
wait_for 30 leased_is "$NGRANT"
check_leases "after the retires" "$NGRANT"
assert_eq "$want" "$(ledger_sql "SELECT count(*) FROM queue")" "exactly $NGRANT requests left the queue"
assert_eq "$((G0 + NGRANT))" "$(events_count queue.grant)" "... each a grant"
ds01_done
