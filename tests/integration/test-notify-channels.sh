#!/usr/bin/env bash
# Notification channels: the two idle warnings and the idle stop of a container
# (idle_timeout_h 0.005 = 18 s, sample_interval_s 1) reach
#  - the inbox: the user's next command (container-list) prints them as "note:" lines on stderr,
#    exactly once; `ds01 inbox --json` lists them {id, container, event, message, time};
#  - ~/workspace/P/.ds01-alerts: one line each, owned by the user, mode 0600;
#  - the webhook (notify.webhook_url, a python3 listener on 127.0.0.1): a JSON POST each with
#    text/event/user/container/project/host/timestamp (and the evidence for the stop);
#  - the user's terminal: a tmux session the user started (tmux registers each pane in utmp
#    as the user's login through utempter, as terminal emulators do); its screen shows the
#    three "*** ds01: ... ***" lines. (/var/run/utmp, if this test created it, goes at exit.)
# ds01-test: kind=functional threads needs=utmp budget=39
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
# Every channel is checked: a missing tool fails the test (scripts/deps.sh installs them).
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (the webhook listener; scripts/deps.sh installs it)"
command -v tmux >/dev/null 2>&1 || fail "tmux is not installed (the user's terminal; scripts/deps.sh installs it)"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.005'

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
N1="n1._.$A"
HELPERS=()
UTMP=/var/run/utmp
UTMP_CREATED=0
TSOCK=
_notify_cleanup() {
	local p
	# the user's tmux server (its pane's utmp entry becomes a DEAD_PROCESS)
	[ -z "$TSOCK" ] || as_user "$A" tmux -S "$TSOCK" kill-server >/dev/null 2>&1
	for p in "${HELPERS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${HELPERS[@]}"; do
		wait "$p" 2>/dev/null
	done
	[ "$UTMP_CREATED" = 1 ] && rm -f "$UTMP"
}
trap '_rc=$?; _notify_cleanup; (exit $_rc); _ds01_cleanup' EXIT

