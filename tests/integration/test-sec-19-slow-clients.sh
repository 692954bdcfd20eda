#!/usr/bin/env bash
# Issue 11 item 19 (/metrics held down by slow clients; RPC connections that never send a
# request): user A opens 40 connections to /metrics that send a request one byte a second
# (reopening the ones closed, every second), and 40 connections to the daemon socket that send
# nothing. ds01d shuts each /metrics connection that has not sent a whole request and taken the
# answer within 3 s, keeps at most 4 of a local user's at once (the kernel's socket table says
# whose a loopback connection is), and closes each socket connection that sent no request within
# 5 s (with a message saying so). So a scrape (curl, 8 s timeout; Prometheus' default is 10 s)
# gets its answer, another user's CLI works throughout, and A's own CLI works again once its idle
# connections are gone.
# ds01-test: kind=security threads budget=23
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || skip_test "python3 not installed"
command -v curl >/dev/null 2>&1 || skip_test "curl not installed"
ds01_setup
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s/^metrics_listen: .*/metrics_listen: 127.0.0.1:$MPORT/" "$DS01_CONFIG"
URL=http://127.0.0.1:$MPORT/metrics
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

cat >"$T/slow.py" <<'PY'
import json, selectors, socket, sys, time
mode, target, n, seconds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
sel = selectors.DefaultSelector()
opened = {}
stats = {"opened": 0, "closed_by_server": 0, "lifetimes": [], "refusals": []}
def connect():
    if mode == "http":
        s = socket.create_connection(("127.0.0.1", int(target)))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(target)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    opened[s] = [time.monotonic(), 0]
    stats["opened"] += 1
request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
for _ in range(n):
    try:
        connect()
    except OSError:
        pass
open(out + ".ready", "w").write("1")  # all n are open (or refused): the test goes on
end = time.monotonic() + seconds
last_tick = 0
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if d and mode == "rpc":
            stats["refusals"].append(d[1:].decode(errors="replace")[:300])
            continue
        if not d:
            t0 = opened.pop(s)[0]
            stats["closed_by_server"] += 1
            stats["lifetimes"].append(round(time.monotonic() - t0, 2))
            sel.unregister(s)
            s.close()
    if mode == "rpc" and not opened:
        break  # the server closed every one: nothing left to wait for
    if mode == "http" and time.monotonic() - last_tick >= 1:
        last_tick = time.monotonic()
        for _ in range(n - len(opened)):  # the ones the server closed, once a second
            try:
                connect()
            except OSError:
                pass
        for s, st in list(opened.items()):
            if st[1] < len(request):
                try:
                    s.send(request[st[1]:st[1] + 1])
                    st[1] += 1
                except OSError:
                    pass
now = time.monotonic()
stats["still_open_ages"] = sorted(round(now - st[0], 2) for st in opened.values())
json.dump(stats, open(out, "w"))
PY
chmod 644 "$T/slow.py"
mkdir -p "$T/slow" && chmod 777 "$T/slow"

# ---- /metrics: 40 slow connections for 9 s (longer than the 8 s no connection may live)
as_user "$A" python3 "$T/slow.py" http "$MPORT" 40 9 "$T/slow/http.json" &
SLOW=$!
wait_started "$SLOW" "$T/slow/http.json.ready" || fail "the slow /metrics client did not start"
t0=$(date +%s%N)
capture curl -s -m 8 -o "$T/scrape.txt" -w '%{http_code}' "$URL"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 200 "$OUT" "a scrape during the slow-loris gets 200 (curl -m 8)"
grep -q '^ds01_exporter_info' "$T/scrape.txt" && ok "the scrape is the exposition (${ms} ms)" ||
	not_ok "the scrape is the exposition" "$(head -c 300 "$T/scrape.txt")"
assert_exit 0 -m "B's container-list works meanwhile" as_user "$B" container-list
wait "$SLOW"
MAXLIFE=$(jq '.lifetimes | max // 0' "$T/slow/http.json")
OLDEST=$(jq '.still_open_ages | max // 0' "$T/slow/http.json")
note "/metrics slow connections: $(jq -c '{opened, closed_by_server}' "$T/slow/http.json"), longest life ${MAXLIFE} s, oldest still open ${OLDEST} s"
[ "$(jq '.closed_by_server' "$T/slow/http.json")" -ge 40 ] && ok "ds01d closed the slow /metrics connections" ||
	not_ok "ds01d closed the slow /metrics connections" "$(cat "$T/slow/http.json")"
# (from the client's connect: up to 3 s waiting to be accepted while 32 others are served, then
# 3 s to send the request)
awk -v a="$MAXLIFE" -v b="$OLDEST" 'BEGIN { exit !(a < 8 && b < 8) }' &&
	ok "no slow /metrics connection lived 8 s (longest ${MAXLIFE} s)" ||
	not_ok "no slow /metrics connection lived 8 s" "longest closed ${MAXLIFE} s, oldest open ${OLDEST} s"

# ---- the socket: 40 connections of A's that never send a request, for 8 s at most (the client
# ends when the daemon has closed all of them)
as_user "$A" python3 "$T/slow.py" rpc "$SOCK" 40 8 "$T/slow/rpc.json" &
SLOW=$!
wait_started "$SLOW" "$T/slow/rpc.json.ready" || fail "the idle socket client did not start"
assert_exit 0 -m "B's container-list works while A holds idle connections" as_user "$B" container-list
assert_exit 0 -m "B's check-limits works too" as_user "$B" check-limits
a_works() { as_user "$A" container-list >/dev/null 2>&1; }
wait_for 8 a_works && ok "A's own container-list works again once its idle connections are closed" ||
	not_ok "A's own container-list works again once its idle connections are closed"
wait "$SLOW"
note "idle socket connections: $(jq -c '{opened, closed_by_server, lifetimes}' "$T/slow/rpc.json")"
[ "$(jq '.still_open_ages | length' "$T/slow/rpc.json")" -eq 0 ] && ok "no idle socket connection was left open after 8 s" ||
	not_ok "no idle socket connection was left open after 8 s" "$(jq -c '.still_open_ages' "$T/slow/rpc.json")"
assert_match "$(jq -r '.refusals | map(select(test("no request"))) | .[0] // ""' "$T/slow/rpc.json")" \
	'no request within 5 s' "an idle connection is told why it was closed"
ds01_done
