#!/usr/bin/env bash
# Crash safety of the GPU ledger (issue #3): a container stopped / started while ds01d is dead
# has its lease held / bound after the restart; then a loop of deploys, stops, starts and retires
# by two users while `kill -9` hits the daemon (50 kills, a quarter under a sanitizer), each
# while an operation is connected to it, at a random point up to 0.6 s later, each followed by a
# restart with the same config. Every operation ends as a user expects: done, refused for
# GPUs or quota (exit 3), or told that the daemon went away (exit 1); what was reported done
# is there after the restart. At the end, after one more restart: every managed container in
# Docker is in the ledger with its labelled GPUs leased to it (or flagged with a gpu.conflict
# event), every ledger container exists in Docker, no lease without a container, no slot twice,
# no reservation left; then everything retires through the CLI and every GPU is free.
# ds01-test: kind=stress threads budget=117
DS01_GPUS=4
. "$(dirname "$0")/lib.sh"
KILLS=${DS01_CRASH_KILLS:-$(stress_count 50)}
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
USERS=("$A" "$B")

lease_is() { [ "$(gpu_lease_state "$1")" = "$2" ]; }
# past_second S: the clock is past second S. ds01d follows Docker's events from the second of
# its start on: an outage's events in an earlier second reach it only through the start-up
# reconciliation, which is what the first part tests.
past_second() { [ "$(date +%s)" -gt "$1" ]; }

# ---- deterministic first: state changes while the daemon is dead are caught up at start-up
assert_exit 0 -m "A: deploy k1" as_user "$A" container-deploy k1
K1=$(container_gpus "$A" k1)
ds01_kill9_daemon
assert_exit 0 -m "docker stop k1 while ds01d is dead" docker stop -t 5 "$(docker_id "k1._.$A")"
wait_for 2 past_second "$(date +%s)"
ds01_start_daemon
if wait_for 3 lease_is "$K1" held; then ok "stopped while ds01d was dead: lease held after the restart"; else
	not_ok "stopped while ds01d was dead: lease held after the restart" "state: $(gpu_lease_state "$K1"), docker: $(docker_state "k1._.$A")"; fi
assert_exit 0 -m "A: container-stop k1 (stopped already) succeeds" as_user "$A" container-stop k1
assert_eq held "$(gpu_lease_state "$K1")" "k1 stopped through ds01: held"
ds01_kill9_daemon
assert_exit 0 -m "docker start k1 while ds01d is dead" docker start "$(docker_id "k1._.$A")"
wait_for 2 past_second "$(date +%s)"
ds01_start_daemon
if wait_for 3 lease_is "$K1" bound; then ok "started while ds01d was dead: lease bound after the restart"; else
	not_ok "started while ds01d was dead: lease bound after the restart" "state: $(gpu_lease_state "$K1"), docker: $(docker_state "k1._.$A")"; fi
assert_exit 0 -m "A: retire k1" as_user "$A" container-retire k1

# ---- kill -9 during operations
# The loop forks little (on a loaded machine every process start counts): one `docker ps` per
# round gives the states the next operations are chosen from and the check of the last ones.
declare -A UID_OF GID_OF HOME_OF
for u in "${USERS[@]}"; do
	UID_OF[$u]=$(id -u "$u")
	GID_OF[$u]=$(id -g "$u")
	HOME_OF[$u]=$(user_home "$u")
done
# snapshot: "NAME STATE" of this instance's containers, one a line.
snapshot() { docker ps -a --filter "label=ds01.instance=$INSTANCE" --format '{{.Names}} {{.State}}'; }
# state_in SNAPSHOT NAME: NAME's state in SNAPSHOT ("" if absent).
state_in() { printf '%s\n' "$1" | awk -v n="$2" '$1 == n { print $2 }'; }

