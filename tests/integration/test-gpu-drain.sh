#!/usr/bin/env bash
# GPU drains (issue #3): whole GPUs are spread (no GPU reused while others rest); an admin drains a leased GPU and a free one; the running container on
# the drained GPU is untouched; new deploys never get a drained GPU (they fill the rest, then
# exit 3); `ds01 gpus` shows the drains (by, reason, since); drains survive a daemon restart;
# undrain makes the GPU leasable again; non-admins get exit 5 for `ds01 gpus` and drain/undrain.
# ds01-test: kind=functional budget=34
DS01_GPUS=3
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

ALL=$(gpus_json | jq -r '[.slots[] | select(.allocatable) | .uuid] | sort | join(" ")')
assert_eq 3 "$(echo $ALL | wc -w)" "3 allocatable GPUs"

# placement spreads whole GPUs (least wear, then longest free): three deploy+retire rounds in a
# row use three different GPUs, never the one just released
SEEN=
for i in 1 2 3; do
	assert_exit 0 -m "A: deploy w$i" as_user "$A" container-deploy "w$i"
	SEEN="$SEEN $(container_gpus "$A" "w$i")"
	assert_exit 0 -m "A: retire w$i" as_user "$A" container-retire "w$i"
done
assert_eq 3 "$(echo $SEEN | tr ' ' '\n' | sort -u | grep -c .)" "3 deploy/retire rounds used 3 different GPUs:$SEEN"

assert_exit 0 -m "A: deploy d1" as_user "$A" container-deploy d1
X=$(container_gpus "$A" d1)
assert_ne "" "$X" "d1 has a GPU"
CID=$(docker_id "d1._.$A")
START1=$(docker inspect -f '{{.State.StartedAt}}' "$CID")

# non-admins: exit 5 for everything admin
assert_exit 5 -m "B (non-admin): ds01 gpus exits 5" as_user "$B" ds01 gpus
assert_exit 5 -m "B (non-admin): ds01 gpus --json exits 5" as_user "$B" ds01 gpus --json
assert_eq "gpus: 'gpu.list' is for administrators" "$ERR" "the refusal says gpus is for administrators"
assert_exit 5 -m "B (non-admin): ds01 gpu drain exits 5" as_user "$B" ds01 gpu drain "$X" --reason nope
assert_eq "gpu-drain: 'gpu.drain' is for administrators" "$ERR" "the refusal says drain is for administrators"
assert_exit 5 -m "B (non-admin): ds01 gpu undrain exits 5" as_user "$B" ds01 gpu undrain "$X"
assert_eq "gpu-undrain: 'gpu.drain' is for administrators" "$ERR" "the refusal says undrain is for administrators"
assert_jq "B's failed drain changed nothing" '.drained == null' "$(gpu_slot "$X")"

# drain the leased GPU X and a free one Y
assert_exit 0 -m "root: drain d1's GPU $X" as_root ds01 gpu drain "$X" --reason "MIG change"
Y=$(for u in $ALL; do [ "$u" != "$X" ] && echo "$u"; done | head -n 1)
assert_exit 0 -m "root: drain free GPU $Y" as_root ds01 gpu drain "$Y" --reason maintenance
assert_exit 4 -m "root: drain an unknown UUID: not found (4)" as_root ds01 gpu drain GPU-00000000-dead-beef-0000-000000000000
assert_eq "gpu-drain: no GPU or MIG instance 'GPU-00000000-dead-beef-0000-000000000000' on this server - 'ds01 gpus' lists them" \
	"$ERR" "the message names the unknown slot"
assert_exit 2 -m "root: drain without a UUID is a usage error" as_root ds01 gpu drain
assert_contains "$ERR" "gpu-drain: missing NAME" "the usage error says what is missing"

G=$(gpus_json)
assert_jq "gpus --json: X drained (by root, reason 'MIG change', since)" \
	".slots[] | select(.uuid == \"$X\") | .drained.reason == \"MIG change\" and (.drained.by | test(\"root\")) and (.drained.since != null)" "$G"
assert_jq "gpus --json: X still leased to d1 (bound)" \
	".slots[] | select(.uuid == \"$X\") | .lease.state == \"bound\" and .lease.container == \"d1._.$A\"" "$G"
