#!/bin/bash
# Bring the whole ds01 service up on this machine (as root; idempotent):
# packages, build, install into /usr/local, dockerd, the offline base image, and ds01d
# running on its embedded defaults (or /etc/ds01/ds01.yaml if an admin wrote one).
set -euo pipefail
DS01_PROG=up.sh
HERE=$(dirname "$(readlink -f "$0")")
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
cd "$HERE/.."

PREFIX=/usr/local
DAEMON=$PREFIX/sbin/ds01d
CLI=$PREFIX/bin/ds01
RUNDIR=/run/ds01
PIDFILE=$RUNDIR/ds01d.pid
LOGDIR=/var/log/ds01
LOG=$LOGDIR/ds01d.log
BASE_IMAGE=ds01/base:latest

ds01_need_root "$@"
t0=$(date +%s%N)

step() { printf '\n==> %s\n' "$*"; }

step "packages"
bash scripts/deps.sh || ds01_die "installing packages failed (see above)"

step "build"
make || ds01_die "build failed (see above)"

step "install into $PREFIX"
make install PREFIX="$PREFIX" >/dev/null || ds01_die "make install failed"
echo "installed $DAEMON, $CLI (+ command links), $PREFIX/libexec/ds01/ds01-init and ds01-cp"

step "docker engine"
ds01_ensure_dockerd
docker version -f 'engine {{.Server.Version}} (API {{.Server.APIVersion}})'

step "base image $BASE_IMAGE"
bash scripts/mkimage.sh base "$BASE_IMAGE" || ds01_die "could not build $BASE_IMAGE"

step "daemon"
install -d -m 0755 /etc/ds01 "$RUNDIR"
install -d -m 0700 "$LOGDIR"
install -d -m 0700 /var/lib/ds01

# kill -0 also succeeds on a zombie (our own exited child, not yet waited for): check the state.
alive() {
	local st
	st=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# The pid is only ours if it is still a ds01d (pids get reused).
is_our_daemon() {
	local pid=$1 exe
	[ -n "$pid" ] && alive "$pid" || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
	case "${exe% (deleted)}" in
	*/ds01d) return 0 ;;
	esac
	return 1
}

if [ -f "$PIDFILE" ]; then
	old=$(cat "$PIDFILE" 2>/dev/null || true)
	if is_our_daemon "$old"; then
		echo "stopping the previous ds01d (pid $old)"
		kill -TERM "$old" 2>/dev/null || true
		for _ in $(seq 1 100); do
			is_our_daemon "$old" || break
			sleep 0.1
		done
		if is_our_daemon "$old"; then
			ds01_log "warning: ds01d $old ignored SIGTERM for 10 s; sending SIGKILL"
			kill -KILL "$old" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	rm -f "$PIDFILE"
fi

config_note="embedded defaults"
[ -f /etc/ds01/ds01.yaml ] && config_note="/etc/ds01/ds01.yaml"
echo "starting $DAEMON ($config_note; log: $LOG)"
{
	echo
	echo "=== $(date -Is) started by make up ==="
} >>"$LOG"
# setsid: the daemon survives the shell (and Ctrl-C) that ran `make up`.
setsid nohup "$DAEMON" >>"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"

ok=0
for _ in $(seq 1 100); do
	if ! alive "$pid"; then
		break
	fi
	if "$CLI" version >/dev/null 2>&1; then
		ok=1
		break
	fi
	sleep 0.1
done
if [ "$ok" -ne 1 ]; then
	echo "--- last lines of $LOG ---" >&2
	tail -n 25 "$LOG" >&2 || true
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		rm -f "$PIDFILE"
		ds01_die "ds01d (pid $pid) did not answer '$CLI version' on /run/ds01/ds01.sock within 10 s; stopped it"
	fi
	rm -f "$PIDFILE"
	st=0
	wait "$pid" || st=$?
	ds01_die "ds01d exited with status $st during start-up (see $LOG)"
fi

"$CLI" version || true
cat <<MSG

ds01 is up (pid $pid, ready in $(awk -v ns=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }') s total). As any user on this machine:

  container-deploy my-project     # a container with 1 GPU, ~/workspace/my-project at /workspace
  container-run my-project        # a shell inside it
  container-list                  # your containers, GPUs, idle time, time left
  container-retire my-project     # stop + remove it and free the GPU (workspace is kept)

Daemon log: $LOG   events: $LOGDIR/events.jsonl   stop: kill \$(cat $PIDFILE)
MSG
