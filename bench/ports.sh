#!/bin/bash
# A published port (container-port) against connecting to the container directly.
#
#   bench/ports.sh [--gib N] [--rounds N]          (as root, after `make`)
#
# Starts its own ds01d (own instance, socket, ports directory and state in a temp dir), creates
# the Unix user ds01bench, deploys one CPU-only container with --port 5001, and runs
# build/bench/bench-relay (static) in it as the server. Then, as ds01bench on the host:
#   throughput: N GiB of zeros read through the port's Unix socket (the relay) and straight from
#               the container's address over TCP, alternately, ROUNDS times each;
#   latency:    20,000 one-byte round trips each way, median and p99.
# Writes bench/results/ports.json and prints one line. Targets (issue 14): >= 0.9x throughput,
# < 0.2 ms added per round trip.
set -euo pipefail

GIB=1
ROUNDS=5
while [ $# -gt 0 ]; do
	case "$1" in
	--gib) GIB=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--gib N] [--rounds N]" >&2; exit 2 ;;
	esac
done
[[ "$GIB" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ports.sh: --gib and --rounds take positive integers" >&2; exit 2; }

REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh" # ds01_remove_instance_network
BUILD=${DS01_BUILD:-$REPO/build}
RESULTS=$REPO/bench/results/ports.json
IMAGE=ds01-test/busybox:latest
BUSER=ds01bench
INSTANCE=ds01-bench-ports-$$
die() { echo "ports.sh: error: $*" >&2; exit 1; }
log() { echo "ports.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root (it creates a Unix user and talks to dockerd)"
for b in ds01d ds01 ds01-init bench/bench-relay; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b missing: run make first"
done
docker info >/dev/null 2>&1 || die "dockerd is not answering (make up starts it)"
bash "$REPO/scripts/mkimage.sh" busybox "$IMAGE" >/dev/null 2>&1 || die "could not build $IMAGE"
! id "$BUSER" >/dev/null 2>&1 || die "user $BUSER already exists (left by an interrupted run? userdel -r $BUSER)"

TMP=""
DPID=""
MADE_USER=0
cleanup() {
	set +e
	[ -n "$DPID" ] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	docker ps -aq --filter "label=ds01.instance=$INSTANCE" | xargs -r docker rm -f >/dev/null 2>&1
	ds01_remove_instance_network "$INSTANCE"
	if [ "$MADE_USER" = 1 ]; then
		pkill -KILL -u "$BUSER" 2>/dev/null
		userdel -r "$BUSER" >/dev/null 2>&1 || log "warning: userdel -r $BUSER failed"
	fi
	[ -n "$TMP" ] && rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMP=$(mktemp -d /tmp/ds01-bench-ports.XXXXXX)
chmod 755 "$TMP"
mkdir -m 755 "$TMP/bin" "$TMP/run"
mkdir -m 700 "$TMP/state" "$TMP/log"
install -m 755 "$BUILD/ds01d" "$BUILD/ds01" "$BUILD/ds01-init" "$BUILD/bench/bench-relay" "$TMP/bin/"
for c in container-deploy container-attach container-retire; do ln -s ds01 "$TMP/bin/$c"; done
SOCK=$TMP/run/ds01.sock
useradd -m -s /bin/sh "$BUSER"
MADE_USER=1
cat >"$TMP/limits.yaml" <<YAML
defaults:
  max_cpus: 1
  memory: 256m
  memory_swap: 256m
  max_containers_per_user: 3
YAML
cat >"$TMP/ds01.yaml" <<YAML
instance: $INSTANCE
socket: $SOCK
docker_api_socket: "off"
ports_dir: $TMP/run/ports
state_dir: $TMP/state
log_dir: $TMP/log
limits_file: $TMP/limits.yaml
metrics_listen: "off"
images:
  default: $IMAGE
gpus:
  backend: simulated
  simulated:
    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960 }
YAML
"$TMP/bin/ds01d" --config "$TMP/ds01.yaml" >"$TMP/ds01d.log" 2>&1 &
DPID=$!
as_bench() { setpriv --reuid="$BUSER" --regid="$BUSER" --init-groups env -i PATH="$TMP/bin:/usr/bin:/bin" HOME="/home/$BUSER" DS01_SOCKET="$SOCK" "$@"; }
for _ in $(seq 1 100); do as_bench ds01 version >/dev/null 2>&1 && break; sleep 0.1; done
as_bench ds01 version >/dev/null 2>&1 || die "ds01d did not start: $(tail -5 "$TMP/ds01d.log")"

as_bench container-deploy pb --cpu-only --port 5001 >/dev/null || die "deploy failed"
install -m 755 -o "$BUSER" "$BUILD/bench/bench-relay" "/home/$BUSER/workspace/pb/bench-relay"
as_bench container-attach pb -- sh -c '(/workspace/bench-relay serve 5001 >/dev/null 2>&1 &)' || die "cannot start the server"
IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "pb._.$BUSER")
RELAY=$TMP/run/ports/$BUSER/pb.5001
DIRECT=$IP:5001
for _ in $(seq 1 50); do as_bench bench-relay rtt "$DIRECT" 1 >/dev/null 2>&1 && break; sleep 0.1; done

BYTES=$((GIB * 1024 * 1024 * 1024))
via=() direct=()
for r in $(seq 1 "$ROUNDS"); do
	via+=("$(as_bench bench-relay read "$RELAY" "$BYTES")") || die "read through the relay failed"
	direct+=("$(as_bench bench-relay read "$DIRECT" "$BYTES")") || die "direct read failed"
	log "round $r: relay ${via[-1]} MB/s, direct ${direct[-1]} MB/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
VIA=$(median "${via[@]}")
DIR=$(median "${direct[@]}")
read -r RV50 RV99 <<<"$(as_bench bench-relay rtt "$RELAY" 20000)"
read -r RD50 RD99 <<<"$(as_bench bench-relay rtt "$DIRECT" 20000)"
RATIO=$(awk -v a="$VIA" -v b="$DIR" 'BEGIN { printf "%.2f", a / b }')
ADDED=$(awk -v a="$RV50" -v b="$RD50" 'BEGIN { printf "%.1f", a - b }')
mkdir -p "$(dirname "$RESULTS")"
jq -n --arg when "$(date -u +%FT%TZ)" --argjson gib "$GIB" --argjson rounds "$ROUNDS" \
	--argjson via "$VIA" --argjson direct "$DIR" --argjson ratio "$RATIO" \
	--argjson rv50 "$RV50" --argjson rv99 "$RV99" --argjson rd50 "$RD50" --argjson rd99 "$RD99" \
	'{when: $when, gib: $gib, rounds: $rounds,
	  throughput_mb_s: {relay: $via, direct: $direct, ratio: $ratio},
	  rtt_us: {relay: {p50: $rv50, p99: $rv99}, direct: {p50: $rd50, p99: $rd99}}}' >"$RESULTS"
echo "ports: ${GIB} GiB through the published port ${VIA} MB/s vs direct ${DIR} MB/s (ratio ${RATIO}); round trip p50 ${RV50} us vs ${RD50} us (+${ADDED} us), p99 ${RV99} vs ${RD99} us"
