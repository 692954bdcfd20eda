#!/bin/bash
# The Docker API endpoint against the real Docker socket: `docker ps` with N managed containers
# on the host and `docker exec CONTAINER true`, as a user through ds01d's docker_api_socket and
# as root on /var/run/docker.sock.
#
#   bench/dockerapi.sh [--containers N] [--rounds R]     (as root, after `make`)
#
# Starts its own ds01d (own instance, socket, state and logs in a temp dir, docker_api_socket in
# the temp dir, a /23 network pool so one user's N containers fit) and the Unix user ds01bench,
# who deploys N (200) CPU-only containers with the CLI (8 in parallel). Then R (20) rounds, each
# timed with date +%s%N around one docker CLI process (the machine's /usr/local/bin/docker, both
# sides started the same way: setpriv + env -i, an empty DOCKER_CONFIG of their own):
#   ps:   endpoint: `docker ps` as ds01bench with DOCKER_HOST=unix://$TMP/docker.sock
#         bare:     `docker ps --filter label=ds01.instance=<instance>` as root on docker.sock
#   exec: endpoint: `docker exec c1._.ds01bench true` as ds01bench through the endpoint
#         bare:     the same as root on docker.sock
# The two sides alternate which goes first each round. Every ps output is checked to list the N
# containers (so the endpoint cannot win by listing nothing) and every exec to exit 0. Reports
# median and p90 per side and ratio = endpoint / bare (target: <= 1.2), and the CPU ds01d and
# dockerd used per call. Writes bench/results/dockerapi.json (appended to
# dockerapi-history.jsonl) and prints it as a JSON line and a summary line. Removes the daemon,
# every container labelled with its instance, its network, the user and the temp dir on exit,
# also on failure.
set -euo pipefail

N=200
R=20
while [ $# -gt 0 ]; do
	case "$1" in
	--containers) N=$2; shift 2 ;;
	--rounds) R=$2; shift 2 ;;
	-h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--containers N] [--rounds R]" >&2; exit 2 ;;
	esac
done
for v in "$N" "$R"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "dockerapi.sh: counts must be positive integers" >&2; exit 2; }
done

REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh" # ds01_remove_instance_network
BUILD=${DS01_BUILD:-$REPO/build}
RESULTS=$REPO/bench/results/dockerapi.json
IMAGE=ds01-test/busybox:latest
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
BUSER=ds01bench
INSTANCE=ds01-bench-dapi-$$

