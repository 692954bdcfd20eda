#!/bin/bash
# Image build latency: image-create through ds01d against the bare Docker Engine API building
# the same Dockerfile and context.
#
#   bench/build.sh [--rounds N]            (as root, after `make`; DS01_BUILD=DIR, default build/)
#
# Starts its own ds01d (own instance, socket, state and logs in a temp dir), creates the Unix
# user ds01bbuild with a small project ~/workspace/benchp (a Dockerfile FROM
# ds01-test/busybox:latest with 3 RUN steps, and a few files as context), and per round,
# interleaved, times (all with the build cache off):
#   ds01:    image-create benchp --no-cache      (as ds01bbuild: the CLI tars the project, ds01d
#            spools it, builds with the user's labels, build args and group limits, relays
#            the progress stream)
#   bare:    curl --unix-socket POST /v1.41/build?t=...&nocache=1   with ctx.tar (same files)
#   bare_q:  the same curl with the query ds01d sends (labels, build args, limits): the part of
#            ds01's cost that is Docker doing what ds01 asks, not ds01 itself
# Images are deleted after each round (untimed). Writes bench/results/build.json and prints one
# line.
set -euo pipefail

ROUNDS=${ROUNDS:-11}
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--rounds=*) ROUNDS=${1#*=}; shift ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--rounds N]" >&2; exit 2 ;;
	esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "build.sh: --rounds needs a positive integer" >&2; exit 2; }

REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh" # ds01_remove_instance_network
BUILD=${DS01_BUILD:-$REPO/build}
RESULTS=$REPO/bench/results/build.json
IMAGE=ds01-test/busybox:latest
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
API=v1.41
BUSER=ds01bbuild
INSTANCE=ds01-bench-build-$$
BARE_TAG=ds01-bench-bare-$$/benchp:latest
BAREQ_TAG=ds01-bench-bareq-$$/benchp:latest

