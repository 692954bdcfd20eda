#!/usr/bin/env bash
# The Docker API endpoint with the real docker CLIs (the machine's /usr/local/bin/docker and
# Debian's docker.io client), run as unprivileged users through DOCKER_HOST: ps shows only the
# caller's containers, whatever filters; inspect, logs (tail, timestamps, follow), exec (piped
# stdin as editors use it, and -it under a pty), top, stats, port, cp out, stop/start/restart and
# rm work on their own container by project, full name or id prefix; the user guide's two
# commands work verbatim; calls ds01 does not offer are refused with a message naming what to
# use instead.
# ds01-test: kind=functional threads budget=36
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"

assert_exit 0 -m "A: deploy training" as_user "$A" container-deploy training --cpu-only
assert_exit 0 -m "A: deploy other" as_user "$A" container-deploy other --cpu-only
assert_exit 0 -m "B: deploy mine" as_user "$B" container-deploy mine --cpu-only
ID=$(docker inspect --format '{{.Id}}' "training._.$A")

for CLI in /usr/local/bin/docker /usr/bin/docker; do
	[ -x "$CLI" ] || fail "no docker client at $CLI (scripts/deps.sh installs both)"
	V=$("$CLI" version --format '{{.Client.Version}}' 2>/dev/null)
	note "client $CLI ($V)"
	capture as_user "$A" "$CLI" version --format '{{.Server.APIVersion}}'
	assert_eq 0 "$RC" "$V: docker version through the endpoint ($ERR)"
	assert_match "$OUT" '^1\.[0-9]+$' "$V: the server's API version is negotiated"

	capture as_user "$A" "$CLI" ps -a --format '{{.Names}}'
	assert_eq 0 "$RC" "$V: docker ps -a ($ERR)"
	assert_eq "$(printf 'other._.%s\ntraining._.%s' "$A" "$A")" "$(sort <<<"$OUT")" \
		"$V: ps -a lists A's two containers and nothing else"
	capture as_user "$A" "$CLI" ps -a --filter "name=mine" --format '{{.Names}}'
	assert_eq "" "$OUT" "$V: a name filter does not reach B's container"
	capture as_user "$A" "$CLI" ps -a --filter "label=ds01.instance=$INSTANCE" --filter "name=train" --format '{{.Names}}'
	assert_eq "training._.$A" "$OUT" "$V: filters the client sends still apply"

	capture as_user "$A" "$CLI" inspect --format '{{.Id}} {{.Config.User}}' "training._.$A"
	assert_eq "$ID $(id -u "$A"):$(id -g "$A")" "$OUT" "$V: inspect by full name"
	capture as_user "$A" "$CLI" inspect --format '{{.Name}}' "${ID:0:7}"
	assert_eq "/training._.$A" "$OUT" "$V: inspect by an id prefix"
	capture as_user "$A" "$CLI" inspect --format '{{.Name}}' training
	assert_eq "/training._.$A" "$OUT" "$V: inspect by project name"

	# exec with piped stdin and stdout, as editors use it
	capture as_user "$A" sh -c "printf 'hello from stdin\n' | $CLI exec -i training._.$A sh -c 'cat; id -u; echo err >&2'"
	assert_eq 0 "$RC" "$V: exec -i with piped stdin ($ERR)"
	assert_eq "$(printf 'hello from stdin\n%s' "$(id -u "$A")")" "$OUT" "$V: exec -i: stdin reached the command, which runs as A"
	assert_eq "err" "$ERR" "$V: exec -i: stderr comes back apart"
	capture as_user "$A" "$CLI" exec training sh -c 'exit 7'
	assert_eq 7 "$RC" "$V: exec's exit status comes back"
	capture as_user "$A" "$CLI" exec -u 0 training id -u
	assert_ne 0 "$RC" "$V: exec -u 0 is refused"
	assert_contains "$ERR" "run as you" "$V: exec -u 0: the refusal says why"

	# the user guide's two commands, verbatim (logs; exec -it under a pty)
	as_user "$A" "$CLI" exec training sh -c 'echo line-$(date +%s) >/proc/1/fd/1' >/dev/null 2>&1
	capture as_user "$A" "$CLI" logs "training._.$A"
	assert_eq 0 "$RC" "$V: docker logs training._.\$(whoami) ($ERR)"
	assert_match "$OUT" 'line-[0-9]+' "$V: logs show what the container wrote"
	capture as_user "$A" "$CLI" logs --tail 1 --timestamps training
	assert_match "$OUT" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+ line-[0-9]+$' "$V: logs --tail 1 --timestamps"
	capture as_user "$A" script -qec "$CLI exec -it training._.$A sh -c 'tty; echo \$((6*7))'" /dev/null
	assert_eq 0 "$RC" "$V: docker exec -it training._.\$(whoami) under a pty ($ERR)"
	assert_match "$OUT" '/dev/pts/[0-9]+' "$V: exec -it has a terminal inside"
	assert_contains "$OUT" "42" "$V: exec -it ran the command"

	capture as_user "$A" "$CLI" top training
	assert_eq 0 "$RC" "$V: docker top ($ERR)"
	assert_contains "$OUT" "/.ds01/init" "$V: top lists the container's processes"
	capture as_user "$A" "$CLI" stats --no-stream --format '{{.Name}}' training
	assert_eq "training._.$A" "$OUT" "$V: stats --no-stream ($ERR)"
	capture as_user "$A" "$CLI" exec training sh -c 'echo payload >/tmp/cp-test'
	assert_eq 0 "$RC" "$V: exec writes a file in /tmp ($ERR)"
	capture as_user "$A" "$CLI" cp "training:/tmp/cp-test" -
	assert_eq 0 "$RC" "$V: docker cp out of the container ($ERR)"
	assert_contains "$OUT" "payload" "$V: docker cp brings the file out"
