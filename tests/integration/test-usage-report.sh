#!/usr/bin/env bash
# Usage accounting and `ds01 report` against a scripted scenario (fake NVML, sample_interval_s 1):
#  - A deploys a 1-GPU container whose GPU shows 90 % utilisation for ~4 s, then 0 % for ~4 s,
#    then retires it: report --json gives allocated ~ the container's lifetime, active ~ the busy
#    part, idle-held = allocated - active, containers 1, no stops (within tick granularity);
#  - B holds a GPU with a stopped container (allocated, never active) and has a CPU-only
#    container stopped by the runtime cap (an enforcement stop; no GPU time);
#  - a user sees only their own row; --user B as A is exit 5; an unknown user exit 4; root sees
#    both; --csv has a header and a row per user; a bad --month is exit 2;
#  - the figures survive a daemon restart, and the time the daemon was down is not charged.
# ds01-test: kind=functional budget=34
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
LIB=$(fake_nvml_lib) || skip_test "fake NVML not built: $DS01_BUILD/tests/fake-nvml/libnvidia-ml.so.1"
[ -n "$LIB" ] || skip_test "fake NVML not built"
export FAKE_NVML_FILE=$T/fake-nvml.json

G=(GPU-00000000-0000-4000-8000-0000000000a0 GPU-00000000-0000-4000-8000-0000000000a1
	GPU-00000000-0000-4000-8000-0000000000a2)
# nvml_with BUSY_UUID PCT: the three GPUs, BUSY_UUID at PCT % utilisation, the others at 0.
nvml_with() {
	local i out='{"driver_version": "550.54.15", "gpus": ['
	for i in 0 1 2; do
		local u=0
		[ "${G[$i]}" = "$1" ] && u=$2
		[ "$i" -gt 0 ] && out+=','
		out+="{\"uuid\": \"${G[$i]}\", \"minor\": $i, \"pci_bus_id\": \"00000000:0$i:00.0\","
		out+=" \"utilization\": {\"gpu\": $u, \"memory\": 0}}"
	done
	printf '%s]}' "$out"
}
fake_nvml_write "$(nvml_with none 0)"
ds01_write_gpu_config "  backend: nvml
  nvml_library: $LIB
  docker_devices: env"

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
cat >>"$DS01_LIMITS" <<EOF2
user_overrides:
  $B:
    max_runtime_h: 0.002
EOF2
ds01_start_daemon

now() { date +%s.%N; }
# ticked_after SECONDS: the monitor finished a tick after the whole second SECONDS (ds01 status
# gives the last tick in whole seconds, so a tick after `date +%s` is at most a second late).
ticked_after() { [ "$(as_root ds01 status --json | jq -r '.monitor.last_tick // 0')" -gt "$1" ]; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# within X LO HI: LO <= X <= HI
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }
report_as() { # USER ARGS... (root for the admin)
	local u=$1
	shift
	if [ "$u" = root ]; then as_root ds01 report "$@"; else as_user "$u" ds01 report "$@"; fi
}
# row JSON USER FIELD: the field of USER's row, hours converted to seconds.
row_s() { printf '%s' "$1" | jq -r --arg u "$2" --arg f "$3" '.users[] | select(.user == $u) | .[$f] * 3600'; }
row() { printf '%s' "$1" | jq -r --arg u "$2" --arg f "$3" '.users[] | select(.user == $u) | .[$f]'; }

# ---- the scenario
# B: a held GPU (deployed, stopped at once) and a CPU-only container the runtime cap stops.
assert_exit 0 -m "B: deploy b1 (1 GPU)" as_user "$B" container-deploy b1
assert_exit 0 -m "B: container-stop b1 (the GPU stays held)" as_user "$B" container-stop b1
assert_eq held "$(gpu_lease_state "$(container_gpus "$B" b1)")" "b1's lease is held"
assert_exit 0 -m "B: deploy b2 --cpu-only (runtime cap 7.2 s)" as_user "$B" container-deploy b2 --cpu-only

# A: 1 GPU, busy ~4 s, idle ~4 s, retired. The lease lives from within the deploy to within the
# retire: its lifetime lies between LIFE_LO (deploy returned .. retire began) and LIFE_HI (deploy
# began .. retire returned), however long the two take on a loaded machine.
TD=$(now)
assert_exit 0 -m "A: deploy a1 (1 GPU)" as_user "$A" container-deploy a1
T0=$(now)
UA=$(container_gpus "$A" a1)
case " ${G[*]} " in *" $UA "*) ok "a1 has a whole GPU ($UA)" ;; *) fail "a1 has no GPU of the fake ('$UA')" ;; esac
fake_nvml_write "$(nvml_with "$UA" 90)"
sleep 4
fake_nvml_write "$(nvml_with "$UA" 0)"
T1=$(now)
sleep 4
TR=$(now)
assert_exit 0 -m "A: retire a1" as_user "$A" container-retire a1
T2=$(now)
LIFE_LO=$(secs "$T0" "$TR") LIFE_HI=$(secs "$TD" "$T2") BUSY=$(secs "$T0" "$T1") IDLE=$(secs "$T1" "$TR")
note "a1: busy $BUSY s, idle $IDLE s; the lease lived $LIFE_LO..$LIFE_HI s"
if wait_event 20 '.event_type == "maintenance.runtime_kill" and .details.container == "b2._.'"$B"'"'; then
	ok "b2 stopped by the runtime cap"
