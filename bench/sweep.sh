#!/bin/bash
# Cost and precision of the lifecycle monitor's sweep.
#
#   bench/sweep.sh [--containers N] [--ticks K] [--precision M]     (as root, after `make`)
#
# Starts its own ds01d (own instance, socket, state and logs in a temp dir; sample_interval_s 1,
# max_requests_per_uid 64 so the M deploys can all be in flight at once,
# no webhook) and two Unix users: ds01bench (group bench, idle_timeout_h null: nothing of theirs
# is ever stopped) and ds01prec (group prec, idle_timeout_h 0.005 = 18 s, grace_period_m 0).
#  1. CPU per container per sweep: N (200) CPU-only containers deployed with the CLI by
#     ds01bench (8 in parallel). Ticks are counted with inotify IN_OPEN on one container's cgroup
#     CPU counter, which the monitor opens once per sweep; ds01d's utime+stime (/proc/PID/stat)
#     is read at one open and again K (10) opens later:
#       cpu_us_per_container_per_sweep = CPU / (K * N)
#     dockerd's CPU over the same sweeps is reported too (the one container list per sweep).
#     Compared with the wall time of ONE `docker stats --no-stream ID` and of one
#     `curl --unix-socket ... /containers/ID/stats?stream=false` (median of 3 each).
#  2. Enforcement precision: M (20) idle containers deployed together by ds01prec while the N
#     run; for each, (maintenance.idle_kill event time - (State.StartedAt + 18 s)): min, median,
#     max (event times have 1 s resolution; the same from Docker's FinishedAt is also given).
# Writes bench/results/sweep.json and prints one line. Removes the daemon, every container
# labelled with its instance, both users and the temp dir on exit, also on failure.
set -euo pipefail

N=200
K=10
M=20
while [ $# -gt 0 ]; do
	case "$1" in
	--containers) N=$2; shift 2 ;;
	--ticks) K=$2; shift 2 ;;
	--precision) M=$2; shift 2 ;;
	-h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--containers N] [--ticks K] [--precision M]" >&2; exit 2 ;;
	esac
