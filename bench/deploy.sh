#!/bin/bash
# Deploy + retire latency of ds01 against the bare Docker Engine API doing the same work.
#
#   bench/deploy.sh [--rounds N] [--bare-only]       (as root, after `make`)
#
# Starts its own ds01d (own instance, socket, state and logs in a temp dir; it never touches
# another daemon's containers), creates the Unix user ds01bench, and per round times
#   ds01:  container-deploy benchN --background ; container-retire benchN   (as ds01bench)
#   bare:  curl --unix-socket: POST /containers/create, /start, /stop?t=10, DELETE
# where the bare create body is the spec ds01d itself produced for a warm-up container
# (read back with docker inspect). Writes bench/results/deploy.json and prints one line.
# --bare-only: no daemon; a hand-written spec of the same shape (for when ds01d is not ready).
set -euo pipefail

ROUNDS=${ROUNDS:-21}
BARE_ONLY=0
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--rounds=*) ROUNDS=${1#*=}; shift ;;
	--bare-only) BARE_ONLY=1; shift ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--rounds N] [--bare-only]" >&2; exit 2 ;;
	esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "deploy.sh: --rounds needs a positive integer" >&2; exit 2; }

REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh" # ds01_remove_instance_network
BUILD=${DS01_BUILD:-$REPO/build}
RESULTS=$REPO/bench/results/deploy.json
IMAGE=ds01-test/busybox:latest
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
BUSER=ds01bench
INSTANCE=ds01-bench-$$
BARE_INSTANCE=$INSTANCE-bare   # the bare containers must not look like the bench daemon's own

die() { echo "deploy.sh: error: $*" >&2; exit 1; }
log() { echo "deploy.sh: $*" >&2; }
now() { date +%s%N; }
# kill -0 also succeeds on a zombie (our own exited child, not yet waited for): check the state.
alive() {
	local st
	st=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}


[ "$(id -u)" -eq 0 ] || die "run as root (it creates a Unix user and talks to dockerd)"
for t in curl jq docker setpriv useradd userdel; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (scripts/deps.sh installs it)"
done
for b in ds01d ds01 ds01-init; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b missing: run make first"
done
docker info >/dev/null 2>&1 || die "dockerd is not answering (make up starts it)"
bash "$REPO/scripts/mkimage.sh" busybox "$IMAGE" >/dev/null 2>&1 || die "could not build $IMAGE (scripts/mkimage.sh busybox)"

