#!/usr/bin/env bash
# The quick start's own path on a real terminal (tmux panes; test-tty covers container-run's
# shell, its size and resizes):
#   container-deploy qs --open      a container and a shell prompt in /workspace, as the user,
#                                   on a tty; `exit` returns 0 and the container keeps running
#   container-attach qs             a shell in the same container (a file left in its /tmp is
#                                   there); `exit` returns 0
#   container-deploy qs --open      again: the project has a container, so it attaches to it
#   container-attach qs (stopped)   exit 1, "not running - container-run qs starts it"
#   container-retire qs, then container-deploy qs --open: a new container (another Docker id,
#                                   its /tmp fresh) with the same files in /workspace
# ds01-test: kind=functional needs=utmp budget=15
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null 2>&1 || skip_test "tmux not installed"
ds01_setup
ds01_start_daemon
mkdir -p "$T/tmux"
export TMUX_TMPDIR=$T/tmux # a private tmux server, removed with $T

A=$(ds01_user "it$$a") || fail "cannot create user"
UA=$(user_uid "$A")
HA=$(user_home "$A")
C="qs._.$A"
MARK="/tmp/inside-$$"
N=0

# open_pane DESC CMD...: a new tmux session (S) running CMD as A, then "EXITED=<status>"; waits
# for the shell prompt.
open_pane() {
	local desc=$1
	shift
	N=$((N + 1))
	S="ds01it-open-$$-$N"
	ds01_tmux_session "$S"
	tmux new-session -d -s "$S" -x 120 -y 40 \
		"$(as_user_cmdline "$A" "$@"); echo \"EXITED=\$?\"; sleep 300" || fail "tmux new-session failed"
	if wait_for 20 pane_has '[$#] ?$'; then
		ok "$desc: a shell prompt appears"
	else
		not_ok "$desc: a shell prompt appears" "$(pane)"
	fi
}
# run_in_pane CMDLINE ENDMARK: types CMDLINE and waits for a line starting with ENDMARK.
run_in_pane() {
	tmux send-keys -t "$S" "$1" Enter
	wait_for 10 pane_has "^$2" || note "no line '$2' in the pane"
}
# close_pane DESC: `exit`, and the command's status is 0.
close_pane() {
	tmux send-keys -t "$S" 'exit' Enter
	if wait_for 10 pane_has '^EXITED=0'; then
		ok "$1: exit returns 0"
	else
		not_ok "$1: exit returns 0" "$(pane | tail -n 8)"
	fi
	tmux kill-session -t "$S" 2>/dev/null
}
# pane_value KEY: the value of the last "KEY=value" line in the pane.
pane_value() { pane | grep -E "^$1=" | tail -n 1 | cut -d= -f2- | tr -d '\r '; }

# ---- container-deploy --open
open_pane "deploy --open" container-deploy qs --cpu-only --open
assert_eq running "$(docker_state "$C")" "deploy --open created and started $C"
ID1=$(docker_id "$C")
run_in_pane "echo \"where=\$(pwd):\$(id -u):\$([ -t 0 ] && echo tty)\"; echo hello >/workspace/note; touch $MARK; echo done1=1" done1=
assert_eq "/workspace:$UA:tty" "$(pane_value where)" "the shell is in /workspace, as A, on a tty"
if docker exec "$ID1" test -e "$MARK"; then
	ok "the shell runs in $C (the file it left in /tmp is there)"
else
	not_ok "the shell runs in $C (the file it left in /tmp is there)" "$(pane | tail -n 8)"
fi
close_pane "deploy --open"
assert_eq hello "$(cat "$HA/workspace/qs/note" 2>&1)" "the file written in /workspace is in ~/workspace/qs"
assert_eq running "$(docker_state "$C")" "the container keeps running after the shell exits"

# ---- container-attach: the same container
open_pane "attach" container-attach qs
run_in_pane "[ -e $MARK ] && echo mark=kept; echo \"note=\$(cat /workspace/note)\"; echo done2=1" done2=
assert_eq kept "$(pane_value mark)" "attach: the file left in /tmp is there (the same container)"
assert_eq hello "$(pane_value note)" "attach: /workspace/note is there"
close_pane "attach"

# ---- deploy --open of a project that has a container attaches to it
open_pane "deploy --open again" container-deploy qs --cpu-only --open
run_in_pane "[ -e $MARK ] && echo mark=kept; echo done3=1" done3=
assert_eq kept "$(pane_value mark)" "deploy --open again: the same container"
close_pane "deploy --open again"
assert_eq "$ID1" "$(instance_containers)" "still one container, the same"

# ---- attach to a stopped container
assert_exit 0 -m "container-stop qs" as_user "$A" container-stop qs
assert_exit 1 -m "container-attach qs (stopped) -> exit 1" as_user "$A" container-attach qs
assert_contains "$ERR" "'qs' is not running - container-run qs starts it" "the refusal says how to start it"

# ---- retire, then deploy --open: a new container, the same files
assert_exit 0 -m "container-retire qs" as_user "$A" container-retire qs
open_pane "deploy --open after retire" container-deploy qs --cpu-only --open
run_in_pane "[ -e $MARK ] && echo mark=kept || echo mark=fresh; echo \"note=\$(cat /workspace/note)\"; echo done4=1" done4=
ID2=$(docker_id "$C")
assert_ne "$ID1" "${ID2:-$ID1}" "a new container (another Docker id)"
assert_eq fresh "$(pane_value mark)" "a new container (nothing left in /tmp)"
assert_eq hello "$(pane_value note)" "the same files in /workspace"
close_pane "deploy --open after retire"

assert_exit 0 -m "container-retire qs" as_user "$A" container-retire qs
assert_instance_empty "nothing left in Docker"
ds01_done
