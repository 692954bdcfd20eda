#!/usr/bin/env bash
# Issue 11 item 25: an image's VOLUME. Outside /workspace (VOLUME /data) the deploy says that
# files there are deleted with the container (a note, and .volumes in --json), and the retire
# says they were; VOLUME /workspace is the workspace itself. Inside it (VOLUME /workspace/cache)
# the deploy is refused, naming the line to remove: Docker would hide the user's files there
# under an empty volume and leave a root-owned directory in the workspace.
# ds01-test: kind=security budget=10
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
UA=$(user_uid "$A")
HA=$(user_home "$A")
IMG_OK="ds01-$UA/vols:latest" IMG_WS="ds01-$UA/wsvol:latest"
trap '_rc=$?; docker rmi -f "$IMG_OK" "$IMG_WS" >/dev/null 2>&1; (exit $_rc); _ds01_cleanup' EXIT

# The user's own images (tag and label), built here from the test image.
build() { # TAG VOLUME-LINE
	printf 'FROM %s\n%s\n' "$DS01_IMAGE" "$2" |
		docker build -q -t "$1" --label "ds01.user_id=$UA" --label "ds01.test=$INSTANCE" - >/dev/null
}
build "$IMG_OK" 'VOLUME /data /workspace' || fail "cannot build $IMG_OK"
build "$IMG_WS" 'VOLUME /workspace/cache' || fail "cannot build $IMG_WS"

# --- VOLUME /data: deployed, with the warning --------------------------------------------------
assert_exit 0 -m "deploy vp --image $IMG_OK (VOLUME /data /workspace)" \
	as_user "$A" container-deploy vp --image "$IMG_OK" --cpu-only --json
assert_jq "--json: .volumes lists /data (not /workspace)" '.volumes == ["/data"]' "$OUT"
assert_match "$ERR" "VOLUME /data" "the deploy names the volume"
assert_match "$ERR" "deleted when the container is retired" "the deploy says its files are deleted on retire"
assert_exit 0 -m "write /workspace/f in the container" \
	as_user "$A" container-run vp -- sh -c 'echo y >/workspace/f'
assert_exit 0 -m "retire vp" as_user "$A" container-retire vp
assert_match "$OUT$ERR" "/data .*deleted with the container; only /workspace is kept" \
	"the retire says the volume's files were deleted and only /workspace is kept"
assert_eq y "$(cat "$HA/workspace/vp/f" 2>/dev/null)" "the workspace file is kept"

# --- VOLUME /workspace/cache: refused, nothing left in the workspace ---------------------------
assert_exit 1 -m "deploy wp --image $IMG_WS (VOLUME /workspace/cache) is refused" \
	as_user "$A" container-deploy wp --image "$IMG_WS" --cpu-only
assert_match "$ERR" "VOLUME /workspace/cache" "the refusal names the VOLUME line"
assert_match "$ERR" "remove that VOLUME line" "the refusal says what to do"
assert_no_container "wp._.$A" "no container for wp"
if [ -e "$HA/workspace/wp/cache" ]; then
	not_ok "no root-owned directory in the workspace" "$(ls -ld "$HA/workspace/wp/cache")"
else
	ok "no root-owned directory in the workspace"
fi

as_user "$A" container-retire wp >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
