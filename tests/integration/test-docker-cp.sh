#!/usr/bin/env bash
# docker cp through the Docker API endpoint, as an unprivileged user with the real docker CLIs:
# a file and a directory copied into the container and out of it, /workspace included (the
# file is in ~/workspace/PROJECT on the host, the user's own); what is copied in is the user's
# whatever the archive says (owner, set-uid bit) and a device file is refused; a copy never
# reaches past the container: not into root's files in it, not through a workspace the user
# replaced on the host by a link to another user's workspace or /etc, not through a link inside
# the workspace; another user's container is "No such container"; a stopped container's copy
# says to start it.
# ds01-test: kind=functional budget=24
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
HA=$(user_home "$A")
HB=$(user_home "$B")
UA=$(id -u "$A")
WS=$HA/workspace/training

assert_exit 0 -m "A: deploy training" as_user "$A" container-deploy training --cpu-only
assert_exit 0 -m "B: deploy theirs" as_user "$B" container-deploy theirs --cpu-only
as_user "$B" sh -c 'echo b-secret >~/workspace/theirs/secret'
SCRATCH=$(as_user "$A" mktemp -d /tmp/cp-test.XXXXXX) || fail "no scratch directory for A"
trap_extra() { rm -rf "$SCRATCH"; }

for CLI in /usr/local/bin/docker /usr/bin/docker; do
	[ -x "$CLI" ] || fail "no docker client at $CLI (scripts/deps.sh installs both)"
	V=$("$CLI" version --format '{{.Client.Version}}' 2>/dev/null)
	note "client $CLI ($V)"
	# in: a file into /workspace lands in the workspace on the host, A's own
	as_user "$A" sh -c "echo 'from $V' >$SCRATCH/in.txt"
	capture as_user "$A" "$CLI" cp "$SCRATCH/in.txt" training:/workspace/in.txt
	assert_eq 0 "$RC" "$V: docker cp a file into /workspace ($ERR)"
	assert_eq "from $V" "$(cat "$WS/in.txt" 2>/dev/null)" "$V: the file is in ~/workspace/training on the host"
	assert_eq "$UA" "$(stat -c %u "$WS/in.txt" 2>/dev/null)" "$V: and it is A's"
	# out: a file the host wrote, from /workspace, to stdout and to a directory
	as_user "$A" sh -c "echo 'out $V' >~/workspace/training/out.txt"
	capture as_user "$A" sh -c "$CLI cp training:/workspace/out.txt - | tar -xOf -"
	assert_eq "out $V" "$OUT" "$V: docker cp out of /workspace to stdout ($ERR)"
	capture as_user "$A" "$CLI" cp training:/workspace/out.txt "$SCRATCH/"
	assert_eq 0 "$RC" "$V: docker cp out of /workspace into a directory ($ERR)"
	assert_eq "out $V" "$(cat "$SCRATCH/out.txt" 2>/dev/null)" "$V: the copy is there"
	rm -f "$SCRATCH/out.txt"
done

# a directory in, to the container's own /tmp, and back out
as_user "$A" sh -c "mkdir -p $SCRATCH/tree/sub && echo leaf >$SCRATCH/tree/sub/leaf"
capture as_user "$A" docker cp "$SCRATCH/tree" training:/tmp/
assert_eq 0 "$RC" "a directory into /tmp ($ERR)"
capture as_user "$A" docker exec training cat /tmp/tree/sub/leaf
assert_eq leaf "$OUT" "the directory's file is in the container"
capture as_user "$A" docker cp training:/tmp/tree "$SCRATCH/back"
assert_eq 0 "$RC" "the directory back out ($ERR)"
assert_eq leaf "$(cat "$SCRATCH/back/sub/leaf" 2>/dev/null)" "the directory came back whole"
capture as_user "$A" docker cp "$SCRATCH/in.txt" training:/tmp/tree/sub/leaf/
assert_ne 0 "$RC" "a file onto a path under a file is refused"
mkdir -p "$SCRATCH/clash/sub" && echo x >"$SCRATCH/clash/sub/f" && chown -R "$A" "$SCRATCH/clash"
as_user "$A" docker exec training sh -c 'mkdir -p /tmp/c && echo file >/tmp/c/sub'
capture as_user "$A" sh -c "tar -C $SCRATCH/clash -cf - sub | docker cp - training:/tmp/c"
assert_ne 0 "$RC" "a directory over a file is refused"
assert_contains "$ERR" "cannot overwrite" "the refusal names the clash"