# op N USER COMMAND...: runs the CLI COMMAND as USER (30 s at most); $T/op.N holds
# "USER RC COMMAND...", $T/op.N.err its stderr.
op() {
	local n=$1 u=$2 rc
	shift 2
	(cd / && exec timeout 30 setpriv --reuid="${UID_OF[$u]}" --regid="${GID_OF[$u]}" --init-groups \
		env -i PATH="$BIN:/usr/bin:/bin" HOME="${HOME_OF[$u]}" USER="$u" LOGNAME="$u" \
		LANG=C.UTF-8 TERM=dumb DS01_SOCKET="$SOCK" "$@" </dev/null >/dev/null 2>"$T/op.$n.err")
	rc=$?
	echo "$u $rc $*" >"$T/op.$n"
}

# pick STATE PROJECT: a random step for PROJECT in Docker state STATE (deploy if absent;
# stop/start/retire otherwise), the command's words.
pick() {
	case "$1:$((RANDOM % 3))" in
	:0) echo "container-deploy $2 --gpus 2" ;;
	:*) echo "container-deploy $2" ;;
	running:0) echo "container-stop $2" ;;
	exited:0 | created:0) echo "container-start $2" ;;
	*) echo "container-retire $2" ;;
	esac
}

# armed PID PID: one of the two operations' CLIs has its connection to the daemon open (the
# only socket they open), or both are done.
cli_connected() {
	local pid
	for pid in $(pgrep -u "$A,$B" '^container-'); do
		find "/proc/$pid/fd" -lname 'socket:*' 2>/dev/null | grep -q . && return 0
	done
	return 1
}
armed() { cli_connected || { ! kill -0 "$1" 2>/dev/null && ! kill -0 "$2" 2>/dev/null; }; }

# outcome N BEFORE BESIDE: done, refused, cut (the daemon died during it), down (it found the
# daemon dead) or bad (anything else: the user would not know what happened, or was told
# something false). BEFORE is the snapshot the operation was chosen from, BESIDE the project
# the same user deployed at the same time (if any): a quota refusal may name only those.
outcome() {
	local u rc verb err h
	read -r u rc verb _ <"$T/op.$1"
	err=$(<"$T/op.$1.err")
	case "$rc:$verb:$err" in
	0:*) echo "done" ;;
	3:container-deploy:*"no GPU free: "* | 3:container-deploy:*"not enough GPUs free: "* | \
		3:container-start:*"no GPU free: "*)
		echo refused ;;
	3:container-deploy:*"GPU quota reached: "* | 3:container-start:*"GPU quota reached: "*)
		for h in $(printf '%s' "$err" | grep -o "'[^']*' (" | tr -d "'( "); do
			[ "$h" = "$3" ] || [ -n "$(state_in "$2" "$h._.$u")" ] || { echo bad; return; }
		done
		echo refused ;;
	"1:$verb:$verb: the ds01 daemon closed the connection") echo cut ;;
	"1:$verb:$verb: cannot reach the ds01 daemon at $SOCK: Connection refused"*) echo down ;;
	*) echo bad ;;
	esac
}

# check_done N SNAPSHOT: what the user was told was done is there after the kill and the
# restart, in Docker (SNAPSHOT) and in the ledger; prints what is not.
check_done() {
	local u rc verb proj opt name got
	read -r u rc verb proj opt <"$T/op.$1"
	name=$proj._.$u
	got=$(state_in "$2" "$name"):$(ledger_sql "SELECT ifnull((SELECT state FROM containers WHERE name = '$name'), '') || ':' ||
		ifnull((SELECT group_concat(state, ',') FROM (SELECT state FROM leases WHERE container = '$name')), '')")
	case "$verb:$opt:$got" in
	"container-deploy:--gpus 2:running:bound:bound,bound" | "container-deploy::running:bound:bound") ;;
	container-start::running:bound:bound | container-start::running:bound:bound,bound) ;;
	container-stop::exited:bound:held | container-stop::exited:bound:held,held) ;;
	container-retire::::) ;;
	*) echo "$u: $verb $proj $opt was done, but now (docker:ledger:leases) '$got'" ;;
	esac
}

