#!/bin/bash
# Allocation benchmark (issue #3): placement + quota decisions per second on a simulated inventory
# of 1,024 slots (half MIG) and 1,000 users, durable reservations per second through the ledger,
# and the time ds01d takes at start-up to reconcile 200 managed containers it finds in Docker and
# in its ledger.
#
#   bench/alloc.sh [--containers N] [--runs N] [--seconds S]     (as root)
#
# BUILD=DIR picks the build dir (default build/; set up with meson if missing). Runs
# BUILD/bench/bench-alloc, then creates N (200) containers with the labels ds01 sets
# (ds01.managed, ds01.instance=ds01-bench-alloc-<pid>, ds01.user, ds01.uid, ds01.project,
# ds01.gpu.uuids), created not started, records them in a ledger as ds01d does when it creates
# them (bound, with their GPU leases), and starts its own ds01d (own socket, state, logs) on a
# copy of that ledger: reconcile_ms = time from the log line before reconcile ("docker X, API Y")
# to "reconciled ledger with docker: 0 correction(s)", median over --runs (3) starts, each with a
# fresh copy; an empty ledger and no containers is the baseline. Writes bench/results/alloc.json and
# prints one line. Removes the containers, daemon and temp dir on exit, also on failure.
set -euo pipefail

NCONT=${NCONT:-200}
RUNS=${RUNS:-3}
SECONDS_A=${SECONDS_A:-3}
while [ $# -gt 0 ]; do
	case "$1" in
	--containers) NCONT=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--seconds) SECONDS_A=$2; shift 2 ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--containers N] [--runs N] [--seconds S]" >&2; exit 2 ;;
	esac
done
[[ "$NCONT" =~ ^[0-9]+$ ]] || { echo "alloc.sh: --containers needs a number" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "alloc.sh: --runs needs a positive integer" >&2; exit 2; }

REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh" # ds01_remove_instance_network
BUILD=${BUILD:-$REPO/build}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
RESULTS=$REPO/bench/results/alloc.json
IMAGE=ds01-test/busybox:latest
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
INSTANCE=ds01-bench-alloc-$$
NGPUS=64 # gpus.simulated: the config's maximum; the first 64 containers name one GPU each

