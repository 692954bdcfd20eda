#!/usr/bin/env bash
# `make install` sets users up so that the plain `docker` command uses ds01's endpoint: the
# profile script it installs (/etc/profile.d/ds01-docker.sh) points a login shell's docker at
# the endpoint for a user who is neither root nor in the docker group, so `docker ps` there shows
# their own containers; root, a member of the docker group, and a user who chose a DOCKER_HOST or
# a docker context keep their own. `make uninstall` removes it.
# ds01-test: kind=functional budget=8
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DEST=$T/dest
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SYSTEMD_UNITDIR make -C "$REPO" --no-print-directory "$@"; }
capture mk -o build install BUILDDIR="$DS01_BUILD" DESTDIR="$DEST" PREFIX=/opt/ds01-it SYSTEMD_UNITDIR=
assert_eq 0 "$RC" "make install DESTDIR=... ($ERR)"
PROFILE=$DEST/etc/profile.d/ds01-docker.sh
[ -f "$PROFILE" ] && ok "it installs /etc/profile.d/ds01-docker.sh" || fail "no $PROFILE"
assert_eq 644 "$(stat -c %a "$PROFILE")" "mode 0644"
# the script as installed, pointed at this test's endpoint instead of /run/ds01/docker.sock
sed "s|^ds01_docker_sock=.*|ds01_docker_sock=$DOCKER_API_SOCK|" "$PROFILE" >"$T/profile.sh"
chmod 0644 "$T/profile.sh"

A=$(ds01_user "it$$a") || fail "cannot create user A"
C=$(ds01_user "it$$c") || fail "cannot create user C"
usermod -aG docker "$C" || fail "cannot add C to the docker group"
assert_exit 0 -m "A: deploy nlp" as_user "$A" container-deploy nlp --cpu-only

# login SHELL-CODE as USER: a shell that reads the profile script, without as_user's DOCKER_HOST
login() { as_user "$1" env -u DOCKER_HOST sh -c ". '$T/profile.sh'; $2"; }
capture login "$A" 'echo "$DOCKER_HOST"'
assert_eq "unix://$DOCKER_API_SOCK" "$OUT" "A (not in the docker group): DOCKER_HOST is the endpoint"
capture login "$A" 'docker ps --format "{{.Names}}"'
assert_eq "nlp._.$A" "$OUT" "A's plain docker ps shows A's container"
capture login "$C" 'echo "${DOCKER_HOST:-unset}"'
assert_eq unset "$OUT" "C (in the docker group) keeps the real socket"
capture env -u DOCKER_HOST sh -c ". '$T/profile.sh'; echo \"\${DOCKER_HOST:-unset}\""
assert_eq unset "$OUT" "root keeps the real socket"
capture as_user "$A" env DOCKER_HOST=unix:///elsewhere.sock sh -c ". '$T/profile.sh'; echo \$DOCKER_HOST"
assert_eq unix:///elsewhere.sock "$OUT" "a DOCKER_HOST the user chose is kept"
capture as_user "$A" env -u DOCKER_HOST DOCKER_CONTEXT=mine sh -c ". '$T/profile.sh'; echo \"\${DOCKER_HOST:-unset}\""
assert_eq unset "$OUT" "a docker context the user chose is kept"

capture mk uninstall DESTDIR="$DEST" PREFIX=/opt/ds01-it SYSTEMD_UNITDIR=
assert_eq 0 "$RC" "make uninstall ($ERR)"
[ ! -e "$PROFILE" ] && ok "make uninstall removes the profile script" || not_ok "make uninstall removes the profile script"
ds01_done
