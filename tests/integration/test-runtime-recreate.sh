#!/usr/bin/env bash
# The runtime cap counts from the first creation when ds01 recreates a container on another GPU
# (README "Runtime cap": "a container ds01 recreated on another GPU after its hold expired keeps
# the count of the one it replaced, from the ledger"). A busy 1-GPU container (a CPU loop that
# exits on SIGTERM) is stopped; its GPU hold (gpu_hold_after_stop_h 0.001, 3.6 s) expires and
# an administrator drains its GPU, so container-start ~10 s after the first creation recreates it
# on the other GPU. ds01d is then restarted (the count must come from the ledger, not from
# memory). With max_runtime_h 0.01 (36 s) the runtime warnings name the stop at first creation
# + 36 s, and the stop (maintenance.runtime_kill) comes then - not 36 s after the recreation.
# Afterwards container-start is refused: the runtime is used up.
# ds01-test: kind=functional budget=60
DS01_GPUS=2
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'max_runtime_h: 0.01
idle_timeout_h: 1
gpu_hold_after_stop_h: 0.001'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
R="rc._.$A"
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
nev() { events_query "$(ev_for "$1" "$R")" | grep -c .; }
created_epoch() { date -d "$(docker inspect -f '{{.Created}}' "$1")" +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
now() { date +%s.%N; }
lease_is() { [ "$(gpu_lease_state "$1")" = "$2" ]; }
sampled() { container_entry "$A" rc | jq -e '.runtime_limit_s == 36' >/dev/null; }

assert_exit 0 -m "deploy rc (1 GPU) -- a CPU loop that exits on SIGTERM" \
	as_user "$A" container-deploy rc --gpus 1 -- sh -c "$ACTIVE_LOOP"
ID0=$(docker_id "$R")
C0=$(created_epoch "$ID0")
U0=$(container_gpus "$A" rc)
assert_ne "" "$U0" "rc leases a GPU"

# ---- stop; the hold expires; the GPU is drained: the next start must recreate it elsewhere
assert_exit 0 -m "container-stop rc" as_user "$A" container-stop rc
if wait_for 15 lease_is "$U0" free; then
	ok "rc's GPU released after the 3.6 s hold"
else
	fail "rc's GPU was not released after the hold (state: $(gpu_lease_state "$U0"))"
fi
assert_exit 0 -m "root: drain rc's old GPU" as_root ds01 gpu drain "$U0" --reason "test: force a recreate"
# Recreate well after the first creation, so that a count from the recreation differs by ~10 s.
while [ "$(awk -v c="$C0" -v n="$(now)" 'BEGIN { print (n - c < 10) }')" = 1 ]; do sleep 0.2; done
assert_exit 0 -m "container-start rc (its GPU drained: recreated on the other one)" \
	as_user "$A" container-start rc
assert_match "$ERR" 'note:.*recreated on' "container-start says rc was recreated"
ID1=$(docker_id "$R")
assert_ne "$ID0" "$ID1" "rc is a new Docker container"
U1=$(container_gpus "$A" rc)
assert_eq 1 "$(printf '%s' "$U1" | grep -c '^GPU-')" "rc leases one GPU after the recreation ($U1)"
assert_ne "$U0" "$U1" "... not the drained one"
C1=$(created_epoch "$ID1")
GAP=$(elapsed "$C0" "$C1")
note "recreated $GAP s after the first creation"
assert_eq 1 "$(awk -v g="$GAP" 'BEGIN { print (g >= 9) }')" "the recreation is >= 9 s after the first creation ($GAP s)"

# ---- a daemon restart: the count must come from the ledger
ds01_stop_daemon "ds01d stops (after the recreation)"
ds01_start_daemon
# runtime_s is the monitor's last count (every second): from the first creation it is within a
# few seconds of now - C0; from the recreation it would be ~10 s less.
wait_for 10 sampled || not_ok "the monitor samples rc after the restart" "$(container_entry "$A" rc)"
E=$(container_entry "$A" rc)
SINCE=$(awk -v c="$C0" -v n="$(now)" 'BEGIN { printf "%d", n - c }')
assert_jq "container-list after the recreation and a daemon restart: runtime_s counts from the first creation (~$SINCE s)" \
	".runtime_s >= $SINCE - 4 and .runtime_s <= $SINCE + 1" "$E"

# ---- the warnings name the stop at first creation + 36 s, and it comes then
if wait_event 40 "$(ev_for maintenance.runtime_kill "$R")"; then
	ok "rc stopped by maintenance.runtime_kill"
else
	not_ok "rc stopped by maintenance.runtime_kill" "$(tail -n 8 "$EVENTS")"
fi
wait_state 10 "$R" exited
assert_eq exited "$(docker_state "$R")" "rc exited"
assert_eq "$ID1" "$(docker_id "$R")" "the recreated container is the one stopped"
D=$(elapsed "$C0" "$(docker_finished_epoch "$R")")
note "rc stopped $D s after its first creation, $(elapsed "$C1" "$(docker_finished_epoch "$R")") s after the recreation (cap 36 s)"
assert_eq 1 "$(awk -v d="$D" -v g="$GAP" 'BEGIN { print (d >= 36 && d < g + 36) }')" \
	"rc stopped at or after 36 s from its first creation and before 36 s from its recreation ($D s)"
if strict_timing; then
	assert_eq 1 "$(awk -v d="$D" 'BEGIN { print (d <= 38) }')" "rc stopped 36-38 s after its first creation ($D s)"
fi
# The stop the warnings announce: ceil(first creation + 36 s), as the monitor rounds it.
WANT=$(date -u -d "@$(awk -v c="$C0" 'BEGIN { printf "%d", int((c * 1000 + 36000 + 999) / 1000) }')" +%H:%M:%S)
mapfile -t WM < <(events_query "$(ev_for maintenance.runtime_warning "$R")" | jq -r '.details.message')
assert_eq 2 "${#WM[@]}" "two runtime warnings for rc"
for m in "${WM[@]}"; do
	assert_match "$m" "will be stopped at $WANT UTC" "a runtime warning names the stop at first creation + 36 s ($WANT UTC)"
done
K=$(first_event "$(ev_for maintenance.runtime_kill "$R")")
assert_jq "runtime_kill details: runtime_s >= 36 (counted from the first creation), limit_s 36" \
	'.details.runtime_s >= 36 and .details.limit_s == 36' "$K"

# ---- the count survives the recreation for container-start too
capture as_user "$A" container-start rc
assert_eq 3 "$RC" "container-start rc after the runtime stop: refused (exit 3)"
assert_match "$ERR" "maximum runtime of 36s \\(max_runtime_h" "the refusal names the limit"
assert_eq exited "$(docker_state "$R")" "rc stays stopped"

assert_exit 0 -m "retire rc" as_user "$A" container-retire rc
assert_instance_empty "nothing left in Docker"
ds01_done