assert_jq "gpus --json: Y drained (maintenance), no lease" \
	".slots[] | select(.uuid == \"$Y\") | .drained.reason == \"maintenance\" and .lease == null" "$G"
assert_exit 0 -m "ds01 gpus (table) exits 0" as_root ds01 gpus
assert_match "$(printf '%s\n' "$OUT" | grep -F "$Y")" ' drained( |$)' "ds01 gpus table: the free drained GPU's row says 'drained'"
# a drained GPU that is leased shows its lease state (in yellow on a terminal): no word for it
assert_match "$(printf '%s\n' "$OUT" | grep -F "$X")" ' bound( |$)' "ds01 gpus table: the leased drained GPU's row says 'bound'"

# d1 untouched
assert_eq running "$(docker_state "d1._.$A")" "d1 still running on the drained GPU"
assert_eq "$CID" "$(docker_id "d1._.$A")" "d1 is the same container (not recreated)"
assert_eq "$START1" "$(docker inspect -f '{{.State.StartedAt}}' "$CID")" "d1 was not restarted"
assert_eq "$X" "$(container_gpus "$A" d1)" "d1 keeps GPU $X"

# fill the rest: only Z is leasable
Z=$(for u in $ALL; do [ "$u" != "$X" ] && [ "$u" != "$Y" ] && echo "$u"; done)
assert_exit 0 -m "B: deploy e1 (one GPU left)" as_user "$B" container-deploy e1
assert_eq "$Z" "$(container_gpus "$B" e1)" "e1 got the only undrained free GPU"
assert_exit 3 -m "A: deploy d2 refused: every undrained GPU is leased (exit 3)" as_user "$A" container-deploy d2
assert_eq "container-deploy: no GPU free: 1 of 1 GPUs are leased (2 more drained for maintenance) - add --wait to wait in the queue for it, or deploy with --cpu-only" \
	"$ERR" "the refusal counts the leased and the drained GPUs"
assert_no_container "d2._.$A" "no container for d2"
assert_exit 3 -m "B: deploy e2 refused too" as_user "$B" container-deploy e2
assert_eq free "$(gpu_lease_state "$Y")" "drained GPU Y never leased"

# drains survive a restart
ds01_stop_daemon "ds01d stops cleanly"
ds01_start_daemon
G=$(gpus_json)
assert_jq "after restart: X and Y still drained" \
	"[.slots[] | select(.drained != null) | .uuid] | sort == ([\"$X\", \"$Y\"] | sort)" "$G"
assert_exit 3 -m "after restart: A: deploy d2 still refused" as_user "$A" container-deploy d2

# undrain Y -> leased again
assert_exit 0 -m "root: undrain $Y" as_root ds01 gpu undrain "$Y"
assert_jq "Y no longer drained" '.drained == null' "$(gpu_slot "$Y")"
assert_exit 0 -m "A: deploy d2 now gets the undrained GPU" as_user "$A" container-deploy d2
assert_eq "$Y" "$(container_gpus "$A" d2)" "d2 is on Y"

# retire d1 on the drained X: X is free but still drained
assert_exit 0 -m "A: retire d1" as_user "$A" container-retire d1
assert_jq "X free and still drained after d1's retire" '.lease == null and .drained != null' "$(gpu_slot "$X")"
assert_exit 3 -m "A: deploy d3 refused while X is drained" as_user "$A" container-deploy d3
assert_exit 0 -m "root: undrain $X" as_root ds01 gpu undrain "$X"
assert_exit 0 -m "A: deploy d3 gets X" as_user "$A" container-deploy d3
assert_eq "$X" "$(container_gpus "$A" d3)" "d3 is on X"

for x in "$A d2" "$A d3" "$B e1"; do
	set -- $x
	assert_exit 0 -m "$1: retire $2" as_user "$1" container-retire "$2"
done
G=$(gpus_json)
assert_jq "all GPUs free and undrained" 'all(.slots[]; .lease == null and .drained == null)' "$G"
assert_instance_empty "nothing left in Docker"
ds01_done
