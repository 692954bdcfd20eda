#!/usr/bin/env bash
# A container belongs to the uid the ledger recorded, not to whoever has the login in its name
# (README, security 24: "lookups check the owner the ledger records"). A login is deleted and
# given to a new account with another uid (a recycled login): the new account's container-stop,
# container-logs, container-retire and container-run of the old account's project, by its
# project name and by its full name, answer "not found" (exit 4, audited as auth.denied); the
# container keeps running with its workspace; its list is not the new account's. An
# administrator still retires it.
# ds01-test: kind=security budget=8
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
UA=$(user_uid "$A")
C="rec._.$A"
assert_exit 0 -m "$A (uid $UA): deploy rec --cpu-only" as_user "$A" container-deploy rec --cpu-only
assert_exit 0 -m "$A: write a line to the container's log" \
	as_user "$A" container-run rec -- sh -c 'echo old-owner-line > /proc/1/fd/1'
assert_exit 0 -m "$A: container-logs rec shows the line (control)" as_user "$A" container-logs rec
assert_contains "$OUT" old-owner-line "the line is in rec's log"

# The login goes to a new account with an unused uid (useradd would reuse $UA if it were the
# highest).
# The account goes while its container still runs (its processes have the old uid: userdel
# would refuse whenever it sees one of them, hence -f).
userdel -f "$A" 2>"$T/userdel.err" || fail "userdel -f $A failed: $(cat "$T/userdel.err")"
NEW=$((UA + 1000))
while getent passwd "$NEW" >/dev/null; do NEW=$((NEW + 1)); done
useradd -M -d "/home/$A" -s /bin/bash -u "$NEW" "$A" >/dev/null 2>&1 ||
	fail "useradd $A -u $NEW failed"
assert_eq "$NEW" "$(user_uid "$A")" "the login $A now has uid $NEW (was $UA)"

for name in rec "$C"; do
	assert_exit 4 -m "new $A: container-stop $name -> 4 (not found)" as_user "$A" container-stop "$name"
	assert_match "$ERR" "no container '$name'" "the refusal says not found, as for any stranger"
	assert_exit 4 -m "new $A: container-logs $name -> 4" as_user "$A" container-logs "$name"
	assert_not_contains "$OUT" old-owner-line "new $A gets none of the old account's log"
	assert_exit 4 -m "new $A: container-run $name -- true -> 4" as_user "$A" container-run "$name" -- true
	assert_exit 4 -m "new $A: container-retire $name -> 4" as_user "$A" container-retire "$name"
done
assert_eq running "$(docker_state "$C")" "the old account's container is still running"
list_json "$A"
assert_jq "new $A's container-list is empty" '(.containers | length) == 0' "$OUT"
N=$(events_query ".event_type == \"auth.denied\" and .user == \"$A\"" | grep -c .)
if [ "${N:-0}" -ge 1 ]; then
	ok "the refusals are audited (auth.denied by $A: $N)"
else
	not_ok "the refusals are audited (auth.denied by $A)" "$(tail -n 5 "$EVENTS")"
fi

capture as_root container-list --all --json
assert_jq "root sees $C owned by uid $UA" \
	".containers[] | select(.name == \"$C\") | (.uid | tostring) == \"$UA\"" "$OUT"
assert_exit 0 -m "root: container-retire $C" as_root container-retire "$C"
assert_instance_empty "nothing left in Docker"
ds01_done