die() { echo "dockerapi.sh: error: $*" >&2; exit 1; }
log() { echo "dockerapi.sh: $*" >&2; }
alive() {
	local st
	st=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

[ "$(id -u)" -eq 0 ] || die "run as root (it creates a Unix user and talks to dockerd)"
for t in jq docker setpriv useradd userdel xargs; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (scripts/deps.sh installs it)"
done
[ -x "$DOCKER_CLI" ] || die "no docker client at $DOCKER_CLI (DOCKER_CLI=PATH picks another)"
for b in ds01d ds01 ds01-init; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b missing: run make first"
done
docker info >/dev/null 2>&1 || die "dockerd is not answering (make up starts it)"
bash "$REPO/scripts/mkimage.sh" busybox "$IMAGE" >/dev/null 2>&1 || die "could not build $IMAGE (scripts/mkimage.sh busybox)"
! id "$BUSER" >/dev/null 2>&1 || die "user $BUSER already exists (another bench running, or left by an interrupted run? userdel -r $BUSER)"

TMP=""
DPID=""
MADE_USER=0
cleanup() {
	set +e
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null
		for _ in $(seq 1 100); do alive "$DPID" || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	docker ps -aq --filter "label=ds01.instance=$INSTANCE" 2>/dev/null | xargs -r -n 20 -P 4 docker rm -f >/dev/null 2>&1
	ds01_remove_instance_network "$INSTANCE"
	local left
	for _ in 1 2 3 4 5; do
		left=$(docker network ls -q --filter "label=ds01.instance=$INSTANCE" 2>/dev/null)
		[ -z "$left" ] && break
		sleep 2
		ds01_remove_instance_network "$INSTANCE"
	done
	# Docker 20.10 can keep a stale endpoint count after many parallel removals ("has active
	# endpoints" with no container on it); only a dockerd restart clears that: say so.
	[ -z "$left" ] || log "warning: Docker would not remove network(s) $(echo $left) of $INSTANCE: $(docker network rm $left 2>&1 | tail -n 1)"
	if [ "$MADE_USER" = 1 ]; then
		pkill -KILL -u "$BUSER" 2>/dev/null
		userdel -r "$BUSER" >/dev/null 2>&1 || log "warning: userdel -r $BUSER failed"
	fi
	[ -n "$TMP" ] && rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMP=$(mktemp -d /tmp/ds01-bench-dapi.XXXXXX)
chmod 755 "$TMP"
BIN=$TMP/bin
mkdir -m 755 "$BIN" "$TMP/run"
mkdir -m 700 "$TMP/state" "$TMP/log" "$TMP/cfg-root"
install -m 755 "$BUILD/ds01d" "$BUILD/ds01" "$BUILD/ds01-init" "$BIN/"
for c in container-deploy container-retire container-list; do ln -s ds01 "$BIN/$c"; done
SOCK=$TMP/run/ds01.sock
API_SOCK=$TMP/docker.sock

useradd -m -s /bin/sh "$BUSER"
MADE_USER=1
BUID=$(id -u "$BUSER") BGID=$(id -g "$BUSER") BHOME=$(getent passwd "$BUSER" | cut -d: -f6)
install -d -m 700 -o "$BUID" -g "$BGID" "$BHOME/.docker-bench"

cat >"$TMP/resource-limits.yaml" <<YAML
# bench: no quotas, nothing stopped for idleness
defaults:
  max_gpu_equivalents: null
  max_gpu_slots_per_container: null
  allow_full_gpu: true
  max_cpus: 0.1
  memory: 64m
  memory_swap: 64m
  shm_size: 16m
  pids_limit: 64
  max_containers_per_user: null
  max_runtime_h: null
  idle_timeout_h: null
  gpu_hold_after_stop_h: 0.25
  container_hold_after_stop_h: 1
default_group: bench
groups:
  bench:
    members: [$BUSER]
    max_containers_per_user: null
YAML
cat >"$TMP/ds01.yaml" <<YAML
instance: $INSTANCE
socket: $SOCK
docker_api_socket: $API_SOCK
state_dir: $TMP/state
log_dir: $TMP/log
docker_socket: $DOCKER_SOCK
limits_file: $TMP/resource-limits.yaml
metrics_listen: "off"
init_path: $BIN/ds01-init
sample_interval_s: 5
max_requests_per_uid: 64
images:
  default: $IMAGE
# one user's 200 containers share their network: a /23 holds 509 (the default /26, 61)
network:
  subnet_prefix: 23
YAML
cd /

"$BIN/ds01d" --config "$TMP/ds01.yaml" >"$TMP/ds01d.log" 2>&1 </dev/null &
DPID=$!
up=0
for _ in $(seq 1 100); do
	alive "$DPID" || break
	if [ -S "$SOCK" ] && [ -S "$API_SOCK" ] && DS01_SOCKET=$SOCK "$BIN/ds01" version >/dev/null 2>&1; then up=1; break; fi
	sleep 0.1
done
[ "$up" = 1 ] || { tail -n 20 "$TMP/ds01d.log" >&2; die "the bench ds01d did not start (with its Docker endpoint on $API_SOCK)"; }

log "deploying $N containers as $BUSER (8 in parallel)..."
t0=$(date +%s)
seq 1 "$N" | xargs -P 8 -I{} setpriv --reuid="$BUID" --regid="$BGID" --init-groups \
	env -i PATH="$BIN:/usr/bin:/bin" HOME="$BHOME" USER="$BUSER" LOGNAME="$BUSER" DS01_SOCKET="$SOCK" \
	"$BIN/container-deploy" "c{}" --cpu-only --background --json >"$TMP/deploy.out" 2>&1 ||
	die "deploying $N containers failed: $(grep -v '^{"container"' "$TMP/deploy.out" | tail -n 5)"
RUNNING=$(docker ps -q --filter "label=ds01.instance=$INSTANCE" --filter "label=ds01.user=$BUSER" | grep -c . || true)
[ "$RUNNING" -eq "$N" ] || die "only $RUNNING of $N containers running"
log "deployed $N in $(($(date +%s) - t0)) s"
TARGET=c1._.$BUSER
docker inspect "$TARGET" >/dev/null 2>&1 || die "no container $TARGET"

# The two sides, started the same way: setpriv + env -i, a docker config dir of their own.
endpoint() {
	setpriv --reuid="$BUID" --regid="$BGID" --init-groups env -i PATH=/usr/bin:/bin HOME="$BHOME" \
		USER="$BUSER" LOGNAME="$BUSER" DOCKER_CONFIG="$BHOME/.docker-bench" \
		DOCKER_HOST="unix://$API_SOCK" "$DOCKER_CLI" "$@"
}
bare() {
	setpriv --reuid=0 --regid=0 --init-groups env -i PATH=/usr/bin:/bin HOME=/root \
		USER=root LOGNAME=root DOCKER_CONFIG="$TMP/cfg-root" \
		DOCKER_HOST="unix://$DOCKER_SOCK" "$DOCKER_CLI" "$@"
}
# CPU ticks (utime + stime) of a process, without a fork.
HZ=$(getconf CLK_TCK)
DOCKERD_PID=$(pidof dockerd 2>/dev/null | awk '{ print $1 }' || true)
ticks() {
	local s
	[ -n "$1" ] && read -r s 2>/dev/null <"/proc/$1/stat" || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086 # one field per word
	set -- $s
	echo $((${12} + ${13}))
}
# timed KIND SIDE OUT ARGS...: runs the side's docker with ARGS, stdout to OUT; appends
# "ms ds01d_ticks dockerd_ticks" to $TMP/KIND.SIDE; returns the command's status.
timed() {
	local kind=$1 side=$2 out=$3 a b d0 d1 k0 k1 rc=0
	shift 3
	d0=$(ticks "$DPID") k0=$(ticks "$DOCKERD_PID")
	a=$(date +%s%N)
	"$side" "$@" >"$out" 2>"$TMP/err" || rc=$?
	b=$(date +%s%N)
	d1=$(ticks "$DPID") k1=$(ticks "$DOCKERD_PID")
	echo "$(((b - a) / 1000)) $((d1 - d0)) $((k1 - k0))" >>"$TMP/$kind.$side"
	return $rc
}
check_ps() { # SIDE OUT: the table lists the N containers (a header line + N rows, all ours)
	local rows
	rows=$(tail -n +2 "$2" | grep -c "\._\.$BUSER" || true)
	[ "$rows" -eq "$N" ] && [ "$(wc -l <"$2")" -eq $((N + 1)) ] ||
		die "$1 docker ps listed $rows of the $N containers ($(wc -l <"$2") lines; $(head -c 300 "$TMP/err"))"
}
ps_round() { # SIDE
	local args=(ps)
	[ "$1" = bare ] && args+=(--filter "label=ds01.instance=$INSTANCE")
	timed ps "$1" "$TMP/ps.out" "${args[@]}" || die "$1 docker ps failed: $(head -c 300 "$TMP/err")"
	check_ps "$1" "$TMP/ps.out"
}
exec_round() { # SIDE
	timed exec "$1" "$TMP/exec.out" exec "$TARGET" true || die "$1 docker exec $TARGET true failed: $(head -c 300 "$TMP/err")"
}

log "warm-up (one of each, untimed)"
for side in endpoint bare; do
	ps_round "$side"
	exec_round "$side"
done
rm -f "$TMP"/ps.* "$TMP"/exec.*

log "$R rounds of docker ps and docker exec $TARGET true, endpoint and bare alternately"
for i in $(seq 1 "$R"); do
	if [ $((i % 2)) = 1 ]; then order="endpoint bare"; else order="bare endpoint"; fi
	for side in $order; do ps_round "$side"; done
	for side in $order; do exec_round "$side"; done
done

# stats FILE: {"median_ms", "p90_ms", "min_ms", "max_ms", "ds01d_cpu_ms", "dockerd_cpu_ms"}
# (p90: nearest rank; CPU: total ticks over the rounds / rounds, in ms per call)
stats() {
	sort -n "$1" | awk -v hz="$HZ" '{ t[NR] = $1 / 1000; d += $2; k += $3 } END {
		n = NR; m = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
		r = int(0.9 * n + 0.999999); if (r < 1) r = 1
		printf "{\"median_ms\": %.1f, \"p90_ms\": %.1f, \"min_ms\": %.1f, \"max_ms\": %.1f, \"ds01d_cpu_ms\": %.1f, \"dockerd_cpu_ms\": %.1f}\n",
			m, t[r], t[1], t[n], d * 1000 / hz / n, k * 1000 / hz / n }'
}
pair() { # KIND: {"endpoint": stats, "bare": stats, "ratio", "ratio_p90", "rounds_ms": {...}}
	local e b
	e=$(stats "$TMP/$1.endpoint") b=$(stats "$TMP/$1.bare")
	jq -n --argjson e "$e" --argjson b "$b" \
		--argjson er "$(awk '{ printf "%s%.1f", (NR > 1 ? "," : "["), $1 / 1000 } END { print "]" }' "$TMP/$1.endpoint")" \
		--argjson br "$(awk '{ printf "%s%.1f", (NR > 1 ? "," : "["), $1 / 1000 } END { print "]" }' "$TMP/$1.bare")" \
		'{endpoint: $e, bare: $b, ratio: ((($e.median_ms / $b.median_ms) * 100 | round) / 100),
		  ratio_p90: ((($e.p90_ms / $b.p90_ms) * 100 | round) / 100),
		  rounds_ms: {endpoint: $er, bare: $br}}'
}
PS=$(pair ps)
EXEC=$(pair exec)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$(dirname "$RESULTS")"
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson n "$N" --argjson r "$R" \
	--argjson ps "$PS" --argjson exec "$EXEC" --arg load "$LOAD" \
	--arg machine "$(uname -r), $(nproc) cpus" --arg docker "$(docker version -f '{{.Server.Version}}')" \
	--arg client "$("$DOCKER_CLI" version -f '{{.Client.Version}}' 2>/dev/null || echo unknown)" \
	'{ps: $ps, exec: $exec, target_ratio: 1.2, containers: $n, rounds: $r, date: $date,
	  loadavg: $load, machine: $machine, docker: $docker, client: $client}' >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
jq -c . "$RESULTS" >>"${RESULTS%.json}-history.jsonl"
jq -c 'del(.ps.rounds_ms, .exec.rounds_ms)' "$RESULTS"
jq -r '"docker ps with \(.containers) containers: endpoint \(.ps.endpoint.median_ms) ms (p90 \(.ps.endpoint.p90_ms)), bare \(.ps.bare.median_ms) ms (p90 \(.ps.bare.p90_ms)), ratio \(.ps.ratio); docker exec true: endpoint \(.exec.endpoint.median_ms) ms (p90 \(.exec.endpoint.p90_ms)), bare \(.exec.bare.median_ms) ms (p90 \(.exec.bare.p90_ms)), ratio \(.exec.ratio) (target <= 1.2, medians of \(.rounds) rounds)"' "$RESULTS" |
	sed "s|\$| -> ${RESULTS#"$REPO"/}|"
