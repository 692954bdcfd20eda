#!/usr/bin/env bash
# Crash safety of the GPU ledger (issue #3): a container stopped / started while ds01d is dead
# has its lease held / bound after the restart; then a loop of deploys, stops, starts and retires by two
# users while `kill -9` hits the daemon at random points (>= 50 kills, each followed by a restart
# with the same config). At the end, after one more restart: every managed container in Docker
# is in the ledger with its labelled GPUs leased to it (or flagged with a gpu.conflict event),
# every ledger container exists in Docker, no lease without a container, no slot twice, no
# reservation left; then everything retires through the CLI and every GPU is free.
# ds01-test: kind=stress threads budget=68
DS01_GPUS=4
KILLS=${DS01_CRASH_KILLS:-50}
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
USERS=("$A" "$B")

lease_is() { [ "$(gpu_lease_state "$1")" = "$2" ]; }

# ---- deterministic first: state changes while the daemon is dead are caught up at start-up
assert_exit 0 -m "A: deploy k1" as_user "$A" container-deploy k1
K1=$(container_gpus "$A" k1)
ds01_kill9_daemon
docker stop -t 5 "$(docker_id "k1._.$A")" >/dev/null
sleep 2 # down for a while: Docker's events of the outage are older than the restart
ds01_start_daemon
if wait_for 3 lease_is "$K1" held; then ok "stopped while ds01d was dead: lease held after the restart"; else
	not_ok "stopped while ds01d was dead: lease held after the restart" "state: $(gpu_lease_state "$K1"), docker: $(docker_state "k1._.$A")"; fi
capture as_user "$A" container-stop k1 # makes sure the lease is held before the next outage
assert_eq held "$(gpu_lease_state "$K1")" "k1 stopped through ds01: held"
ds01_kill9_daemon
docker start "$(docker_id "k1._.$A")" >/dev/null
sleep 2
ds01_start_daemon
if wait_for 3 lease_is "$K1" bound; then ok "started while ds01d was dead: lease bound after the restart"; else
	not_ok "started while ds01d was dead: lease bound after the restart" "state: $(gpu_lease_state "$K1"), docker: $(docker_state "k1._.$A")"; fi
assert_exit 0 -m "A: retire k1" as_user "$A" container-retire k1

# op USER PROJECT: one random step for PROJECT (deploy if absent; stop/start/retire otherwise).
op() {
	local u=$1 p=$2 st cmd
	st=$(docker_state "$p._.$u" 2>/dev/null)
	case "$st:$((RANDOM % 3))" in
	:0) cmd=(container-deploy "$p" --gpus 2) ;;
	:*) cmd=(container-deploy "$p") ;;
	running:0) cmd=(container-stop "$p") ;;
	exited:0 | created:0) cmd=(container-start "$p") ;;
	*) cmd=(container-retire "$p") ;;
	esac
	timeout 30 bash -c "$(declare -f as_user user_home); BIN='$BIN' SOCK='$SOCK'; as_user \"\$@\"" \
		_ "$u" "${cmd[@]}" >>"$T/ops.log" 2>&1
	echo "$u ${cmd[*]} rc=$?" >>"$T/ops.rc"
}

