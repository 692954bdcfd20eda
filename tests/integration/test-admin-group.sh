#!/usr/bin/env bash
# A non-root administrator: a Unix user who is a member of `admin_group` (a supplementary group,
# as `usermod -aG ds01-admin alice` makes it) has every administrator's command that the README
# lists - ds01 status, ds01 users, ds01 gpus, ds01 health, ds01 reload, ds01 gpu drain/undrain,
# container-list --all, container-stats --all, ds01 events and ds01 report of another user, and
# naming anyone's container in full (container-stop exp._.alice) - while a user outside the
# group gets the documented refusals (exit 5 "... is for administrators", exit 4 "no container"
# for another user's container, only their own containers with container-list --all). A reload
# by SIGHUP that changes admin_group takes effect for the next command: the old group's member
# is refused, the new group's member is served, root stays an administrator.
# ds01-test: kind=functional budget=16
. "$(dirname "$0")/lib.sh"
ds01_setup
# assert_json DESC FILTER JSON: assert_jq, but no JSON at all fails (jq -e passes on empty input).
assert_json() { assert_jq "$1" "$2" "${3:-(no output)}"; }

G1="it$$g" G2="it$$h"
# The two groups are this test's own: removed at exit, with the lib's cleanup.
getent group "$G1" >/dev/null 2>&1 && fail "group $G1 exists already; refusing to reuse it"
getent group "$G2" >/dev/null 2>&1 && fail "group $G2 exists already; refusing to reuse it"
_admin_group_exit() {
	local rc=$?
	groupdel "$G1" >/dev/null 2>&1
	groupdel "$G2" >/dev/null 2>&1
	(exit "$rc")
	_ds01_cleanup
}
trap _admin_group_exit EXIT
groupadd "$G1" || fail "groupadd $G1"
groupadd "$G2" || fail "groupadd $G2"

DS01_CONFIG_EXTRA="admin_group: $G1"
ds01_write_config
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
D=$(ds01_user "it$$d" -G "$G1") || fail "cannot create user" # admin through $G1
H=$(ds01_user "it$$e" -G "$G2") || fail "cannot create user" # admin once $G2 is admin_group
assert_contains " $(id -nG "$D") " " $G1 " "$D is a member of $G1 (supplementary)"

assert_exit 0 -m "A: deploy a1 (CPU only)" as_user "$A" container-deploy a1 --cpu-only
assert_exit 0 -m "B: deploy b1 (1 GPU)" as_user "$B" container-deploy b1 --gpus 1
UB=$(container_gpus "$B" b1)
[ -n "$UB" ] || fail "b1 has no GPU"

# ---- the administrator in admin_group
assert_exit 0 -m "D (in $G1): ds01 status --json" as_user "$D" ds01 status --json
assert_json "D's status: 4 slots, 1 leased (B's), 2 running containers of 2 users" \
	'.totals.slots == 4 and .totals.leased == 1 and .totals.containers_running == 2 and .totals.users == 2' "$OUT"
assert_json "D's status: the leased slot names B and b1" \
	'.slots[] | select(.uuid == "'"$UB"'") | .lease.user == "'"$B"'" and .lease.project == "b1"' "$OUT"
assert_exit 0 -m "D: ds01 users --json" as_user "$D" ds01 users --json
assert_json "D's users: A and B with their usage" \
	'([.users[] | select(.user == "'"$A"'") | .usage.containers] == [1]) and ([.users[] | select(.user == "'"$B"'") | .usage.gpu_equivalents] == [1])' "$OUT"
assert_exit 0 -m "D: ds01 gpus --json" as_user "$D" ds01 gpus --json
assert_json "D's gpus: 4 slots, b1's leased to B" \
	'(.slots | length) == 4 and ([.slots[] | select(.uuid == "'"$UB"'") | .lease.user] == ["'"$B"'"])' "$OUT"
assert_exit 0 -m "D: container-list --all --json" as_user "$D" container-list --all --json
assert_eq "a1._.$A,b1._.$B" "$(jqr '[.containers[].name] | sort | join(",")' "$OUT")" \
	"D's container-list --all shows A's and B's containers"
assert_exit 0 -m "D: container-stats --all --json" as_user "$D" container-stats --all --json
assert_eq "a1,b1" "$(jqr '[.containers[].project] | sort | join(",")' "$OUT")" \
	"D's container-stats --all shows both"
assert_exit 0 -m "D: ds01 health" as_user "$D" ds01 health
assert_exit 0 -m "D: ds01 events --user A --json" as_user "$D" ds01 events --user "$A" --json
assert_json "D reads A's events (A's deploy of a1)" \
	'[.events[] | select(.user == "'"$A"'" and .event_type == "container.create" and .details.container == "a1._.'"$A"'")] | length >= 1' "$OUT"
