#!/usr/bin/env bash
# Issue 11, item 9: containers of different users do not reach each other over the network, and
# image builds (root, NET_RAW) run on a network of their own. User A serves a secret with httpd
# from a batch container; A's second container fetches it (a user's containers reach each
# other); B's container, a RUN step of B's image build and B on the host cannot (root and A on
# the host can). Each user's containers share one ds01-labelled network (<instance>-u<uid>) with
# a subnet from network.pool (default 10.213.0.0/16, /26 each). At start ds01d moves containers
# still on Docker's default bridge (made before this) to their owner's network and removes the
# networks nothing uses any more.
# The probes that must fail wait out their timeouts (Docker drops the packets) side by side with
# the rest, in the background, so the timeouts stay as long as they were.
# ds01-test: kind=security budget=27
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user A"
B=$(ds01_image_user "it$$b") || fail "cannot create user B"
UA=$(user_uid "$A")
UB=$(user_uid "$B")
SECRET="secret-of-$A-$$"

# --- A's web server ------------------------------------------------------------------------------
assert_exit 0 -m "A: deploy web, a batch httpd on port 8080" \
	as_user "$A" container-deploy web --cpu-only -- httpd -f -p 8080 -h /workspace ||
	fail "A's web server did not deploy"
as_user "$A" sh -c "echo $SECRET > \$HOME/workspace/web/index.html"
IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "web._.$A")
[ -n "$IP" ] || fail "A's web container has no IP address"
note "A's web server: $IP:8080"

# fetch USER PROJECT: GET /index.html from A's server inside USER's container PROJECT.
fetch() {
	capture as_user "$1" container-run "$2" -- \
		sh -c "printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 2 $IP 8080"
}
fetched() { fetch "$@" && [[ $OUT == *"$SECRET"* ]]; }

assert_exit 0 -m "A: deploy a second container, mine" as_user "$A" container-deploy mine --cpu-only
assert_exit 0 -m "B: deploy a container, probe" as_user "$B" container-deploy probe --cpu-only

# The positive control first: the server is up and reachable where it should be.
if wait_for 15 fetched "$A" mine; then
	ok "A's second container reads A's web server"
else
	fail "A's second container cannot read A's web server: $(_ds01_last)"
fi

# From the host: root and A (the owner) may connect to A's container, B may not.
# host_fetch as_user USER | as_root: the same GET on the host (bash's /dev/tcp), as USER or root.
HOST_GET="exec 3<>/dev/tcp/$IP/8080 && printf 'GET /index.html HTTP/1.0\r\n\r\n' >&3 && cat <&3"
host_fetch() { capture "$@" timeout 5 bash -c "$HOST_GET"; }
# host_fetch_bg NAME as_user USER | as_root: host_fetch in the background, into $T/NAME.*;
# host_fetch_end NAME waits for it and sets OUT, ERR and RC.
host_fetch_bg() {
	local n=$1
	shift
	("$@" timeout 5 bash -c "$HOST_GET" >"$T/$n.out" 2>"$T/$n.err"; echo $? >"$T/$n.rc") &
	eval "HF_$n=\$!"
}
host_fetch_end() {
	local pid
	eval "pid=\$HF_$1"
	wait "$pid"
	OUT=$(cat "$T/$1.out") ERR=$(cat "$T/$1.err") RC=$(cat "$T/$1.rc")
}
# blocked DESC: the last fetch failed as a dropped (timed out) or refused connection does.
blocked() {
	if [ "$RC" = 124 ] || { [ "$RC" = 1 ] && [[ $ERR == *"/dev/tcp"* ]]; }; then
		ok "$1 (exit $RC)"
	else
		not_ok "$1" "$(_ds01_last)"
	fi
}

# B's image build: its RUN step records what it got; the image's /got must not hold A's secret.
# It runs while the rest is checked.
image_dockerfile "$B" bprobe \
	"RUN (printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $IP 8080 > /got 2>&1; echo rc=\$? >> /got); cat /got"