t0=$SECONDS
for i in $(seq 1 "$KILLS"); do
	u1=${USERS[$((RANDOM % 2))]}
	u2=${USERS[$((RANDOM % 2))]}
	p1=p$((RANDOM % 3))
	p2=p$((RANDOM % 3))
	[ "$u1:$p1" = "$u2:$p2" ] && p2=p$(((${p1#p} + 1) % 3))
	op "$u1" "$p1" &
	b1=$!
	op "$u2" "$p2" &
	b2=$!
	# 0.1-0.9 s: the CLIs need time to start before they reach the daemon (on a loaded machine
	# that alone took past a shorter window, and every op met a dead daemon); a deploy takes
	# about 0.5-1 s, so most kills still land inside an operation.
	sleep "0.$(printf '%03d' $((100 + RANDOM % 800)))"
	ds01_kill9_daemon
	wait "$b1" "$b2"
	ds01_start_daemon
done
note "$KILLS kills in $((SECONDS - t0)) s; op results: $(sed 's/.*rc=//' "$T/ops.rc" | sort | uniq -c | tr '\n' ' ')"
ok "survived $KILLS kill -9 + restart cycles"
grep -q 'rc=0' "$T/ops.rc" && ok "some operations completed between kills" || not_ok "some operations completed between kills" "$(tail -n 20 "$T/ops.rc")"

# a few uninterrupted operations: the daemon works normally after all that
for u in "${USERS[@]}"; do
	capture as_user "$u" container-list --json
	assert_eq 0 "$RC" "$u: container-list works"
done

# let dockerd finish whatever the last killed daemon had asked for, then restart once more
sleep 1
ds01_kill9_daemon
ds01_start_daemon
sleep 0.5

# ---- ledger and Docker agree
DOCKER=$(docker ps -a --filter "label=ds01.instance=$INSTANCE" --format '{{.ID}}' | xargs -r docker inspect |
	jq -c '[.[] | {name: (.Name | ltrimstr("/")), id: .Id, uuids: ((.Config.Labels["ds01.gpu.uuids"] // "") | split(",") | map(select(. != ""))), state: .State.Status}]')
[ -n "$DOCKER" ] || DOCKER='[]'
note "Docker: $(jqr '[.[] | "\(.name)=\(.state)[\(.uuids | length)]"] | join(" ")' "$DOCKER")"
LC=$(ledger_sql "SELECT json_group_array(json_object('name', name, 'id', docker_id, 'state', state)) FROM containers")
LL=$(ledger_sql "SELECT json_group_array(json_object('slot', slot_uuid, 'container', container, 'state', state)) FROM leases")
note "ledger: $(jqr '[.[] | .name] | join(" ")' "$LC") / $(jqr '[.[] | "\(.container):\(.slot[-2:]):\(.state)"] | join(" ")' "$LL")"
CONFLICTS=$(events_query '.event_type == "gpu.conflict"' | jq -sc '[.[] | {container: .details.container, gpu: .details.gpu}]')

bad=
for row in $(jqr '.[] | @base64' "$DOCKER"); do
	c=$(printf '%s' "$row" | base64 -d)
	name=$(jqr .name "$c")
	id=$(jqr .id "$c")
	lid=$(jq -r --arg n "$name" '.[] | select(.name == $n) | .id' <<<"$LC")
	if [ -z "$lid" ]; then
		bad="$bad
docker container $name is not in the ledger"
		continue
	fi
	[ "$lid" = "$id" ] || bad="$bad
$name: ledger docker_id $lid != docker $id"
	for g in $(jqr '.uuids[]' "$c"); do
		holder=$(jq -r --arg g "$g" '.[] | select(.slot == $g) | .container' <<<"$LL")
		if [ "$holder" != "$name" ] &&
			! jq -e --arg n "$name" --arg g "$g" 'any(.[]; .container == $n and .gpu == $g)' <<<"$CONFLICTS" >/dev/null; then
			bad="$bad
$name: labelled GPU $g is leased to '${holder:-nobody}' and not flagged"
		fi
	done
done
assert_eq "" "$bad" "every managed container is in the ledger with its labelled GPUs leased to it"

bad=
for name in $(jqr '.[].name' "$LC"); do
	jq -e --arg n "$name" 'any(.[]; .name == $n)' <<<"$DOCKER" >/dev/null || bad="$bad $name"
done
assert_eq "" "$bad" "every ledger container exists in Docker"
bad=
for name in $(jqr '.[].container' "$LL" | sort -u); do
	jq -e --arg n "$name" 'any(.[]; .name == $n)' <<<"$DOCKER" >/dev/null || bad="$bad $name"
done
assert_eq "" "$bad" "no lease without a Docker container"
assert_eq "" "$(ledger_sql 'SELECT slot_uuid FROM leases GROUP BY slot_uuid HAVING count(*) > 1')" "no slot leased twice"
assert_eq 0 "$(ledger_sql "SELECT count(*) FROM leases WHERE state = 'reserved'")" "no reserved lease after the restart"
assert_eq 0 "$(ledger_sql "SELECT count(*) FROM containers WHERE state = 'reserved'")" "no reserved container after the restart"
assert_eq "" "$(ledger_sql 'SELECT l.slot_uuid FROM leases l LEFT JOIN containers c ON c.name = l.container WHERE c.name IS NULL')" \
	"every lease belongs to a ledger container"
ALLU=$(jq -r '[.[].uuids[]] | .[]' <<<"$DOCKER" | sort)
assert_eq "" "$(printf '%s\n' "$ALLU" | uniq -d)" "no GPU in two containers' labels"
# stopped containers hold, running ones are bound
bad=
for row in $(jqr '.[] | @base64' "$LL"); do
	l=$(printf '%s' "$row" | base64 -d)
	st=$(jq -r --arg n "$(jqr .container "$l")" '.[] | select(.name == $n) | .state' <<<"$DOCKER")
	case "$st:$(jqr .state "$l")" in
	running:bound | exited:held | created:held | created:bound) ;;
	*) bad="$bad $(jqr .container "$l")($st):$(jqr .state "$l")" ;;
	esac
done
assert_eq "" "$bad" "lease states match Docker (running: bound, stopped: held)"
assert_eq "[]" "$(gpus_json | jq -c '.orphaned_leases')" "ds01 gpus: no orphaned lease"

# ---- retire everything through the CLI
for u in "${USERS[@]}"; do
	for p in $(as_user "$u" container-list --all --json | jq -r '.containers[].project'); do
		assert_exit 0 -m "$u: retire $p" as_user "$u" container-retire "$p"
	done
done
assert_eq 0 "$(gpus_leased_count)" "all GPUs free"
assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM leases')" "ledger: no lease"
assert_eq 0 "$(ledger_sql 'SELECT count(*) FROM containers')" "ledger: no container"
assert_instance_empty "Docker has no container of this instance"
for u in "${USERS[@]}"; do
	assert_eq 0 "$(usage_gpueq "$u")" "$u holds 0 GPU-equivalents"
done
ds01_stop_daemon "ds01d stops cleanly at the end"
ds01_done
