#!/bin/bash
# RPC benchmark (issue #6): requests per second and p50/p99 latency of container-list and of
# /metrics with 64 concurrent clients and 200 managed containers, the daemon's resident memory,
# and the same list straight from the Docker API (what DS01 and ds01 before the snapshot did per
# request) as the baseline.
#
#   bench/rpc.sh [--containers N] [--clients N] [--seconds S] [--running N]    (as root)
#
# BUILD=DIR picks the build dir (default build/). Creates N (200) containers with the labels ds01
# sets, spread over 64 users (uids 61000..61063, no accounts needed: service_uids lets them in
# and ds01d names them _u<uid>; no request rate limit, which this load would exceed),
# starts --running (64) of them (sleep), records them in the ledger of its own ds01d (own
# instance, socket, state, logs, metrics on a free loopback port; ds01d manages only containers
# its ledger records), starts that ds01d, then runs bench-rpc:
#   list_user:  container.list, each client thread a different user (sees its own ~3 rows), a
#               new connection per request, as the CLI does;
#   list_admin: container.list {all:true} as root (every row);
#   metrics:    GET /metrics;
#   docker:     GET /containers/json?all=1 with the instance filter on docker.sock;
#   list_user_at_5000 / floor_at_5000: 5,000 requests/s offered (open loop) to ds01d, then to
#               bench-rpc-floor (a server that does nothing: this machine's floor), three times;
#   floor_closed: list_user's closed loop against bench-rpc-floor.
# Writes bench/results/rpc.json (and appends it to rpc-history.jsonl) and prints one line. Removes everything on exit.
set -euo pipefail

NCONT=200
CLIENTS=64
SECS=10
RUNNING=64
while [ $# -gt 0 ]; do
	case "$1" in
	--containers) NCONT=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--running) RUNNING=$2; shift 2 ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--containers N] [--clients N] [--seconds S] [--running N]" >&2; exit 2 ;;
	esac
done
for v in "$NCONT" "$CLIENTS" "$SECS" "$RUNNING"; do
	[[ "$v" =~ ^[0-9]+$ ]] || { echo "rpc.sh: options take whole numbers" >&2; exit 2; }
done

REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh" # ds01_remove_instance_network, ds01_ledger_seed
BUILD=${BUILD:-$REPO/build}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
RESULTS=$REPO/bench/results/rpc.json
IMAGE=ds01-test/busybox:latest
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
INSTANCE=ds01-bench-rpc-$$
USERS=64
UID0=61000