die() { echo "build.sh: error: $*" >&2; exit 1; }
log() { echo "build.sh: $*" >&2; }
now() { date +%s%N; }
alive() {
	local st
	st=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

[ "$(id -u)" -eq 0 ] || die "run as root (it creates a Unix user and talks to dockerd)"
for t in curl jq docker setpriv useradd userdel tar; do
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
BUID=""
rm_images() {
	docker rmi -f "$BARE_TAG" "$BAREQ_TAG" >/dev/null 2>&1 || true
	[ -z "$BUID" ] || docker rmi -f "ds01-$BUID/benchp:latest" >/dev/null 2>&1 || true
}
cleanup() {
	set +e
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null
		for _ in $(seq 1 50); do alive "$DPID" || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	docker ps -aq --filter "label=ds01.instance=$INSTANCE" | xargs -r docker rm -f >/dev/null 2>&1
	ds01_remove_instance_network "$INSTANCE"
	rm_images
	# anything left of a round cut short (a tag moved, an interrupted build)
	local ids
	for _ in 1 2 3; do
		ids=$([ -z "$BUID" ] || docker images -aq --no-trunc --filter "label=ds01.user_id=$BUID" | sort -u)
		[ -n "$ids" ] || break
		# shellcheck disable=SC2086 # one id per word
		docker rmi -f $ids >/dev/null 2>&1
	done
	if [ "$USER_CREATED" -eq 1 ]; then
		pkill -KILL -u "$BUSER" 2>/dev/null
		userdel -r "$BUSER" >/dev/null 2>&1 || log "warning: userdel -r $BUSER failed"
	fi
	[ -n "$TMP" ] && rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMP=$(mktemp -d /tmp/ds01-bench-build.XXXXXX)
chmod 755 "$TMP"
BIN=$TMP/bin
mkdir -m 755 "$BIN" "$TMP/run"
mkdir -m 700 "$TMP/state" "$TMP/log"
install -m 755 "$BUILD/ds01d" "$BUILD/ds01" "$BUILD/ds01-init" "$BIN/"
for c in image-create image-delete image-list; do
	ln -s ds01 "$BIN/$c"
done
SOCK=$TMP/run/ds01.sock
NCPU=$(nproc)

cat >"$TMP/resource-limits.yaml" <<YAML
# bench: one group; the CPU limit is the whole machine, memory far above what the build needs
defaults:
  max_gpu_equivalents: null
  max_gpu_slots_per_container: null
  allow_full_gpu: true
  max_cpus: $NCPU
  memory: 1g
  memory_swap: 1g
  shm_size: 64m
  pids_limit: 1024
  max_containers_per_user: null
  max_runtime_h: null
  idle_timeout_h: null
default_group: bench
groups:
  bench:
    members: [$BUSER]
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
  frameworks:
    minimal: $IMAGE
YAML

if id "$BUSER" >/dev/null 2>&1; then
	die "user $BUSER already exists (left by an interrupted run? remove it: userdel -r $BUSER)"
fi
useradd -m -s /bin/sh "$BUSER"
USER_CREATED=1
BUID=$(id -u "$BUSER")
BGID=$(id -g "$BUSER")
BHOME=$(getent passwd "$BUSER" | cut -d: -f6)
# a stale image of an earlier user with this uid would only confuse the cleanup
docker rmi -f "ds01-$BUID/benchp:latest" >/dev/null 2>&1 || true
cd /

as_user() {
	setpriv --reuid="$BUID" --regid="$BGID" --init-groups \
		env -i PATH="$BIN:/usr/bin:/bin" HOME="$BHOME" USER="$BUSER" LOGNAME="$BUSER" \
		DS01_SOCKET="$SOCK" "$@" </dev/null
}

# --- the project: 3 RUN steps, a few files -----------------------------------------------------
PROJ=$BHOME/workspace/benchp
install -d -o "$BUID" -g "$BGID" -m 700 "$BHOME/workspace" "$PROJ" "$PROJ/src" "$PROJ/conf"
cat >"$PROJ/Dockerfile" <<'DOCKERFILE'
FROM ds01-test/busybox:latest
RUN mkdir -p /opt/app && echo "built by the ds01 build benchmark" > /opt/app/README
RUN i=0; while [ $i -lt 2000 ]; do i=$((i + 1)); done; echo $i > /opt/app/count
RUN cp /etc/passwd /opt/app/passwd.copy && ls -l /opt/app > /opt/app/listing
DOCKERFILE
printf 'print("hello from benchp")\n' >"$PROJ/src/main.py"
printf 'def f(x):\n    return x * 2\n' >"$PROJ/src/util.py"
printf '{"lr": 0.001, "epochs": 3}\n' >"$PROJ/conf/train.json"
printf '# benchp\nA small project for bench/build.sh.\n' >"$PROJ/README.md"
head -c 65536 /dev/urandom >"$PROJ/conf/weights.bin"
chown -R "$BUID:$BGID" "$PROJ"
tar -C "$PROJ" -cf "$TMP/ctx.tar" .

# --- the bare builds ---------------------------------------------------------------------------
# ds01d's query (src/daemon/images/images-build.c build_query), rebuilt here with this user's values.
BAREQ_QUERY=$(jq -rn --arg t "$BAREQ_TAG" --arg uid "$BUID" --arg gid "$BGID" --arg u "$BUSER" \
	--arg home "$BHOME" --arg pid "$$" --argjson ncpu "$NCPU" '
	def q: tostring | @uri;
	"t=\($t | q)&dockerfile=Dockerfile&rm=1&forcerm=1&pull=0&nocache=1"
	+ "&buildargs=\({DS01_UID: $uid, DS01_GID: $gid, DS01_USER: $u, DS01_HOME: $home} | tojson | q)"
	+ "&labels=\({"ds01.managed": "true", "ds01.user_id": $uid, "ds01.group_id": $gid,
		"ds01.username": $u, "ds01.project": "benchp", "ds01.has_user_setup": "true"} | tojson | q)"
	+ "&memory=1073741824&memswap=1073741824&cpuperiod=100000&cpuquota=\($ncpu * 100000)"
	+ "&shmsize=67108864"')
# The same six labels as ds01's (ds01.user_id=<bench uid> also finds leftovers at cleanup).

bare_build() { # QUERY -> fails loudly unless Docker says it tagged the image
	local out
	out=$(curl -sS --unix-socket "$DOCKER_SOCK" -X POST -H 'Content-Type: application/x-tar' \
		--data-binary "@$TMP/ctx.tar" "http://x/$API/build?$1") ||
		die "POST /build: curl could not talk to $DOCKER_SOCK"
	case "$out" in
	*'"errorDetail"'* | *'"error"'*) die "POST /build?$1 failed: $(printf '%s' "$out" | tail -c 600)" ;;
	*Successfully\ tagged*) ;;
	*) die "POST /build?$1: no image tagged: $(printf '%s' "$out" | tail -c 600)" ;;
	esac
}
bare_round() { # -> ns
	local t0
	t0=$(now)
	bare_build "t=$(jq -rn --arg t "$BARE_TAG" '$t | @uri')&nocache=1"
	ns=$(($(now) - t0))
}
bareq_round() {
	local t0
	t0=$(now)
	bare_build "$BAREQ_QUERY"
	ns=$(($(now) - t0))
}
ds01_round() {
	local t0
	t0=$(now)
	as_user "$BIN/image-create" benchp --no-cache >"$TMP/create.out" 2>&1 ||
		die "image-create benchp --no-cache failed: $(tail -n 20 "$TMP/create.out")"
	ns=$(($(now) - t0))
}

