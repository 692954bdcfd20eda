#!/usr/bin/env bash
# GPUs busy outside ds01 (issue 18, item 5) against the fake NVML's process lists: a host
# process of user A on GPU 0 is attributed to the host and to A; placement skips GPU 0 (deploys
# land elsewhere; with the others taken the exit-3 refusal names GPU 0, A, the pid and "host
# process"); `ds01 status`, `ds01 health` and /metrics (ds01_unmanaged_gpu_*) show it; the start
# is logged once with the owner and A (not exempt) is warned once; the process is never killed;
# the board shows GPU 0 as "outside" (naming nobody).
# A managed container's process on its own GPU is not flagged; on a GPU it does not lease it is
# ("managed"). A process in a plain `docker run` container of B (bare_metal_access.exempt_users)
# is attributed to that container by name, and B gets no warning. When A's process leaves the
# GPU the end is logged and GPU 0 is leasable again: A's `--wait` deploy is granted it.
# ds01-test: kind=functional threads budget=27
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null 2>&1 || skip_test "curl not installed"
command -v setpriv >/dev/null 2>&1 || skip_test "setpriv not installed"
ds01_setup
fake_nvml_use
G0=$(fake_nvml_uuid 0)
G1=$(fake_nvml_uuid 1)
G2=$(fake_nvml_uuid 2)
fake_nvml_write "$(fake_nvml_inventory 3)" || fail "cannot write the fake NVML description"
fake_nvml_config env
ds01_metrics_listen

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
cat >>"$DS01_LIMITS" <<EOF2
bare_metal_access:
  exempt_users:
    - $B
  admin_group: ds01-admin
EOF2
UNM=it-unmanaged-$$
PA=
# what the test started itself: A's host process and the plain container (never ds01's)
trap_extra() {
	[ -z "$PA" ] || kill "$PA" 2>/dev/null
	docker rm -f "$UNM" >/dev/null 2>&1
}
ds01_start_daemon

# GPU g's processes in the fake NVML are exactly the pids given
gpu_procs() {
	local g=$1
	shift
	fake_nvml_edit '.gpus[$g].processes = ($p | split(" ") | map(select(. != "") | {pid: tonumber, used_memory_mib: 100}))' \
		--argjson g "$g" --arg p "$*"
}
use_of() { # PID: the event of the start of that pid's use
	events_query ".event_type == \"gpu.unmanaged_use\" and .details.pid == $1" | head -n 1
}
metrics() { curl -s -H "$AUTH" "http://127.0.0.1:$MPORT/metrics"; }

# ---- 1. a host process of A on GPU 0
setpriv --reuid "$(user_uid "$A")" --regid "$(user_gid "$A")" --clear-groups sleep 3600 &
PA=$!
wait_for 5 sh -c "[ \"\$(stat -c %u /proc/$PA)\" = $(user_uid "$A") ]" || fail "A's process did not start"
gpu_procs 0 "$PA"
wait_event 15 ".event_type == \"gpu.unmanaged_use\" and .details.pid == $PA" ||
	fail "no gpu.unmanaged_use for A's host process: $(daemon_log_tail)"
E=$(use_of "$PA")
assert_jq "gpu.unmanaged_use: owner A, GPU 0, host process 'sleep', not exempt" \
	".user == \"$A\" and .details.gpu == 0 and .details.slot == \"$G0\" and .details.where == \"host\" and .details.command == \"sleep\" and .details.exempt == false and .details.uid == $(user_uid "$A")" "$E"
wait_event 10 ".event_type == \"bare_metal.warning\" and .user == \"$A\"" ||
	not_ok "A is warned (bare_metal.warning)" "$(tail -n 5 "$EVENTS")"
assert_jq "A's inbox has one bare_metal_warning naming the pid and GPU 0" \
	"[.messages[] | select(.event == \"bare_metal_warning\")] | length == 1 and (.[0].message | contains(\"$PA\") and contains(\"GPU 0\"))" \
	"$(inbox_json "$A")"