# what the archive says of owners and set-id bits does not count; device files are refused
python3 - "$SCRATCH/evil.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    data = b"#!/bin/sh\nid\n"
    ti = tarfile.TarInfo("suid")
    ti.size, ti.mode, ti.uid, ti.gid, ti.uname = len(data), 0o4755, 0, 0, "root"
    ti.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\xc0\x00\x00\x00"}
    t.addfile(ti, io.BytesIO(data))
EOF
python3 - "$SCRATCH/dev.tar" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    ti = tarfile.TarInfo("mem")
    ti.type, ti.devmajor, ti.devminor, ti.mode = tarfile.CHRTYPE, 1, 1, 0o666
    t.addfile(ti)
EOF
chmod 644 "$SCRATCH"/*.tar
capture as_user "$A" sh -c "docker cp - training:/workspace <$SCRATCH/evil.tar"
assert_eq 0 "$RC" "an archive claiming root's file copies in ($ERR)"
assert_eq "$UA 755" "$(stat -c '%u %a' "$WS/suid" 2>/dev/null)" "it is A's, without the set-uid bit"
XATTRS=$(python3 -c 'import os, sys; print(os.listxattr(sys.argv[1]))' "$WS/suid" 2>&1)
assert_eq "[]" "$XATTRS" "and without the archive's file capability"
capture as_user "$A" sh -c "docker cp - training:/workspace <$SCRATCH/dev.tar"
assert_ne 0 "$RC" "a device file is refused"
assert_contains "$ERR" "device files" "the refusal says why"
[ ! -e "$WS/mem" ] && ok "no device file in the workspace" || not_ok "no device file in the workspace"

# never past the container: root's files in it, a replaced workspace, a link in the workspace
capture as_user "$A" docker cp "$SCRATCH/in.txt" training:/etc/
assert_ne 0 "$RC" "cp into the container's /etc (root's) is refused"
assert_contains "$ERR" "permission denied" "it says why"
as_user "$A" ln -s /etc "$WS/etc-link"
capture as_user "$A" sh -c "docker cp training:/workspace/etc-link/passwd - | tar -xOf -"
assert_eq 0 "$RC" "a link in the workspace is followed in the container ($ERR)"
assert_not_contains "$OUT" "$B:" "... to the container's /etc, not the host's"
as_user "$A" mv "$WS" "$WS.real"
as_user "$A" ln -s "$HB/workspace/theirs" "$WS"
capture as_user "$A" docker cp training:/workspace/secret -
assert_ne 0 "$RC" "a workspace replaced by a link to B's: B's file is not there"
assert_not_contains "$OUT" "b-secret" "B's secret is not read"
capture as_user "$A" docker cp "$SCRATCH/in.txt" training:/workspace/planted
assert_eq 0 "$RC" "a copy into /workspace still works ($ERR)"
[ ! -e "$HB/workspace/theirs/planted" ] && ok "nothing reached B's workspace" ||
	not_ok "nothing reached B's workspace"
[ -e "$WS.real/planted" ] && ok "the copy went to the container's own workspace" ||
	not_ok "the copy went to the container's own workspace"
as_user "$A" rm "$WS"
as_user "$A" ln -s /etc "$WS"
capture as_user "$A" docker cp "$SCRATCH/in.txt" training:/workspace/ds01-cp-$$
assert_eq 0 "$RC" "a copy into /workspace with the workspace a link to /etc works ($ERR)"
[ ! -e "/etc/ds01-cp-$$" ] && ok "nothing reached the host's /etc" || not_ok "nothing reached the host's /etc"
[ -e "$WS.real/ds01-cp-$$" ] && ok "... it went to the container's own workspace" ||
	not_ok "... it went to the container's own workspace"
rm -f "/etc/ds01-cp-$$"
as_user "$A" rm "$WS"
as_user "$A" mv "$WS.real" "$WS"
assert_eq b-secret "$(cat "$HB/workspace/theirs/secret")" "B's workspace is as it was"

# another user's container, a stopped one
capture as_user "$A" docker cp "theirs._.$B:/workspace/secret" -
assert_ne 0 "$RC" "B's container: refused"
assert_contains "$ERR" "No such container" "B's container is 'No such container' to A"
assert_not_contains "$OUT" "b-secret" "B's file is not read"
assert_exit 0 -m "A: stop training" as_user "$A" container-stop training
capture as_user "$A" docker cp training:/workspace/in.txt -
assert_ne 0 "$RC" "a stopped container: refused"
assert_contains "$ERR" "docker start" "the refusal says to start it"
ds01_done
