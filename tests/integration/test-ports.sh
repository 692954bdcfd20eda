#!/usr/bin/env bash
# Published service ports (container-deploy --port, container-port), end to end as a user would:
#  - deploy --port 8888 prints the laptop line "ssh -N -L 8888:SOCKET USER@HOST"; the socket is
#    the owner's (0600) in a root-owned 0711 directory;
#  - a web server in the container (busybox httpd on 0.0.0.0:8888) answers through the socket,
#    and through a real OpenSSH server (sshd -D, started here on loopback) running the printed
#    line with the test's own local port;
#  - another user can neither open the socket (the kernel says no), list the directory, forward
#    it through sshd, nor add/list ports of A's container (exit 4, audited); a socket whose mode
#    root loosened still refuses them, and that attempt is audited (auth.denied port.connect);
#  - bad input: port 0, 70000, "80a", twice, on a container that exists (exit 2), a port already
#    published (exit 1), removing one that is not (exit 4); nothing is left half-done;
#  - container-list shows the ports; add/remove on a running container; ports survive a daemon
#    restart; removing a port ends the connections through it; a stopped container's socket
#    answers nothing; retire removes the sockets.
#  - container-port add PORT --tcp also serves it on a loopback TCP port: A's connections are
#    relayed, B's are closed and audited (the uid from the kernel's socket table); it comes back
#    on the same port after a restart and goes with remove.
# ds01-test: kind=security threads needs=sshd budget=45
TCP_FROM=$((21000 + RANDOM % 4000)) # tests run in parallel: each its own small range
DS01_CONFIG_EXTRA="ports_tcp_from: $TCP_FROM
ports_tcp_to: $((TCP_FROM + 30))"
. "$(dirname "$0")/lib.sh"
command -v ssh >/dev/null 2>&1 || fail "the ssh client is not installed (scripts/deps.sh installs it)"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a" -p '*') || fail "cannot create user" # '*': no password, not locked (sshd)
B=$(ds01_user "it$$b" -p '*') || fail "cannot create user"
HA=$(user_home "$A")
HB=$(user_home "$B")
PDIR=$T/run/ports
SOCK_A=$PDIR/$A/web.8888
HELPERS=()
_ports_cleanup() {
	local p
	# the ssh clients run under as_user's subshell: end them by owner
	pkill -TERM -u "$A" -x ssh 2>/dev/null
	pkill -TERM -u "$B" -x ssh 2>/dev/null
	for p in "${HELPERS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${HELPERS[@]}"; do wait "$p" 2>/dev/null; done
}
trap '_rc=$?; _ports_cleanup; (exit $_rc); _ds01_cleanup' EXIT

# --- deploy with a port -------------------------------------------------------------------------
capture as_user "$A" container-deploy web --cpu-only --port 8888
assert_eq 0 "$RC" "A: container-deploy web --cpu-only --port 8888"
LINE=$(grep -o 'ssh -N -L [^ ]* [^ ]*' <<<"$OUT" | head -1)
assert_eq "ssh -N -L 8888:$SOCK_A $A@$(hostname)" "$LINE" "deploy prints the laptop's ssh line"
assert_contains "$OUT" "http://localhost:8888" "and the URL to open"
assert_eq "socket $A 600" "$(stat -c '%F %U %a' "$SOCK_A" | sed 's/^socket /socket /')" \
	"the socket is A's, mode 0600"
assert_eq "root 711" "$(stat -c '%U %a' "$PDIR/$A")" "A's ports directory is root's, mode 0711"

as_user "$A" container-attach web -- sh -c \
	'echo hello-from-web >/workspace/index.html; httpd -p 0.0.0.0:8888 -h /workspace; httpd -p 0.0.0.0:9001 -h /workspace' ||
	fail "cannot start httpd in the container"
wait_for 10 as_user "$A" curl -sf --unix-socket "$SOCK_A" http://web/index.html
capture as_user "$A" curl -sS --max-time 10 --unix-socket "$SOCK_A" http://web/index.html
assert_eq "hello-from-web" "$OUT" "A fetches the page through the socket"

