#!/usr/bin/env bash
# The daemon (root) never follows a user's symlinks or adopts someone else's directory when it
# prepares a workspace: ~/workspace/NAME -> /etc, ~/workspace -> /etc, a dangling symlink, and a
# workspace directory owned by another user are all refused (exit 5 or 1) with nothing created.
# ds01-test: kind=functional budget=4
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
HA=$(user_home "$A")
HC=$(user_home "$C")
ETC_BEFORE=$(stat -c '%u:%g %a' /etc)

# positive control: a normal deploy works for A
assert_exit 0 -m "A: deploy fine --cpu-only (control)" as_user "$A" container-deploy fine --cpu-only
assert_exit 0 -m "A: retire fine" as_user "$A" container-retire fine

# 1. ~/workspace/evil -> /etc
as_user "$A" sh -c 'mkdir -p "$HOME/workspace" && ln -s /etc "$HOME/workspace/evil"' || fail "cannot create symlink"
assert_exit '5|1' -m "A: deploy evil (~/workspace/evil -> /etc) refused" as_user "$A" container-deploy evil --cpu-only
assert_match "$ERR$OUT" 'symlink|symbolic link' "the message mentions the symlink"
assert_no_container "evil._.$A" "no container for evil"
assert_eq "$ETC_BEFORE" "$(stat -c '%u:%g %a' /etc)" "/etc ownership and mode unchanged"
assert_eq /etc "$(readlink "$HA/workspace/evil")" "the user's symlink is left as it was"
assert_exit '5|1' -m "A: deploy evil with a GPU also refused" as_user "$A" container-deploy evil
assert_eq 0 "$(usage_gpueq "$A")" "no GPU leased by the refused deploys"

# 2. dangling symlink: the daemon must not create its target
as_user "$A" sh -c "ln -s '$T/evil-target' \"\$HOME/workspace/dangle\"" || fail "cannot create symlink"
assert_exit '5|1' -m "A: deploy dangle (dangling symlink) refused" as_user "$A" container-deploy dangle --cpu-only
[ -e "$T/evil-target" ] && not_ok "the symlink target was not created" "$(ls -ld "$T/evil-target")" ||
	ok "the symlink target was not created"
assert_no_container "dangle._.$A" "no container for dangle"

# 3. ~/workspace itself -> /etc
as_user "$B" sh -c 'rm -rf "$HOME/workspace"; ln -s /etc "$HOME/workspace"' || fail "cannot create symlink"
PB=wsl$$
assert_exit '5|1' -m "B: deploy with ~/workspace -> /etc refused" as_user "$B" container-deploy "$PB" --cpu-only
assert_match "$ERR$OUT" 'symlink|symbolic link' "the message mentions the symlink"
assert_no_container "$PB._.$B" "no container for B"
[ -e "/etc/$PB" ] && not_ok "/etc/$PB not created" || ok "/etc/$PB not created"
assert_eq "$ETC_BEFORE" "$(stat -c '%u:%g %a' /etc)" "/etc ownership and mode unchanged"

# 4. ~/workspace/owned belongs to another user (A)
mkdir -p "$HC/workspace/owned"
chown "$(user_uid "$C"):$(user_gid "$C")" "$HC/workspace"
chown "$(user_uid "$A"):$(user_gid "$A")" "$HC/workspace/owned"
assert_exit '5|1' -m "C: deploy owned (workspace dir owned by A) refused" as_user "$C" container-deploy owned --cpu-only
assert_no_container "owned._.$C" "no container for owned"
assert_eq "$(user_uid "$A")" "$(stat -c %u "$HC/workspace/owned")" "the directory was not chowned"

assert_instance_empty "nothing left in Docker"
ds01_done
