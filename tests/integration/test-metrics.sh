#!/usr/bin/env bash
# /metrics (README "Metrics"): a real Prometheus (the Debian package) scrapes ds01d
# every second, and its query API must return what a known set of containers and leases means:
#   A: a1 running (1 GPU) and a2 stopped holding its GPU   -> 2.0 GPU-equivalents, 1 held lease
#   B: b1 running with 2 GPUs, and a refused third GPU      -> 2.0, a container.deploy error
#   C: c1 stopped, its 3.6 s hold expires                   -> 0.0, one hold_release action
# of 5 simulated GPUs (1 free). DS01's other families: the student group's members file lists
# A and B; A burns CPU in a1 for 3 s (per-user CPU and memory); the state disk as df sees it;
# events of the last 24 hours, read back from the log after a daemon restart; a remote login
# session of A's (a utmp record as sshd writes it, for a live process; the file is restored).
# `promtool check metrics` accepts the exposition,
# `promtool check rules` the shipped alert rules, which Prometheus also loads and evaluates
# without error; the dashboard is valid JSON. /other is 404, POST is 405, and with
# metrics_listen "off" ds01d listens on no TCP port.
# ds01-test: kind=functional threads needs=utmp,cpu budget=54
DS01_GPUS=5
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"

# The tools are part of what the test needs (scripts/deps.sh installs them): a missing one is a
# failure to set up, never a skip that would leave /metrics untested.
for tool in prometheus:prometheus promtool:prometheus curl:curl ss:iproute2 python3:python3; do
	command -v "${tool%%:*}" >/dev/null 2>&1 ||
		fail "${tool%%:*} is not installed (Debian package ${tool#*:}; scripts/deps.sh installs it)"
done

ds01_setup
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PROM_PID=

UTMP=/var/run/utmp UTMP_SAVED= SESSION_PID=
_metrics_exit() {
	local rc=$?
	[ -z "$SESSION_PID" ] || kill "$SESSION_PID" 2>/dev/null
	case "$UTMP_SAVED" in
	none) rm -f "$UTMP" ;;
	?*) cat "$UTMP_SAVED" >"$UTMP" ;;
	esac
	if [ -n "$PROM_PID" ]; then
		kill -TERM "$PROM_PID" 2>/dev/null
		wait "$PROM_PID" 2>/dev/null
	fi
	(exit "$rc")
	_ds01_cleanup
}
trap _metrics_exit EXIT

# /metrics on MPORT; the per-user series go to the scraper with the token (README "Metrics");
# Prometheus sends it.
ds01_metrics_listen
PPORT=$(free_port)

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
cat >>"$DS01_LIMITS" <<EOF2
user_overrides:
  $C:
    gpu_hold_after_stop_h: 0.001
EOF2
mkdir -p "$(dirname "$DS01_LIMITS")/groups"
printf '# the students\n%s\n%s\n' "$A" "$B" >"$(dirname "$DS01_LIMITS")/groups/student.members"
ds01_start_daemon

