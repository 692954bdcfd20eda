#!/usr/bin/env bash
# Issue 11 item 24: container names are unique per uid. A login that cannot be part of a
# container name (here with capitals, like "Zed") is named "_u<uid>", which no real login can be;
# a real user whose login is "u<that uid>" deploys the same project beside it: each gets a
# container of their own, sees only their own workspace, runs as their own uid, and cannot reach
# the other's container by its full name.
# ds01-test: kind=security budget=12
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

if ! useradd --badname -M -d /nonexistent-$$ "probe$$X" >/dev/null 2>&1; then
	skip_test "useradd --badname unsupported"
fi
userdel "probe$$X" >/dev/null 2>&1
Z=$(ds01_user "Zit$$" --badname) || fail "cannot create user Zit$$"
UZ=$(user_uid "$Z")
U=$(ds01_user "u$UZ") || fail "cannot create user u$UZ"
UU=$(user_uid "$U")
note "$Z has uid $UZ; the real user $U has uid $UU"

assert_exit 0 -m "$Z: deploy same --cpu-only" as_user "$Z" container-deploy same --cpu-only --json
assert_jq "$Z's container is same._._u$UZ" ".container == \"same._._u$UZ\" and .existed == false" "$OUT"
assert_exit 0 -m "$U: deploy same --cpu-only" as_user "$U" container-deploy same --cpu-only --json
assert_jq "$U gets a new container of their own, same._.$U" \
	".container == \"same._.$U\" and .existed == false" "$OUT"
assert_jq "$U's deploy shows $U's workspace" \
	".workspace == \"$(user_home "$U")/workspace/same\"" "$OUT"
assert_eq running "$(docker_state "same._._u$UZ")" "$Z's container running"
assert_eq running "$(docker_state "same._.$U")" "$U's container running"

assert_exit 0 -m "$Z: write a file in /workspace" as_user "$Z" container-run same -- sh -c 'echo zed-secret > /workspace/zfile'
assert_exit 0 -m "$U: run id -u in same" as_user "$U" container-run same -- id -u
assert_eq "$UU" "$OUT" "$U's session runs as $U's uid"
assert_exit 1 -m "$U: $Z's file is not in $U's /workspace" as_user "$U" container-run same -- cat /workspace/zfile
assert_exit 0 -m "$Z: run id -u in same" as_user "$Z" container-run same -- id -u
assert_eq "$UZ" "$OUT" "$Z's session runs as $Z's uid"

list_json "$U"
assert_jq "$U's container-list: only same._.$U" "[.containers[].name] == [\"same._.$U\"]" "$OUT"
list_json "$Z"
assert_jq "$Z's container-list: only same._._u$UZ" "[.containers[].name] == [\"same._._u$UZ\"]" "$OUT"
assert_exit 4 -m "$U: container-stop same._._u$UZ ($Z's) is not found" as_user "$U" container-stop "same._._u$UZ"
assert_eq running "$(docker_state "same._._u$UZ")" "$Z's container still running"

assert_exit 0 -m "$Z: retire same" as_user "$Z" container-retire same
assert_exit 0 -m "$U: retire same" as_user "$U" container-retire same
assert_instance_empty "nothing left in Docker"
ds01_done
