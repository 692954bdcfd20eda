#!/usr/bin/env bash
# docker run / create through the Docker API endpoint are ds01 deploys: the container is managed
# (container-list shows it, retire works), runs as the user with the group's limits on their own
# network, labelled ds01.interface=docker; the image's command or the client's runs (exit status,
# output, -it under a pty, --rm); -v ~/workspace/P:/path mounts that workspace; --gpus N leases
# GPUs like container-deploy, released by docker rm; one container per name.
# ds01-test: kind=functional budget=28
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
IMG=$DS01_IMAGE

capture as_user "$A" docker run --rm "$IMG" echo hello
assert_eq 0 "$RC" "docker run --rm IMAGE echo hello ($ERR)"
assert_eq hello "$OUT" "the command's output comes back"
capture as_user "$A" docker run --rm "$IMG" sh -c 'exit 3'
assert_eq 3 "$RC" "docker run passes the command's exit status on"
wait_for 10 eval '[ "$(instance_container_count)" = 0 ]' && ok "--rm containers are gone" ||
	not_ok "--rm containers are gone" "$(docker ps -a --filter "label=ds01.instance=$INSTANCE")"

capture as_user "$A" docker run -d --name web -e GREETING=hi -l app=web "$IMG" sleep 300
assert_eq 0 "$RC" "docker run -d --name web ($ERR)"
NAME="web._.$A"
assert_eq running "$(docker_state "$NAME")" "it runs as $NAME"
J=$(docker_json "$NAME")
assert_eq "$(id -u "$A"):$(id -g "$A")" "$(jq -r .Config.User <<<"$J")" "it runs as A"
assert_eq docker "$(jq -r '.Config.Labels["ds01.interface"]' <<<"$J")" "labelled ds01.interface=docker"
assert_eq web "$(jq -r '.Config.Labels.app' <<<"$J")" "the client's label is kept"
assert_contains "$(jq -r '.Config.Env[]' <<<"$J")" "GREETING=hi" "the client's environment is kept"
assert_eq true "$(jq -r '.HostConfig.Privileged == false and (.HostConfig.CapDrop | index("ALL") != null)' <<<"$J")" \
	"not privileged, capabilities dropped"
assert_match "$(jq -r .HostConfig.NetworkMode <<<"$J")" "^ds01-" "on ds01's per-user network"
assert_match "$(jq -r .HostConfig.PidsLimit <<<"$J")" '^[1-9][0-9]*$' "the group's pids limit applies"
capture as_user "$A" container-list --json
assert_contains "$OUT" "$NAME" "container-list shows the docker-made container"
capture as_user "$A" docker exec web sh -c 'echo $GREETING; pwd'
assert_eq "$(printf 'hi\n/workspace')" "$OUT" "docker exec into it: env kept, /workspace its working directory"

capture as_user "$A" docker run -d --name web "$IMG" sleep 300
assert_ne 0 "$RC" "a second container of the same name is refused"
assert_contains "$ERR" "already in use" "it says the name is in use"

# a project directory bound in, as dev-container clients and compose do
WS=$(user_home "$A")/workspace
as_user "$A" mkdir -p "$WS/proj"
capture as_user "$A" docker run --rm --name dev -v "$WS/proj:/code" -w /code "$IMG" sh -c 'echo made >/code/f; pwd; id -u'
assert_eq 0 "$RC" "docker run -v ~/workspace/proj:/code ($ERR)"
assert_eq "$(printf '/code\n%s' "$(id -u "$A")")" "$OUT" "-w /code, run as A"
assert_eq made "$(cat "$WS/proj/f" 2>/dev/null)" "the file is in ~/workspace/proj on the host"
assert_eq "$A" "$(stat -c %U "$WS/proj/f")" "owned by A"
[ ! -e "$WS/dev" ] && ok "no stray workspace for the container's own name" || not_ok "no stray workspace" "$(ls "$WS")"

# a terminal, as `docker run -it` gives
capture as_user "$A" script -qec "docker run -it --rm $IMG sh -c 'tty; echo \$((6*7))'" /dev/null
assert_eq 0 "$RC" "docker run -it under a pty ($ERR)"
assert_match "$OUT" '/dev/pts/[0-9]+' "docker run -it has a terminal"
assert_contains "$OUT" "42" "docker run -it ran the command"

# GPUs lease like container-deploy's
capture as_user "$A" docker run -d --name g --gpus 1 "$IMG" sleep 300
assert_eq 0 "$RC" "docker run --gpus 1 ($ERR)"
assert_eq 1 "$(gpus_leased_count)" "one GPU is leased"
assert_match "$(container_gpus "$A" g)" "^GPU-" "container-list shows it on g"
capture as_user "$A" docker run -d --gpus all "$IMG" true
assert_contains "$ERR" "--gpus N" "--gpus all is refused with the way to ask"
assert_exit 0 -m "docker rm -f g" as_user "$A" docker rm -f g
assert_eq 0 "$(gpus_leased_count)" "docker rm released the GPU"

# docker create + start -a
capture as_user "$A" docker create --name later "$IMG" echo from-later
assert_eq 0 "$RC" "docker create ($ERR)"
assert_eq created "$(docker_state "later._.$A")" "created, not started"
capture as_user "$A" docker start -a later
assert_eq from-later "$OUT" "docker start -a runs it and shows its output"
# wait, kill, attach: as docker passes them on
assert_exit 0 -m "docker run -d a ticker" as_user "$A" docker run -d --name tick "$IMG" \
	sh -c 'trap "exit 9" TERM; while :; do echo tick; sleep 0.2; done'
capture as_user "$A" timeout -s INT 3 docker attach --no-stdin --sig-proxy=false tick
assert_contains "$OUT" "tick" "docker attach shows the container's output as it comes"
assert_exit 0 -m "docker kill -s TERM tick" as_user "$A" docker kill -s TERM tick
capture as_user "$A" docker wait tick
assert_eq 9 "$OUT" "docker wait gives its exit status"
assert_exit 0 -m "container-retire tick" as_user "$A" container-retire tick
assert_exit 0 -m "container-retire web" as_user "$A" container-retire web
assert_exit 0 -m "container-retire later" as_user "$A" container-retire later
ds01_done
