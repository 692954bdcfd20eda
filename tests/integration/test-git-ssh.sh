#!/usr/bin/env bash
# Git over SSH inside a container (issue 14, item 3), end to end with real clients and server:
# A keeps a bare repository on a git server (a real sshd the test starts, listening on the
# gateway of A's container network) and has a key, a known_hosts line and a git identity in
# ~/.ssh and ~/.gitconfig. In a container deployed with --ssh (the image has the host's git and
# ssh: mkimage.sh tools), A clones over SSH, commits and pushes; the server's repository then
# has A's commit under A's name, and sshd logged A in by A's key. The same clone in a container
# deployed without --ssh fails (no key).
# ds01-test: kind=functional needs=sshd budget=20
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null 2>&1 || fail "git is not installed (scripts/deps.sh installs it)"
ds01_setup
"$(dirname "$0")/../../scripts/mkimage.sh" tools >/dev/null || fail "cannot build the test image ds01-test/tools"
DS01_IMAGE=ds01-test/tools:latest
ds01_write_config
ds01_start_daemon

A=$(ds01_user "it$$a" -p '*') || fail "cannot create user" # '*': no password, not locked (sshd)
HA=$(user_home "$A")

# A's key, identity and repository (with one commit), made as A on the host
as_user "$A" sh -c 'mkdir -m 700 ~/.ssh && ssh-keygen -q -t ed25519 -N "" -f ~/.ssh/id_ed25519 &&
	printf "[user]\n\tname = Ann Example\n\temail = ann@example.org\n" > ~/.gitconfig &&
	git init -q --bare ~/repo.git && git init -q ~/seed && cd ~/seed && echo first > README &&
	git add README && git commit -qm first && git push -q ~/repo.git HEAD' ||
	fail "cannot set up A's key and repository"
BRANCH=$(as_user "$A" git --git-dir="$HA/repo.git" symbolic-ref --short HEAD)

assert_exit 0 -m "A: container-deploy g --ssh" as_user "$A" container-deploy g --cpu-only --ssh
GW=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}' "g._.$A")
[ -n "$GW" ] || fail "A's network has no gateway address"

# the git server: sshd on the gateway of A's network, A's key authorised
ds01_sshd "$GW"
cp "$HA/.ssh/id_ed25519.pub" "$SSHD_DIR/keys/$A" && chmod 644 "$SSHD_DIR/keys/$A"
SP=$SSHD_PORT
# what a user does once: the server's host key in ~/.ssh/known_hosts
as_user "$A" sh -c "echo '[$GW]:$SP $(cut -d' ' -f1-2 "$SSHD_DIR/hostkey.pub")' >> ~/.ssh/known_hosts" ||
	fail "cannot write A's known_hosts"
URL="ssh://$A@$GW:$SP$HA/repo.git"

# inside USER PROJECT SCRIPT: runs SCRIPT with sh in USER's running container PROJECT
inside() { capture as_user "$1" container-run "$2" -- sh -c "$3"; }

inside "$A" g "git clone -q '$URL' /workspace/clone && cat /workspace/clone/README"
assert_eq 0 "$RC" "A clones over SSH inside the container"
assert_eq "first" "$OUT" "... and gets the repository's file"
inside "$A" g "cd /workspace/clone && echo second >> README && git commit -qam 'from the container' && git push -q origin HEAD"
assert_eq 0 "$RC" "A commits and pushes from inside"
assert_eq "Ann Example <ann@example.org>|from the container" \
	"$(as_user "$A" git --git-dir="$HA/repo.git" log -1 --format='%an <%ae>|%s' "$BRANCH")" \
	"the server's repository has A's commit, under A's git identity"
IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "g._.$A")
assert_contains "$(cat "$SSHD_DIR/log")" "Accepted publickey for $A from $IP " \
	"sshd logged A in with A's key, from A's container ($IP)"
assert_eq "$(user_uid "$A")" "$(stat -c %u "$HA/workspace/g/clone/README")" "the clone in the workspace is A's"

assert_exit 0 -m "A: container-deploy nokey (without --ssh)" as_user "$A" container-deploy nokey --cpu-only
inside "$A" nokey "git clone -q '$URL' /workspace/clone2"
assert_ne 0 "$RC" "without --ssh the clone fails"
assert_match "$ERR" "Host key verification failed|Permission denied" "... for want of A's ~/.ssh"

for p in g nokey; do
	as_user "$A" container-retire "$p" >/dev/null 2>&1
done
assert_instance_empty "nothing left in Docker"
ds01_done