# --- another user ---------------------------------------------------------------------------------
capture as_user "$B" curl -sS --max-time 5 --unix-socket "$SOCK_A" http://web/index.html
assert_eq 7 "$RC" "B cannot connect to A's socket (curl: couldn't connect)"
assert_not_contains "$OUT" "hello-from-web" "B gets nothing of A's page"
assert_exit '!0' -m "B cannot list A's ports directory" as_user "$B" ls "$PDIR/$A"
assert_exit 4 -m "B: container-port web._.$A add 9000 -> not found" \
	as_user "$B" container-port "web._.$A" add 9000
assert_exit 4 -m "B: container-port web._.$A list -> not found" \
	as_user "$B" container-port "web._.$A" list
assert_exit 4 -m "B: container-port web add 9000 (B has no web) -> not found" \
	as_user "$B" container-port web add 9000
[ -n "$(events_query '.event_type == "auth.denied" and .user == "'"$B"'" and .details.container == "web._.'"$A"'"')" ] &&
	ok "B's requests for A's container are audited" ||
	not_ok "B's requests for A's container are audited" "$(tail -n 5 "$EVENTS")"

# root loosens the socket's mode: ds01d still refuses B, and audits it
chmod 666 "$SOCK_A"
capture as_user "$B" curl -sS --max-time 5 --unix-socket "$SOCK_A" http://web/index.html
assert_ne 0 "$RC" "B, with the socket's mode opened by root: still refused"
assert_not_contains "$OUT" "hello-from-web" "and gets nothing"
wait_for 5 sh -c "jq -c 'select(.event_type == \"auth.denied\" and .details.action == \"port.connect\")' '$EVENTS' | grep -q ."
[ -n "$(events_query '.event_type == "auth.denied" and .details.action == "port.connect" and .user == "'"$B"'"')" ] &&
	ok "ds01d audited B's connection (auth.denied, port.connect)" ||
	not_ok "ds01d audited B's connection" "$(tail -n 5 "$EVENTS")"
chmod 600 "$SOCK_A"

# --- the printed line through a real sshd ----------------------------------------------------------
ds01_sshd 127.0.0.1 "AllowStreamLocalForwarding yes"
SD=$SSHD_DIR
SP=$SSHD_PORT
for u in "$A" "$B"; do
	h=$(user_home "$u")
	as_user "$u" sh -c "mkdir -p '$h/.ssh' && ssh-keygen -q -t ed25519 -N '' -f '$h/.ssh/id_ed25519'" ||
		fail "ssh-keygen for $u"
	cp "$h/.ssh/id_ed25519.pub" "$SD/keys/$u" && chmod 644 "$SD/keys/$u"
done

# ssh_forward USER LOCALPORT SPEC: runs the laptop line as USER with the test's port and server
ssh_forward() {
	local u=$1 lp=$2 spec=$3
	as_user "$u" ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o ExitOnForwardFailure=yes -p "$SP" -L "$lp:${spec#*:}" "$u@127.0.0.1" >>"$SD/client-$u.log" 2>&1 &
	HELPERS+=($!)
}
SPEC=$(awk '{print $4}' <<<"$LINE") # 8888:SOCKET
LP=$(free_port)
ssh_forward "$A" "$LP" "$SPEC"
wait_for 20 curl -sf --max-time 2 "http://127.0.0.1:$LP/index.html"
capture curl -sS --max-time 10 "http://127.0.0.1:$LP/index.html"
assert_eq "hello-from-web" "$OUT" "the printed ssh -L line, run by A against sshd, brings the page to A's laptop port"

LPB=$(free_port)
ssh_forward "$B" "$LPB" "$SPEC"
wait_for 10 sh -c "(echo >/dev/tcp/127.0.0.1/$LPB) 2>/dev/null"
capture curl -sS --max-time 5 "http://127.0.0.1:$LPB/index.html"
assert_ne 0 "$RC" "B's ssh -L to A's socket gets no page"
assert_not_contains "$OUT" "hello-from-web" "nothing of A's page reaches B"
# and not because B never got in: sshd let B log in and refused the forwarding to A's socket
wait_for 5 grep -q "open failed" "$SD/client-$B.log" && ok "B was logged in, and sshd could not open A's socket for B" ||
	not_ok "B was logged in, and sshd could not open A's socket for B" "$(cat "$SD/client-$B.log")"