TMP=""
DPID=""
USER_CREATED=0
cleanup() {
	set +e
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null
		for _ in $(seq 1 50); do alive "$DPID" || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	local ids
	ids=$( (docker ps -aq --filter "label=ds01.instance=$INSTANCE"
		docker ps -aq --filter "label=ds01.instance=$BARE_INSTANCE") 2>/dev/null | sort -u)
	# shellcheck disable=SC2086 # one container id per word
	[ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
	ds01_remove_instance_network "$INSTANCE"
	if [ "$USER_CREATED" -eq 1 ]; then
		pkill -KILL -u "$BUSER" 2>/dev/null
		userdel -r "$BUSER" >/dev/null 2>&1 || log "warning: userdel -r $BUSER failed"
	fi
	[ -n "$TMP" ] && rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# World-readable copies: the build dir may be under /root, which the bench user cannot reach.
TMP=$(mktemp -d /tmp/ds01-bench.XXXXXX)
chmod 755 "$TMP"
BIN=$TMP/bin
mkdir -m 755 "$BIN" "$TMP/run"
mkdir -m 700 "$TMP/state" "$TMP/log"
install -m 755 "$BUILD/ds01d" "$BUILD/ds01" "$BUILD/ds01-init" "$BIN/"
for c in container-deploy container-retire container-list container-run container-start \
	container-stop container-remove; do
	ln -s ds01 "$BIN/$c"
done
SOCK=$TMP/run/ds01.sock

cat >"$TMP/resource-limits.yaml" <<YAML
# bench: one group, no quota on containers or GPUs, nothing expires during a run
defaults:
  max_gpu_equivalents: null
  max_gpu_slots_per_container: null
  allow_full_gpu: true
  max_cpus: 1
  memory: 1g
  memory_swap: 1g
  shm_size: 64m
  pids_limit: 1024
  max_containers_per_user: null
  max_runtime_h: null
  idle_timeout_h: null
  gpu_hold_after_stop_h: 0.25
  container_hold_after_stop_h: 0.5
default_group: bench
groups:
  bench:
    members: [$BUSER]
    max_containers_per_user: null
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
images:
  default: $IMAGE
YAML

if id "$BUSER" >/dev/null 2>&1; then
	die "user $BUSER already exists (left by an interrupted run? remove it: userdel -r $BUSER)"
fi
useradd -m -s /bin/sh "$BUSER"
USER_CREATED=1
BUID=$(id -u "$BUSER")
BGID=$(id -g "$BUSER")
BHOME=$(getent passwd "$BUSER" | cut -d: -f6)
cd /

as_user() {
	setpriv --reuid="$BUID" --regid="$BGID" --init-groups \
		env -i PATH="$BIN:/usr/bin:/bin" HOME="$BHOME" USER="$BUSER" LOGNAME="$BUSER" \
		DS01_SOCKET="$SOCK" "$@" </dev/null
}

# --- the bare Docker API: one curl per call; prints nothing, fails loudly
api() { # METHOD PATH [BODYFILE]
	local out code
	if [ $# -ge 3 ]; then
		out=$(curl -sS --unix-socket "$DOCKER_SOCK" -X "$1" -H 'Content-Type: application/json' \
			--data-binary "@$3" -w '\n%{http_code}' "http://localhost$2") ||
			die "$1 $2: curl could not talk to $DOCKER_SOCK"
	else
		out=$(curl -sS --unix-socket "$DOCKER_SOCK" -X "$1" -w '\n%{http_code}' "http://localhost$2") ||
			die "$1 $2: curl could not talk to $DOCKER_SOCK"
	fi
	code=${out##*$'\n'}
	case "$code" in
	2??) return 0 ;;
	esac
	die "$1 $2: HTTP $code ${out%$'\n'*}"
}
# The round functions run in this shell (not in $(...)) so that a failure ends the whole run.
bare_round() { # NAME -> elapsed ns in $ns
	local t0 t1
	t0=$(now)
	api POST "/containers/create?name=$1" "$TMP/spec.json"
	api POST "/containers/$1/start"
	api POST "/containers/$1/stop?t=10"
	api DELETE "/containers/$1"
	t1=$(now)
	ns=$((t1 - t0))
}

ds01_round() { # PROJECT -> elapsed ns in $ns
	local t0 t1
	t0=$(now)
	as_user "$BIN/container-deploy" "$1" --background >"$TMP/deploy.out" 2>&1 ||
		die "container-deploy $1 failed: $(cat "$TMP/deploy.out")"
	as_user "$BIN/container-retire" "$1" >"$TMP/retire.out" 2>&1 ||
		die "container-retire $1 failed: $(cat "$TMP/retire.out")"
	t1=$(now)
	ns=$((t1 - t0))
}

# The create body, minus identity: keep what the daemon chose, drop nulls and Docker's own fields.
spec_from_inspect() { # CONTAINER
	docker inspect "$1" | jq --arg inst "$BARE_INSTANCE" '.[0] as $c | {
		Image: $c.Config.Image, User: $c.Config.User, WorkingDir: $c.Config.WorkingDir,
		Entrypoint: $c.Config.Entrypoint, Cmd: $c.Config.Cmd, Env: $c.Config.Env,
		Labels: ($c.Config.Labels + {"ds01.instance": $inst}),
		Tty: $c.Config.Tty, OpenStdin: $c.Config.OpenStdin, StopSignal: $c.Config.StopSignal,
		StopTimeout: $c.Config.StopTimeout,
		HostConfig: ($c.HostConfig | {Mounts, Binds, Tmpfs, NanoCpus, CpuQuota, CpuPeriod,
			CpuShares, Memory, MemorySwap, ShmSize, PidsLimit, SecurityOpt, CapDrop, CapAdd,
			NetworkMode, Init, DeviceRequests, Devices, ReadonlyRootfs, Ulimits, RestartPolicy,
			GroupAdd, IpcMode, CgroupParent, LogConfig, OomKillDisable}
			| with_entries(select(.value != null and .value != [] and .value != {} and .value != ""))
			# ds01d mounts the workspace from a pin that exists only while it starts the
			# container: the bare API gets the workspace itself
			| .Mounts |= map(if .Target == "/workspace"
				then .Source = $c.Config.Labels["ds01.workspace"] else . end))
	} | with_entries(select(.value != null))'
}

# A spec of the same shape for --bare-only (ds01d not available).
spec_by_hand() {
	local ws=$BHOME/workspace/bench0
	install -d -o "$BUID" -g "$BGID" -m 700 "$BHOME/workspace" "$ws"
	jq -n --arg img "$IMAGE" --arg user "$BUID:$BGID" --arg ws "$ws" --arg init "$BIN/ds01-init" \
		--arg inst "$BARE_INSTANCE" --arg uid "$BUID" --arg u "$BUSER" '{
		Image: $img, User: $user, WorkingDir: "/workspace", Entrypoint: ["/.ds01/init"],
		Env: ["HOME=/workspace", "USER=" + $u, "CUDA_DEVICE_ORDER=PCI_BUS_ID",
		      "NVIDIA_VISIBLE_DEVICES=GPU-00000000-0000-0000-0000-000000000000",
		      "CUDA_VISIBLE_DEVICES=GPU-00000000-0000-0000-0000-000000000000"],
		Labels: {"ds01.managed": "true", "ds01.instance": $inst, "ds01.user": $u,
		         "ds01.uid": $uid, "ds01.project": "bench0", "ds01.interface": "cli"},
		HostConfig: {
			Mounts: [{Type: "bind", Source: $ws, Target: "/workspace"},
			         {Type: "bind", Source: $init, Target: "/.ds01/init", ReadOnly: true}],
			NanoCpus: 1000000000, Memory: 1073741824, MemorySwap: 1073741824,
			ShmSize: 67108864, PidsLimit: 1024, SecurityOpt: ["no-new-privileges"],
			CapDrop: ["ALL"], NetworkMode: "bridge"}}'
}

if [ "$BARE_ONLY" -eq 0 ]; then
	"$BIN/ds01d" --config "$TMP/ds01.yaml" >"$TMP/ds01d.log" 2>&1 </dev/null &
	DPID=$!
	up=0
	for _ in $(seq 1 100); do
		alive "$DPID" || break
		if [ -S "$SOCK" ] && as_user "$BIN/ds01" version >/dev/null 2>&1; then
			up=1
			break
		fi
		sleep 0.1
	done
	if [ "$up" -ne 1 ]; then
		tail -n 20 "$TMP/ds01d.log" >&2
		if ! alive "$DPID"; then
			st=0
			wait "$DPID" || st=$?
			DPID=""
			die "the bench ds01d exited with status $st during start-up (--bare-only measures the API alone)"
		fi
		die "the bench ds01d did not answer on $SOCK within 10 s (--bare-only measures the API alone)"
	fi
	# warm-up: the daemon's own spec for the bare half, and warm caches on both sides
	as_user "$BIN/container-deploy" bench0 --background >"$TMP/deploy.out" 2>&1 ||
		die "warm-up container-deploy failed: $(cat "$TMP/deploy.out")"
	cname=$(docker ps -aq --filter "label=ds01.instance=$INSTANCE" --filter "label=ds01.project=bench0" | head -n 1)
	[ -n "$cname" ] || die "warm-up: no container labelled ds01.instance=$INSTANCE, ds01.project=bench0"
	spec_from_inspect "$cname" >"$TMP/spec.json"
	as_user "$BIN/container-retire" bench0 >"$TMP/retire.out" 2>&1 ||
		die "warm-up container-retire failed: $(cat "$TMP/retire.out")"
else
	log "--bare-only: measuring the bare API with a hand-written spec"
	spec_by_hand >"$TMP/spec.json"
fi
[ -z "${BENCH_SPEC_OUT:-}" ] || cp "$TMP/spec.json" "$BENCH_SPEC_OUT"
bare_round "bench-bare-0-$$"

ns=0
ds01_ns=()
bare_ns=()
for i in $(seq 1 "$ROUNDS"); do
	if [ "$BARE_ONLY" -eq 0 ]; then
		ds01_round "bench$i"
		ds01_ns+=("$ns")
	fi
	bare_round "bench-bare-$i-$$"
	bare_ns+=("$ns")
	if [ -t 2 ]; then printf '\rround %d/%d ' "$i" "$ROUNDS" >&2; fi
done
if [ -t 2 ]; then printf '\r' >&2; fi

median_ms() { # ns values...
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "null"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f\n", m / 1e6 }'
}
bare_ms=$(median_ms "${bare_ns[@]}")
if [ "$BARE_ONLY" -eq 0 ]; then
	ds01_ms=$(median_ms "${ds01_ns[@]}")
	ratio=$(awk -v a="$ds01_ms" -v b="$bare_ms" 'BEGIN { printf "%.2f", a / b }')
else
	ds01_ms=null
	ratio=null
fi

mkdir -p "$(dirname "$RESULTS")"
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson rounds "$ROUNDS" \
	--argjson ds01 "$ds01_ms" --argjson bare "$bare_ms" --argjson ratio "$ratio" \
	--arg machine "$(uname -r), $(nproc) cpus" --arg docker "$(docker version -f '{{.Server.Version}}')" \
	'{date: $date, rounds: $rounds, ds01_median_ms: $ds01, bare_median_ms: $bare, ratio: $ratio,
	  machine: $machine, docker: $docker}' >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"

echo "deploy+retire median over $ROUNDS rounds: ds01 $ds01_ms ms, bare Docker API $bare_ms ms, ratio $ratio ($(uname -r), $(nproc) cpus) -> ${RESULTS#"$REPO"/}"
