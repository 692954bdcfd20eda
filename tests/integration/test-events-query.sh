#!/bin/bash
# ds01 events: the audit log read through the daemon; a user sees only their own events, an
# administrator everyone's; filters by type (and family), container, time.
# ds01-test: kind=functional budget=11
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$ea") || fail "cannot create user"
B=$(ds01_user "it$$eb") || fail "cannot create user"

assert_exit 0 -m "A deploys eq1" as_user "$A" container-deploy eq1 --cpu-only
assert_exit 0 -m "B deploys eq2" as_user "$B" container-deploy eq2 --cpu-only
assert_exit 4 -m "B tries A's container (auth.denied for B)" as_user "$B" container-stop "eq1._.$A"

capture as_user "$A" ds01 events --json
assert_eq 0 "$RC" "A: ds01 events exits 0"
assert_eq "$A" "$(jqr '[.events[].user] | unique | join(",")' "$OUT")" "A sees only A's events"
assert_jq "A sees the create of eq1" \
	'[.events[] | select(.event_type == "container.create" and .details.container == "eq1._.'"$A"'")] | length == 1' "$OUT"

assert_exit 0 -m "B: ds01 events --type auth.denied" as_user "$B" ds01 events --json --type auth.denied
assert_eq 1 "$(jqr '.events | length' "$OUT")" "B sees B's auth.denied"
assert_eq "eq1._.$A" "$(jqr '.events[0].details.container' "$OUT")" "... naming A's container"

assert_exit 4 -m "B cannot read A's events (exit 4, as for no such user)" as_user "$B" ds01 events --user "$A"
assert_eq "" "$OUT" "...and gets none of them"
assert_eq "events: no user '$A' whose records you may read - leave out --user to see your own" \
	"$ERR" "...being told there is no such user for them"

assert_exit 0 -m "root: ds01 events --type container." as_root ds01 events --json --type container.
assert_eq 2 "$(jqr '[.events[] | select(.event_type == "container.create")] | length' "$OUT")" \
	"root sees both creates with the family filter 'container.'"
assert_exit 0 -m "root: ds01 events --container eq2._.$B" as_root ds01 events --json --container "eq2._.$B"
assert_jq "container filter: events there, each about eq2._.$B" \
	'(.events | length) > 0 and all(.events[]; .details.container == "eq2._.'"$B"'")' "$OUT"
assert_eq "$B" "$(jqr '[.events[].user] | unique | join(",")' "$OUT")" "container filter: only eq2's events"
assert_exit 0 -m "root: ds01 events --since 1h" as_root ds01 events --json --since 1h --type container.create
assert_eq 2 "$(jqr '.events | length' "$OUT")" "--since 1h includes both"
assert_exit 0 -m "root: ds01 events --until 2000-01-01" as_root ds01 events --json --until 2000-01-01 --type container.create
assert_eq 0 "$(jqr '.events | length' "$OUT")" "--until 2000-01-01 includes none"
assert_exit 2 -m "a bad --since is a usage error (exit 2)" as_root ds01 events --since yesterday-ish
assert_eq "events: --since 'yesterday-ish': give a time (2026-11-28, 2026-11-28T10:00:00Z) or how long ago (2h, 30m)" \
	"$ERR" "...saying what a time looks like"

assert_exit 0 -m "A retires eq1" as_user "$A" container-retire eq1
assert_exit 0 -m "B retires eq2" as_user "$B" container-retire eq2
assert_instance_empty "nothing left in Docker"
ds01_done