# --- bad input --------------------------------------------------------------------------------------
for bad in 0 70000 80a -1; do
	assert_exit 2 -m "container-port web add $bad -> usage error" as_user "$A" container-port web add "$bad"
done
capture as_user "$A" container-port web add 8888
assert_eq 1 "$RC" "adding 8888 again -> exit 1"
assert_contains "$ERR" "already published" "the error says it is published already"
assert_exit 4 -m "removing a port that is not published -> exit 4" as_user "$A" container-port web remove 9999
assert_exit 2 -m "deploy --port 8888 --port 8888 -> exit 2" as_user "$A" container-deploy dup --cpu-only --port 8888 --port 8888
assert_exit 2 -m "deploy --port 0 -> exit 2" as_user "$A" container-deploy zero --cpu-only --port 0
assert_no_container "dup._.$A" "no container was made for the refused deploys"
assert_no_container "zero._.$A" "(nor for --port 0)"
capture as_user "$A" container-deploy web --cpu-only --port 9000
assert_eq 2 "$RC" "deploy --port on an existing container -> exit 2"
assert_contains "$ERR" "container-port web add" "the error says how to publish a port of it"

# --- add and remove on a running container, list ----------------------------------------------------
capture as_user "$A" container-port web add 9000
assert_eq 0 "$RC" "container-port web add 9000"
assert_contains "$OUT" "9000:$PDIR/$A/web.9000" "it prints the line for 9000"
[ -S "$PDIR/$A/web.9000" ] && ok "web.9000's socket is there" || not_ok "web.9000's socket is there"
list_json "$A"
assert_eq "[8888,9000]" "$(jq -c '.containers[] | select(.project == "web") | .ports' <<<"$OUT")" \
	"container-list --json shows ports [8888,9000]"
capture as_user "$A" container-list
assert_match "$OUT" 'web +running +- +8888,9000' "container-list shows the PORTS column"
capture as_user "$A" container-stats web
assert_match "$OUT" 'PORTS' "container-stats has a PORTS column"
assert_match "$OUT" '8888,9000 *$' "... which shows 8888,9000"
capture as_user "$A" container-port web
assert_contains "$OUT" "8888:$SOCK_A" "container-port web lists 8888"
assert_exit 0 -m "container-port web remove 9000" as_user "$A" container-port web remove 9000
[ -e "$PDIR/$A/web.9000" ] && not_ok "web.9000's socket is gone" || ok "web.9000's socket is gone"
assert_event container.port.add "$A"
assert_event container.port.remove "$A"

# --- a loopback TCP port for editors that forward only TCP -----------------------------------------
capture as_user "$A" container-port web add 9001 --tcp
assert_eq 0 "$RC" "container-port web add 9001 --tcp"
TP=$(jq -r '.ports[] | select(.port == 9001) | .tcp' <<<"$(as_user "$A" container-port web list --json)")
assert_match "$TP" '^[0-9]+$' "9001 is also on a loopback TCP port ($TP)"
[ "$TP" -ge "$TCP_FROM" ] && [ "$TP" -le $((TCP_FROM + 30)) ] && ok "from ports_tcp_from..ports_tcp_to" ||
	not_ok "from ports_tcp_from..ports_tcp_to" "$TP"