capture as_root ds01 status --json
S=$OUT
assert_jq "status: GPU 0 lists A's process (host, pid)" \
	".slots[] | select(.uuid == \"$G0\") | .outside | length == 1 and .[0].user == \"$A\" and .[0].pid == $PA and .[0].where == \"host\"" "$S"
assert_jq "status: a gpu_outside warning and totals.outside 1" \
	"(.totals.outside == 1) and ([.warnings[] | select(.kind == \"gpu_outside\" and .pid == $PA)] | length == 1)" "$S"
capture as_root ds01 status
assert_match "$(printf '%s\n' "$OUT" | grep -E '^0 ')" ' outside( |$)' "status table: GPU 0's row says 'outside'"
assert_contains "$OUT" "GPU 0 is used by $A (pid $PA, host process 'sleep')" "status table: the warning names the use"
capture as_root ds01 health --json
assert_jq "health: gpus_outside is a warning naming A and the pid" \
	".checks[] | select(.name == \"gpus_outside\") | .ok == true and .warn == true and (.detail | contains(\"$A\") and contains(\"pid $PA\"))" "$OUT"
M=$(metrics)
assert_contains "$M" $'\nds01_unmanaged_gpu_count 1\n' "metrics: ds01_unmanaged_gpu_count 1"
assert_contains "$M" $'\nds01_unmanaged_gpu_running 1\n' "metrics: ds01_unmanaged_gpu_running 1"
assert_contains "$M" "ds01_unmanaged_gpu_use{gpu_slot=\"0\",user=\"$A\",access_type=\"host\",container=\"\"} 1" \
	"metrics: the use by slot, owner and place (with the token)"
assert_not_contains "$(curl -s "http://127.0.0.1:$MPORT/metrics")" "ds01_unmanaged_gpu_use{" \
	"metrics without the token name no user"
capture as_user "$C" ds01 board --json
assert_jq "C's board: GPU 0 is 'outside' (not free), 2 free, and names nobody" \
	".models[0].outside == 1 and .models[0].free == 2 and (.slots[] | select(.uuid == \"$G0\") | .state == \"outside\" and .user == null)" "$OUT"

# ---- 2. placement skips GPU 0
assert_exit 0 -m "B: deploy b1" as_user "$B" container-deploy b1
assert_exit 0 -m "C: deploy c1" as_user "$C" container-deploy c1
XB=$(container_gpus "$B" b1)
XC=$(container_gpus "$C" c1)
assert_eq "$G1 $G2" "$(printf '%s\n' "$XB" "$XC" | sort | xargs)" "b1 and c1 got GPUs 1 and 2, not GPU 0"
assert_exit 3 -m "A: deploy a1 refused: the only free GPU is in use outside ds01" as_user "$A" container-deploy a1
assert_contains "$ERR" "1 more in use outside ds01: GPU 0 is used by $A (pid $PA, host process 'sleep')" \
	"the refusal names GPU 0, its user, the pid and the host process"
assert_no_container "a1._.$A" "no container for a1"
assert_eq free "$(gpu_lease_state "$G0")" "GPU 0 was leased to nobody"
assert_ok "A's process still runs (ds01 never kills it)" kill -0 "$PA"
assert_exit 0 -m "A: deploy a1 --wait queues (GPU 0 frees when its use ends)" \
	as_user "$A" container-deploy a1 --wait
assert_contains "$OUT" "waits for GPUs: position" "... told its position"

# ---- 3. a managed container's process: on its own GPU normal, on another outside use
PB=$(docker inspect -f '{{.State.Pid}}' "$(docker_id "b1._.$B")")
assert_ne 0 "${PB:-0}" "b1 has a host pid"
GI=$(jq -n -r --arg x "$XB" --arg g1 "$G1" 'if $x == $g1 then 1 else 2 end')
OTHER=$((3 - GI))
gpu_procs "$GI" "$PB"
wait_tick 3 || fail "no monitor ticks"
assert_eq "" "$(use_of "$PB")" "b1's process on b1's own GPU is not flagged"
assert_jq "status: b1's GPU has no outside use" \
	".slots[] | select(.uuid == \"$XB\") | .outside == null" "$(as_root ds01 status --json)"
