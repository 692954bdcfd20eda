#!/usr/bin/env bash
# The one authorisation rule (src/daemon/requests/access.h), method by method: as a real second
# user B, every RPC method that takes a target (its row in the method table says which) is
# tried against user A's container, image and exec session, through the real socket. Each
# answers exactly as for a missing object (exit code 4, "no ..."), writes one auth.denied event
# naming B, the verb and the target, and changes nothing: A's containers keep their state, A's
# image and session live on, B gets no container. --all from B is exit 5 everywhere, and so is
# an administrators' method. The table below must name every method with a target: a method
# added with one and left out here fails this test.
# ds01-test: kind=security budget=30
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
UA=$(id -u "$A")
cp "$(dirname "$0")/raw-rpc.py" "$T/raw-rpc.py"
chmod 755 "$T/raw-rpc.py"
rpc() { as_user "$B" /usr/bin/python3 "$T/raw-rpc.py" call "$@"; }

# --- A's objects ------------------------------------------------------------------------------
assert_exit 0 -m "A: deploy a1 (running)" as_user "$A" container-deploy a1 --cpu-only
assert_exit 0 -m "A: deploy a2" as_user "$A" container-deploy a2 --cpu-only
assert_exit 0 -m "A: stop a2 (stopped)" as_user "$A" container-stop a2 --timeout 1
AIMG="ds01-$UA/aimg:latest"
# an image id of A's own: a tag on the shared test image would make that image A's for every test
# running beside this one (an image is usable only when no tag says it is another user's)
printf 'FROM %s\nLABEL ds01.user_id=%s\n' "$DS01_IMAGE" "$UA" | docker build -q -t "$AIMG" - >/dev/null ||
	fail "cannot build A's image"
trap_extra() { docker rmi "$AIMG" >/dev/null 2>&1; }
as_user_bg "$A" container-run a1 -- sleep 120 >/dev/null 2>&1
wait_for 10 sh -c "[ \"\$(docker inspect -f '{{len .ExecIDs}}' a1._.$A 2>/dev/null)\" -gt 0 ]" ||
	fail "A's session did not open"
EXEC=$(docker inspect -f '{{index .ExecIDs 0}}' "a1._.$A")

# --- the table: METHOD PARAMS EXIT AUDITED-TARGET (- for none) ---------------------------------
A1="a1._.$A" A2="a2._.$A"
ROWS=(
	"container.deploy|{\"project\":\"bx\",\"image\":\"$AIMG\",\"cpu_only\":true}|4|$AIMG"
	"container.start|{\"name\":\"$A2\"}|4|$A2"
	"container.stop|{\"name\":\"$A1\"}|4|$A1"
	"container.remove|{\"name\":\"$A2\",\"force\":true}|4|$A2"
	"container.rename|{\"name\":\"$A2\",\"to\":\"bz\"}|4|$A2"
	"container.retire|{\"name\":\"$A1\"}|4|$A1"
	"container.exec|{\"name\":\"$A1\",\"cmd\":[\"true\"]}|4|$A1"
	"container.resize|{\"exec_id\":\"$EXEC\",\"rows\":10,\"cols\":10}|4|$EXEC"
	"container.exec_status|{\"exec_id\":\"$EXEC\"}|4|$EXEC"
	"container.logs|{\"name\":\"$A1\"}|4|$A1"
	"container.keepalive|{\"name\":\"$A1\",\"seconds\":60}|4|$A1"
	"container.top|{\"name\":\"$A1\"}|4|$A1"
	"container.port|{\"name\":\"$A1\",\"action\":\"add\",\"port\":\"8888\"}|4|$A1"
	"container.stats|{\"name\":\"$A1\"}|4|$A1"
	"image.delete|{\"project\":\"$AIMG\"}|4|$AIMG"
	"events.query|{\"user\":\"$A\"}|4|$A"
	"usage.report|{\"user\":\"$A\"}|4|$A"
	"admin.users|{\"user\":\"$A\"}|5|-"
)
# Every method with a target in the table of methods.c is in ROWS.
SRC=$(dirname "$0")/../../src/daemon/requests/methods.c
if [ -f "$SRC" ]; then
	for m in $(awk '/^    \{"/ { match($0, /"[a-z_.]+"/); name = substr($0, RSTART + 1, RLENGTH - 2) }
		/\.target = TARGET_/ { print name }' "$SRC"); do
		printf '%s\n' "${ROWS[@]}" | grep -q "^$m|" && ok "the table covers $m" ||
			not_ok "the table covers $m" "a method with a target that this test does not try"
	done
else
	note "methods.c not beside the tests: coverage of the method table not checked"
fi

verb() { case $1 in container.*) echo "${1#container.}" ;; *) echo "$1" ;; esac; }
for row in "${ROWS[@]}"; do
	IFS='|' read -r m params want target <<<"$row"
	capture rpc "$m" "$params"
	code=$(printf '%s' "$OUT" | jq -r '.error.code // "ok"' 2>/dev/null)
	assert_eq "$want" "$code" "B: $m on A's object -> error $want"
	if [ "$want" = 4 ]; then
		assert_match "$(printf '%s' "$OUT" | jq -r '.error.message')" "^no " "B: $m answers as for a missing object"
		n=$(events_query ".event_type == \"auth.denied\" and .user == \"$B\" and .details.action == \"$(verb "$m")\" and .details.container == \"$target\"" | grep -c .)
		assert_eq 1 "$n" "B: $m is audited (auth.denied, action $(verb "$m"), target $target)"
	fi
done
for m in container.list image.list container.stats; do
	capture rpc "$m" '{"all":true}'
	assert_eq 5 "$(printf '%s' "$OUT" | jq -r '.error.code // "ok"')" "B: $m --all -> error 5"
	assert_contains "$(printf '%s' "$OUT" | jq -r '.error.message')" "administrators" \
		"B: $m --all says it is for administrators"
done
assert_exit 4 -m "B's CLI: container-stop A's container -> exit 4" as_user "$B" container-stop "$A1"
assert_exit 5 -m "B's CLI: container-list --all -> exit 5" as_user "$B" container-list --all

# --- nothing changed ---------------------------------------------------------------------------
assert_eq running "$(docker_state "$A1")" "a1 is still running"
assert_eq exited "$(docker_state "$A2")" "a2 is still stopped, and still there"
docker image inspect "$AIMG" >/dev/null 2>&1 && ok "A's image is still there" ||
	not_ok "A's image is still there" "deleted"
assert_eq true "$(curl -s --unix-socket /var/run/docker.sock "http://localhost/exec/$EXEC/json" |
	jq -r .Running)" "A's session still runs"
assert_jq "a1 has no keep-alive" '(.keepalive // null) == null' "$(container_entry "$A" a1)"
assert_no_container "bx._.$B" "B got no container"
assert_eq 0 "$(events_count auth.denied "$A")" "nothing was charged to A"

for p in a1 a2; do as_user "$A" container-retire "$p" >/dev/null 2>&1; done
docker rmi "$AIMG" >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