assert_contains "$OUT" "127.0.0.1:$TP" "the command prints the loopback address"
wait_for 10 as_user "$A" curl -sf "http://127.0.0.1:$TP/index.html"
capture as_user "$A" curl -sS --max-time 10 "http://127.0.0.1:$TP/index.html"
assert_eq "hello-from-web" "$OUT" "A fetches the page through 127.0.0.1:$TP"
capture as_user "$B" curl -sS --max-time 5 "http://127.0.0.1:$TP/index.html"
assert_ne 0 "$RC" "B's connection to 127.0.0.1:$TP gets nothing"
assert_not_contains "$OUT" "hello-from-web" "(no page for B)"
wait_for 5 sh -c "jq -c 'select(.event_type == \"auth.denied\" and .details.action == \"port.connect\" and .details.container == \"web._.$A:9001\")' '$EVENTS' | grep -q ."
[ -n "$(events_query '.event_type == "auth.denied" and .details.action == "port.connect" and .user == "'"$B"'" and .details.container == "web._.'"$A"':9001"')" ] &&
	ok "B's TCP connection is audited (auth.denied port.connect web._.$A:9001)" ||
	not_ok "B's TCP connection is audited" "$(tail -n 5 "$EVENTS")"
assert_exit 2 -m "--tcp goes with add only" as_user "$A" container-port web remove 9001 --tcp

# --- a daemon restart keeps them -----------------------------------------------------------------
ds01_stop_daemon
ds01_start_daemon
[ -S "$SOCK_A" ] && ok "after a restart the socket is served again" || not_ok "after a restart the socket is served again"
wait_for 10 as_user "$A" curl -sf --unix-socket "$SOCK_A" http://web/index.html
capture as_user "$A" curl -sS --max-time 10 --unix-socket "$SOCK_A" http://web/index.html
assert_eq "hello-from-web" "$OUT" "and the page comes through it"
wait_for 10 as_user "$A" curl -sf "http://127.0.0.1:$TP/index.html"
capture as_user "$A" curl -sS --max-time 10 "http://127.0.0.1:$TP/index.html"
assert_eq "hello-from-web" "$OUT" "and through the same loopback port, $TP"
# a connection open through 9001's socket (httpd waits 60 s for the request): removing the port
# ends it
cat >"$T/hold.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
open(sys.argv[2] + ".tmp", "w").write("open")
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
s.settimeout(50)
try:
    data = s.recv(1)
except OSError:
    data = b"?"
open(sys.argv[3], "w").write("eof" if data == b"" else "data")
PY
chmod 644 "$T/hold.py"
mkdir -m 777 "$T/hold"
as_user "$A" python3 "$T/hold.py" "$PDIR/$A/web.9001" "$T/hold/open" "$T/hold/end" 2>"$T/hold.err" &
HELPERS+=($!)
wait_started "${HELPERS[-1]}" "$T/hold/open" || fail "the held connection did not open: $(cat "$T/hold.err")"
t0=$(now_ms)
assert_exit 0 -m "container-port web remove 9001" as_user "$A" container-port web remove 9001
wait_for 10 test -s "$T/hold/end"
assert_eq "eof" "$(cat "$T/hold/end" 2>/dev/null)" "removing 9001 ended the connection open through it ($(($(now_ms) - t0)) ms)"
[ -e "$PDIR/$A/web.9001" ] && not_ok "web.9001's socket is gone" || ok "web.9001's socket is gone"
capture as_user "$A" curl -sS --max-time 5 "http://127.0.0.1:$TP/index.html"
assert_eq 7 "$RC" "127.0.0.1:$TP is closed once 9001 is removed (curl: couldn't connect)"

# --- a stopped container: its socket stays, a connection is closed at once -----------------------
assert_exit 0 -m "stop web" as_user "$A" container-stop web --timeout 2
[ -S "$SOCK_A" ] && ok "a stopped container keeps its socket" || not_ok "a stopped container keeps its socket"
capture as_user "$A" curl -sS --max-time 10 --unix-socket "$SOCK_A" http://web/index.html
# closed at once: curl sees the close as it happens to land (7 before the request, 52 or 56
# after); a timeout (28) or a page would be wrong
assert_match "$RC" '^(7|52|56)$' "a request to a stopped container's port is closed at once, no reply (curl $RC)"
assert_not_contains "$OUT" "hello-from-web" "(no page from a stopped container)"

# --- retire removes them -----------------------------------------------------------------------------
assert_exit 0 -m "retire web" as_user "$A" container-retire web
[ -e "$SOCK_A" ] && not_ok "retire removed web's socket" "$(ls -l "$PDIR/$A")" || ok "retire removed web's socket"
ds01_done
