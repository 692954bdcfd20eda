#!/usr/bin/env bash
# Holds and cleanup, sample_interval_s 1 (the rules count whole seconds):
#  - gpu_hold_after_stop_h 0.0015 (5.4 s): after container-stop the GPU lease is held (ds01 gpus,
#    check-limits usage 1), then released (gpu.release "hold after stop expired") while the
#    container still exists;
#  - container_hold_after_stop_h 0.003 (10.8 s): the stopped container is then removed
#    (container.remove, reason naming container_hold_after_stop_h);
#  - created_container_timeout_m 0.1 (6 s): a managed container created but never started (a raw
#    container.deploy with start=false) is removed; one that merely carries the labels ds01 puts
#    on its containers (made with `docker create`) is not managed (issue 11 item 7) and stays;
#  - nothing unmanaged is touched: plain `docker run`/`docker create`/exited containers without
#    ds01 labels, and one with this instance's label but without ds01.managed=true, survive.
# ds01-test: kind=functional budget=32
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'gpu_hold_after_stop_h: 0.0015
container_hold_after_stop_h: 0.003
idle_timeout_h: null' 'created_container_timeout_m: 0.1'
PLAIN=(ds01-it-plain-$$ ds01-it-plaincreated-$$ ds01-it-plainexited-$$ ds01-it-unmanaged-$$
	ds01-it-labelled-$$)
# Our own unmanaged containers go before the library's cleanup (keeping the exit status).
trap '_rc=$?; docker rm -f "${PLAIN[@]}" >/dev/null 2>&1; (exit $_rc); _ds01_cleanup' EXIT
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
H1="h1._.$A" CN="cnew._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
# ticked_after SECONDS: the monitor finished a tick after the whole second SECONDS (ds01 status
# gives the last tick in whole seconds).
ticked_after() { [ "$(as_root ds01 status --json | jq -r '.monitor.last_tick // 0')" -gt "$1" ]; }
# since T EVENT_SELECT: seconds from T (fractional) to the first matching event, from the event's
# time however late this test notices it on a loaded machine. Event times are whole seconds and
# the rules compare whole seconds (a 5.4 s hold ends once 6 have passed, 10.8 s once 11, 6 s
# once 6), so an event on time comes more than that count - 1 s after T.
since() {
	local ts
	ts=$(event_epochs "$2" | head -n 1)
	[[ $1 =~ ^[0-9.]+$ && -n $ts ]] || { echo none; return; }
	awk -v t="$1" -v e="$ts" 'BEGIN { printf "%.1f", e - t }'
}
# within X LO HI: LO <= X <= HI (X a number)
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x ~ /^-?[0-9.]+$/ && x >= lo && x <= hi) }'; }

# Unmanaged containers: never touched.
assert_ok "docker run -d ${PLAIN[0]} (no ds01 labels)" \
	docker run -d --name "${PLAIN[0]}" "$DS01_IMAGE" sleep 300
assert_ok "docker create ${PLAIN[1]} (no ds01 labels)" \
	docker create --name "${PLAIN[1]}" "$DS01_IMAGE" sleep 300
assert_ok "docker run ${PLAIN[2]} true (exited, no ds01 labels)" \
	docker run --name "${PLAIN[2]}" "$DS01_IMAGE" true
assert_ok "docker create ${PLAIN[3]} (this instance's label, no ds01.managed)" \
	docker create --name "${PLAIN[3]}" --label "ds01.instance=$INSTANCE" --label "ds01.user=$A" \
	--label "ds01.uid=$(user_uid "$A")" --label "ds01.project=unmanaged" "$DS01_IMAGE" sleep 300

assert_exit 0 -m "deploy h1 (1 GPU)" as_user "$A" container-deploy h1
U=$(container_gpus "$A" h1)
assert_ne "" "$U" "h1 leased a GPU"

# A container with h1's labels that ds01 did not create: not managed, never removed.
mapfile -t LBL < <(ds01_labels_args "$H1" labelled)
assert_jq "h1 carries the ds01 labels" 'length >= 8' "$(printf '%s\n' "${LBL[@]}" | jq -R . | jq -s .)"
assert_ok "docker create ${PLAIN[4]} with the ds01 labels (never started)" \
	docker create --name "${PLAIN[4]}" "${LBL[@]}" "$DS01_IMAGE" sleep 300

# A managed container created but never started: container.deploy with start=false (the CLI
# always starts; a raw request, as in test-rpc-server).
cp "$(dirname "$0")/raw-rpc.py" "$T/raw-rpc.py"
chmod 755 "$T/raw-rpc.py"
assert_ok "deploy cnew with start=false (never started)" as_user "$A" /usr/bin/python3 "$T/raw-rpc.py" \
	call container.deploy '{"project": "cnew", "cpu_only": true, "start": false}'
assert_jq "cnew created, not started" '.result.state == "created"' "$OUT"
assert_eq created "$(docker_state "$CN")" "cnew is in Docker, created"
CREATED=$(date -d "$(docker inspect -f '{{.Created}}' "$CN")" +%s.%N)

