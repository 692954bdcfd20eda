#!/usr/bin/env bash
# Issue 11 item 21: events.query handed every user a cursor holding the size of the global
# events.jsonl (everyone's activity), and each history query parsed every kept file. Now a
# cursor is sealed (nonce:inode':offset':mac, keyed with log_dir/events.key): it holds neither
# the file's size nor anything that changes with other users' events, it still continues where
# it left off, and an old-style one naming an offset is refused. A user's history query over 60 MB of other users'
# events in the rotated files answers from the newest file alone (well under a second), and one
# that must look through everything skips others' lines without parsing them.
# ds01-test: kind=security needs=cpu budget=9
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || skip_test "python3 not installed"
ds01_setup
LOG=$T/log
# 60 MB of another user's events, two days old, in the rotated files (events_keep is 5).
python3 - "$LOG" <<'PY'
import sys
line = '{"timestamp":"2026-01-01T00:00:00Z","event_type":"container.create","schema_version":"1","user":"zzother","source":"ds01d","details":{"container":"proj-%07d._.zzother","padding":"%s"}}\n'
n = 0
for k in (4, 3, 2, 1):
    with open("%s/events.jsonl.%d" % (sys.argv[1], k), "w") as f:
        size = 0
        while size < 15 * 1024 * 1024:
            s = line % (n, "x" * 60)
            f.write(s)
            size += len(s)
            n += 1
PY
chmod 600 "$LOG"/events.jsonl.*
touch -d '2 days ago' "$LOG"/events.jsonl.*
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
deny() { as_user "$1" container-stop "$2._.zz$$" >/dev/null 2>&1; }
deny "$A" a1
deny "$A" a2

cat >"$T/q.py" <<'PY'
import json, socket, sys
params = json.loads(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b"E" + json.dumps({"v": 1, "method": "events.query", "params": params}).encode())
data = b""
while True:
    d = s.recv(1 << 20)
    data += d[1:]
    if d[:1] == b"E" or not d:
        break
print(data.decode())
PY
chmod 644 "$T/q.py"
query() { as_user "$1" python3 "$T/q.py" "$SOCK" "$2"; }

# ---- the cursor reveals nothing
C1=$(query "$A" '{"limit": 5}' | jq -r .result.cursor)
SIZE=$(stat -c %s "$EVENTS")
assert_match "$C1" '^[0-9a-f]{16}(:[0-9a-f]{16}){3}$' "a cursor is four sealed hex fields"
assert_not_contains "$C1" ":$SIZE:" "the cursor does not hold events.jsonl's size ($SIZE) in decimal"
assert_not_contains "$C1" "$(printf '%016x' "$SIZE")" "... nor in hex"
C1B=$(query "$A" '{"limit": 5}' | jq -r .result.cursor)
assert_ne "$C1" "$C1B" "two answers with nothing written in between give different cursors"
for i in $(seq 1 10); do deny "$B" "b$i"; done
C2=$(query "$A" '{"limit": 5}' | jq -r .result.cursor)
SIZE2=$(stat -c %s "$EVENTS")
assert_not_contains "$C2" "$SIZE2" "after B's events the cursor still holds no size ($SIZE2)"

# ---- it still works: A's events after C1, only A's
deny "$A" a3
R=$(query "$A" "{\"after\": \"$C1\"}")
assert_eq "a3._.zz$$" "$(jqr '[.result.events[].details.container] | join(",")' "$R")" \
	"after A's cursor: exactly A's new event (none of B's)"
R=$(query "$A" "{\"after\": \"$(jqr .result.cursor "$R")\"}")
assert_eq 0 "$(jqr '.result.events | length' "$R")" "and after the new cursor: nothing"
# A made-up cursor (its seal does not match any kept file) reads as "rotated away": the
# reader's own events from the oldest kept, nothing of anyone else's.
R=$(query "$A" "{\"after\": \"$(printf '%s' "$C1" | cut -c1-51)0000000000000000\"}")
assert_jq "a made-up cursor gives only A's own events (from the oldest kept)" \
	'.ok and .result.skipped and all(.result.events[]; .user == "'"$A"'")' "$R"
R=$(query "$A" "{\"after\": \"0:$SIZE:0\"}")
assert_eq false "$(jqr '.ok' "$R")" "an old-style cursor with a chosen offset is refused"

# ---- history queries are bounded
t0=$(date +%s%N)
capture as_user "$A" ds01 events -n 2 --json
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq "a2,a3" "$(jqr '[.events[].details.container | sub("\\._.*"; "")] | join(",")' "$OUT")" "A's history -n 2 shows A's last 2 denials"
note "A's history query over 60 MB of kept events: ${ms} ms"
[ "$ms" -lt 1000 ] && ok "A's history answers in ${ms} ms (< 1000) with 60 MB of others' events kept" ||
	not_ok "A's history answers in < 1000 ms with 60 MB of others' events kept" "${ms} ms"
t0=$(date +%s%N)
capture as_user "$A" ds01 events --type container.create --json
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 0 "$(jqr '.events | length' "$OUT")" "A has no container.create among others' 400,000"
note "A's query that looks through all 60 MB: ${ms} ms"
[ "$ms" -lt 1500 ] && ok "a query through every kept file answers in ${ms} ms (< 1500)" ||
	not_ok "a query through every kept file answers in < 1500 ms" "${ms} ms"
ds01_done