# --- the daemon ----------------------------------------------------------------------------------
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
	die "the bench ds01d did not start (log above)"
fi

# warm-up (untimed): both paths once
ns=0
ds01_round
grep -q "Built ds01-$BUID/benchp:latest" "$TMP/create.out" || die "warm-up: image-create did not build: $(tail -n 5 "$TMP/create.out")"
STEPS_DS01=$(grep -c '^Step [0-9]*/' "$TMP/create.out" || true)
bare_round
bareq_round
rm_images

ds01_ns=()
bare_ns=()
bareq_ns=()
for i in $(seq 1 "$ROUNDS"); do
	# rotate the order so that no side always runs right after an image delete of the same kind
	case $((i % 3)) in
	0) order="ds01 bare bareq" ;;
	1) order="bare bareq ds01" ;;
	2) order="bareq ds01 bare" ;;
	esac
	for side in $order; do
		case $side in
		ds01) ds01_round; ds01_ns+=("$ns") ;;
		bare) bare_round; bare_ns+=("$ns") ;;
		bareq) bareq_round; bareq_ns+=("$ns") ;;
		esac
	done
	rm_images
	if [ -t 2 ]; then printf '\rround %d/%d ' "$i" "$ROUNDS" >&2; fi
done
if [ -t 2 ]; then printf '\r' >&2; fi

median_ms() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f\n", m / 1e6 }'
}
ds01_ms=$(median_ms "${ds01_ns[@]}")
bare_ms=$(median_ms "${bare_ns[@]}")
bareq_ms=$(median_ms "${bareq_ns[@]}")
ratio=$(awk -v a="$ds01_ms" -v b="$bare_ms" 'BEGIN { printf "%.2f", a / b }')
ratio_q=$(awk -v a="$ds01_ms" -v b="$bareq_ms" 'BEGIN { printf "%.2f", a / b }')
all_ms() { printf '%s\n' "$@" | awk '{ printf "%s%.0f", (NR > 1 ? "," : ""), $1 / 1e6 }'; }

mkdir -p "$(dirname "$RESULTS")"
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson rounds "$ROUNDS" \
	--argjson ds01 "$ds01_ms" --argjson bare "$bare_ms" --argjson ratio "$ratio" \
	--argjson bareq "$bareq_ms" --argjson ratio_q "$ratio_q" --argjson steps "${STEPS_DS01:-0}" \
	--argjson ds01_all "[$(all_ms "${ds01_ns[@]}")]" --argjson bare_all "[$(all_ms "${bare_ns[@]}")]" \
	--argjson bareq_all "[$(all_ms "${bareq_ns[@]}")]" \
	--arg machine "$(uname -r), $(nproc) cpus" --arg docker "$(docker version -f '{{.Server.Version}}')" \
	'{date: $date, rounds: $rounds, ds01_median_ms: $ds01, bare_median_ms: $bare, ratio: $ratio,
	  bare_ds01_query_median_ms: $bareq, ratio_vs_ds01_query: $ratio_q, ds01_steps: $steps,
	  dockerfile_steps: 4, ds01_ms: $ds01_all, bare_ms: $bare_all, bare_ds01_query_ms: $bareq_all,
	  machine: $machine, docker: $docker}' >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"

echo "image build median over $ROUNDS rounds (nocache): ds01 image-create $ds01_ms ms, bare Docker API $bare_ms ms, ratio $ratio; bare API with ds01's query $bareq_ms ms, ratio $ratio_q ($(uname -r), $(nproc) cpus) -> ${RESULTS#"$REPO"/}"