assert_exit 0 -m "D: ds01 report --user B --json" as_user "$D" ds01 report --user "$B" --json
assert_json "D's report names B" '[.users[]?.user] | index("'"$B"'") != null' "$OUT"
assert_exit 0 -m "D: ds01 gpu drain (B's slot)" as_user "$D" ds01 gpu drain "$UB" --reason "it test"
assert_json "the slot is drained by D" '.drained.by == "'"$D"'"' "$(gpu_slot "$UB")"
assert_exit 0 -m "D: ds01 gpu undrain" as_user "$D" ds01 gpu undrain "$UB"
assert_json "the slot is not drained any more" '(.drained // false) == false' "$(gpu_slot "$UB")"
assert_exit 0 -m "D: ds01 reload" as_user "$D" ds01 reload
assert_exit 0 -m "D: container-stop b1._.$B (anyone's container, named in full)" \
	as_user "$D" container-stop "b1._.$B"
wait_state 10 "b1._.$B" exited
assert_eq exited "$(docker_state "b1._.$B")" "B's container was stopped by D"

# ---- a user outside admin_group: the documented refusals
for c in "status" "users" "gpus" "health" "reload"; do
	assert_exit 5 -m "A (not in $G1): ds01 $c -> exit 5" as_user "$A" ds01 $c
	assert_match "$ERR" "is for administrators" "A: ds01 $c says it is for administrators"
done
assert_exit 5 -m "A: ds01 gpu drain -> exit 5" as_user "$A" ds01 gpu drain "$UB"
assert_match "$ERR" "is for administrators" "A: gpu drain says it is for administrators"
assert_exit 5 -m "A: container-stats --all -> exit 5" as_user "$A" container-stats --all
assert_contains "$ERR" "administrators only" "A: container-stats --all names administrators"
assert_exit 5 -m "A: container-list --all -> exit 5" as_user "$A" container-list --all --json
assert_contains "$ERR" "--all is for administrators only" "A: container-list --all names administrators"
assert_exit 4 -m "A: ds01 events --user B -> exit 4 (as for no such user)" as_user "$A" ds01 events --user "$B"
assert_contains "$ERR" "no user '$B' whose records you may read" "A: the events refusal says so"
assert_exit 4 -m "A: ds01 report --user B -> exit 4 (as for no such user)" as_user "$A" ds01 report --user "$B"
assert_contains "$ERR" "no user '$B' whose records you may read" "A: the report refusal says so"
assert_exit 4 -m "A: container-start b1._.$B (B's container) -> exit 4" as_user "$A" container-start "b1._.$B"
assert_contains "$ERR" "no container" "A: another user's container is not found"
assert_eq exited "$(docker_state "b1._.$B")" "B's container stays stopped"
assert_exit 5 -m "H (in $G2, not admin_group yet): ds01 status -> exit 5" as_user "$H" ds01 status

# ---- SIGHUP with admin_group changed to $G2
reloads() { grep -c 'reloaded ' "$DAEMON_LOG"; }
N0=$(reloads)
DS01_CONFIG_EXTRA="admin_group: $G2"
ds01_write_config
kill -HUP "$DS01_PID"
reloaded() { [ "$(reloads)" -gt "$N0" ]; }
wait_for 10 reloaded || fail "no 'reloaded' line in the daemon log within 10 s of SIGHUP"
ok "SIGHUP reloaded ds01.yaml"
assert_exit 0 -m "H (in $G2, now admin_group): ds01 status" as_user "$H" ds01 status --json
assert_json "H's status: 2 containers, 1 running" '.totals.containers_running == 1' "$OUT"
assert_exit 0 -m "H: container-list --all --json" as_user "$H" container-list --all --json
assert_eq "a1._.$A,b1._.$B" "$(jqr '[.containers[].name] | sort | join(",")' "$OUT")" \
	"H's container-list --all shows everyone's"
assert_exit 0 -m "H: container-start b1._.$B (named in full)" as_user "$H" container-start "b1._.$B"
assert_exit 5 -m "D (in $G1, no longer admin_group): ds01 status -> exit 5" as_user "$D" ds01 status
assert_match "$ERR" "is for administrators" "D: the refusal says it is for administrators"
assert_exit 5 -m "D (no longer admin): container-list --all -> exit 5" as_user "$D" container-list --all --json
assert_contains "$ERR" "--all is for administrators only" "D: container-list --all names administrators"
assert_exit 4 -m "D: container-stop b1._.$B -> exit 4" as_user "$D" container-stop "b1._.$B"
assert_eq running "$(docker_state "b1._.$B")" "B's container runs on"
assert_exit 0 -m "root stays an administrator: ds01 status" as_root ds01 status

assert_exit 0 -m "A: retire a1" as_user "$A" container-retire a1
assert_exit 0 -m "B: retire b1" as_user "$B" container-retire b1
assert_instance_empty "nothing left in Docker"
ds01_done
