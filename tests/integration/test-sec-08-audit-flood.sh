#!/usr/bin/env bash
# Issue 11 item 8 (any user could flush the audit log): 4 clients of user A send denied requests
# (container.stop of B's container, and of 1000 made-up names of B's) as fast as the socket
# takes them for 3 s. events.jsonl and ds01d.log grow by a few KB only: the first denial of
# each (user, action, name) is written at once, repeats are counted and written as one
# auth.denied event with a count at the end of audit_window_s (default 60 s; written at the
# latest when the daemon stops), a user's distinct names beyond 16 share one entry, and requests
# beyond A's rate are refused with "rate limited ... retry in N s" before they cost anything.
# Meanwhile B's container-list is answered promptly. The flood runs on the default settings.
# Then ds01d.log's rotation by size: restarted with log_max_kb: 8, a log prefilled past it moves
# to ds01d.log.1 and the daemon goes on in a new ds01d.log.
# ds01-test: kind=security threads needs=cpu budget=11
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || skip_test "python3 not installed"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
assert_exit 0 -m "B deploys v1" as_user "$B" container-deploy v1 --cpu-only

cat >"$T/flood.py" <<'PY'
import json, socket, sys, time
sock_path, victim, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
counts = {"requests": 0, "rate_limited": 0, "not_found": 0, "other": 0, "sample": ""}
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sock_path)
end = time.monotonic() + seconds
i = 0
while time.monotonic() < end:
    name = "v1._." + victim if i % 2 == 0 else "p%d._.%s" % (i % 1000, victim)
    i += 1
    s.send(b"E" + json.dumps({"v": 1, "method": "container.stop", "params": {"name": name}}).encode())
    data = b""
    while True:
        d = s.recv(70000)
        if not d:
            raise SystemExit("connection closed")
        data += d[1:]
        if d[:1] == b"E":
            break
    r = json.loads(data)
    counts["requests"] += 1
    msg = r.get("error", {}).get("message", "")
    if "rate limited" in msg:
        counts["rate_limited"] += 1
        counts["sample"] = msg
    elif "no container" in msg:
        counts["not_found"] += 1
    else:
        counts["other"] += 1
json.dump(counts, open(out, "w"))
PY
chmod 644 "$T/flood.py"
mkdir -p "$T/flood" && chmod 777 "$T/flood"

EV0=$(stat -c %s "$EVENTS")
LOG0=$(cat "$DAEMON_LOG" "$DAEMON_LOG".[0-9] 2>/dev/null | wc -c)
PIDS=()
for k in 1 2 3 4; do
	as_user "$A" python3 "$T/flood.py" "$SOCK" "$B" 3 "$T/flood/$k.json" &
	PIDS+=($!)
done
sleep 1
t0=$(date +%s%N)
assert_exit 0 -m "B's container-list is answered during the flood" as_user "$B" container-list
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] && ok "B's container-list took ${ms} ms (< 5000)" || not_ok "B's container-list took ${ms} ms (< 5000)"
for p in "${PIDS[@]}"; do wait "$p"; done

TOTAL=$(cat "$T"/flood/*.json | jq -s 'map(.requests) | add')
LIMITED=$(cat "$T"/flood/*.json | jq -s 'map(.rate_limited) | add')
note "flood: $TOTAL requests, $LIMITED rate limited"
[ "${TOTAL:-0}" -gt 2000 ] && ok "the flood sent $TOTAL requests" || not_ok "the flood sent many requests" "$(cat "$T"/flood/*.json)"
[ "${LIMITED:-0}" -gt 0 ] && ok "requests beyond A's rate were refused ($LIMITED)" || not_ok "requests beyond A's rate were refused"
SAMPLE=$(cat "$T"/flood/*.json | jq -rs 'map(.sample) | map(select(. != "")) | .[0] // ""')
assert_match "$SAMPLE" 'rate limited.*retry in [0-9]+ s' "the refusal says 'rate limited ... retry in N s'"

assert_exit 0 -m "A's own commands work again once the flood stops" as_user "$A" container-list
assert_exit 0 -m "B retires v1" as_user "$B" container-retire v1
# The windows still open are written when the daemon stops.
ds01_stop_daemon
has_count() { [ "$(events_query '.event_type == "auth.denied" and .user == "'"$A"'" and (.details.count // 0) > 1' | grep -c .)" -gt 0 ]; }
has_count && ok "repeated denials are written as auth.denied with a count" ||
	not_ok "repeated denials are written as auth.denied with a count" "$(tail -n 5 "$EVENTS")"
EV1=$(stat -c %s "$EVENTS")
LOG1=$(cat "$DAEMON_LOG" "$DAEMON_LOG".[0-9] 2>/dev/null | wc -c)
note "events.jsonl grew by $((EV1 - EV0)) bytes, ds01d.log by $((LOG1 - LOG0)) bytes"
[ $((EV1 - EV0)) -lt 32768 ] && ok "events.jsonl grew by $((EV1 - EV0)) bytes (< 32 KiB)" ||
	not_ok "events.jsonl grew by $((EV1 - EV0)) bytes (< 32 KiB)"
[ $((LOG1 - LOG0)) -lt 32768 ] && ok "ds01d.log grew by $((LOG1 - LOG0)) bytes (< 32 KiB)" ||
	not_ok "ds01d.log grew by $((LOG1 - LOG0)) bytes (< 32 KiB)"
SUM=$(events_query '.event_type == "auth.denied" and .user == "'"$A"'" and .details.container == "v1._.'"$B"'"' | jq -s 'map(.details.count // 1) | add')
[ "${SUM:-0}" -gt 100 ] && ok "the counts add up to the denials of v1._.$B ($SUM)" ||
	not_ok "the counts add up to the denials of v1._.$B" "sum $SUM"

# ds01d.log prefilled to just under log_max_kb: the restarted daemon's first lines take it past.
printf 'log_max_kb: 8\nlog_keep: 2\n' >>"$DS01_CONFIG"
for i in $(seq 1 120); do printf '<6>filler line %03d of the previous run, padded past seventy bytes..........\n' "$i"; done >>"$DAEMON_LOG"
ds01_start_daemon
wait_for 5 test -f "$DAEMON_LOG.1" && ok "ds01d.log past log_max_kb was rotated to ds01d.log.1" ||
	not_ok "ds01d.log past log_max_kb was rotated to ds01d.log.1" "$(ls -la "$T")"
assert_eq 120 "$(grep -c '^<6>filler line' "$DAEMON_LOG.1" 2>/dev/null)" "ds01d.log.1 holds the old lines"
assert_eq 0 "$(grep -c '^<6>filler line' "$DAEMON_LOG")" "the new ds01d.log starts afresh"
assert_eq "$DAEMON_LOG" "$(readlink "/proc/$DS01_PID/fd/2")" "the daemon writes the new ds01d.log"
assert_exit 4 -m "a denial after the rotation" as_user "$A" container-stop "v1._.$B"
wait_for 5 grep -q "tried to stop 'v1._.$B'" "$DAEMON_LOG" && ok "is logged in the new ds01d.log" ||
	not_ok "is logged in the new ds01d.log"
ds01_done
