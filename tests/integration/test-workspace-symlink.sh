#!/usr/bin/env bash
# The daemon (root) never follows a user's symlinks or adopts someone else's directory when it
# prepares a workspace: ~/workspace/NAME -> /etc, ~/workspace -> /etc, a dangling symlink, and a
# workspace directory owned by another user are all refused (exit 5, naming the path) with
# nothing created.
# ds01-test: kind=functional budget=8
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
HA=$(user_home "$A")
HC=$(user_home "$C")
ETC_BEFORE=$(stat -c '%u:%g %a' /etc)
# symlink_refusal PATH: the message for a workspace path that is a symlink.
symlink_refusal() {
	printf 'container-deploy: %s is a symlink; ds01 follows no link in your files - replace it with a real directory (mv it away and mkdir %s)' "$1" "$1"
}

# positive control: a normal deploy works for A
assert_exit 0 -m "A: deploy fine --cpu-only (control)" as_user "$A" container-deploy fine --cpu-only
assert_exit 0 -m "A: retire fine" as_user "$A" container-retire fine

# 1. ~/workspace/evil -> /etc
as_user "$A" sh -c 'mkdir -p "$HOME/workspace" && ln -s /etc "$HOME/workspace/evil"' || fail "cannot create symlink"
assert_exit 5 -m "A: deploy evil (~/workspace/evil -> /etc) refused (exit 5)" as_user "$A" container-deploy evil --cpu-only
assert_eq "$(symlink_refusal "$HA/workspace/evil")" "$ERR" "the message names the symlink and what to do"
assert_no_container "evil._.$A" "no container for evil"
assert_eq "$ETC_BEFORE" "$(stat -c '%u:%g %a' /etc)" "/etc ownership and mode unchanged"
assert_eq /etc "$(readlink "$HA/workspace/evil")" "the user's symlink is left as it was"
assert_exit 5 -m "A: deploy evil with a GPU also refused (exit 5)" as_user "$A" container-deploy evil
assert_eq "$(symlink_refusal "$HA/workspace/evil")" "$ERR" "...with the same message"
assert_eq 0 "$(usage_gpueq "$A")" "no GPU leased by the refused deploys"

# 2. dangling symlink: the daemon must not create its target
as_user "$A" sh -c "ln -s '$T/evil-target' \"\$HOME/workspace/dangle\"" || fail "cannot create symlink"
assert_exit 5 -m "A: deploy dangle (dangling symlink) refused (exit 5)" as_user "$A" container-deploy dangle --cpu-only
assert_eq "$(symlink_refusal "$HA/workspace/dangle")" "$ERR" "the message names the dangling symlink"
[ -e "$T/evil-target" ] && not_ok "the symlink target was not created" "$(ls -ld "$T/evil-target")" ||
	ok "the symlink target was not created"
assert_no_container "dangle._.$A" "no container for dangle"

# 3. ~/workspace itself -> /etc
as_user "$B" sh -c 'rm -rf "$HOME/workspace"; ln -s /etc "$HOME/workspace"' || fail "cannot create symlink"
PB=wsl$$
assert_exit 5 -m "B: deploy with ~/workspace -> /etc refused (exit 5)" as_user "$B" container-deploy "$PB" --cpu-only
assert_eq "$(symlink_refusal "$(user_home "$B")/workspace")" "$ERR" "the message names ~/workspace as the symlink"
assert_no_container "$PB._.$B" "no container for B"
[ -e "/etc/$PB" ] && not_ok "/etc/$PB not created" || ok "/etc/$PB not created"
assert_eq "$ETC_BEFORE" "$(stat -c '%u:%g %a' /etc)" "/etc ownership and mode unchanged"

# 4. ~/workspace/owned belongs to another user (A)
mkdir -p "$HC/workspace/owned"
chown "$(user_uid "$C"):$(user_gid "$C")" "$HC/workspace"
chown "$(user_uid "$A"):$(user_gid "$A")" "$HC/workspace/owned"
assert_exit 5 -m "C: deploy owned (workspace dir owned by A) refused (exit 5)" as_user "$C" container-deploy owned --cpu-only
assert_eq "container-deploy: $HC/workspace/owned is owned by uid $(user_uid "$A"), not by uid $(user_uid "$C") - ds01 uses only directories their user owns" \
	"$ERR" "the message names the directory and both owners"
assert_no_container "owned._.$C" "no container for owned"
assert_eq "$(user_uid "$A")" "$(stat -c %u "$HC/workspace/owned")" "the directory was not chowned"

assert_instance_empty "nothing left in Docker"
ds01_done