die() { echo "rpc.sh: error: $*" >&2; exit 1; }
log() { echo "rpc.sh: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "run as root (it talks to dockerd and starts ds01d)"
for t in docker jq meson ninja xargs curl; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (scripts/deps.sh installs it)"
done
docker info >/dev/null 2>&1 || die "dockerd is not answering (make up starts it)"

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$REPO" >/dev/null || die "meson setup $BUILD failed"
fi
ninja -C "$BUILD" ds01d ds01-init bench/bench-rpc bench/bench-rpc-floor >/dev/null || die "ninja -C $BUILD failed"

TMP=""
DPID=""
FPID=""
cleanup() {
	set +e
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID"
		wait "$DPID" 2>/dev/null
	fi
	local ids
	ids=$(docker ps -aq --filter "label=ds01.instance=$INSTANCE" 2>/dev/null)
	# shellcheck disable=SC2086 # one container id per word
	[ -z "$ids" ] || echo $ids | xargs -n 50 docker rm -f >/dev/null 2>&1
	ds01_remove_instance_network "$INSTANCE"
	[ -n "$TMP" ] && rm -rf --one-file-system "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

TMP=$(mktemp -d /tmp/ds01-bench-rpc.XXXXXX)
chmod 755 "$TMP"
bash "$REPO/scripts/mkimage.sh" busybox "$IMAGE" >/dev/null 2>&1 ||
	die "could not build $IMAGE (scripts/mkimage.sh busybox)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
	printf 'instance: %s\n' "$INSTANCE"
	printf 'socket: %s/ds01.sock\n' "$TMP"
	printf 'docker_api_socket: "off"\n'
	printf 'state_dir: %s/state\n' "$TMP"
	printf 'log_dir: %s/log\n' "$TMP"
	printf 'docker_socket: %s\n' "$DOCKER_SOCK"
	printf 'limits_file: %s/no-limits-file.yaml\n' "$TMP"
	printf 'metrics_listen: 127.0.0.1:%s\n' "$PORT"
	printf 'sample_interval_s: 5\n'
	printf 'max_requests_per_uid: 256\n'
	printf 'service_uids: ["%s-%s"]\n' "$UID0" "$((UID0 + USERS - 1))"
	printf 'requests_per_s_per_uid: 0\n'
	printf 'init_path: %s\n' "$BUILD/ds01-init"
	printf 'images:\n  default: %s\n' "$IMAGE"
	printf 'gpus:\n  backend: simulated\n'
} >"$TMP/ds01.yaml"

log "creating $NCONT managed containers for $USERS users, $RUNNING running"
create_one() { # I
	local i=$1 u=$(($1 % USERS)) cmd=/bin/true
	[ "$i" -lt "$RUNNING" ] && cmd="sleep 100000"
	# shellcheck disable=SC2086 # cmd is two words on purpose
	docker create --network none --name "br$BPID-$i._._u$((UID0 + u))" --label ds01.managed=true \
		--label "ds01.instance=$INSTANCE" --label "ds01.user=u$((UID0 + u))" \
		--label "ds01.uid=$((UID0 + u))" --label "ds01.project=br$BPID-$i" \
		"$IMAGE" $cmd >/dev/null
	[ "$i" -lt "$RUNNING" ] && docker start "br$BPID-$i._._u$((UID0 + u))" >/dev/null
	return 0
}
export -f create_one
export INSTANCE IMAGE USERS UID0 RUNNING BPID=$$
# shellcheck disable=SC2016 # $1 is for the inner bash
seq 0 $((NCONT - 1)) | xargs -P 4 -I{} bash -c 'create_one "$1"' _ {} || die "docker create failed"

start_daemon() {
	"$BUILD/ds01d" --config "$TMP/ds01.yaml" </dev/null 2>>"$TMP/ds01d.log" >/dev/null &
	DPID=$!
	for _ in $(seq 1 600); do
		grep -q 'ready: listening' "$TMP/ds01d.log" 2>/dev/null && break
		kill -0 "$DPID" 2>/dev/null || { cat "$TMP/ds01d.log" >&2; die "ds01d exited"; }
		sleep 0.05
	done
	grep -q 'ready: listening' "$TMP/ds01d.log" || die "ds01d did not get ready"
}
# ds01d manages only what its ledger records: a first start makes the ledger, the containers
# go into it as if ds01d had deployed them, and the measured daemon starts on that ledger.
start_daemon
kill -TERM "$DPID" && wait "$DPID" 2>/dev/null
: >"$TMP/ds01d.log"
docker ps -aq --no-trunc --filter "label=ds01.instance=$INSTANCE" |
	xargs docker inspect -f '{{slice .Name 1}} {{.Id}} {{index .Config.Labels "ds01.uid"}}' |
	ds01_ledger_seed "$TMP/state/ledger.db" || die "could not seed the ledger"
start_daemon
sleep 6 # one monitor tick: idle clocks and samples exist
rss_idle_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status")

BR=$BUILD/bench/bench-rpc
SOCK=$TMP/ds01.sock
run() { # NAME ARGS... -> $TMP/NAME.json
	local name=$1
	shift
	log "$name: $CLIENTS clients, $SECS s"
	"$BR" --clients "$CLIENTS" --seconds "$SECS" "$@" >"$TMP/$name.json" ||
		die "$name: $(cat "$TMP/$name.json")"
	jq -c . "$TMP/$name.json" >&2
}
n_all=$("$BR" --socket "$SOCK" --params '{"all":true}' --clients 1 --seconds 0.2 | jq .bytes)
[ "$n_all" -gt 0 ] || die "container.list as root returned nothing"
log "list_user_1: one client, $SECS s (the cost of a request without contention)"
"$BR" --clients 1 --seconds "$SECS" --socket "$SOCK" --uid-base "$UID0" --uids 1 >"$TMP/list_user_1.json" ||
	die "list_user_1: $(cat "$TMP/list_user_1.json")"
jq -c . "$TMP/list_user_1.json" >&2
run list_user --socket "$SOCK" --uid-base "$UID0" --uids "$USERS"
run list_admin --socket "$SOCK" --params '{"all":true}'
run list_user_persistent --socket "$SOCK" --uid-base "$UID0" --uids "$USERS" --persistent
metrics=null
if curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null; then
	run metrics --http "127.0.0.1:$PORT"
	metrics=$(cat "$TMP/metrics.json")
else
	log "metrics: /metrics not served (metrics_listen off or not built); skipped"
fi
FILTER=$(printf '{"label":["ds01.instance=%s"]}' "$INSTANCE" | jq -sRr @uri)
run docker --unix-http "$DOCKER_SOCK" --path "/containers/json?all=1&filters=$FILTER"
rows=$(curl -s --unix-socket "$DOCKER_SOCK" "http://d/containers/json?all=1&filters=$FILTER" | jq length)
[ "$rows" -eq "$NCONT" ] || die "docker lists $rows containers, expected $NCONT"
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status")
hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$DPID/status")
log "waiting 17 s: handed-off connection threads end, a monitor tick trims the heap"
sleep 17
rss_after_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$DPID/status")
anon_after_kb=$(awk '/^RssAnon/ { print $2 }' "/proc/$DPID/status")
file_after_kb=$(awk '/^RssFile/ { print $2 }' "/proc/$DPID/status")
# The open loop three times, each followed by the same load on bench-rpc-floor (a server that
# answers without doing anything): the floor shares the moment's conditions (other tenants of
# the host take CPU time: steal_pct), so ds01d's figure can be read against it.
"$BUILD/bench/bench-rpc-floor" "$TMP/floor.sock" 2 &
FPID=$!
for i in 1 2 3; do
	log "list_user_at_5000 ($i/3): the same clients offering 5,000 requests/s in all"
	"$BR" --clients "$CLIENTS" --seconds "$SECS" --rate 5000 --socket "$SOCK" --uid-base "$UID0" \
		--uids "$USERS" >"$TMP/list_user_rate_$i.json" ||
		die "list_user_at_5000: $(cat "$TMP/list_user_rate_$i.json")"
	jq -c . "$TMP/list_user_rate_$i.json" >&2
	log "floor_at_5000 ($i/3): the same load on bench-rpc-floor"
	"$BR" --clients "$CLIENTS" --seconds "$SECS" --rate 5000 --socket "$TMP/floor.sock" \
		--uid-base "$UID0" --uids "$USERS" >"$TMP/floor_rate_$i.json" ||
		die "floor_at_5000: $(cat "$TMP/floor_rate_$i.json")"
	jq -c . "$TMP/floor_rate_$i.json" >&2
done
log "floor_closed: $CLIENTS clients as fast as answers come, on bench-rpc-floor"
"$BR" --clients "$CLIENTS" --seconds "$SECS" --socket "$TMP/floor.sock" --uid-base "$UID0" \
	--uids "$USERS" >"$TMP/floor_closed.json" || die "floor_closed: $(cat "$TMP/floor_closed.json")"
jq -c . "$TMP/floor_closed.json" >&2
kill "$FPID"
wait "$FPID" 2>/dev/null || true
FPID=""
jq -s . "$TMP"/list_user_rate_[123].json >"$TMP/list_user_rate.json"
jq -s . "$TMP"/floor_rate_[123].json >"$TMP/floor_rate.json"

mkdir -p "$(dirname "$RESULTS")"
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson n "$NCONT" --argjson running "$RUNNING" \
	--argjson users "$USERS" --argjson clients "$CLIENTS" --argjson secs "$SECS" \
	--slurpfile lu "$TMP/list_user.json" --slurpfile la "$TMP/list_admin.json" \
	--slurpfile lp "$TMP/list_user_persistent.json" --slurpfile dk "$TMP/docker.json" \
	--argjson metrics "$metrics" --argjson rss "$rss_kb" --argjson hwm "$hwm_kb" \
	--argjson rss_idle "$rss_idle_kb" --argjson rss_after "$rss_after_kb" \
	--argjson anon "$anon_after_kb" --argjson file "$file_after_kb" \
	--slurpfile lr "$TMP/list_user_rate.json" --slurpfile fl "$TMP/floor_rate.json" \
	--slurpfile fc "$TMP/floor_closed.json" \
	--slurpfile l1 "$TMP/list_user_1.json" \
	--arg machine "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1 /proc/loadavg)" \
	--arg docker "$(docker version -f '{{.Server.Version}}')" '
	{date: $date, containers: $n, running: $running, users: $users, clients: $clients,
	 seconds: $secs,
	 list_user_rps: $lu[0].rps, list_user_p50_ms: $lu[0].p50_ms, list_user_p99_ms: $lu[0].p99_ms,
	 list_admin_rps: $la[0].rps, list_admin_p99_ms: $la[0].p99_ms,
	 metrics_rps: (if $metrics then $metrics.rps else null end),
	 metrics_p99_ms: (if $metrics then $metrics.p99_ms else null end),
	 docker_list_rps: $dk[0].rps, docker_list_p99_ms: $dk[0].p99_ms,
	 ratio_list_user_vs_docker: ($lu[0].rps / $dk[0].rps),
	 # open loop: the median of three runs, and the floor server under the same load after each
	 list_user_at_5000_p50_ms: ([$lr[0][].p50_ms] | sort | .[1]),
	 list_user_at_5000_p99_ms: ([$lr[0][].p99_ms] | sort | .[1]),
	 list_user_at_5000_p99_ms_runs: [$lr[0][].p99_ms],
	 list_user_at_5000_rps: ([$lr[0][].rps] | sort | .[1]),
	 floor_at_5000_p99_ms: ([$fl[0][].p99_ms] | sort | .[1]),
	 floor_at_5000_p99_ms_runs: [$fl[0][].p99_ms],
	 steal_pct_at_5000_runs: [$lr[0][].steal_pct],
	 floor_closed_rps: $fc[0].rps, floor_closed_p99_ms: $fc[0].p99_ms,
	 rss_mib: ($rss_after / 1024), rss_anon_mib: ($anon / 1024),
	 rss_file_mib: ($file / 1024), rss_before_load_mib: ($rss_idle / 1024),
	 rss_right_after_load_mib: ($rss / 1024), peak_rss_mib: ($hwm / 1024),
	 list_user_1client_rps: $l1[0].rps, list_user_1client_p50_ms: $l1[0].p50_ms,
	 runs: {list_user_1client: $l1[0], list_user: $lu[0], list_user_at_5000: $lr[0],
	        floor_at_5000: $fl[0], floor_closed: $fc[0],
	        list_admin: $la[0],
	        list_user_persistent: $lp[0],
	        metrics: $metrics, docker: $dk[0]},
	 machine: $machine, docker: $docker}' >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
# every run also as one line, so runs at different moments (and steal) can be compared
jq -c . "$RESULTS" >>"${RESULTS%.json}-history.jsonl"
jq -r '"rpc: container-list \(.list_user_rps | floor) req/s (p50 \(.list_user_p50_ms * 100 | round / 100) ms, p99 \(.list_user_p99_ms * 100 | round / 100) ms) as \(.users) users (floor server \(.floor_closed_rps | floor) req/s, p99 \(.floor_closed_p99_ms * 100 | round / 100) ms); at 5,000 req/s offered p99 \(.list_user_at_5000_p99_ms * 100 | round / 100) ms (floor server \(.floor_at_5000_p99_ms * 100 | round / 100) ms, steal \(.steal_pct_at_5000_runs | map(round) | tostring) %); admin all \(.list_admin_rps | floor) req/s, /metrics \(.metrics_rps // "-" | tostring) req/s, Docker list \(.docker_list_rps | floor) req/s; ds01d RSS \(.rss_mib * 10 | round / 10) MiB (\(.rss_anon_mib * 10 | round / 10) anonymous, \(.rss_file_mib * 10 | round / 10) libraries; before load \(.rss_before_load_mib * 10 | round / 10), peak \(.peak_rss_mib * 10 | round / 10)) with \(.containers) containers (\(.machine))"' "$RESULTS" |
	sed "s|\$| -> ${RESULTS#"$REPO"/}|"
