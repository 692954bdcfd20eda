#!/usr/bin/env bash
# workspace_root set to a directory (contrib/ds01.yaml.example: "an absolute DIR =
# DIR/<user>/<project>. Mounted at /workspace in the container"; every other test uses
# `home`). With workspace_root $T/ws (root's, 0755):
#  - a first deploy creates DIR/<user> and DIR/<user>/<project>, owned by the user, mode 0700,
#    and nothing in the home directory; deploy, retire and the container's ds01.workspace
#    label name it;
#  - the container sees it at /workspace, as the user: a file written there is on the host,
#    owned by the user; a file the user puts on the host is seen inside;
#  - another user cannot reach it (ls and cat are refused by the kernel), and their own
#    container's /workspace is their own DIR/<them>/<project>, without the first user's files;
#  - a .keep-alive there counts (container-list: keepalive.source file);
#  - retire keeps the files, and the next deploy of the project sees them again;
#  - the same checks as for home: a symlinked project, a DIR/<user> that is not the user's and a
#    DIR that others may write are refused (exit 5, naming the path and the fix).
# ds01-test: kind=functional budget=16
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
WSR=$T/ws
install -d -o root -g root -m 755 "$WSR"
sed -i "s|^workspace_root: home\$|workspace_root: $WSR|" "$DS01_CONFIG"
grep -qx "workspace_root: $WSR" "$DS01_CONFIG" || fail "could not set workspace_root in $DS01_CONFIG"
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
UA=$(user_uid "$A") GA=$(user_gid "$A") UB=$(user_uid "$B")
WA=$WSR/$A/p1 WB=$WSR/$B/p1

# ---- the first deploy creates DIR/<user>/<project>
assert_exit 0 -m "A: deploy p1 (workspace_root $WSR)" as_user "$A" container-deploy p1 --cpu-only
assert_contains "$OUT" "workspace: $WA -> /workspace" "deploy names DIR/<user>/p1 as the workspace"
assert_eq "$UA:$GA 700 directory" "$(stat -c '%u:%g %a %F' "$WSR/$A" 2>&1)" "DIR/<user> is A's, mode 0700"
assert_eq "$UA:$GA 700 directory" "$(stat -c '%u:%g %a %F' "$WA" 2>&1)" "DIR/<user>/p1 is A's, mode 0700"
if [ -e "$(user_home "$A")/workspace" ]; then
	not_ok "nothing is created in A's home directory" "$(ls -la "$(user_home "$A")/workspace")"
else
	ok "nothing is created in A's home directory"
fi
assert_eq "$WA" "$(docker inspect -f '{{index .Config.Labels "ds01.workspace"}}' "p1._.$A" 2>&1)" \
	"the container's ds01.workspace label names DIR/<user>/p1"

# ---- the container sees it at /workspace, as A
assert_exit 0 -m "A: container-run p1 -- writes /workspace/f" as_user "$A" container-run p1 -- \
	sh -c 'echo from-container >/workspace/f && echo "pwd=$(pwd) uid=$(id -u)"'
assert_contains "$OUT" "pwd=/workspace uid=$UA" "the command runs in /workspace as A"
assert_eq "from-container" "$(cat "$WA/f" 2>&1)" "the file written in /workspace is in DIR/<user>/p1 on the host"
assert_eq "$UA" "$(stat -c %u "$WA/f" 2>&1)" "and it is owned by A"
assert_exit 0 -m "A: writes DIR/<user>/p1/h on the host" as_user "$A" sh -c "echo from-host >'$WA/h'"
assert_exit 0 -m "A: container-run p1 -- cat /workspace/h" as_user "$A" container-run p1 -- cat /workspace/h
assert_eq "from-host" "$OUT" "the host file is seen at /workspace/h"

