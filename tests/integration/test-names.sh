#!/usr/bin/env bash
# Bad project names and bad flags are usage errors (exit 2) and create nothing: no container,
# no workspace directory, no lease. The longest valid name (63 chars) works.
# ds01-test: kind=functional budget=18
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
LONG200=$(printf 'a%.0s' $(seq 1 200))
LONG64=$(printf 'b%.0s' $(seq 1 64))
LONG63=$(printf 'c%.0s' $(seq 1 63))

USAGE_DEPLOY="Usage: container-deploy NAME [--image IMG] [--gpus N | --mig PROFILE | --cpu-only | --slurm-job JOB] [--open | --background] [--port PORT]... [--data NAME]... [--ssh | --no-ssh] [--wait] [--max-wait DUR] [--json] [-- CMD...]"
# usage_is VERB MESSAGE DESC: stderr is "VERB: MESSAGE", the verb's usage line and the --help
# pointer; nothing on stdout.
usage_is() {
	local usage
	usage=$(as_user "$A" "$1" --help 2>/dev/null | head -n 1)
	assert_eq "$1: $2
$usage
Try '$1 --help' for more." "$ERR" "$3"
	[ -n "$OUT" ] && not_ok "$3: nothing on stdout" "$OUT"
}
for name in '../x' 'A B' "$LONG200" '' '-x' 'Upper' "x._.$A" 'a/b' '.hidden' '_x' "$LONG64" 'x;id' 'x$(id)' 'ä'; do
	shown=$name
	[ ${#shown} -gt 40 ] && shown="${shown:0:10}...(${#name} chars)"
	case "$name" in
	'') msg="missing project name: give one, e.g. 'container-deploy my-project'" ;;
	-x) msg="unknown option '-x'" ;;
	"$LONG200" | "$LONG64") msg="project name is ${#name} characters long: use at most 63 (lower-case letters, digits, '-' and '_')" ;;
	*) msg="invalid project name '$name': use lower-case letters, digits, '-' and '_', starting with a letter or digit (e.g. 'my-project')" ;;
	esac
	assert_exit 2 -m "deploy '$shown' is a usage error (exit 2)" as_user "$A" container-deploy "$name"
	usage_is container-deploy "$msg" "deploy '$shown': the message says why, with the usage"
done
assert_eq "$USAGE_DEPLOY" "$(as_user "$A" container-deploy --help | head -n 1)" "(container-deploy's usage line)"
assert_instance_empty "no container created by any bad name"
if [ -z "$(ls -A "$HA/workspace" 2>/dev/null)" ]; then
	ok "no workspace directory created by any bad name"
else
	not_ok "no workspace directory created by any bad name" "$(ls -la "$HA/workspace")"
fi
[ -e /x ] && not_ok "'../x' created /x" || ok "nothing created outside the workspace root ('../x')"
assert_eq 0 "$(usage_gpueq "$A")" "no GPU leased"

# other verbs with bad names: a usage error, never a crash
for verb in container-run container-retire container-stop container-start container-remove container-logs; do
	assert_exit 2 -m "$verb '../x' is a usage error (exit 2)" as_user "$A" "$verb" '../x'
	usage_is "$verb" "'../x' is not a container name: give a project name such as 'my-project'" \
		"$verb '../x': the message says why, with the usage"
done

# bad flags
assert_exit 2 -m "deploy without a name" as_user "$A" container-deploy
usage_is container-deploy "missing NAME" "...'missing NAME'"
assert_exit 2 -m "deploy --gpus abc" as_user "$A" container-deploy okname --gpus abc
usage_is container-deploy "the number of GPUs must be 0..64, not 'abc'" "...names the bad number"
assert_exit 2 -m "deploy --gpus -1" as_user "$A" container-deploy okname --gpus -1
usage_is container-deploy "the number of GPUs must be 0..64, not '-1'" "...names the bad number"
assert_exit 2 -m "deploy --gpus 1 --cpu-only (conflict)" as_user "$A" container-deploy okname --gpus 1 --cpu-only
usage_is container-deploy "--gpus and --cpu-only do not go together" "...names the conflict"
assert_exit 2 -m "deploy --bogus-flag" as_user "$A" container-deploy okname --bogus-flag
usage_is container-deploy "unknown option '--bogus-flag'" "...names the unknown option"
assert_exit 2 -m "deploy --open --background (conflict)" as_user "$A" container-deploy okname --open --background
usage_is container-deploy "--open and --background do not go together" "...names the conflict"
assert_exit 2 -m "deploy --image with a bad reference is a usage error (exit 2)" \
	as_user "$A" container-deploy okname --image 'bad image!'
assert_eq "container-deploy: invalid image name 'bad image!' - give a local image such as 'ds01/base:latest' (image-list shows yours)" \
	"$ERR" "...saying the image name is invalid"
assert_instance_empty "no container created by bad flags"
assert_exit 0 -m "container-deploy -h exits 0" as_user "$A" container-deploy -h
assert_eq "$USAGE_DEPLOY" "$(head -n 1 <<<"$OUT")" "-h prints the usage on stdout"
assert_eq "" "$ERR" "-h prints nothing on stderr"

# the longest valid name works
assert_exit 0 -m "deploy a 63-char name --cpu-only" as_user "$A" container-deploy "$LONG63" --cpu-only
assert_eq running "$(docker_state "$LONG63._.$A")" "63-char project container running"
assert_exit 0 -m "retire the 63-char project" as_user "$A" container-retire "$LONG63"

# A login that is not a valid container-name part is named _u<uid>. Two real ones, both always
# created (a useradd that refuses one fails the test): a leading underscore, as Debian's own
# system logins have (_apt), which plain useradd accepts; and capitals, which need --badname
# (Debian 12's useradd has it).
W1=$(ds01_user "_it$$w") || fail "cannot create user _it$$w"
W2=$(ds01_user "It$$W" --badname) || fail "cannot create user It$$W (useradd --badname)"
for W in "$W1" "$W2"; do
	UW=$(user_uid "$W")
	assert_exit 0 -m "user $W: deploy odd --cpu-only" as_user "$W" container-deploy odd --cpu-only --json
	assert_jq "$W's container is named odd._._u$UW" ".container == \"odd._._u$UW\"" "$OUT"
	assert_eq running "$(docker_state "odd._._u$UW")" "odd._._u$UW running"
	assert_exit 0 -m "user $W: run in odd" as_user "$W" container-run odd -- id -u
	assert_eq "$UW" "$OUT" "runs as $W's uid"
	assert_exit 0 -m "user $W: container-list --json" as_user "$W" container-list --json
	assert_jq "$W's list has odd._._u$UW, owned by $W" \
		"[.containers[] | {name, user}] == [{\"name\": \"odd._._u$UW\", \"user\": \"$W\"}]" "$OUT"
	assert_exit 0 -m "user $W: retire odd" as_user "$W" container-retire odd
done

assert_ok "daemon still answers" as_user "$A" ds01 version
assert_instance_empty "nothing left in Docker"
ds01_done
