#!/usr/bin/env bash
# Docker Compose (Debian's docker-compose 1.29) works for a user through ds01's Docker endpoint:
# `docker-compose up -d` of a two-service project in ~/workspace/shop makes two ds01-managed
# containers (container-list shows them), labelled ds01.interface=compose, with the group's
# limits, on the user's own network where the client reaches web by its service name; the
# project's directory is their /workspace; `ps`, `exec`, `run --rm`, a second `up` and an
# attached `up` work; `down` removes the containers and the project's network, which was never a
# Docker network (a view of the user's own), and leaves nothing. Another user does not see the
# project's network; a Compose network asking for what a view cannot give is refused.
# ds01-test: kind=functional budget=38
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
IMG=$DS01_IMAGE
command -v docker-compose >/dev/null || fail "docker-compose is missing (scripts/deps.sh installs it)"
WS=$(user_home "$A")/workspace
as_user "$A" mkdir -p "$WS/shop"
as_user "$A" sh -c "cat >$WS/shop/docker-compose.yml" <<YML
version: "3"
services:
  web:
    image: $IMG
    command: ["sh", "-c", "mkdir -p /tmp/www && echo hello-from-web >/tmp/www/index.html && echo made-by-web >/workspace/from-web && exec httpd -f -p 8080 -h /tmp/www"]
  client:
    image: $IMG
    command: ["sleep", "600"]
    depends_on: [web]
YML
# dc DIR ARGS...: docker-compose in ~/workspace/DIR as A
dc() {
	local dir=$1
	shift
	capture as_user "$A" sh -c "cd $WS/$dir && exec timeout 120 docker-compose $*"
}

dc shop up -d
assert_eq 0 "$RC" "docker-compose up -d ($ERR)"
WEB="shop_web_1._.$A"
CLIENT="shop_client_1._.$A"
assert_eq running "$(docker_state "$WEB")" "web runs as $WEB"
assert_eq running "$(docker_state "$CLIENT")" "client runs as $CLIENT"
capture as_user "$A" container-list --json
assert_contains "$OUT" "$WEB" "container-list shows web: it is ds01-managed"
assert_contains "$OUT" "$CLIENT" "container-list shows client"
for C in "$WEB" "$CLIENT"; do
	J=$(docker_json "$C")
	assert_eq compose "$(jq -r '.Config.Labels["ds01.interface"]' <<<"$J")" "$C: labelled ds01.interface=compose"
	assert_eq shop "$(jq -r '.Config.Labels["com.docker.compose.project"]' <<<"$J")" "$C: Compose's labels kept"
	assert_eq "$(id -u "$A"):$(id -g "$A")" "$(jq -r .Config.User <<<"$J")" "$C: runs as A"
	assert_eq "256 268435456 1000000000" "$(jq -r '"\(.HostConfig.PidsLimit) \(.HostConfig.Memory) \(.HostConfig.NanoCpus)"' <<<"$J")" \
		"$C: the group's pids, memory and CPU limits, as a deploy's"
	assert_eq true "$(jq -r '.HostConfig.Privileged == false and (.HostConfig.CapDrop | index("ALL") != null)' <<<"$J")" \
		"$C: not privileged, capabilities dropped"
	assert_match "$(jq -r .HostConfig.NetworkMode <<<"$J")" "^$INSTANCE-u$(id -u "$A")\$" "$C: on A's own network"
done
assert_contains "$(jq -c '.NetworkSettings.Networks[].Aliases' <<<"$(docker_json "$WEB")")" '"web"' \
	"web answers to its service name on A's network"

dc shop ps
assert_eq 0 "$RC" "docker-compose ps ($ERR)"
assert_match "$OUT" "shop_web_1[^ ]* .* Up" "ps shows web up"
assert_match "$OUT" "shop_client_1[^ ]* .* Up" "ps shows client up"
dc shop exec -T client wget -qO- http://web:8080/
assert_eq hello-from-web "$OUT" "client reaches web by its service name ($ERR)"
wait_for 10 test -e "$WS/shop/from-web" || true
assert_eq made-by-web "$(cat "$WS/shop/from-web" 2>/dev/null)" "the project's directory is the services' /workspace"
[ ! -e "$WS/shop_web_1" ] && [ ! -e "$WS/shop_client_1" ] && ok "no workspace of the containers' own names" ||
	not_ok "no stray workspaces" "$(ls "$WS")"
dc shop run --rm client sh -c "'wget -qO- http://web:8080/; id -u'"
assert_eq "$(printf 'hello-from-web\n%s' "$(id -u "$A")")" "$OUT" "docker-compose run --rm: a one-off container as A, reaching web ($ERR)"
dc shop up -d
assert_eq 0 "$RC" "a second up -d ($ERR)"
assert_contains "$ERR" "is up-to-date" "it finds the project as it left it"

# the project's network is a view of A's own: no Docker network, nothing another user sees
capture as_user "$A" docker network ls --format '{{.Name}} {{.Driver}}'
assert_eq "shop_default bridge" "$OUT" "A's docker network ls shows the project's network"
assert_eq "" "$(docker network ls -q --filter name=shop_default)" "it is no Docker network"
capture as_user "$B" docker network inspect shop_default
assert_ne 0 "$RC" "B does not see A's project network"
capture as_user "$B" docker network ls -q
assert_eq "" "$OUT" "B's network list is empty"
capture as_user "$B" docker network rm shop_default
assert_ne 0 "$RC" "B cannot remove it"

dc shop down
assert_eq 0 "$RC" "docker-compose down ($ERR)"
assert_contains "$ERR" "Removing network shop_default" "down removes the project's network"
assert_not_contains "$ERR" "not found" "... which was there"
assert_instance_empty "down removed both containers"
capture as_user "$A" container-list --json
assert_not_contains "$OUT" "shop_" "container-list shows none"
capture as_user "$A" docker network ls -q
assert_eq "" "$OUT" "A has no networks left"
assert_eq "" "$(docker network ls -q --filter name=shop_)" "no stray networks in Docker"

# an attached up: the services' output, then their exits (Compose follows them by events)
as_user "$A" mkdir -p "$WS/short"
as_user "$A" sh -c "cat >$WS/short/docker-compose.yml" <<YML
services:
  one:
    image: $IMG
    command: ["sh", "-c", "sleep 1; echo one-says-hi; sleep 1"]
  two:
    image: $IMG
    command: ["sh", "-c", "sleep 1; echo two-says-hi; sleep 2"]
YML
dc short up
assert_eq 0 "$RC" "an attached docker-compose up ($ERR)"
assert_match "$OUT" "one_1.*\\|.*one-says-hi" "it shows one's output"
assert_match "$OUT" "two_1.*\\|.*two-says-hi" "it shows two's output"
assert_contains "$OUT" "exited with code 0" "and their exits"
dc short down
assert_eq 0 "$RC" "down ($ERR)"
assert_instance_empty "nothing left"

# a Compose network asking for what a view cannot give: refused, nothing made
as_user "$A" mkdir -p "$WS/odd"
as_user "$A" sh -c "cat >$WS/odd/docker-compose.yml" <<YML
services:
  one:
    image: $IMG
    command: ["sleep", "60"]
networks:
  default:
    internal: true
YML
dc odd up -d
assert_ne 0 "$RC" "an internal network is refused"
assert_contains "$ERR" "internal network is not available" "the refusal names it"
assert_instance_empty "nothing was made"
ds01_done