die() { echo "alloc.sh: error: $*" >&2; exit 1; }
log() { echo "alloc.sh: $*" >&2; }
alive() {
	local st
	st=$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

[ "$(id -u)" -eq 0 ] || die "run as root (it talks to dockerd and starts ds01d)"
for t in docker jq meson ninja perl xargs; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (scripts/deps.sh installs it)"
done
docker info >/dev/null 2>&1 || die "dockerd is not answering (make up starts it)"

# --- build
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$REPO" >/dev/null || die "meson setup $BUILD failed"
fi
ninja -C "$BUILD" ds01d ds01-init bench/bench-alloc >/dev/null || die "ninja -C $BUILD failed"

TMP=""
DPID=""
cleanup() {
	set +e
	stop_daemon
	local ids
	ids=$(docker ps -aq --filter "label=ds01.instance=$INSTANCE" 2>/dev/null)
	# shellcheck disable=SC2086 # one container id per word
	[ -z "$ids" ] || echo $ids | xargs -n 50 docker rm -f >/dev/null 2>&1
	ds01_remove_instance_network "$INSTANCE"
	[ -n "$TMP" ] && rm -rf --one-file-system "$TMP"
}
stop_daemon() {
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID" 2>/dev/null || true
		for _ in $(seq 1 100); do alive "$DPID" || break; sleep 0.05; done
		kill -KILL "$DPID" 2>/dev/null || true
		wait "$DPID" 2>/dev/null || true
	fi
	DPID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMP=$(mktemp -d /tmp/ds01-bench-alloc.XXXXXX)

# --- (a) + (b): bench-alloc
log "bench-alloc: ${SECONDS_A} s in memory, ${SECONDS_A} s through the ledger in $TMP"
"$BUILD/bench/bench-alloc" --seconds "$SECONDS_A" --durable-seconds "$SECONDS_A" --dir "$TMP" \
	>"$TMP/alloc-core.json" || die "bench-alloc failed"

# --- (c): start-up reconcile
bash "$REPO/scripts/mkimage.sh" busybox "$IMAGE" >/dev/null 2>&1 || die "could not build $IMAGE (scripts/mkimage.sh busybox)"

write_config() { # STATE_DIR
	{
		printf 'instance: %s\n' "$INSTANCE"
		printf 'socket: %s/ds01.sock\n' "$TMP"
		printf 'docker_api_socket: "off"\n'
		printf 'state_dir: %s\n' "$1"
		printf 'log_dir: %s/log\n' "$TMP"
		printf 'docker_socket: %s\n' "$DOCKER_SOCK"
		printf 'limits_file: %s/no-limits-file.yaml\n' "$TMP"
		printf 'metrics_listen: "off"\n'
		printf 'init_path: %s\n' "$BUILD/ds01-init"
		printf 'images:\n  default: %s\n' "$IMAGE"
		printf 'gpus:\n  backend: simulated\n  simulated:\n'
		for ((g = 0; g < NGPUS; g++)); do
			printf '    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960 }\n'
		done
	} >"$TMP/ds01.yaml"
}

# Starts ds01d with a fresh, empty ledger, waits for "ready", stops it. Each stderr line is
# stamped (perl, microseconds) as it arrives. Sets: rec_ms (reconcile), ready_ms (process start
# to ready), corrections.
reconcile_run() { # TAG [LEDGER]: a start on a fresh state dir (with a copy of LEDGER)
	local state=$TMP/state-$1 stamped=$TMP/ds01d-$1.log t0 up=0
	rm -rf "$state"
	if [ -n "${2:-}" ]; then
		mkdir -m 0700 "$state"
		cp "$2" "$state/ledger.db"
	fi
	write_config "$state"
	t0=$(perl -MTime::HiRes=time -e 'printf "%.6f", time')
	"$BUILD/ds01d" --config "$TMP/ds01.yaml" </dev/null 2> >(perl -MTime::HiRes=time -ne \
		'BEGIN { $| = 1 } printf "%.6f %s", time, $_' >"$stamped") >/dev/null &
	DPID=$!
	for _ in $(seq 1 600); do
		alive "$DPID" || break
		if grep -q 'ready: listening' "$stamped" 2>/dev/null; then up=1; break; fi
		sleep 0.05
	done
	if [ "$up" -ne 1 ]; then
		tail -n 20 "$stamped" >&2
		die "ds01d ($1) did not get ready within 30 s"
	fi
	stop_daemon
	sleep 0.1 # let the stamping pipe drain
	local t_docker t_rec t_ready
	t_docker=$(awk '/> ?docker .*, API / { print $1; exit }' "$stamped")
	t_rec=$(awk '/reconciled ledger with docker:/ { print $1; exit }' "$stamped")
	t_ready=$(awk '/ready: listening/ { print $1; exit }' "$stamped")
	corrections=$(sed -n 's/.*reconciled ledger with docker: \([0-9]*\) correction.*/\1/p' "$stamped" | head -n 1)
	if [ -z "$t_docker" ] || [ -z "$t_rec" ] || [ -z "$t_ready" ]; then
		cat "$stamped" >&2
		die "ds01d ($1): expected log lines missing"
	fi
	rec_ms=$(awk -v a="$t_docker" -v b="$t_rec" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
	ready_ms=$(awk -v a="$t0" -v b="$t_ready" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f\n", m }'; }

log "baseline: ds01d start with 0 containers of instance $INSTANCE ($RUNS runs)"
base_rec=() base_ready=()
for r in $(seq 1 "$RUNS"); do
	reconcile_run "base$r"
	[ "$corrections" = 0 ] || die "baseline run reconciled $corrections containers, expected 0"
	base_rec+=("$rec_ms") base_ready+=("$ready_ms")
done

log "creating $NCONT managed containers (created, not started)"
t0=$(date +%s%N)
create_one() { # I: one container with the labels ds01d sets; GPU labels on the first NGPUS
	local i=$1 u=$(($1 % 50)) uuids=""
	[ "$i" -lt "$NGPUS" ] && uuids=$(printf 'GPU-5a11d000-0000-4000-8000-%012d' "$i")
	docker create --network none --name "ba$BPID-$i._.bench$u" --label ds01.managed=true \
		--label "ds01.instance=$INSTANCE" --label "ds01.user=bench$u" \
		--label "ds01.uid=$((20000 + u))" --label "ds01.project=ba$BPID-$i" \
		--label "ds01.gpu.uuids=$uuids" "$IMAGE" /bin/true >/dev/null
}
export -f create_one
export INSTANCE IMAGE NGPUS BPID=$$
# shellcheck disable=SC2016 # $1 is for the inner bash
seq 0 $((NCONT - 1)) | xargs -P 8 -I{} bash -c 'create_one "$1"' _ {} ||
	die "docker create failed"
create_ms=$((($(date +%s%N) - t0) / 1000000))
have=$(docker ps -aq --filter "label=ds01.instance=$INSTANCE" | wc -l)
[ "$have" -eq "$NCONT" ] || die "created $have containers, expected $NCONT"
log "created $NCONT containers in $create_ms ms"

# ds01d manages only what its ledger records: the containers go into a ledger (the baseline's,
# checkpointed) as if ds01d had deployed them, the first NGPUS with their GPU leases (held: the
# containers are not running).
cp "$TMP/state-base1/ledger.db" "$TMP/seeded.db"
sqlite3 "$TMP/seeded.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
docker ps -aq --no-trunc --filter "label=ds01.instance=$INSTANCE" |
	xargs docker inspect -f '{{slice .Name 1}} {{.Id}} {{index .Config.Labels "ds01.uid"}} {{index .Config.Labels "ds01.gpu.uuids"}}' |
	ds01_ledger_seed "$TMP/seeded.db" held || die "could not seed the ledger"

log "ds01d start with $NCONT containers recorded in its ledger ($RUNS runs)"
full_rec=() full_ready=()
for r in $(seq 1 "$RUNS"); do
	reconcile_run "full$r" "$TMP/seeded.db"
	[ "$corrections" = 0 ] || die "reconciled $corrections containers, expected 0"
	full_rec+=("$rec_ms") full_ready+=("$ready_ms")
done

rec_base=$(median "${base_rec[@]}")
rec_full=$(median "${full_rec[@]}")
ready_base=$(median "${base_ready[@]}")
ready_full=$(median "${full_ready[@]}")
ready_delta=$(awk -v a="$ready_full" -v b="$ready_base" 'BEGIN { printf "%.1f", a - b }')

mkdir -p "$(dirname "$RESULTS")"
jq --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson n "$NCONT" --argjson runs "$RUNS" \
	--argjson rec "$rec_full" --argjson rec0 "$rec_base" --argjson ready "$ready_full" \
	--argjson ready0 "$ready_base" --argjson delta "$ready_delta" \
	--argjson recs "$(printf '%s\n' "${full_rec[@]}" | jq -s .)" \
	--arg docker "$(docker version -f '{{.Server.Version}}')" '
	{date: $date, slots: .slots, users: .users,
	 decisions_per_s: .memory.decisions_per_s, decision_p50_us: .memory.p50_us,
	 decision_p99_us: .memory.p99_us,
	 durable_reservations_per_s: .durable.reservations_per_s,
	 reconcile_ms_200: (if $n == 200 then $rec else null end),
	 reconcile: {containers: $n, runs: $runs, reconcile_ms: $rec, reconcile_ms_runs: $recs,
	             reconcile_ms_0: $rec0, start_to_ready_ms: $ready, start_to_ready_ms_0: $ready0,
	             start_to_ready_delta_ms: $delta, gpus_simulated: 64},
	 memory: .memory, durable: .durable, machine: .machine, docker: $docker}' \
	"$TMP/alloc-core.json" >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"

jq -r '"alloc: \(.decisions_per_s) decisions/s (p50 \(.decision_p50_us) us, p99 \(.decision_p99_us) us) on \(.slots) slots x \(.users) users; \(.durable_reservations_per_s) durable reservations/s; reconcile of \(.reconcile.containers) containers \(.reconcile.reconcile_ms) ms (0: \(.reconcile.reconcile_ms_0) ms) (\(.machine))"' "$RESULTS" |
	sed "s|\$| -> ${RESULTS#"$REPO"/}|"