gpu_procs "$GI"
gpu_procs "$OTHER" "$PB"
wait_event 15 ".event_type == \"gpu.unmanaged_use\" and .details.pid == $PB" ||
	fail "no gpu.unmanaged_use for b1's process on a GPU it does not lease"
assert_jq "b1's process on GPU $OTHER: where managed, container b1._.$B, owner root" \
	".details.where == \"managed\" and .details.container == \"b1._.$B\" and .details.gpu == $OTHER" "$(use_of "$PB")"
gpu_procs "$OTHER"
wait_event 15 ".event_type == \"gpu.unmanaged_end\" and .details.pid == $PB" ||
	not_ok "the end of b1's stray use is logged" "$(tail -n 5 "$EVENTS")"

# ---- 4. a container ds01 does not manage, run by B (exempt)
docker run -d --name "$UNM" --user "$(user_uid "$B"):$(user_gid "$B")" "$DS01_IMAGE" sleep 3600 >/dev/null ||
	fail "cannot start the plain container"
PU=$(docker inspect -f '{{.State.Pid}}' "$UNM")
gpu_procs "$OTHER" "$PU"
wait_event 15 ".event_type == \"gpu.unmanaged_use\" and .details.pid == $PU" ||
	fail "no gpu.unmanaged_use for the plain container's process"
assert_jq "the plain container's process: owner B, in container $UNM, exempt" \
	".user == \"$B\" and .details.where == \"container\" and .details.container == \"$UNM\" and .details.exempt == true" "$(use_of "$PU")"
wait_tick 2
assert_eq 0 "$(events_count bare_metal.warning "$B")" "B (bare_metal_access exempt) is not warned"
assert_jq "B's inbox has no bare_metal_warning" \
	'[.messages[] | select(.event == "bare_metal_warning")] | length == 0' "$(inbox_json "$B")"
M=$(metrics)
assert_contains "$M" $'\nds01_unmanaged_gpu_count 2\n' "metrics: 2 GPUs in use outside ds01"
assert_contains "$M" "user=\"$B\",access_type=\"container\",container=\"$UNM\"} 1" "metrics: the container's use"
assert_eq 1 "$(events_count gpu.unmanaged_use "$A")" "A's use was logged once (not every tick)"
assert_eq 1 "$(events_count bare_metal.warning "$A")" "A was warned once"
assert_eq running "$(docker inspect -f '{{.State.Status}}' "$UNM")" "the plain container still runs (never touched)"
gpu_procs "$OTHER"
docker rm -f "$UNM" >/dev/null 2>&1

# ---- 5. A's process leaves GPU 0: the end is logged, GPU 0 leasable again
gpu_procs 0
wait_event 15 ".event_type == \"gpu.unmanaged_end\" and .details.pid == $PA" ||
	fail "no gpu.unmanaged_end for A's process"
assert_jq "gpu.unmanaged_end: owner A, GPU 0, a duration" \
	".user == \"$A\" and .details.gpu == 0 and (.details.duration_s | type == \"number\")" \
	"$(events_query ".event_type == \"gpu.unmanaged_end\" and .details.pid == $PA" | head -n 1)"
assert_ok "A's process still runs after its use ended (ds01 never kills it)" kill -0 "$PA"
kill "$PA"
PA=
wait_for 30 docker_state_is "a1._.$A" running &&
	ok "the queue granted A's waiting a1 once the use ended" || not_ok "a1 was not granted" "$(daemon_log_tail)"
assert_eq "$G0" "$(container_gpus "$A" a1)" "a1 is on GPU 0"
assert_jq "status: nothing in use outside ds01" '.totals.outside == 0' "$(as_root ds01 status --json)"
assert_jq "board: nothing outside ds01" '.models[0].outside == 0' "$(as_user "$C" ds01 board --json 2>/dev/null)"
assert_contains "$(metrics)" $'\nds01_unmanaged_gpu_count 0\n' "metrics: ds01_unmanaged_gpu_count 0"

for x in "$A a1" "$B b1" "$C c1"; do
	set -- $x
	assert_exit 0 -m "$1: retire $2" as_user "$1" container-retire "$2"
done
assert_instance_empty "nothing left in Docker"
ds01_done