else
	not_ok "b2 stopped by the runtime cap" "$(tail -n 5 "$EVENTS")"
fi
# a tick after the retire and the kill has accounted both
M=$(date +%s)
wait_for 10 ticked_after "$M" || not_ok "a monitor tick within 10 s" "$(as_root ds01 status --json 2>&1 | jq -c .monitor)"

# ---- A's own report
capture report_as "$A" --json
assert_eq 0 "$RC" "A: ds01 report --json exits 0"
R=$OUT
assert_jq "A sees exactly their own row" ".users | length == 1 and .[0].user == \"$A\" and .[0].uid == $(user_uid "$A")" "$R"
assert_jq "the month is the current UTC month" ".month == \"$(date -u +%Y-%m)\"" "$R"
AL=$(row_s "$R" "$A" gpu_hours_allocated) AC=$(row_s "$R" "$A" gpu_hours_active) ID=$(row_s "$R" "$A" gpu_hours_idle_held)
note "A: allocated $AL s, active $AC s, idle-held $ID s (expected $LIFE_LO..$LIFE_HI, ~$BUSY, ~$(secs "$BUSY" "$LIFE_LO")..)"
if within "$AL" "$(secs 1.5 "$LIFE_LO")" "$(secs -1.5 "$LIFE_HI")"; then
	ok "A: allocated ~ a1's lifetime ($AL s vs $LIFE_LO..$LIFE_HI s, +-1.5 s)"
else
	not_ok "A: allocated ~ a1's lifetime ($LIFE_LO..$LIFE_HI s, +-1.5 s)" "allocated $AL s"
fi
if within "$AC" "$(secs 2.5 "$BUSY")" "$(secs -2.5 "$BUSY")"; then
	ok "A: active ~ the 90 % phase ($AC s vs $BUSY s, +-2.5 s)"
else
	not_ok "A: active ~ the 90 % phase (+-2.5 s)" "active $AC s, busy phase $BUSY s"
fi
if within "$ID" "$(secs 0.01 "$(secs "$AC" "$AL")")" "$(secs -0.01 "$(secs "$AC" "$AL")")"; then
	ok "A: idle-held = allocated - active ($ID s)"
else
	not_ok "A: idle-held = allocated - active" "idle-held $ID, allocated $AL, active $AC"
fi
if within "$ID" "$(secs 2.5 "$IDLE")" 100; then ok "A: the 0 % phase counts as idle-held ($ID s of $IDLE s)"; else not_ok "A: the 0 % phase counts as idle-held" "$ID s of $IDLE s"; fi
assert_eq 1 "$(row "$R" "$A" containers)" "A: containers 1"
assert_eq 0 "$(row "$R" "$A" enforcement_stops)" "A: no enforcement stops"
assert_jq "totals equal A's row" '.totals.gpu_hours_allocated == .users[0].gpu_hours_allocated and .totals.containers == 1' "$R"

capture report_as "$A"
assert_eq 0 "$RC" "A: ds01 report (table) exits 0"
assert_contains "$OUT" "ALLOCATED" "the table has a header"
assert_match "$OUT" "^$A +[0-9]+\.[0-9]{2} +[0-9]+\.[0-9]{2} +[0-9]+\.[0-9]{2} +1 +0" "the table has A's row, hours to 2 decimals"
assert_not_contains "$OUT" "$B" "A's table does not show B"

assert_exit 4 -m "A: report --user B is refused as for no such user (exit 4)" report_as "$A" --user "$B"
assert_contains "$ERR" "no user '$B' whose records you may read" "the refusal says so"
assert_exit 0 -m "A: report --user A (themselves) is fine" report_as "$A" --user "$A" --json
assert_jq "... and shows A's row" ".users | length == 1 and .[0].user == \"$A\"" "$OUT"
assert_exit 2 -m "A: report --month 2026-13 is a usage error (exit 2)" report_as "$A" --month 2026-13
assert_contains "$ERR" "YYYY-MM" "the error names the expected format"
assert_exit 2 -m "report --month nov is exit 2" report_as "$A" --month nov
assert_exit 2 -m "report --json --csv is exit 2" report_as "$A" --json --csv
assert_exit 0 -m "A: report --month 2001-01 --json" report_as "$A" --month 2001-01 --json
assert_jq "another month: A's row of zeros" ".month == \"2001-01\" and (.users | length) == 1 and .users[0].gpu_hours_allocated == 0 and .users[0].containers == 0" "$OUT"