# --- the webhook listener --------------------------------------------------------------------
mkdir -p "$T/hook"
cat >"$T/hook.py" <<'PY'
import http.server, os, sys, itertools
d = sys.argv[1]
n = itertools.count(1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        i = next(n)
        with open(os.path.join(d, "%03d.tmp" % i), "wb") as f:
            f.write(body)
        os.rename(os.path.join(d, "%03d.tmp" % i), os.path.join(d, "%03d.json" % i))
        with open(os.path.join(d, "paths"), "a") as f:
            f.write(self.path + " " + (self.headers.get("Content-Type") or "") + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(os.path.join(d, "port.tmp"), "w") as f:
    f.write(str(s.server_address[1]))
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
s.serve_forever()
PY
python3 "$T/hook.py" "$T/hook" >"$T/hook.log" 2>&1 &
HELPERS+=($!)
wait_started "${HELPERS[-1]}" "$T/hook/port" || fail "the webhook listener did not start: $(cat "$T/hook.log")"
PORT=$(cat "$T/hook/port")
DS01_CONFIG_EXTRA="sample_interval_s: 1
notify:
  webhook_url: http://127.0.0.1:$PORT/hook"
ds01_write_config

# --- a terminal of the user: a tmux session of theirs -----------------------------------------
# tmux (built with libutempter, as Debian's is) records each pane in utmp as a USER_PROCESS of
# the user who runs it, on the pane's pty, which the user owns: the daemon finds the user's
# terminals exactly that way. utempter writes /var/run/utmp as group utmp.
if [ ! -e "$UTMP" ]; then
	install -m 664 -o root -g utmp /dev/null "$UTMP" || fail "cannot create $UTMP"
	UTMP_CREATED=1
fi
install -d -o "$A" -g "$(user_gid "$A")" -m 700 "$T/tmux-a"
TSOCK=$T/tmux-a/sock
assert_ok "A starts a tmux session (a shell on a terminal of A's)" \
	as_user "$A" tmux -S "$TSOCK" new-session -d -s notify -x 250 -y 50 'bash --norc --noprofile -i'
capture as_user "$A" tmux -S "$TSOCK" display-message -p -t notify '#{pane_tty}'
PTY=$OUT
assert_match "$PTY" '^/dev/pts/[0-9]+$' "the session's pane has a pty ($PTY)"
assert_eq "$A" "$(stat -c %U "$PTY" 2>/dev/null)" "...owned by A"
a_logged_in() { who | awk -v u="$A" -v l="${PTY#/dev/}" '$1 == u && $2 == l { f = 1 } END { exit !f }'; }
if wait_for 5 a_logged_in; then
	ok "utmp has A's login on ${PTY#/dev/} (who lists it)"
else
	fail "utmp has no login of A's on ${PTY#/dev/}: the terminal channel cannot be checked: $(who)"
fi
# screen: what the user sees in the pane (wrapped lines joined).
screen() { as_user "$A" tmux -S "$TSOCK" capture-pane -p -J -t notify -S -500; }

ds01_start_daemon

# --- the idle stop -----------------------------------------------------------------------------
assert_exit 0 -m "deploy n1" as_user "$A" container-deploy n1
# No CLI command as $A until the stop: the notes must all wait for the next one.
if wait_event 30 ".event_type == \"maintenance.idle_kill\" and .details.container == \"$N1\""; then
	ok "n1 stopped by maintenance.idle_kill"
else
	fail "n1 stopped by maintenance.idle_kill"
fi
wait_for 5 test -e "$T/hook/003.json"

# Inbox: shown once by the next command.
assert_exit 0 -m "container-list (the user's next command)" as_user "$A" container-list
NOTES=$(printf '%s\n' "$ERR" | grep '^note: ')
assert_eq 3 "$(printf '%s' "$NOTES" | grep -c .)" "container-list prints 3 note: lines on stderr"
assert_eq 2 "$(printf '%s' "$NOTES" | grep -c 'will be stopped')" "two of them are the warnings"
assert_eq 1 "$(printf '%s' "$NOTES" | grep -c 'was stopped')" "one is the stop"
assert_contains "$NOTES" "container-keepalive n1" "the notes say how to prevent the stop"
assert_match "$NOTES" '^note: \[[^]]+\] ' "the notes have the form 'note: [time] message'"
assert_not_contains "$OUT" "note:" "no note on stdout"
assert_exit 0 -m "container-list again" as_user "$A" container-list
assert_not_contains "$ERR" "note:" "the notes are shown only once"
assert_exit 0 -m "ds01 inbox --json" as_user "$A" ds01 inbox --json
assert_jq "inbox lists the 2 warnings and the stop" \
	'[.messages[] | select(.container == "'"$N1"'") | .event] | sort == ["idle_stop", "idle_warning", "idle_warning"]' "$OUT"
assert_jq "inbox messages have id, container, event, message, time" \
	'all(.messages[]; (.id | type) == "number" and (.message | length) > 20 and (.time | test("^[0-9]{4}-")))' "$OUT"
assert_exit 0 -m "ds01 inbox (text)" as_user "$A" ds01 inbox
assert_contains "$OUT" "was stopped" "ds01 inbox shows the stop"
B=$(ds01_user "it$$b") || fail "cannot create user"
assert_exit 0 -m "B: ds01 inbox --json" as_user "$B" ds01 inbox --json
assert_jq "B's inbox is empty" '.messages | length == 0' "$OUT"

# Alerts file.
AF=$HA/workspace/n1/.ds01-alerts
assert_ok "~/workspace/n1/.ds01-alerts exists" test -f "$AF"
assert_eq "$A 600" "$(stat -c '%U %a' "$AF" 2>/dev/null)" ".ds01-alerts is owned by the user, mode 600"
assert_eq 3 "$(grep -c . "$AF" 2>/dev/null)" ".ds01-alerts has one line per message (3)"
assert_eq 2 "$(grep -c 'idle_warning' "$AF" 2>/dev/null)" ".ds01-alerts: 2 idle_warning lines"
assert_eq 1 "$(grep -c 'idle_stop' "$AF" 2>/dev/null)" ".ds01-alerts: 1 idle_stop line"
assert_contains "$(cat "$AF")" "container-keepalive n1" ".ds01-alerts lines say how to prevent the stop"

# Webhook.
HOOKS=$(cat "$T"/hook/[0-9]*.json 2>/dev/null | jq -s -c . 2>/dev/null)
assert_jq "webhook: 3 POSTs, valid JSON" 'length == 3' "$HOOKS"
assert_jq "webhook: events idle_warning, idle_warning, idle_stop" \
	'map(.event) == ["idle_warning", "idle_warning", "idle_stop"]' "$HOOKS"
assert_jq "webhook: text/user/container/project/host/timestamp on every POST" \
	'all(.[]; (.text | startswith("ds01: ")) and .user == "'"$A"'" and .container == "'"$N1"'" and .project == "n1" and (.host | length) > 0 and (.timestamp | test("^[0-9]{4}-")))' "$HOOKS"
assert_jq "webhook: the stop carries the evidence (idle_s, idle_timeout_s 18)" \
	'.[2].details.idle_timeout_s == 18 and .[2].details.idle_s >= 18' "$HOOKS"
assert_eq "/hook application/json" "$(head -n 1 "$T/hook/paths" 2>/dev/null)" "webhook: POST to /hook, Content-Type application/json"

# Terminal: the three messages are on A's screen, each as "*** <the webhook's text> ***".
three_on_screen() { [ "$(screen | grep -c '^\*\*\* ds01: ')" = 3 ]; }
wait_for 5 three_on_screen
SCREEN=$(screen)
assert_eq 3 "$(grep -c '^\*\*\* ds01: ' <<<"$SCREEN")" "A's terminal shows 3 '*** ds01: ' lines"
assert_eq "$(jq -r '.[] | "*** \(.text) ***"' <<<"$HOOKS" | sort)" \
	"$(grep '^\*\*\* ds01: ' <<<"$SCREEN" | sed 's/[[:space:]]*$//' | sort)" \
	"A's terminal shows the 2 warnings and the stop, one '*** ds01: ... ***' line each"
assert_eq 2 "$(grep -c '^\*\*\* ds01: .*will be stopped.*container-keepalive n1' <<<"$SCREEN")" \
	"...the warnings on the terminal say how to prevent the stop"

assert_exit 0 -m "retire n1" as_user "$A" container-retire n1
assert_instance_empty "nothing left in Docker"
ds01_done