declare -A N_OUT=([done]=0 [refused]=0 [cut]=0 [down]=0 [bad]=0)
BAD_OPS=
LOST=
n=0
SNAP=$(snapshot)
t0=$(now_ms)
for i in $(seq 1 "$KILLS"); do
	u1=${USERS[$((RANDOM % 2))]}
	u2=${USERS[$((RANDOM % 2))]}
	p1=p$((RANDOM % 3))
	p2=p$((RANDOM % 3))
	[ "$u1:$p1" = "$u2:$p2" ] && p2=p$(((${p1#p} + 1) % 3))
	BEFORE=$SNAP
	c1=$(pick "$(state_in "$SNAP" "$p1._.$u1")" "$p1")
	c2=$(pick "$(state_in "$SNAP" "$p2._.$u2")" "$p2")
	# shellcheck disable=SC2086 # the command's words
	op $((n + 1)) "$u1" $c1 &
	b1=$!
	# shellcheck disable=SC2086
	op $((n + 2)) "$u2" $c2 &
	b2=$!
	# The kill lands while an operation is connected, at a random point of it: on a loaded
	# machine the CLIs take long to start, and a fixed delay killed before any of them arrived.
	wait_for 20 armed "$b1" "$b2"
	sleep "0.$(printf '%03d' $((RANDOM % 600)))"
	ds01_kill9_daemon
	wait "$b1" "$b2"
	ds01_start_daemon
	SNAP=$(snapshot)
	for k in $((n + 1)) $((n + 2)); do
		beside=
		[ "$u1" = "$u2" ] && beside=$([ "$k" = $((n + 1)) ] && echo "$p2" || echo "$p1")
		o=$(outcome "$k" "$BEFORE" "$beside")
		N_OUT[$o]=$((N_OUT[$o] + 1))
		[ "$o" = bad ] && BAD_OPS="$BAD_OPS
$(cat "$T/op.$k"): $(cat "$T/op.$k.err")"
		if [ "$o" = "done" ]; then
			x=$(check_done "$k" "$SNAP")
			[ -z "$x" ] || LOST="$LOST
$x"
		fi
	done
	n=$((n + 2))
done
note "$KILLS kills in $(($(now_ms) - t0)) ms; $n operations: ${N_OUT[done]} done, ${N_OUT[refused]} refused (3), ${N_OUT[cut]} cut off by the kill, ${N_OUT[down]} found the daemon dead, ${N_OUT[bad]} other"
assert_eq "" "$BAD_OPS" "every operation: done, refused (3: no GPU free, or a quota held by the user's own containers) or 'the daemon closed the connection' / 'cannot reach' (1)"
assert_eq "" "$LOST" "every operation reported done is there after the kill -9 and the restart"
[ "${N_OUT[cut]}" -gt 0 ] && ok "kills cut off operations in flight (${N_OUT[cut]})" ||
	not_ok "kills cut off operations in flight" "no operation was cut off: the kills missed them"
[ "${N_OUT[done]}" -gt 0 ] && ok "operations completed between kills (${N_OUT[done]})" ||
	not_ok "operations completed between kills" "none did"

# a few uninterrupted operations: the daemon works normally after all that
for u in "${USERS[@]}"; do
	assert_exit 0 -m "$u: container-list works" as_user "$u" container-list --json
done

# one more restart; what dockerd still did for the last killed daemon reaches the new one
# through the reconciliation or its events: wait (10 s at most) until the ledger agrees
ds01_kill9_daemon
ds01_start_daemon

# ---- ledger and Docker agree
# agreement: sets AGREE (a JSON object of problem lists, all empty when fine) from Docker, the
# ledger, the gpu.conflict events and `ds01 gpus`; one jq does the comparing.
agreement() {
	local docker ledger conflicts orphaned
	docker=$(docker ps -aq --filter "label=ds01.instance=$INSTANCE" | xargs -r docker inspect |
		jq -c '[.[] | {name: (.Name | ltrimstr("/")), id: .Id, state: .State.Status,
			uuids: ((.Config.Labels["ds01.gpu.uuids"] // "") | split(",") | map(select(. != "")))}]')
	ledger=$(ledger_sql "SELECT json_object(
		'containers', json((SELECT json_group_array(json_object('name', name, 'id', docker_id, 'state', state)) FROM containers)),
		'leases', json((SELECT json_group_array(json_object('slot', slot_uuid, 'container', container, 'state', state)) FROM leases)),
		'twice', json((SELECT json_group_array(slot_uuid) FROM (SELECT slot_uuid FROM leases GROUP BY slot_uuid HAVING count(*) > 1))),
		'reserved', json((SELECT json_group_array(name) FROM containers WHERE state = 'reserved')),
		'reserved_leases', json((SELECT json_group_array(slot_uuid) FROM leases WHERE state = 'reserved')),
		'no_container', json((SELECT json_group_array(l.slot_uuid) FROM leases l LEFT JOIN containers c ON c.name = l.container WHERE c.name IS NULL)))")
	conflicts=$(events_query '.event_type == "gpu.conflict"' | jq -sc '[.[] | {container: .details.container, gpu: .details.gpu}]')
	orphaned=$(gpus_json | jq -c '.orphaned_leases')
	AGREE=$(jq -n --argjson d "${docker:-[]}" --argjson l "${ledger:-null}" --argjson cf "${conflicts:-[]}" \
		--argjson o "${orphaned:-null}" '{
		docker: [$d[] as $c | ($l.containers | map(select(.name == $c.name)) | .[0]) as $r |
			if $r == null then "docker container \($c.name) is not in the ledger"
			else (if $r.id != $c.id then "\($c.name): ledger docker_id \($r.id) != docker \($c.id)" else empty end),
				($c.uuids[] as $g | ($l.leases | map(select(.slot == $g)) | .[0].container) as $h |
				if $h != $c.name and (any($cf[]; .container == $c.name and .gpu == $g) | not)
				then "\($c.name): labelled GPU \($g) is leased to \($h // "nobody") and not flagged" else empty end)
			end],
		ledger_only: [$l.containers[].name as $n | select(any($d[]; .name == $n) | not) | $n],
		lease_only: [$l.leases | map(.container) | unique | .[] as $n | select(any($d[]; .name == $n) | not) | $n],
		twice: $l.twice, reserved: $l.reserved, reserved_leases: $l.reserved_leases,
		no_container: $l.no_container,
		labelled_twice: [[$d[].uuids[]] | group_by(.) | .[] | select(length > 1) | .[0]],
		states: [$l.leases[] as $s | ($d | map(select(.name == $s.container)) | .[0].state) as $st |
			select(["running:bound", "exited:held", "created:held", "created:bound"] | index("\($st):\($s.state)") | not) |
			"\($s.container) (\($st)): \($s.state)"],
		orphaned: $o}') || AGREE='{"jq": "failed"}'
	DOCKER=$docker
	[ "$(jq -c '[.[]] | flatten' <<<"$AGREE")" = "[]" ]
}
t0=$(now_ms)
wait_for 10 agreement && note "ledger and Docker agree $(($(now_ms) - t0)) ms after the restart"
note "Docker: $(jqr '[.[] | "\(.name)=\(.state)[\(.uuids | length)]"] | join(" ")' "$DOCKER")"
agree() { jq -c --arg k "$1" '.[$k]' <<<"$AGREE"; }
assert_eq "[]" "$(agree docker)" "every managed container is in the ledger with its labelled GPUs leased to it"
assert_eq "[]" "$(agree ledger_only)" "every ledger container exists in Docker"
assert_eq "[]" "$(agree lease_only)" "no lease without a Docker container"
assert_eq "[]" "$(agree twice)" "no slot leased twice"
assert_eq "[]" "$(agree reserved_leases)" "no reserved lease after the restart"
assert_eq "[]" "$(agree reserved)" "no reserved container after the restart"
assert_eq "[]" "$(agree no_container)" "every lease belongs to a ledger container"
assert_eq "[]" "$(agree labelled_twice)" "no GPU in two containers' labels"
assert_eq "[]" "$(agree states)" "lease states match Docker (running: bound, stopped: held)"
assert_eq "[]" "$(agree orphaned)" "ds01 gpus: no orphaned lease"

# ---- retire everything through the CLI
for u in "${USERS[@]}"; do
	for p in $(as_user "$u" container-list --json | jq -r '.containers[].project'); do
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