# ---- B as seen by B and by root
capture report_as "$B" --json
RB=$OUT
BAL=$(row_s "$RB" "$B" gpu_hours_allocated) BAC=$(row_s "$RB" "$B" gpu_hours_active)
note "B: allocated $BAL s, active $BAC s"
if within "$BAL" "$(secs 3 "$LIFE_LO")" 1000; then ok "B: the held GPU counts as allocated ($BAL s)"; else not_ok "B: the held GPU counts as allocated" "$BAL s (A's a1 lived $LIFE_LO s meanwhile)"; fi
assert_eq 0 "$BAC" "B: a held GPU is never active"
assert_eq 2 "$(row "$RB" "$B" containers)" "B: containers 2"
assert_eq 1 "$(row "$RB" "$B" enforcement_stops)" "B: one enforcement stop (runtime cap)"
assert_jq "B sees only B" "(.users | length) == 1 and .users[0].user == \"$B\"" "$RB"

capture report_as root --json
assert_eq 0 "$RC" "root: ds01 report --json exits 0"
RR=$OUT
assert_jq "root sees A and B" "[.users[].user] | sort == ([\"$A\", \"$B\"] | sort)" "$RR"
assert_jq "root's totals are the sum" '(.totals.containers == 3) and (.totals.enforcement_stops == 1) and ((.totals.gpu_hours_allocated - ([.users[].gpu_hours_allocated] | add)) | fabs) < 1e-9' "$RR"
capture report_as root --user "$B" --json
assert_jq "root --user B: B's row only" "(.users | length) == 1 and .users[0].user == \"$B\"" "$OUT"
assert_exit 4 -m "root --user nosuchuser: not found (exit 4)" report_as root --user "nosuch$$"
assert_contains "$ERR" "nosuch$$" "the error names the user"

capture report_as root --csv
assert_eq 0 "$RC" "root: ds01 report --csv exits 0"
mapfile -t L <<<"$OUT"
assert_eq "month,user,uid,gpu_hours_allocated,gpu_hours_active,gpu_hours_idle_held,containers,enforcement_stops" "${L[0]}" "CSV header line"
assert_eq 3 "${#L[@]}" "CSV: header + one row per user"
assert_match "$OUT" "^$(date -u +%Y-%m),$A,$(user_uid "$A"),[0-9.]+,[0-9.]+,[0-9.]+,1,0$" "CSV row for A"
assert_match "$OUT" "^$(date -u +%Y-%m),$B,$(user_uid "$B"),[0-9.]+,0\.0000,[0-9.]+,2,1$" "CSV row for B"

# ---- restart: figures kept; the downtime is not charged (B's held GPU keeps accumulating)
# The report shows what the ticks before it accounted, so the up-time counts from before it.
TR1=$(now)
capture report_as "$B" --json
R1=$(row_s "$OUT" "$B" gpu_hours_allocated)
ds01_stop_daemon "ds01d stops"
TS=$(now)
sleep 4 # down: charged, it would add 4 s and more, far over the 1.5 s allowed below
ds01_start_daemon
TU=$(now)
# The first tick after the start charges nothing, the next ones the time since: wait until B's
# figure has grown (it never does if the restart lost it).
b_alloc() { report_as "$B" --json | jq -r --arg u "$B" '.users[] | select(.user == $u) | .gpu_hours_allocated * 3600'; }
grown() { within "$(b_alloc)" "$(secs -0.5 "$R1")" 1000000; }
wait_for 10 grown
capture report_as "$B" --json
R2=$(row_s "$OUT" "$B" gpu_hours_allocated) TR2=$(now)
UP=$(awk -v a="$TR1" -v b="$TS" -v c="$TU" -v d="$TR2" 'BEGIN { printf "%.2f", (b - a) + (d - c) }')
GAIN=$(secs "$R1" "$R2")
note "B's allocated grew $GAIN s across the restart; the daemon was up ~$UP s of it, down ~$(secs "$TS" "$TU") s"
if within "$GAIN" 0.5 "$(secs -1.5 "$UP")"; then
	ok "after the restart: B's figures kept and only up-time charged ($GAIN s <= $UP s + 1.5)"
else
	not_ok "after the restart: B's figures kept and only up-time charged" "gain $GAIN s, up $UP s"
fi
capture report_as "$A" --json
assert_eq "$AL" "$(row_s "$OUT" "$A" gpu_hours_allocated)" "A's figures survive the restart unchanged"

as_user "$B" container-retire b1 >/dev/null 2>&1
as_user "$B" container-retire b2 >/dev/null 2>&1
ds01_done