# ---- another user cannot reach it
assert_exit 2 -m "B: ls DIR/<A> is refused" as_user "$B" ls "$WSR/$A"
assert_contains "$ERR" "Permission denied" "B's ls says permission denied"
assert_exit 1 -m "B: cat DIR/<A>/p1/f is refused" as_user "$B" cat "$WA/f"
assert_contains "$ERR" "Permission denied" "B's cat says permission denied"
assert_exit 0 -m "B: deploy p1 (same project name)" as_user "$B" container-deploy p1 --cpu-only
assert_eq "$UB 700" "$(stat -c '%u %a' "$WB" 2>&1)" "B's DIR/<user>/p1 is B's, mode 0700"
assert_exit 0 -m "B: container-run p1 -- ls -A /workspace" as_user "$B" container-run p1 -- ls -A /workspace
assert_eq "" "$OUT" "B's /workspace is B's own (empty), without A's files"
assert_exit 0 -m "B: container-run p1 -- cat /workspace/f fails inside" as_user "$B" container-run p1 -- \
	sh -c 'cat /workspace/f 2>/dev/null; echo "rc=$?"'
assert_eq "rc=1" "$OUT" "A's file is not in B's container"

# ---- .keep-alive in DIR/<user>/<project> counts
assert_exit 0 -m "A: touch DIR/<user>/p1/.keep-alive" as_user "$A" touch "$WA/.keep-alive"
ka_file() { [ "$(container_entry "$A" p1 | jq -r '.keepalive.source // empty')" = file ]; }
if wait_for 20 ka_file; then
	ok "container-list: p1 is kept alive by the .keep-alive file in DIR/<user>/p1"
else
	not_ok "container-list: p1 is kept alive by the .keep-alive file in DIR/<user>/p1" \
		"$(container_entry "$A" p1)"
fi

# ---- retire keeps the files; the next deploy sees them
assert_exit 0 -m "A: retire p1" as_user "$A" container-retire p1
assert_contains "$OUT" "workspace kept at $WA" "retire says the workspace is kept in DIR/<user>/p1"
assert_eq "from-container" "$(cat "$WA/f" 2>&1)" "the files stay after retire"
assert_exit 0 -m "A: deploy p1 again" as_user "$A" container-deploy p1 --cpu-only
assert_exit 0 -m "A: container-run p1 -- cat /workspace/f" as_user "$A" container-run p1 -- cat /workspace/f
assert_eq "from-container" "$OUT" "the new container sees the same files"

# ---- refusals
# a project that is a symlink (to A's workspace) in C's own directory
install -d -o "$C" -g "$(user_gid "$C")" -m 700 "$WSR/$C"
ln -s "$WA" "$WSR/$C/steal"
chown -h "$C:$(user_gid "$C")" "$WSR/$C/steal"
assert_exit 5 -m "C: deploy steal (a symlink to A's workspace) -> exit 5" as_user "$C" container-deploy steal --cpu-only
assert_contains "$ERR" "$WSR/$C/steal" "the refusal names the symlink"
assert_no_container "steal._.$C" "no container for the symlinked project"
# DIR/<user> that is not the user's
rm -f "$WSR/$C/steal"
chown root:root "$WSR/$C"
assert_exit 5 -m "C: deploy p1 with DIR/<C> owned by root -> exit 5" as_user "$C" container-deploy p1 --cpu-only
assert_contains "$ERR" "$WSR/$C is owned by uid 0" "the refusal names the directory and its owner"
# DIR writable by others
rm -rf "${WSR:?}/$C"
chmod 777 "$WSR"
assert_exit 5 -m "C: deploy p1 with a world-writable workspace_root -> exit 5" as_user "$C" container-deploy p1 --cpu-only
assert_contains "$ERR" "must be owned by root and not writable by others" "the refusal says what DIR must be"
if [ -e "$WSR/$C" ]; then
	not_ok "nothing was created for C" "$(ls -la "$WSR")"
else
	ok "nothing was created for C"
fi
chmod 755 "$WSR"

assert_exit 0 -m "A: retire p1" as_user "$A" container-retire p1
assert_exit 0 -m "B: retire p1" as_user "$B" container-retire p1
assert_instance_empty "nothing left in Docker"
ds01_done