as_user_bg "$B" image-create bprobe >"$T/bprobe.out" 2>&1
BUILD=$!
host_fetch_bg hb1 as_user "$B"
fetch "$B" probe
assert_not_contains "$OUT" "$SECRET" "B's container cannot read A's web server"
assert_eq 1 "$RC" "B's connection to A's container fails (exit 1)"
assert_match "$OUT$ERR" "nc: (timed out|can't connect)" "... nc says it could not connect"
host_fetch as_user "$A"
assert_contains "$OUT" "$SECRET" "A reads A's web server from the host"
host_fetch as_root
assert_contains "$OUT" "$SECRET" "root reads A's web server from the host"
host_fetch_end hb1
assert_not_contains "$OUT" "$SECRET" "B cannot read A's web server from the host"
blocked "B's connection from the host to A's container fails"

# --- the networks ----------------------------------------------------------------------------------
NA="$INSTANCE-u$UA"
NB="$INSTANCE-u$UB"
for c in "web._.$A" "mine._.$A"; do
	assert_eq "$NA" "$(docker inspect -f '{{.HostConfig.NetworkMode}}' "$c")" "$c runs on $NA"
done
assert_eq "$NB" "$(docker inspect -f '{{.HostConfig.NetworkMode}}' "probe._.$B")" "B's container runs on $NB"
NJ=$(docker network inspect "$NA" | jq '.[0]')
assert_jq "$NA carries A's uid and this instance" \
	'.Labels["ds01.uid"] == "'"$UA"'" and .Labels["ds01.instance"] == "'"$INSTANCE"'"' "$NJ"
assert_jq "$NA has a /26 of the default network.pool" \
	'.IPAM.Config[0].Subnet | test("^10\\.213\\.[0-9]+\\.[0-9]+/26$")' "$NJ"

# --- an image build of B's --------------------------------------------------------------------------
wait "$BUILD"
BRC=$?
[ "$BRC" = 0 ] && ok "B: image-create bprobe builds" ||
	not_ok "B: image-create bprobe builds" "exit $BRC: $(tail -n 20 "$T/bprobe.out")"
GOT=$(docker run --rm --network none --entrypoint cat "$(user_image "$B" bprobe)" /got 2>&1)
note "the build's RUN got: $(printf '%s' "$GOT" | tr '\n' ' ' | head -c 200)"
assert_match "$GOT" '^rc=1$' "the build's RUN step ran its probe, and it failed"
assert_match "$GOT" "nc: (timed out|can't connect)" "... nc says it could not connect"
assert_not_contains "$GOT" "$SECRET" "B's image build cannot read A's web server"

# --- a restart: containers move off the default bridge, unused networks go ---------------------
# A container made before per-user networks: put A's "mine" back on Docker's default bridge.
assert_exit 0 -m "B: retire probe" as_user "$B" container-retire probe
ds01_stop_daemon
docker network connect bridge "mine._.$A" && docker network disconnect "$NA" "mine._.$A" ||
	fail "cannot move mine._.$A to the default bridge"
ds01_start_daemon
host_fetch_bg hb2 as_user "$B"
assert_eq "$NA" "$(docker inspect "mine._.$A" | jq -r '.[0].NetworkSettings.Networks | keys | join(",")')" \
	"at start, ds01d moves a container on the default bridge to its owner's network"
wait_for 10 fetched "$A" mine && ok "A's moved container reads A's web server again" ||
	not_ok "A's moved container reads A's web server again" "$(_ds01_last)"
wait_for 10 sh -c "! docker network inspect $NB >/dev/null 2>&1" &&
	ok "B's network is removed once B has no container" ||
	not_ok "B's network is removed once B has no container"
docker network inspect "$NA" >/dev/null 2>&1 && ok "A's network stays while A has containers" ||
	not_ok "A's network stays while A has containers"
n=$(docker network ls -q --filter "label=ds01.instance=$INSTANCE" --filter "label=ds01.network=builds" | grep -c .)
assert_eq 0 "$n" "no build network is left after the builds"
host_fetch as_user "$A"
assert_contains "$OUT" "$SECRET" "after the restart, A still reads it"
host_fetch_end hb2
assert_not_contains "$OUT" "$SECRET" "after the restart, B still cannot read A's web server from the host"
blocked "after the restart, B's connection from the host fails"
ds01_done
