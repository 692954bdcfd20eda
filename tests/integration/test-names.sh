#!/usr/bin/env bash
# Bad project names and bad flags are usage errors (exit 2) and create nothing: no container,
# no workspace directory, no lease. The longest valid name (63 chars) works.
# ds01-test: kind=functional budget=6
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
LONG200=$(printf 'a%.0s' $(seq 1 200))
LONG64=$(printf 'b%.0s' $(seq 1 64))
LONG63=$(printf 'c%.0s' $(seq 1 63))

for name in '../x' 'A B' "$LONG200" '' '-x' 'Upper' "x._.$A" 'a/b' '.hidden' '_x' "$LONG64" 'x;id' 'x$(id)' 'ä'; do
	shown=$name
	[ ${#shown} -gt 40 ] && shown="${shown:0:10}...(${#name} chars)"
	assert_exit 2 -m "deploy '$shown' is a usage error (exit 2)" as_user "$A" container-deploy "$name"
	if [ "$RC" = 2 ] && [ -z "$ERR" ]; then
		not_ok "deploy '$shown': usage error has a message on stderr"
	fi
done
assert_instance_empty "no container created by any bad name"
if [ -z "$(ls -A "$HA/workspace" 2>/dev/null)" ]; then
	ok "no workspace directory created by any bad name"
else
	not_ok "no workspace directory created by any bad name" "$(ls -la "$HA/workspace")"
fi
[ -e /x ] && not_ok "'../x' created /x" || ok "nothing created outside the workspace root ('../x')"
assert_eq 0 "$(usage_gpueq "$A")" "no GPU leased"

# other verbs with bad names: usage error (or not found), never a crash
for verb in container-run container-retire container-stop container-start container-remove container-logs; do
	assert_exit '2|4' -m "$verb '../x' exits 2 (or 4)" as_user "$A" "$verb" '../x'
done

# bad flags
assert_exit 2 -m "deploy without a name" as_user "$A" container-deploy
assert_exit 2 -m "deploy --gpus abc" as_user "$A" container-deploy okname --gpus abc
assert_exit 2 -m "deploy --gpus -1" as_user "$A" container-deploy okname --gpus -1
assert_exit 2 -m "deploy --gpus 1 --cpu-only (conflict)" as_user "$A" container-deploy okname --gpus 1 --cpu-only
assert_exit 2 -m "deploy --bogus-flag" as_user "$A" container-deploy okname --bogus-flag
assert_exit 2 -m "deploy --open --background (conflict)" as_user "$A" container-deploy okname --open --background
assert_exit '1|2|4' -m "deploy --image with a bad reference fails" as_user "$A" container-deploy okname --image 'bad image!'
assert_instance_empty "no container created by bad flags"
assert_exit 0 -m "container-deploy -h exits 0" as_user "$A" container-deploy -h
assert_contains "$OUT$ERR" "container-deploy" "-h prints usage"

# the longest valid name works
assert_exit 0 -m "deploy a 63-char name --cpu-only" as_user "$A" container-deploy "$LONG63" --cpu-only
assert_eq running "$(docker_state "$LONG63._.$A")" "63-char project container running"
assert_exit 0 -m "retire the 63-char project" as_user "$A" container-retire "$LONG63"

# a login that is not a valid container-name part is named _u<uid> (no real login starts with _)
W="It$$W"
if useradd --badname -M -d /nonexistent-$$ "probe$$X" >/dev/null 2>&1; then
	userdel "probe$$X" >/dev/null 2>&1
	W=$(ds01_user "$W" --badname) || fail "cannot create user $W"
	UW=$(user_uid "$W")
	assert_exit 0 -m "user $W: deploy odd --cpu-only" as_user "$W" container-deploy odd --cpu-only --json
	assert_jq "container named odd._._u$UW" ".container == \"odd._._u$UW\"" "$OUT"
	assert_eq running "$(docker_state "odd._._u$UW")" "odd._._u$UW running"
	assert_exit 0 -m "user $W: run in odd" as_user "$W" container-run odd -- id -u
	assert_eq "$UW" "$OUT" "runs as $W's uid"
	assert_exit 0 -m "user $W: retire odd" as_user "$W" container-retire odd
else
	note "useradd --badname unsupported; skipping the _u<uid> case"
fi

assert_ok "daemon still answers" as_user "$A" ds01 version
assert_instance_empty "nothing left in Docker"
ds01_done