# GPU hold after stop.
assert_exit 0 -m "container-stop h1" as_user "$A" container-stop h1
STOPPED=$(docker_finished_epoch "$H1")
assert_eq held "$(gpu_lease_state "$U")" "ds01 gpus: h1's lease held right after the stop"
assert_eq 1 "$(usage_gpueq "$A")" "check-limits: the held GPU still counts (usage 1)"
lease_free() { [ "$(gpu_lease_state "$U")" = free ]; }
if wait_for 15 lease_free; then
	ok "the lease is released after the hold"
else
	not_ok "the lease is released after the hold" "state: $(gpu_lease_state "$U")"
fi
held_s=$(since "$STOPPED" "$(ev_for gpu.release "$H1")")
note "gpu.release ~$held_s s after the stop (hold 5.4 s)"
within "$held_s" 4.8 9.2 &&
	ok "released ~5.4 s after the stop (gpu.release at $held_s s: not before, within a few ticks after)" ||
	not_ok "released ~5.4 s after the stop (4.8..9.2 s)" "gpu.release $held_s s after the stop"
assert_eq 0 "$(usage_gpueq "$A")" "check-limits: usage 0 after the hold"
RE=$(first_event "$(ev_for gpu.release "$H1")")
assert_jq "gpu.release event: reason 'hold after stop expired'" \
	'.details.reason | test("hold after stop expired")' "$RE"

# Created, never started: removed after 6 s.
if wait_event 15 "$(ev_for container.remove "$CN")"; then
	ok "container.remove for the never-started $CN"
else
	not_ok "container.remove for the never-started $CN" "$(tail -n 8 "$EVENTS")"
fi
wait_for 3 sh -c "! docker inspect '$CN' >/dev/null 2>&1"
assert_no_container "$CN" "the never-started container is gone"
d=$(since "$CREATED" "$(ev_for container.remove "$CN")")
within "$d" 4.8 100 && ok "not removed before 6 s (container.remove $d s after creation)" ||
	not_ok "not removed before 6 s" "container.remove $d s after creation"
assert_match "$(first_event "$(ev_for container.remove "$CN")" | jq -r '.details | tostring')" \
	"created_container_timeout_m" "the removal reason names created_container_timeout_m"

# Stopped: removed after 10.8 s.
if wait_event 15 "$(ev_for container.remove "$H1")"; then
	ok "container.remove for h1 after container_hold_after_stop_h"
else
	not_ok "container.remove for h1 after container_hold_after_stop_h" "$(tail -n 8 "$EVENTS")"
fi
wait_for 3 sh -c "! docker inspect '$H1' >/dev/null 2>&1"
assert_no_container "$H1" "h1 removed from Docker"
d=$(since "$STOPPED" "$(ev_for container.remove "$H1")")
note "h1 removed ~$d s after its stop (hold 10.8 s)"
within "$d" 9.8 15.4 && ok "removed ~10.8 s after the stop (container.remove at $d s)" ||
	not_ok "removed ~10.8 s after the stop (9.8..15.4 s)" "container.remove $d s after the stop"
# The release did not take the container with it: it stayed (exited) until its own rule, ~5 s
# later (both rules run in the same sweep, so a late sweep delays both).
REL=$(event_epochs "$(ev_for gpu.release "$H1")" | head -n 1)
gap=$(since "${REL:-x}" "$(ev_for container.remove "$H1")")
within "$gap" 2 100 && ok "h1 still existed (exited) after its GPU release (removed $gap s later)" ||
	not_ok "h1 still existed (exited) after its GPU release" "removed $gap s after it ($(events_query \
		"(.event_type == \"gpu.release\" or .event_type == \"container.remove\")" | cut -c1-200))"
assert_match "$(first_event "$(ev_for container.remove "$H1")" | jq -r '.details | tostring')" \
	"container_hold_after_stop_h" "the removal reason names container_hold_after_stop_h"
assert_eq "" "$(container_entry "$A" h1)" "h1 no longer listed"
assert_eq 0 "$(gpus_leased_count)" "no lease left"
assert_ok "the workspace of h1 is kept" test -d "$(user_home "$A")/workspace/h1"

# The unmanaged ones survived every sweep (~14 s of them, the last one after h1 went): each is
# older than the rule a managed one would have been removed by.
M=$(date +%s)
wait_for 10 ticked_after "$M" || not_ok "a monitor tick after h1's removal"
assert_eq running "$(docker inspect -f '{{.State.Status}}' "${PLAIN[0]}" 2>/dev/null)" "plain docker run container still running"
assert_eq created "$(docker inspect -f '{{.State.Status}}' "${PLAIN[1]}" 2>/dev/null)" "plain docker create container still there"
assert_eq exited "$(docker inspect -f '{{.State.Status}}' "${PLAIN[2]}" 2>/dev/null)" "plain exited container still there"
assert_eq created "$(docker inspect -f '{{.State.Status}}' "${PLAIN[3]}" 2>/dev/null)" \
	"instance-labelled container without ds01.managed still there"
assert_eq created "$(docker inspect -f '{{.State.Status}}' "${PLAIN[4]}" 2>/dev/null)" \
	"container with all of ds01's labels but not created by ds01 still there"
N=$(jq -c 'select(.details.container // "" | test("^ds01-it-"))' "$EVENTS" 2>/dev/null | grep -c .)
assert_eq 0 "$N" "no event names an unmanaged container"

docker rm -f "${PLAIN[@]}" >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
