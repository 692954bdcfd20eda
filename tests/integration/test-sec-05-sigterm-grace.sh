#!/usr/bin/env bash
# Issue 11 item 5: every stop gives every process in the container SIGTERM and the owner's
# sigterm_grace_s (5 s here) to save its work, then kills what is left. As a real user, a process
# that traps TERM and writes /workspace/ckpt a second later (busybox sh) saves it on
# container-stop (from a live container-attach session), on container-retire and on an idle stop
# (a batch command); a container of idle shells (a detached sleep, an interactive shell on a
# terminal) stops in well under the grace; a process that ignores TERM is killed after the
# grace, not before. The warnings and the stop/retire messages say so.
# ds01-test: kind=security threads needs=utmp budget=34
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null 2>&1 || skip_test "tmux not installed"
ds01_setup
# idle_timeout_h 0.003 (10.8 s): the idle stop of the first container falls while the rest runs
ds01_write_lifecycle_limits $'idle_timeout_h: 0.003\nmax_containers_per_user: 6' \
	'sigterm_grace_s: 5'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
S="ds01it-sec05-$$"
mkdir -p "$T/tmux"
export TMUX_TMPDIR=$T/tmux
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }
# A shell that writes ready, and on TERM takes a second to write ckpt-$1 and exit.
saver() {
	printf 'trap "sleep 1; echo saved > /workspace/ckpt-%s; exit 0" TERM; : > /workspace/ready-%s; while :; do sleep 1; done' "$1" "$1"
}
ready() { [ -e "$HA/workspace/$1/ready-$2" ]; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }
# timed_stop PROJECT LO HI HI_SAN DESC: container-stop takes between LO and HI seconds (HI_SAN
# under a sanitizer, where everything takes longer; a stop is never quicker).
timed_stop() {
	local t0 d hi=$3
	strict_timing || hi=$4
	t0=$(now)
	assert_exit 0 -m "container-stop $1" as_user "$A" container-stop "$1"
	d=$(took "$t0" "$(now)")
	if between "$d" "$2" "$hi"; then
		ok "$5 ($d s, $2..$hi s)"
	else
		not_ok "$5" "took $d s, not $2..$hi s"
	fi
}

# --- an idle stop of a batch command (its clock runs while the rest of the test does) -------
assert_exit 0 -m "deploy idle (a batch command that saves on TERM)" \
	as_user "$A" container-deploy idle --cpu-only -- sh -c "$(saver b)"

# --- container-stop with a live container-attach session ------------------------------------
assert_exit 0 -m "deploy p1" as_user "$A" container-deploy p1 --cpu-only
as_user_bg "$A" container-attach p1 -- sh -c "$(saver s)" >/dev/null 2>&1
ATT=$!
wait_for 10 ready p1 s || fail "the attached process did not start"
t0=$(now)
assert_exit 0 -m "container-stop p1" as_user "$A" container-stop p1
d=$(took "$t0" "$(now)")
assert_eq saved "$(cat "$HA/workspace/p1/ckpt-s" 2>/dev/null)" \
	"container-stop: the TERM handler wrote ~/workspace/p1/ckpt-s (stop took $d s)"
assert_contains "$OUT" "SIGTERM and up to 5 s" "container-stop says SIGTERM and the 5 s grace"
wait "$ATT" 2>/dev/null

# --- container-retire ------------------------------------------------------------------------
assert_exit 0 -m "start p1 again" as_user "$A" container-start p1
as_user_bg "$A" container-attach p1 -- sh -c "$(saver r)" >/dev/null 2>&1
ATT=$!
wait_for 10 ready p1 r || fail "the attached process did not start (retire)"
assert_exit 0 -m "container-retire p1" as_user "$A" container-retire p1
assert_eq saved "$(cat "$HA/workspace/p1/ckpt-r" 2>/dev/null)" \
	"container-retire: the TERM handler wrote ~/workspace/p1/ckpt-r"
assert_contains "$OUT" "SIGTERM and up to 5 s" "container-retire says SIGTERM and the 5 s grace"
wait "$ATT" 2>/dev/null

# --- idle shells stop at once -----------------------------------------------------------------
assert_exit 0 -m "deploy shells" as_user "$A" container-deploy shells --cpu-only
assert_exit 0 -m "a detached sleep in shells" \
	as_user "$A" container-attach shells -- sh -c 'sleep 1000 >/dev/null 2>&1 &'
ds01_tmux_session "$S"
tmux new-session -d -s "$S" -x 120 -y 40 \
	"$(as_user_cmdline "$A" container-run shells); echo \"RUN-EXITED=\$?\"; sleep 60" ||
	fail "tmux new-session failed"
wait_for 15 pane_has '[$#] ?$' || not_ok "an interactive shell prompt appears" "$(pane)"
timed_stop shells 0 2.5 4.5 "a container of idle shells (sleep, interactive sh) stops in well under the 5 s grace"
tmux kill-session -t "$S" 2>/dev/null

# --- a process that ignores TERM is killed after the grace, not before ----------------------
assert_exit 0 -m "deploy deaf" as_user "$A" container-deploy deaf --cpu-only
assert_exit 0 -m "a process ignoring TERM in deaf" as_user "$A" container-attach deaf -- \
	sh -c '(trap "" TERM; : > /workspace/ready-x; exec sleep 1000) >/dev/null 2>&1 &'
wait_for 10 ready deaf x || fail "the TERM-ignoring process did not start"
timed_stop deaf 4.5 8 11 "a process ignoring TERM is killed after the 5 s grace, not before"
assert_eq exited "$(docker_state "deaf._.$A")" "deaf is stopped"

# --- the idle stop ------------------------------------------------------------------------------
if wait_event 30 "$(ev_for maintenance.idle_kill "idle._.$A")"; then
	ok "idle was stopped by maintenance.idle_kill"
else
	not_ok "idle was stopped by maintenance.idle_kill" "$(tail -n 5 "$EVENTS")"
fi
wait_state 10 "idle._.$A" exited
assert_eq saved "$(cat "$HA/workspace/idle/ckpt-b" 2>/dev/null)" \
	"idle stop: the batch command's TERM handler wrote ~/workspace/idle/ckpt-b"
W=$(first_event "$(ev_for maintenance.idle_warning "idle._.$A")" | jq -r '.details.message')
assert_contains "$W" "SIGTERM and 5 s to save" "the idle warning says SIGTERM and 5 s to save"
K=$(first_event "$(ev_for maintenance.idle_kill "idle._.$A")")
assert_jq "idle_kill records the 5 s grace" '.details.sigterm_grace_s == 5' "$K"

for p in idle shells deaf; do
	as_user "$A" container-retire "$p" >/dev/null 2>&1
done
assert_instance_empty "nothing left in Docker"
ds01_done
