#!/usr/bin/env bash
# Git and SSH inside (issue 14, item 3), as users meet them. The site sets ssh_keys: true.
#  - Inside every container the user has a home, /home/<user>: in /etc/passwd (where OpenSSH
#    looks), in $HOME, theirs (mode 0700), writable, kept across a stop and start, gone with the
#    container; /workspace stays the working directory.
#  - A (with ~/.ssh and ~/.gitconfig) gets both there, read-only, by the site default; the
#    files are A's own; a write into ~/.ssh fails; after a stop and start they are there again;
#    on the host the pin is empty between starts. --no-ssh leaves them out.
#  - C has no ~/.ssh: the site default passes over C; --ssh is a usage error naming ssh-keygen.
#  - B's ~/.ssh is a symlink to A's, or B's ~/.gitconfig a symlink to a root-only file: --ssh is
#    refused (exit 5) naming the symlink, and nothing is left. A's ~/.ssh swapped for a symlink
#    while A's container is stopped: its start is refused, and starts again once it is back.
#  - --ssh on an existing container says how to get it (exit 2); retire removes the pin.
# ds01-test: kind=security budget=25
. "$(dirname "$0")/lib.sh"
ds01_setup

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
HA=$(user_home "$A")

as_user "$A" sh -c 'mkdir -m 700 ~/.ssh && echo "ssh-ed25519 AAAAtest a@laptop" > ~/.ssh/id_ed25519.pub &&
	echo private-a > ~/.ssh/id_ed25519 && chmod 600 ~/.ssh/id_ed25519 &&
	printf "[user]\n\tname = Ann Example\n\temail = ann@example.org\n" > ~/.gitconfig' ||
	fail "cannot set up A's ~/.ssh"
echo root-only >"$T/secret" && chmod 600 "$T/secret"

DS01_CONFIG_EXTRA="ssh_keys: true"
ds01_write_config
ds01_start_daemon

# inside USER PROJECT SCRIPT: runs SCRIPT with sh in USER's running container PROJECT
inside() { capture as_user "$1" container-run "$2" -- sh -c "$3"; }

# --- A: the site default mounts ~/.ssh and ~/.gitconfig --------------------------------------
assert_exit 0 -m "A: container-deploy k (the site's ssh_keys)" as_user "$A" container-deploy k --cpu-only
assert_contains "$OUT" "ssh:       ~/.ssh and ~/.gitconfig (read-only) in /home/$A" "deploy says where the keys are"
inside "$A" k 'echo "$HOME"; grep "^$(id -un):" /etc/passwd | cut -d: -f6; pwd; stat -c "%U %a" "$HOME"'
assert_eq "/home/$A
/home/$A
/workspace
$A 700" "$OUT" "HOME and the passwd entry are /home/$A, A's own (0700); the shell starts in /workspace"
inside "$A" k 'cat ~/.ssh/id_ed25519.pub ~/.ssh/id_ed25519; sed -n "s/.*email = //p" ~/.gitconfig; stat -c %U ~/.ssh/id_ed25519'
assert_eq "ssh-ed25519 AAAAtest a@laptop
private-a
ann@example.org
$A" "$OUT" "A's key and git identity are inside, A's own"
inside "$A" k 'touch ~/.ssh/x'
assert_eq 1 "$RC" "~/.ssh cannot be written from inside"
assert_match "$ERR" "Read-only file system" "... it is read-only"
inside "$A" k 'echo kept > ~/notes && cat ~/notes'
assert_eq "kept" "$OUT" "A writes a file in the home"
PIN=$T/state/ssh/k._.$A
assert_eq "" "$(ls -A "$PIN/ssh" 2>&1)" "on the host, the pin is empty once the container has started"
assert_eq "" "$(ls -A "$HA/workspace/k")" "nothing of the home lands in the workspace"

assert_exit 0 -m "A: container-stop k" as_user "$A" container-stop k
assert_exit 0 -m "A: container-start k" as_user "$A" container-start k
inside "$A" k 'cat ~/notes ~/.ssh/id_ed25519.pub'
assert_eq "kept
ssh-ed25519 AAAAtest a@laptop" "$OUT" "after a stop and start the home's file and the keys are there"

assert_exit 2 -m "A: --ssh on the existing container" as_user "$A" container-deploy k --ssh
assert_contains "$ERR" "container-retire k" "... says to retire and deploy again"

# ~/.ssh swapped for a symlink while the container is stopped: the start is refused
assert_exit 0 -m "A: container-stop k" as_user "$A" container-stop k
as_user "$A" sh -c 'mv ~/.ssh ~/.ssh-real && ln -s "$HOME/.ssh-real" ~/.ssh' || fail "cannot swap ~/.ssh"
assert_exit 5 -m "A: container-start k with ~/.ssh a symlink is refused" as_user "$A" container-start k
assert_contains "$ERR" "symlink" "... naming the symlink"
as_user "$A" sh -c 'rm ~/.ssh && mv ~/.ssh-real ~/.ssh' || fail "cannot restore ~/.ssh"
assert_exit 0 -m "A: container-start k once ~/.ssh is back" as_user "$A" container-start k

assert_exit 0 -m "A: container-deploy plain --no-ssh" as_user "$A" container-deploy plain --cpu-only --no-ssh
inside "$A" plain 'test -e ~/.ssh || test -e ~/.gitconfig; echo $?; echo x > ~/f && cat ~/f'
assert_eq "1
x" "$OUT" "--no-ssh: no ~/.ssh, no ~/.gitconfig, and a writable home"

# --- C: no ~/.ssh ---------------------------------------------------------------------------------
assert_exit 2 -m "C: --ssh without a ~/.ssh is a usage error" as_user "$C" container-deploy k --cpu-only --ssh
assert_contains "$ERR" "ssh-keygen" "... that says how to make one"
assert_exit 0 -m "C: container-deploy k (the site default passes over C)" as_user "$C" container-deploy k --cpu-only
inside "$C" k 'test -e ~/.ssh; echo $?'
assert_eq 1 "$OUT" "C's container has no ~/.ssh"

# --- B: symlinks ------------------------------------------------------------------------------------
as_user "$B" sh -c "ln -s '$HA/.ssh' ~/.ssh" || fail "cannot plant B's symlink"
assert_exit 5 -m "B: --ssh with ~/.ssh a symlink to A's is refused" as_user "$B" container-deploy k --cpu-only --ssh
assert_contains "$ERR" "symlink" "... naming the symlink"
as_user "$B" sh -c "rm ~/.ssh && mkdir -m 700 ~/.ssh && ln -s '$T/secret' ~/.gitconfig" || fail "cannot plant B's link"
assert_exit 5 -m "B: --ssh with ~/.gitconfig a symlink to a root-only file is refused" \
	as_user "$B" container-deploy k --cpu-only --ssh
assert_contains "$ERR" ".gitconfig" "... naming ~/.gitconfig"
assert_eq "" "$(docker ps -aq --filter "name=^k._.$B\$")" "B has no container after the refusals"
assert_eq "" "$(ls -A "$T/state/ssh" | grep "$B")" "and no pin"

# --- retire -------------------------------------------------------------------------------------
assert_exit 0 -m "A: container-retire k" as_user "$A" container-retire k
[ ! -e "$PIN" ] && ok "retire removes the pin" || not_ok "retire removes the pin" "$(ls -la "$PIN")"
assert_eq "private-a" "$(cat "$HA/.ssh/id_ed25519")" "A's ~/.ssh is untouched"
for u in "$A" "$C"; do
	as_user "$u" container-retire k >/dev/null 2>&1
done
as_user "$A" container-retire plain >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
