#!/usr/bin/env bash
# container-run NAME on a real terminal (tmux pane, 120x40) opens an interactive shell in
# /workspace as the user, with a tty of the terminal's size; `exit` returns to the caller with
# status 0 and leaves the session container running.
# ds01-test: kind=functional threads needs=utmp budget=9
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null 2>&1 || fail "tmux is not installed (the terminal; scripts/deps.sh installs it)"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
UA=$(user_uid "$A")
HA=$(user_home "$A")
S="ds01it-tty-$$"
mkdir -p "$T/tmux"
export TMUX_TMPDIR=$T/tmux   # a private tmux server, removed with $T

assert_exit 0 -m "A: deploy tty1 --cpu-only" as_user "$A" container-deploy tty1 --cpu-only


ds01_tmux_session "$S"
tmux new-session -d -s "$S" -x 120 -y 40 \
	"$(as_user_cmdline "$A" container-run tty1); echo \"RUN-EXITED=\$?\"; sleep 120" ||
	fail "tmux new-session failed"
if ! wait_for 15 pane_has '[$#] ?$'; then
	not_ok "a shell prompt appears" "$(pane)"
else
	ok "a shell prompt appears"
fi
tmux send-keys -t "$S" 'id -u > /workspace/tty-ok; echo $((6*7))' Enter
if wait_for 10 pane_has '^42[[:space:]]*$'; then
	ok "the shell runs commands (prints 42)"
else
	not_ok "the shell runs commands (prints 42)" "$(pane)"
fi
# What the commands print is matched as whole lines: the typed command line itself is echoed on
# the terminal too, and has "tty=yes" in it.
tmux send-keys -t "$S" 'echo "pwd=$(pwd)"; echo "size=$(stty size)"; [ -t 0 ] && echo "tty=y""es"' Enter
wait_for 10 pane_has '^tty=yes[[:space:]]*$'
P=$(pane)
assert_match "$P" '^pwd=/workspace[[:space:]]*$' "the shell starts in /workspace"
assert_match "$P" '^size=40 120[[:space:]]*$' "the tty has the terminal's size (40 rows, 120 cols)"
assert_match "$P" '^tty=yes[[:space:]]*$' "stdin is a terminal inside"
tmux resize-window -t "$S" -x 100 -y 30 2>/dev/null
sleep 0.5
tmux send-keys -t "$S" 'echo "size2=$(stty size)"' Enter
if wait_for 10 pane_has '^size2=30 100[[:space:]]*$'; then
	ok "a terminal resize reaches the container tty (30 100)"
else
	not_ok "a terminal resize reaches the container tty (30 100)" "$(pane | grep size2)"
fi
tmux send-keys -t "$S" 'exit' Enter
if wait_for 10 pane_has 'RUN-EXITED=0'; then
	ok "exit ends container-run with status 0"
else
	not_ok "exit ends container-run with status 0" "$(pane | tail -n 15)"
fi
tmux kill-session -t "$S" 2>/dev/null

F="$HA/workspace/tty1/tty-ok"
assert_eq "$UA" "$(cat "$F" 2>/dev/null)" "tty-ok on the host holds the user's uid"
assert_eq "$UA" "$(stat -c %u "$F" 2>/dev/null)" "tty-ok is owned by the user"
assert_eq running "$(docker_state "tty1._.$A")" "the session container keeps running after the shell exits"

assert_exit 0 -m "A: retire tty1" as_user "$A" container-retire tty1
assert_instance_empty "nothing left in Docker"
ds01_done
