#!/usr/bin/env bash
# DS01's group-overrides.txt and groups/archived.members beside the limits file: a login the
# override file names is in that group whatever the members files say (check-limits shows it,
# and its limits apply); once archived (ds01 reload), a user cannot deploy (exit 5, saying why
# and what they can still do), can still stop and retire what they have, and `ds01 users` marks
# them archived, their container still listed. A line naming an unknown group keeps the running
# configuration and says file:line.
# ds01-test: kind=functional budget=7
. "$(dirname "$0")/lib.sh"
ds01_setup
U=$(ds01_user "it$$u") || fail "cannot create user U"
ETC=$(dirname "$DS01_LIMITS")
cat >"$DS01_LIMITS" <<EOF
default_group: student
groups:
  student:
    max_containers_per_user: 3
    max_gpu_equivalents: 1.0
  staff:
    max_containers_per_user: 5
    max_gpu_equivalents: 2.0
EOF
mkdir -p "$ETC/groups"
printf '%s\n' "$U" >"$ETC/groups/student.members"
printf '# DS01 forces these\n%s:staff\n' "$U" >"$ETC/group-overrides.txt"
ds01_start_daemon

capture as_user "$U" check-limits --json
assert_jq "group-overrides.txt puts U in staff, over student.members" \
	'.group == "staff" and .limits.max_containers_per_user == 5' "$OUT"
assert_exit 0 -m "U: deploy keep (CPU only)" as_user "$U" container-deploy keep --cpu-only

printf '# gone\n%s\n' "$U" >"$ETC/groups/archived.members"
assert_exit 0 -m "reload with U archived" as_root ds01 reload
capture as_user "$U" container-deploy more --cpu-only
assert_eq 5 "$RC" "an archived user cannot deploy (exit 5)"
assert_contains "$ERR" "archived" "the refusal says the account is archived"
assert_contains "$ERR" "retire" "... and what they can still do"
assert_no_container "more._.$U" "nothing was created"
capture as_root ds01 users --json
assert_jq "ds01 users marks U archived, with the container still listed" \
	"[.users[] | select(.user == \"$U\")][0] | .archived == true and .docker_containers == 1" "$OUT"
capture as_root ds01 users
assert_contains "$OUT" "$U (archived)" "the table says so too"
assert_exit 0 -m "U can still stop keep" as_user "$U" container-stop keep
assert_exit 0 -m "U can still retire keep" as_user "$U" container-retire keep

printf '%s:nosuchgroup\n' "$U" >"$ETC/group-overrides.txt"
capture as_root ds01 reload
assert_eq 1 "$RC" "an override naming no group of the file is refused"
assert_contains "$ERR" "group-overrides.txt:1:" "... at its file and line"
capture as_user "$U" check-limits --json
assert_jq "the running configuration stays (U still in staff)" '.group == "staff"' "$OUT"
ds01_done
