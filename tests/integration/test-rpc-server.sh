#!/usr/bin/env bash
# The daemon socket's event loops never wait on a client: while a user holds connections that
# stall in the middle of a request or sit idle, everyone else's container-list still answers at
# once; those connections count against their owner's bound and are given back when the client
# goes away. Requests too large for an event loop, malformed messages and many requests on one
# kept-open connection all get their answers.
# ds01-test: kind=functional threads budget=9
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (the raw protocol client; scripts/deps.sh installs it)"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
assert_exit 0 -m "A: deploy rs1 --cpu-only" as_user "$A" container-deploy rs1 --cpu-only

# A raw protocol client: one-fragment messages are 'E' + JSON (src/proto/proto.h).
cat >"$T/raw.py" <<'PY'
import json, os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    return s
def answer(s):
    out = b""
    while True:
        frag = s.recv(70000)
        if not frag:
            return out.decode()
        out += frag[1:]
        if frag[:1] == b"E":
            return out.decode()
if mode == "stall":                     # N connections: half mid-request, half idle
    n = int(sys.argv[3])
    held = []
    for i in range(n):
        s = conn()
        if i % 2 == 0:
            s.send(b'M{"v":1,"method":"container.li')   # a first fragment, never the last
        held.append(s)
    print("ready", flush=True)
    sys.stdin.read()                    # until the test closes our stdin
elif mode == "big":                     # one fragment larger than an event loop takes
    s = conn()
    s.send(b"E" + json.dumps({"v": 1, "method": "container.list",
                              "params": {"pad": "x" * 6000}}).encode())
    print(answer(s))
elif mode == "malformed":
    s = conn()
    s.send(b"E{this is not json")
    print(answer(s))
elif mode == "persist":                 # K requests on one connection
    s = conn()
    k = int(sys.argv[3])
    names = set()
    for i in range(k):
        s.send(b'E{"v":1,"method":"container.list","params":{}}')
        r = json.loads(answer(s))
        names.update(c["project"] for c in r["result"]["containers"])
    print(k, sorted(names))
PY
chmod 644 "$T/raw.py"

# B holds as many connections as its bound allows (max_requests_per_uid, 16 by default), half
# of them stalled after the first fragment of a request.
coproc STALL { as_user "$B" python3 "$T/raw.py" "$SOCK" stall 16 2>&1; }
read -r -t 20 line <&"${STALL[0]}" || line=""
assert_eq "ready" "$line" "B: 16 connections open, 8 stalled mid-request"
sleep 0.5

t0=$(date +%s%N)
capture as_user "$A" timeout 10 container-list
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 0 "$RC" "A: container-list exits 0 while B stalls 16 connections (124: it hung)"
assert_contains "$OUT" "rs1" "A: container-list answers while B stalls 16 connections"
[ "$ms" -lt 5000 ] && ok "A: ... within 5 s ($ms ms)" || not_ok "A: ... within 5 s" "$ms ms"
assert_exit 0 -m "root: daemon answers ds01 status meanwhile" as_root timeout 10 ds01 status
assert_exit 3 -m "B: a 17th connection is refused (bound per user)" as_user "$B" timeout 10 container-list
assert_eq "container-list: too many requests in flight for your user (close some container-run sessions or wait for running commands)" \
	"$ERR" "B: the refusal says why"

# B goes away: every one of its connections is given back.
STALL_PID_=$STALL_PID
exec {STALL[1]}>&-
wait "$STALL_PID_"
assert_eq 0 "$?" "B's stalling client exits 0 once its stdin closes (it held every connection)"
back() { as_user "$B" container-list >/dev/null 2>&1; }
if wait_for 10 back; then ok "B: lists again once its stalled client is gone"; else
	capture as_user "$B" container-list
	not_ok "B: lists again once its stalled client is gone" "$(_ds01_last)"; fi

capture as_user "$A" timeout 10 python3 "$T/raw.py" "$SOCK" big
assert_jq "a 6 KB request gets its answer (unknown parameter 'pad')" \
	'.ok == false and (.error.message | test("unknown parameter .pad."))' "$OUT"
capture as_user "$A" timeout 10 python3 "$T/raw.py" "$SOCK" malformed
assert_jq "a malformed message gets an error answer" \
	'.ok == false and .error.code == 2 and (.error.message | test("malformed"))' "$OUT"
capture as_user "$A" timeout 20 python3 "$T/raw.py" "$SOCK" persist 200
assert_eq 0 "$RC" "A: the kept-open client exits 0"
assert_eq "200 ['rs1']" "$OUT" "A: 200 requests on one kept-open connection, each answered"

assert_exit 0 -m "A: retire rs1" as_user "$A" container-retire rs1
assert_instance_empty "nothing left in Docker"
ds01_done