done
for v in "$N" "$K" "$M"; do
	[[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "sweep.sh: counts must be positive integers" >&2; exit 2; }
done

REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh" # ds01_remove_instance_network
BUILD=${DS01_BUILD:-$REPO/build}
RESULTS=$REPO/bench/results/sweep.json
IMAGE=ds01-test/busybox:latest
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
BUSER=ds01bench
PUSER=ds01prec
INSTANCE=ds01-bench-sweep-$$
IDLE_S=18

die() { echo "sweep.sh: error: $*" >&2; exit 1; }
log() { echo "sweep.sh: $*" >&2; }
alive() {
	local st
	st=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

[ "$(id -u)" -eq 0 ] || die "run as root (it creates Unix users and talks to dockerd)"
for t in curl jq docker setpriv useradd userdel python3; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (scripts/deps.sh installs it)"
done
for b in ds01d ds01 ds01-init; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b missing: run make first"
done
docker info >/dev/null 2>&1 || die "dockerd is not answering (make up starts it)"
bash "$REPO/scripts/mkimage.sh" busybox "$IMAGE" >/dev/null 2>&1 || die "could not build $IMAGE (scripts/mkimage.sh busybox)"
for u in "$BUSER" "$PUSER"; do
	! id "$u" >/dev/null 2>&1 || die "user $u already exists (left by an interrupted run? userdel -r $u)"
done

TMP=""
DPID=""
USERS=()
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
	local u
	for u in "${USERS[@]}"; do
		pkill -KILL -u "$u" 2>/dev/null
		userdel -r "$u" >/dev/null 2>&1 || log "warning: userdel -r $u failed"
	done
	[ -n "$TMP" ] && rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMP=$(mktemp -d /tmp/ds01-bench-sweep.XXXXXX)
chmod 755 "$TMP"
BIN=$TMP/bin
mkdir -m 755 "$BIN" "$TMP/run"
mkdir -m 700 "$TMP/state" "$TMP/log"
install -m 755 "$BUILD/ds01d" "$BUILD/ds01" "$BUILD/ds01-init" "$BIN/"
for c in container-deploy container-retire container-list; do ln -s ds01 "$BIN/$c"; done
SOCK=$TMP/run/ds01.sock
EVENTS=$TMP/log/events.jsonl

for u in "$BUSER" "$PUSER"; do
	useradd -m -s /bin/sh "$u"
	USERS+=("$u")
done

cat >"$TMP/resource-limits.yaml" <<YAML
# bench: no quotas; ds01bench's containers are never stopped, ds01prec's after 18 s idle
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
  prec:
    members: [$PUSER]
    max_containers_per_user: null
    idle_timeout_h: 0.005
policies:
  grace_period_m: 0
  sigterm_grace_s: 5
YAML
cat >"$TMP/ds01.yaml" <<YAML
instance: $INSTANCE
socket: $SOCK
docker_api_socket: "off"
state_dir: $TMP/state
log_dir: $TMP/log
docker_socket: $DOCKER_SOCK
limits_file: $TMP/resource-limits.yaml
metrics_listen: "off"
init_path: $BIN/ds01-init
sample_interval_s: 1
max_requests_per_uid: 64
images:
  default: $IMAGE
# one user's 200 containers share their network: a /23 holds 509 (the default /26, 61)
network:
  subnet_prefix: 23
YAML
cd /

# deploy_many USER PREFIX COUNT PARALLEL: CPU-only deploys with the CLI, as USER.
deploy_many() {
	local uid gid home
	uid=$(id -u "$1") gid=$(id -g "$1") home=$(getent passwd "$1" | cut -d: -f6)
	seq 1 "$3" | xargs -P "$4" -I{} setpriv --reuid="$uid" --regid="$gid" --init-groups \
		env -i PATH="$BIN:/usr/bin:/bin" HOME="$home" USER="$1" LOGNAME="$1" DS01_SOCKET="$SOCK" \
		"$BIN/container-deploy" "$2{}" --cpu-only --background --json >"$TMP/deploy-$2.out" 2>&1 ||
		die "deploying $3 containers as $1 failed: $(grep -v "^{\"container\"" "$TMP/deploy-$2.out" | tail -n 5)"
}
running_count() { # USER
	docker ps -q --filter "label=ds01.instance=$INSTANCE" --filter "label=ds01.user=$1" | grep -c . || true
}

"$BIN/ds01d" --config "$TMP/ds01.yaml" >"$TMP/ds01d.log" 2>&1 </dev/null &
DPID=$!
up=0
for _ in $(seq 1 100); do
	alive "$DPID" || break
	if [ -S "$SOCK" ] && DS01_SOCKET=$SOCK "$BIN/ds01" version >/dev/null 2>&1; then up=1; break; fi
	sleep 0.1
done
[ "$up" = 1 ] || { tail -n 20 "$TMP/ds01d.log" >&2; die "the bench ds01d did not start"; }

# ---- 1. CPU per container per sweep -----------------------------------------------------------
log "deploying $N containers as $BUSER (8 in parallel)..."
t0=$(date +%s)
deploy_many "$BUSER" c "$N" 8
[ "$(running_count "$BUSER")" -eq "$N" ] || die "only $(running_count "$BUSER") of $N containers running"
log "deployed $N in $(($(date +%s) - t0)) s; letting the monitor settle"
sleep 5

CID=$(docker ps -q --no-trunc --filter "label=ds01.instance=$INSTANCE" --filter "label=ds01.user=$BUSER" | head -n 1)
CPID=$(docker inspect -f '{{.State.Pid}}' "$CID")
CG=$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ { print $3; exit }' "/proc/$CPID/cgroup")
if [ -n "$CG" ] && [ -f "/sys/fs/cgroup/cpuacct$CG/cpuacct.usage" ]; then
	COUNTER=/sys/fs/cgroup/cpuacct$CG/cpuacct.usage
elif [ -n "$CG" ] && [ -f "/sys/fs/cgroup/cpu,cpuacct$CG/cpuacct.usage" ]; then
	COUNTER=/sys/fs/cgroup/cpu,cpuacct$CG/cpuacct.usage
else
	CG=$(awk -F: '$1 == 0 { print $3; exit }' "/proc/$CPID/cgroup")
	COUNTER=/sys/fs/cgroup$CG/cpu.stat
fi
[ -f "$COUNTER" ] || die "cannot find the CPU counter of $CID (looked for $COUNTER)"
DOCKERD_PID=$(pidof dockerd 2>/dev/null | awk '{ print $1 }' || true)

cat >"$TMP/ticks.py" <<'PY'
# ticks.py FILE K DS01D_PID [DOCKERD_PID]: waits for the monitor to open FILE (one sweep), reads
# the CPU times, waits for K more opens, reads them again; prints JSON.
import ctypes, os, select, struct, sys, time
path, k, pids = sys.argv[1], int(sys.argv[2]), [int(p) for p in sys.argv[3:] if p]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.inotify_init1(0)
if libc.inotify_add_watch(fd, path.encode(), 0x20) < 0:  # IN_OPEN
    sys.exit("inotify_add_watch %s: errno %d" % (path, ctypes.get_errno()))
hz = os.sysconf("SC_CLK_TCK")
def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / hz  # utime + stime, seconds
def wait_open():
    r, _, _ = select.select([fd], [], [], 60)
    if not r:
        sys.exit("no sweep opened %s within 60 s" % path)
    os.read(fd, 65536)
wait_open()
t0, c0 = time.monotonic(), [cpu(p) for p in pids]
for _ in range(k):
    wait_open()
t1, c1 = time.monotonic(), [cpu(p) for p in pids]
print('{"sweeps": %d, "wall_s": %.3f, "cpu_s": [%s]}' % (k, t1 - t0, ", ".join("%.2f" % (b - a) for a, b in zip(c0, c1))))
PY
log "measuring $K sweeps over $N containers..."
TICKS=$(python3 "$TMP/ticks.py" "$COUNTER" "$K" "$DPID" "$DOCKERD_PID") || die "tick counter failed"
DS01_CPU=$(jq -r '.cpu_s[0]' <<<"$TICKS")
WALL=$(jq -r '.wall_s' <<<"$TICKS")
US_PER=$(awk -v c="$DS01_CPU" -v k="$K" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / (k * n) }')
PERIOD=$(awk -v w="$WALL" -v k="$K" 'BEGIN { printf "%.3f", w / k }')
if [ -n "$DOCKERD_PID" ]; then
	DOCKERD_US=$(awk -v c="$(jq -r '.cpu_s[1]' <<<"$TICKS")" -v k="$K" -v n="$N" 'BEGIN { printf "%.1f", c * 1e6 / (k * n) }')
else
	DOCKERD_US=null
fi

median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f\n", m }'; }
ms_of() { local a b; a=$(date +%s%N); "$@" >/dev/null 2>&1 || true; b=$(date +%s%N); echo $(((b - a) / 1000)) | awk '{ printf "%.1f\n", $1 / 1000 }'; }
STATS_MS=$(for _ in 1 2 3; do ms_of docker stats --no-stream "$CID"; done | median)
CURL_MS=$(for _ in 1 2 3; do ms_of curl -sS --unix-socket "$DOCKER_SOCK" "http://x/containers/$CID/stats?stream=false"; done | median)
log "ds01d: $DS01_CPU s CPU over $K sweeps of $N containers ($US_PER us/container/sweep, sweep period $PERIOD s); docker stats $STATS_MS ms, API stats $CURL_MS ms"

# ---- 2. enforcement precision -----------------------------------------------------------------
log "deploying $M idle containers as $PUSER together (idle timeout ${IDLE_S} s)..."
deploy_many "$PUSER" p "$M" "$((M < 32 ? M : 32))"
end=$(($(date +%s) + IDLE_S + 60))
while :; do
	K_N=$(jq -c --arg u "$PUSER" 'select(.event_type == "maintenance.idle_kill" and .user == $u)' "$EVENTS" 2>/dev/null | grep -c . || true)
	[ "$K_N" -ge "$M" ] && break
	[ "$(date +%s)" -lt "$end" ] || die "only $K_N of $M idle containers stopped within $((IDLE_S + 60)) s"
	sleep 1
done
sleep 2
: >"$TMP/prec"
while read -r name ts; do
	ins=$(docker inspect "$name" | jq -r '.[0].State | "\(.StartedAt) \(.FinishedAt)"')
	st=$(date -d "${ins% *}" +%s.%N) fin=$(date -d "${ins#* }" +%s.%N) ev=$(date -d "$ts" +%s)
	awk -v e="$ev" -v f="$fin" -v s="$st" -v i="$IDLE_S" 'BEGIN { printf "%.3f %.3f\n", e - (s + i), f - (s + i) }' >>"$TMP/prec"
done < <(jq -r --arg u "$PUSER" 'select(.event_type == "maintenance.idle_kill" and .user == $u) | "\(.details.container) \(.timestamp)"' "$EVENTS")
stats3() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "{\"min\": %.2f, \"median\": %.2f, \"max\": %.2f}\n", v[1], m, v[NR] }'; }
PREC=$(awk '{ print $1 }' "$TMP/prec" | stats3)
PREC_FIN=$(awk '{ print $2 }' "$TMP/prec" | stats3)

mkdir -p "$(dirname "$RESULTS")"
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson n "$N" --argjson k "$K" --argjson m "$M" \
	--argjson us "$US_PER" --argjson dus "$DOCKERD_US" --argjson period "$PERIOD" \
	--argjson stats "$STATS_MS" --argjson curl "$CURL_MS" --argjson prec "$PREC" --argjson precf "$PREC_FIN" \
	--arg machine "$(uname -r), $(nproc) cpus" --arg docker "$(docker version -f '{{.Server.Version}}')" \
	'{cpu_us_per_container_per_sweep: $us, docker_stats_ms: $stats, docker_api_stats_ms: $curl,
	  precision_s: $prec, precision_finished_s: $precf, containers: $n, sweeps: $k,
	  sweep_period_s: $period, dockerd_cpu_us_per_container_per_sweep: $dus,
	  precision_containers: $m, idle_timeout_s: 18, sample_interval_s: 1,
	  date: $date, machine: $machine, docker: $docker}' >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "sweep of $N containers: ds01d $US_PER us CPU/container/sweep (target < 100; dockerd $DOCKERD_US), period $PERIOD s; one docker stats $STATS_MS ms (API $CURL_MS ms); idle stop of $M: $(jq -r '"\(.min)/\(.median)/\(.max)"' <<<"$PREC") s min/median/max after the timeout (events) -> ${RESULTS#"$REPO"/}"
