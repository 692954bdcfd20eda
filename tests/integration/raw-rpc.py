#!/usr/bin/python3
"""raw-rpc.py - requests as a raw client sends them (src/proto/proto.h): no CLI.

  raw-rpc.py call METHOD PARAMS_JSON
      one request; prints the answer (JSON); exits 0 if it says ok.
  raw-rpc.py send PROJECT TARFILE
      the tar as the build context; prints each progress message and the answer (JSON lines);
      exits 0 if the build succeeded.
  raw-rpc.py hold PROJECT N SECONDS
      N requests at once, each with a pipe that gets 1 MiB and then stays open; after SECONDS
      the connections hang up (the pipes stay open). Prints, per request, the answer if one
      came before the hang-up, else "held".
Socket: $DS01_SOCKET.
"""
import array
import json
import os
import select
import socket
import sys
import time


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(os.environ["DS01_SOCKET"])
    return s


def call(method, params):
    s = connect()
    s.send(b"E" + json.dumps({"v": 1, "method": method, "params": json.loads(params)}).encode())
    m = next(messages(s), None)
    print(json.dumps(m), flush=True)
    return 0 if m and m.get("ok") else 1


def request(s, project, fd):
    msg = json.dumps({"v": 1, "method": "image.build", "params": {"project": project}})
    s.sendmsg([b"E" + msg.encode()],
              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])


def messages(s):
    """Yields the JSON messages of a connection until it closes."""
    data = b""
    while True:
        frag = s.recv(70000)
        if not frag:
            return
        data += frag[1:]
        if frag[:1] == b"E":
            yield json.loads(data)
            data = b""


def send(project, tarfile):
    r, w = os.pipe()
    s = connect()
    request(s, project, r)
    os.close(r)
    with open(tarfile, "rb") as f:
        body = f.read()
    if os.fork() == 0:
        try:
            os.write(w, body)
        except OSError:
            pass
        os._exit(0)
    os.close(w)
    ok = False
    for m in messages(s):
        print(json.dumps(m), flush=True)
        if "ok" in m:
            ok = m["ok"]
            break
    return 0 if ok else 1


def hold(project, n, seconds):
    conns = []
    for _ in range(n):
        r, w = os.pipe()
        s = connect()
        request(s, project, r)
        os.close(r)
        os.set_blocking(w, False)
        try:
            os.write(w, b"\0" * (1 << 20))
        except OSError:  # full (held), or closed by a refusal
            pass
        conns.append((s, w))
    answers = ["held"] * n
    end = time.time() + seconds
    while time.time() < end:
        socks = [c[0] for i, c in enumerate(conns) if answers[i] == "held"]
        if not socks:
            break
        rd, _, _ = select.select(socks, [], [], max(0.0, end - time.time()))
        for s in rd:
            i = [c[0] for c in conns].index(s)
            m = next(messages(s), None)
            answers[i] = json.dumps(m) if m else "closed"
    for s, _ in conns:
        s.close()  # hang up; the pipes' write ends stay open
    for a in answers:
        print(a, flush=True)
    time.sleep(float(os.environ.get("RAW_BUILD_LINGER", "0")))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "call":
        sys.exit(call(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "send":
        sys.exit(send(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "hold":
        sys.exit(hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    sys.exit(2)