done

# B cannot see or touch A's containers, by any name
for REF in "training._.$A" "${ID:0:12}" "$ID"; do
	capture as_user "$B" docker inspect "$REF"
	assert_ne 0 "$RC" "B: docker inspect $REF fails"
	assert_contains "$ERR" "No such" "B: $REF is 'No such container' to B"
	capture as_user "$B" docker exec "$REF" true
	assert_contains "$ERR" "No such container" "B: docker exec $REF -> No such container"
	capture as_user "$B" docker stop "$REF"
	assert_contains "$ERR" "No such container" "B: docker stop $REF -> No such container"
done
assert_eq running "$(docker_state "training._.$A")" "A's container still runs"
wait_event 10 ".event_type == \"auth.denied\" and .user == \"$B\" and .details.action == \"docker-api.container\"" &&
	ok "B's attempts are audited (auth.denied)" || not_ok "B's attempts are audited (auth.denied)"

# lifecycle verbs go through ds01's own
as_user "$A" docker exec training sh -c 'echo kept >/workspace/kept'
assert_exit 0 -m "A: docker stop training" as_user "$A" docker stop training
assert_eq exited "$(docker_state "training._.$A")" "docker stop stopped it"
assert_exit 0 -m "A: docker start training" as_user "$A" docker start training
assert_eq running "$(docker_state "training._.$A")" "docker start started it again"
capture as_user "$A" docker exec training cat /workspace/kept
assert_eq "kept" "$OUT" "the workspace is mounted again after a docker start"
assert_exit 0 -m "A: docker restart training" as_user "$A" docker restart -t 1 training
assert_eq running "$(docker_state "training._.$A")" "docker restart leaves it running"
assert_exit 0 -m "A: docker rm -f other" as_user "$A" docker rm -f other
assert_no_container "other._.$A" "docker rm -f removed it"
capture as_user "$A" container-list --json
assert_not_contains "$OUT" "other._.$A" "container-list agrees: other is gone"

# what ds01 does not offer: refused, with what to use instead
capture as_user "$A" docker network create mynet
assert_ne 0 "$RC" "docker network create is refused"
assert_contains "$ERR" "private network" "the refusal says each user has a private network"
capture as_user "$A" docker volume ls
assert_contains "$ERR" "/workspace" "docker volume ls: the refusal points at the workspace"
capture as_user "$A" docker system prune -f
assert_contains "$ERR" "administrators" "docker system prune is for administrators"
capture as_user "$A" docker pull busybox
assert_contains "$ERR" "image-create" "docker pull: the refusal names image-create"
capture as_user "$A" docker images --format '{{.Repository}}'
assert_eq 0 "$RC" "docker images ($ERR)"
assert_contains "$OUT" "ds01-test/busybox" "docker images shows the site's images"
ds01_done