# ---- the endpoint itself
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
assert_eq 200 "$(code "$URL")" "GET /metrics answers 200"
assert_eq 404 "$(code "http://127.0.0.1:$MPORT/other")" "GET /other answers 404"
assert_eq 405 "$(code -X POST "$URL")" "POST /metrics answers 405"
CT=$(curl -s -o /dev/null -w '%{content_type}' "$URL")
assert_contains "$CT" "text/plain; version=0.0.4" "Content-Type is the Prometheus text format 0.0.4"
# (ss's exit status is checked: a failing ss prints nothing, which would look like "no listener")
assert_ok "ss lists the TCP listeners on port $MPORT" ss -Hltnp "sport = :$MPORT"
assert_eq "127.0.0.1:$MPORT ds01d" "$(awk '{ print $4 }' <<<"$OUT") $(grep -o 'users:(("[^"]*"' <<<"$OUT" | cut -d'"' -f2)" \
	"ds01d listens on 127.0.0.1:$MPORT, and nothing on another address with that port"
assert_not_contains "$(cat "$DAEMON_LOG")" "not a loopback address" "no non-loopback warning for 127.0.0.1"

# ---- the scenario
assert_exit 0 -m "A: deploy a1" as_user "$A" container-deploy a1
assert_exit 0 -m "A: deploy a2" as_user "$A" container-deploy a2
assert_exit 0 -m "A: stop a2 (its GPU is held)" as_user "$A" container-stop a2
assert_exit 0 -m "B: deploy b1 --gpus 2" as_user "$B" container-deploy b1 --gpus 2
assert_exit 3 -m "B: a third GPU is refused (quota)" as_user "$B" container-deploy b2
assert_exit 0 -m "C: deploy c1" as_user "$C" container-deploy c1
assert_exit 0 -m "C: stop c1 (hold 3.6 s)" as_user "$C" container-stop c1
N_DEPLOY_OK=4

# ---- Prometheus
P=$T/prometheus
mkdir -p "$P/data"
cp "$REPO/contrib/prometheus/ds01-alerts.yml" "$P/"
cat >"$P/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - ds01-alerts.yml
scrape_configs:
  - job_name: ds01
    authorization:
      credentials_file: $TOKEN_FILE
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
EOF2
prometheus --config.file="$P/prometheus.yml" --storage.tsdb.path="$P/data" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$P/prometheus.log" 2>&1 </dev/null &
PROM_PID=$!
API=http://127.0.0.1:$PPORT/api/v1
prom_ready() { curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null; }
wait_for 20 prom_ready || fail "prometheus not ready within 20 s: $(tail -n 20 "$P/prometheus.log")"
ok "prometheus $(prometheus --version 2>&1 | head -n 1 | awk '{print $3}') ready on 127.0.0.1:$PPORT"

# q EXPR: the value of an instant query's first sample (empty if none); fails (status 1, prints
# nothing) when Prometheus does not answer or rejects the query, so that "no sample" is never
# mistaken for "no answer": checks that want none use `... or vector(0)` and compare with 0.
q() {
	local r
	r=$(curl -sf --max-time 10 --get --data-urlencode "query=$1" "$API/query") || return 1
	jq -e '.status == "success"' >/dev/null 2>&1 <<<"$r" || return 1
	jq -r '.data.result[0].value[1] // empty' <<<"$r"
}
# q_is EXPR VALUE: the query's value equals VALUE (numerically).
q_is() {
	local v
	v=$(q "$1")
	[ -n "$v" ] && awk -v a="$v" -v b="$2" 'BEGIN { exit !(a + 0 == b + 0) }'
}
up_is_1() { q_is 'up{job="ds01"}' 1; }
wait_for 20 up_is_1 || fail "prometheus did not scrape ds01d within 20 s: $(curl -s "$API/targets" | head -c 2000)"
ok "prometheus scraped ds01d (up == 1)"

# assert_q EXPR VALUE DESC: waits (up to 15 s: scrapes every second, holds expire) for the value.
assert_q() {
	if wait_for 15 q_is "$1" "$2"; then
		ok "$3"
	else
		not_ok "$3" "query: $1
expected: $2
actual:   '$(q "$1")'"
	fi
}

assert_q 'ds01_enforcement_actions_total{action="hold_release"}' 1 "C's hold expired: enforcement hold_release == 1"
assert_q "ds01_user_gpu_equivalents{user=\"$A\"}" 2 "A holds 2 GPU-equivalents (one running, one held)"
assert_q "ds01_user_gpu_equivalents{user=\"$B\"}" 2 "B holds 2 GPU-equivalents"
assert_q "ds01_user_gpu_equivalents{user=\"$C\"}" 0 "C holds none after the hold expired"
assert_q "ds01_user_gpus_allocated{user=\"$B\"}" 2 "B has 2 GPU slots"
assert_q "ds01_user_containers_count{user=\"$A\"}" 2 "A has 2 containers"
assert_q 'count(ds01_gpu_allocated)' 4 "4 ds01_gpu_allocated series"
assert_q "count(ds01_gpu_allocated{user=\"$A\",interface=\"orchestration\",profile=\"full\"})" 2 \
	"A's allocations carry DS01's labels (interface, profile=full)"
assert_q "sum(ds01_gpu_equivalents{user=\"$B\"})" 2 "ds01_gpu_equivalents sums to B's 2"
assert_q 'ds01_containers_total{status="running"}' 2 "2 containers running (a1, b1)"
assert_q 'ds01_containers_total{status="stopped"}' 2 "2 containers stopped (a2, c1)"
assert_q 'ds01_leases{state="held"}' 1 "1 held lease (a2)"
assert_q 'ds01_leases{state="bound"}' 3 "3 bound leases (a1, b1 x2)"
assert_q 'ds01_gpu_slots{state="free"}' 1 "1 GPU slot free"
assert_q 'ds01_gpu_slots{state="leased"}' 4 "4 GPU slots leased"
assert_q 'sum(ds01_gpu_slot_equivalents)' 5 "capacity: 5 GPU-equivalents"
assert_q 'count(ds01_gpu_slot_info{mig_enabled="false"})' 5 "5 ds01_gpu_slot_info series"
assert_q "ds01_user_group_info{user=\"$A\",group=\"student\"}" 1 "A's group is student"
assert_q "count(ds01_slot_idle_seconds{user=\"$A\",container=\"a2._.$A\"})" 1 \
	"the held slot of a2 has an idle time"
assert_q "ds01_rpc_requests_total{method=\"container.deploy\",outcome=\"ok\"} >= $N_DEPLOY_OK" \
	"$N_DEPLOY_OK" "container.deploy ok counter >= $N_DEPLOY_OK"
V=$(q 'ds01_rpc_requests_total{method="container.deploy",outcome="error"}')
assert_eq 1 "$V" "container.deploy error counter == 1 (B's refused deploy)"
V=$(q 'ds01_rpc_request_duration_seconds_count{method="container.deploy"}')
assert_eq 5 "$V" "container.deploy latency histogram counted 5 requests"
V=$(q 'ds01_events_total{event_type="container.create"}')
[ "${V:-0}" -ge "$N_DEPLOY_OK" ] 2>/dev/null && ok "events counter container.create >= $N_DEPLOY_OK ($V)" ||
	not_ok "events counter container.create >= $N_DEPLOY_OK" "value: '$V'"
assert_q 'ds01_events_total{event_type="gpu.reject"}' 1 "events counter gpu.reject == 1"
assert_q 'count(ds01_sweep_duration_seconds_count > 0)' 1 "the sweep histogram counted sweeps"
# (waited for: on a loaded machine one sweep may be late, but they keep coming)
assert_q 'count(time() - ds01_last_sweep_timestamp_seconds < 10)' 1 "the last sweep finished within 10 s"
# The snapshot is rebuilt after every change and otherwise at least once a minute
# (SNAPSHOT_MAX_AGE_MS, src/daemon/snapshot.h): with nothing changing it may well be 10 s old.
assert_q 'count(ds01_snapshot_age_seconds < 65)' 1 "the snapshot is under its 60 s bound (plus a tick) old"
assert_q 'ds01_exporter_info{type="ds01d"}' 1 "ds01_exporter_info{type=ds01d}"

# ---- DS01's other families
assert_q 'ds01_events_24h_total{event_type="gpu.reject"}' 1 "ds01_events_24h_total{gpu.reject} == 1"
assert_q 'count(ds01_lifecycle_events_total{action=~"idle_kill|runtime_kill"})' 2 \
	"ds01_lifecycle_events_total: idle_kill and runtime_kill series"
assert_q 'sum(ds01_lifecycle_events_total)' 0 "ds01_lifecycle_events_total: no idle or runtime stop"
assert_q 'ds01_group_members_total{group="student"}' 2 "ds01_group_members_total{student} == 2 (the members file)"
SD=$(df -B1 --output=size "$T/state" | tail -n 1 | tr -d ' ')
assert_q 'ds01_state_disk_bytes{type="total"}' "$SD" "ds01_state_disk_bytes{total} is df's size of state_dir ($SD)"
assert_ne "" "$(q 'ds01_state_disk_bytes{type="used"} + ignoring(type) ds01_state_disk_bytes{type="free"} <= ignoring(type) ds01_state_disk_bytes{type="total"}')" \
	"ds01_state_disk_bytes: used + free <= total"
# A loop that runs until it has had 1.7 s of CPU (its own utime + stime in /proc, 100 ticks a
# second), however long a loaded machine takes to give it that; at most 90 s.
CPU_LOOP='while :; do i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done
	read -r l </proc/$$/stat; set -- $l; [ $((${14} + ${15})) -ge 170 ] && exit 0; done'
assert_exit 0 -m "A: a CPU loop in a1 until it has used 1.7 s of CPU" \
	as_user "$A" container-run a1 -- timeout 90 sh -c "$CPU_LOOP"
cpu_counted() { [ -n "$(q "ds01_user_cpu_usage_seconds_total{user=\"$A\"} > 1.5")" ]; }
wait_for 15 cpu_counted && ok "ds01_user_cpu_usage_seconds_total{A} > 1.5 after the 1.7 s CPU loop" ||
	not_ok "ds01_user_cpu_usage_seconds_total{A} > 1.5" "value: '$(q "ds01_user_cpu_usage_seconds_total{user=\"$A\"}")'"
assert_ne "" "$(q "ds01_user_cpu_usage_seconds_total{user=\"$B\"} < 1")" "B's idle container: under 1 CPU second"
assert_ne "" "$(q "ds01_user_memory_current_bytes{user=\"$A\"} > 0")" "ds01_user_memory_current_bytes{A} > 0"
assert_exit 0 -m "A: retire a1" as_user "$A" container-retire a1
assert_q 'ds01_containers_total{status="running"}' 1 "a1 retired: 1 container running (b1)"
assert_ne "" "$(q "ds01_user_cpu_usage_seconds_total{user=\"$A\"} > 1.5")" \
	"a1 retired: A's CPU seconds are kept (a counter does not drop when a container goes)"
assert_q "ds01_user_memory_current_bytes{user=\"$A\"}" 0 "a1 retired: A's containers use no memory"
S0=$(q 'ds01_ssh_sessions_total')
if [ -e "$UTMP" ]; then
	UTMP_SAVED=$T/utmp.saved
	cat "$UTMP" >"$UTMP_SAVED"
else
	UTMP_SAVED=none
fi
setpriv --reuid="$A" --regid="$(id -g "$A")" --clear-groups sleep 300 &
SESSION_PID=$!
printf '[7] [%05d] [ts/9] [%-8s] [pts/9       ] [10.1.2.3            ] [10.1.2.3       ] [%s]\n' \
	"$SESSION_PID" "$A" "$(date -u +%Y-%m-%dT%H:%M:%S,000000+00:00)" | utmpdump -r 2>/dev/null >>"$UTMP"
assert_q "ds01_ssh_sessions_active{user=\"$A\"}" 1 "a remote session of A's in utmp: ds01_ssh_sessions_active{A} == 1"
assert_q 'ds01_ssh_sessions_total' "$((${S0:-0} + 1))" "ds01_ssh_sessions_total counts it ($((${S0:-0} + 1)))"
kill "$SESSION_PID"
wait "$SESSION_PID" 2>/dev/null
SESSION_PID=
assert_q "count(ds01_ssh_sessions_active{user=\"$A\"}) or vector(0)" 0 "its process gone: no session of A's"

# The shipped alert rules load and evaluate without error against real series.
rules_ok() {
	curl -s "$API/rules" | jq -e '[.data.groups[].rules[]] | length >= 10 and all(.health == "ok")' >/dev/null
}
if wait_for 10 rules_ok; then ok "prometheus evaluates the shipped alert rules without error"; else
	not_ok "prometheus evaluates the shipped alert rules without error" "$(curl -s "$API/rules" | jq -c '[.data.groups[].rules[] | {name, health, lastError}]' | head -c 3000)"
fi
# DS01NoGPUFree must not fire with one slot free; DS01DaemonDown not with ds01d up.
V=$(q 'count(ALERTS{alertname=~"DS01NoGPUFree|DS01DaemonDown"}) or vector(0)')
assert_eq 0 "$V" "no DS01NoGPUFree / DS01DaemonDown alert (Prometheus answers 0)"

# ---- the exposition passes promtool's parser and linter
assert_ok "GET /metrics with the token (for promtool)" curl -sf --max-time 10 -H "$AUTH" -o "$T/metrics.txt" "$URL"
assert_ok "...the exposition has ds01d's own series" grep -q '^ds01_exporter_info{' "$T/metrics.txt"
capture promtool check metrics <"$T/metrics.txt"
if [ "$RC" -eq 0 ]; then ok "promtool check metrics: clean (exit 0)"; else
	not_ok "promtool check metrics: clean (exit 0)" "$(_ds01_last)"; fi
capture promtool check rules "$REPO/contrib/prometheus/ds01-alerts.yml"
[ "$RC" -eq 0 ] && ok "promtool check rules contrib/prometheus/ds01-alerts.yml" ||
	not_ok "promtool check rules contrib/prometheus/ds01-alerts.yml" "$(_ds01_last)"
# (its token file is the site's: this test's stands in for it)
# (promtool accepts an empty file: the copy must have the shipped scrape job in it)
sed "s#/etc/ds01/metrics.token#$TOKEN_FILE#" "$REPO/contrib/prometheus/prometheus.yml" >"$P/shipped.yml"
assert_ok "contrib/prometheus/prometheus.yml has a scrape job with this test's token file" \
	grep -q "credentials_file: $TOKEN_FILE" "$P/shipped.yml"
capture promtool check config "$P/shipped.yml"
[ "$RC" -eq 0 ] && ok "promtool check config contrib/prometheus/prometheus.yml" ||
	not_ok "promtool check config contrib/prometheus/prometheus.yml" "$(_ds01_last)"
assert_ok "contrib/grafana/ds01-dashboard.json is a dashboard (valid JSON with panels)" \
	jq -e '.title and (.panels | length > 0) and all(.panels[]; .targets | length > 0)' \
	"$REPO/contrib/grafana/ds01-dashboard.json"
# Every metric the dashboard and the rules use is one ds01d exposes (or Prometheus' own `up`).
# (an unreadable file would name no metric at all: at least ten are named)
NAMED=$(cat "$REPO/contrib/grafana/ds01-dashboard.json" "$REPO/contrib/prometheus/ds01-alerts.yml" |
	grep -oE 'ds01_[a-z0-9_]+' | sort -u)
[ "$(grep -c . <<<"$NAMED")" -ge 10 ] && ok "the dashboard and the rules name $(grep -c . <<<"$NAMED") ds01_* names" ||
	not_ok "the dashboard and the rules name at least 10 ds01_* names" "$NAMED"
missing=
for name in $NAMED; do
	case "$name" in ds01_overview | ds01_alerts) continue ;; esac
	grep -q "^# TYPE $name " "$T/metrics.txt" && continue
	# a histogram's series: NAME_bucket / _sum / _count
	grep -q "^# TYPE ${name%_*} histogram" "$T/metrics.txt" && continue
	missing="$missing $name"
done
assert_eq "" "$missing" "every ds01_* metric named by the dashboard and the rules is exposed"

# ---- retire: the series follow
assert_exit 0 -m "B: retire b1" as_user "$B" container-retire b1
assert_q 'ds01_gpu_slots{state="free"}' 4 "after A's and B's retires: 4 GPU slots free"
assert_q "count(ds01_user_gpu_equivalents{user=\"$B\"}) or vector(0)" 0 "B's series are gone"

# ---- a daemon restart: the 24 h counts are read back from the log (the per-start counter is not)
ST0=$(q 'ds01_start_time_seconds')
assert_match "$ST0" '^[0-9]+(\.[0-9]+)?(e\+[0-9]+)?$' "ds01_start_time_seconds before the restart ($ST0)"
ds01_stop_daemon
sleep 1 # (the start time has a resolution of a second)
ds01_start_daemon
restarted() { [ -n "$(q "ds01_start_time_seconds > ${ST0:-0}")" ]; }
wait_for 20 restarted && ok "prometheus scrapes the restarted ds01d (a later ds01_start_time_seconds)" ||
	not_ok "prometheus scrapes the restarted ds01d" "start time before: '$ST0', now: '$(q ds01_start_time_seconds)'"
assert_q 'ds01_events_24h_total{event_type="container.create"}' "$N_DEPLOY_OK" \
	"after a restart: ds01_events_24h_total{container.create} == $N_DEPLOY_OK, from the log"
assert_q 'ds01_events_24h_total{event_type="gpu.reject"}' 1 "after a restart: ds01_events_24h_total{gpu.reject} == 1"
no_create_counter() { q_is 'count(ds01_events_total{event_type="container.create"}) or vector(0)' 0; }
wait_for 15 no_create_counter && ok "after a restart: ds01_events_total counts from 0 (no container.create yet)" ||
	not_ok "after a restart: ds01_events_total counts from 0" "value: '$(q 'ds01_events_total{event_type="container.create"}')'"

# ---- SIGHUP moves /metrics to a changed metrics_listen, and "off" closes it
MPORT2=$(free_port)
sed -i "s/^metrics_listen: .*/metrics_listen: 127.0.0.1:$MPORT2/" "$DS01_CONFIG"
kill -HUP "$DS01_PID"
answers() { [ "$(code --max-time 2 "$1")" = 200 ]; }
# closed URL: the connection is refused (curl's exit 7), not merely slow or failing otherwise.
closed() {
	curl -s -o /dev/null --max-time 2 "$1"
	[ $? = 7 ]
}
wait_for 5 answers "http://127.0.0.1:$MPORT2/metrics" && ok "after SIGHUP: /metrics on the new port" ||
	not_ok "after SIGHUP: /metrics on the new port"
wait_for 5 closed "$URL" && ok "after SIGHUP: the old port is closed" || not_ok "after SIGHUP: the old port is closed"
sed -i 's/^metrics_listen: .*/metrics_listen: "off"/' "$DS01_CONFIG"
kill -HUP "$DS01_PID"
wait_for 5 closed "http://127.0.0.1:$MPORT2/metrics" && ok "SIGHUP with metrics_listen off: closed" ||
	not_ok "SIGHUP with metrics_listen off: closed"

# ---- metrics_listen: off opens no TCP port
ds01_stop_daemon
sed -i 's/^metrics_listen: .*/metrics_listen: "off"/' "$DS01_CONFIG"
ds01_start_daemon
assert_ok "ss lists the TCP listeners with their processes" ss -Hltnp
assert_contains "$OUT" "127.0.0.1:$PPORT" "...Prometheus' among them (ss sees listeners and their pids)"
assert_eq "" "$(grep "pid=$DS01_PID," <<<"$OUT")" "metrics_listen off: ds01d listens on no TCP port"
assert_exit 7 -m "metrics_listen off: the old port refuses connections (curl exit 7)" \
	curl -s -o /dev/null --max-time 2 "$URL"

ds01_done
