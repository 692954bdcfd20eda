# shellcheck shell=bash
# tests/integration/lib.sh - shared helpers for the integration tests (sourced, not executed).
#
# Every test-*.sh runs as root from the repository root with DS01_BUILD=<dir with ds01d, ds01,
# ds01-init, ds01-cp>, starts its own ds01d (own instance label, socket, state, log dir) against the
# machine's one dockerd, creates real Unix users, and cleans up everything it created from an
# EXIT trap, even when it fails. Exit status: 0 pass, 1 fail, 77 skip.
#
#   . "$(dirname "$0")/lib.sh"
#   ds01_setup                      # $T, $BIN, $INSTANCE, image, ds01.yaml, limits, trap
#   ds01_start_daemon
#   A=$(ds01_user "it$$a")          # real Unix user, removed at exit
#   assert_exit 0 as_user "$A" container-deploy proj --json
#   assert_jq "deploy reports a container" '.container == "proj._.'"$A"'"' "$OUT"
#   ds01_done                       # prints the summary, exits 0 or 1
#
# Environment knobs (set before ds01_setup):
#   DS01_GPUS=N         number of simulated A100s written to ds01.yaml (default 4)
#   DS01_CONFIG_EXTRA   raw YAML lines appended to ds01.yaml (top-level keys)
#   DS01_KEEP=1         keep $T (config, logs, state) after the test for inspection
#
# After `capture CMD...` / `assert_exit CODE CMD...`: $OUT (stdout), $ERR (stderr), $RC.
#
# Every test declares, in a comment line of its own near the top, what it is and what it needs
# (scripts/check.sh reads it to choose the passes and schedule tests side by side):
#
#   # ds01-test: kind=functional|security|stress [threads] [needs=RES[,RES...]] budget=SECONDS
#
#   kind=functional  a feature as a user sees it; runs in the plain and the ASan+UBSan pass
#   kind=security    an attack of the security review; plain and ASan+UBSan
#   kind=stress      many operations at once; plain (full counts) and ASan+UBSan (stress_count)
#   threads          also run under ThreadSanitizer (races between daemon threads matter here)
#   needs=           shared machine state the test changes; tests that need the same thing never
#                    run at the same time: utmp (rewrites the login records), dockerd (restarts
#                    the engine: runs alone, after everything else), cpu (saturates the CPUs),
#                    slurm (a Slurm of its own, MariaDB too in some: heavy, and Slurm's timeouts
#                    want the CPU; each test has its own munged, ports and devices)
#   budget=          seconds the test takes in the plain pass on a 2-core machine, three tests at
#                    once, plus a quarter (reported; the scheduler starts long budgets first)
#
# $DS01_PASS is plain, asan or tsan (the runner sets it). Assert strict timing only under
# `if strict_timing; then ...` (sanitizers slow everything down); size stress loops with
# `stress_count N`.
#
# What the cleanup (EXIT trap) fails a test for, whatever its checks said:
#  - a sanitizer report from any process of the test: ds01_setup exports ASAN_OPTIONS,
#    UBSAN_OPTIONS (halt_on_error=1, print_stacktrace=1) and TSAN_OPTIONS with exitcode=86 and a
#    log_path in $T/san (mode 1777: the test users write there), and as_user, as_user_bg,
#    as_user_cmdline and as_root pass them through their cleared environment. The cleanup reads
#    $T/san and every ds01d.log* (ds01_start_daemon keeps the daemon's reports in its log). GCC's
#    UBSan beside ASan is a runtime of its own that ignores log_path and writes to stderr, so
#    also: capture keeps a report found on a command's stderr, and as_user / as_root /
#    as_user_cmdline note every exit 86 (an ASan exit 1 would pass where a test accepts `1|4`);
#  - a ds01d ($DS01_PID) that is no longer running (it died during the test: a test that kills
#    it on purpose uses ds01_kill9_daemon or ds01_stop_daemon, which clear DS01_PID), or one
#    that does not exit 0 within 10 s of the cleanup's SIGTERM (30 s under a sanitizer).

set -u

# ds01_remove_instance_network
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

DS01_IMAGE=ds01-test/busybox:latest
DS01_TEST=$(basename "$0" .sh)
DS01_TEST=${DS01_TEST#test-}
DS01_PASSED=0
DS01_FAILED=0
DS01_PID=
# The exit status the sanitizers are told to use (exitcode=): no ds01 command exits with it.
DS01_SAN_EXIT=86
T=
OUT=
ERR=
RC=0
_DS01_NCAP=0

# ---------------------------------------------------------------------------------------------
# Reporting

note() { printf '# %s\n' "$*"; }

# Indents a block of text as TAP diagnostics (at most $2 lines, default 40).
_ds01_indent() {
	local max=${2:-40}
	printf '%s\n' "$1" | head -n "$max" | sed 's/^/#   /'
}

ok() {
	DS01_PASSED=$((DS01_PASSED + 1))
	printf 'ok - %s\n' "$*"
}

# not_ok DESC [DETAILS]: records a failed assertion and continues.
not_ok() {
	DS01_FAILED=$((DS01_FAILED + 1))
	printf 'not ok - %s\n' "$1"
	if [ $# -gt 1 ] && [ -n "$2" ]; then
		_ds01_indent "$2" 60
	fi
}

# Prints the last lines of the daemon log (stderr) as diagnostics.
daemon_log_tail() {
	local n=${1:-30}
	if [ -n "$T" ] && [ -s "$T/ds01d.log" ]; then
		note "--- last $n lines of $T/ds01d.log ---"
		tail -n "$n" "$T/ds01d.log" | sed 's/^/#   /'
	fi
}

# fail MSG: a fatal failure; prints context and the daemon log tail, then exits 1 (cleanup runs).
fail() {
	not_ok "$*"
	if [ -n "$OUT$ERR" ]; then
		note "last command: rc=$RC"
		[ -n "$OUT" ] && _ds01_indent "stdout: $OUT" 20
		[ -n "$ERR" ] && _ds01_indent "stderr: $ERR" 20
	fi
	daemon_log_tail 40
	exit 1
}

skip_test() {
	note "SKIP: $*"
	exit 77
}

# ds01_done: summary line and exit status (1 if any assertion failed).
ds01_done() {
	note "$DS01_TEST: $DS01_PASSED passed, $DS01_FAILED failed"
	if [ "$DS01_FAILED" -gt 0 ]; then
		daemon_log_tail 30
		exit 1
	fi
	exit 0
}

# ---------------------------------------------------------------------------------------------
# Running commands

# capture CMD...: runs CMD (a program or shell function), sets OUT, ERR (trailing newlines
# stripped) and RC. Never fails itself.
capture() {
	_DS01_NCAP=$((_DS01_NCAP + 1))
	local o="${T:-/tmp}/.cap.$BASHPID.$_DS01_NCAP.out" e="${T:-/tmp}/.cap.$BASHPID.$_DS01_NCAP.err"
	"$@" >"$o" 2>"$e"
	RC=$?
	_ds01_slurp OUT "$o"
	_ds01_slurp ERR "$e"
	# the files stay in $T, which the cleanup removes (an rm here is a process per step)
	[ -n "${T:-}" ] || rm -f "$o" "$e"
	_ds01_san_stderr "$ERR" "$@"
	return 0
}

# _ds01_slurp VAR FILE: FILE into VAR as VAR=$(cat FILE) would have it (NUL bytes dropped,
# trailing newlines too), without starting a process.
_ds01_slurp() {
	local -n _ds01_v=$1
	local chunk
	_ds01_v=
	while IFS= read -r -d '' chunk; do _ds01_v+=$chunk; done <"$2"
	_ds01_v+=$chunk
	while [[ $_ds01_v == *$'\n' ]]; do _ds01_v=${_ds01_v%$'\n'}; done
}

# Describes the last captured command's result for diagnostics.
_ds01_last() {
	printf 'rc=%s\nstdout: %s\nstderr: %s' "$RC" "$(printf '%s' "$OUT" | head -c 2000)" \
		"$(printf '%s' "$ERR" | head -c 2000)"
}

# _ds01_pw USER: USER's /etc/passwd entry into PW_UID, PW_GID, PW_HOME; 1 if there is none.
# Read with builtins at every call (a test may remove and re-add a login): as_user runs for
# nearly every step of every test, and id/getent/cut cost it five processes.
_ds01_pw() {
	local n x uid gid gecos home sh
	while IFS=: read -r n x uid gid gecos home sh; do
		[ "$n" = "$1" ] || continue
		PW_UID=$uid PW_GID=$gid PW_HOME=$home
		return 0
	done </etc/passwd
	return 1
}
user_uid() { _ds01_pw "$1" && echo "$PW_UID"; }
user_gid() { _ds01_pw "$1" && echo "$PW_GID"; }
user_home() { _ds01_pw "$1" && echo "$PW_HOME"; }

# deploy_deaf USER PROJECT: deploys PROJECT (CPU only) with a process that ignores SIGTERM in it,
# and waits until that process runs: its stop takes the whole grace. Fatal on failure.
deploy_deaf() {
	assert_exit 0 -m "$1: deploy $2" as_user "$1" container-deploy "$2" --cpu-only
	assert_exit 0 -m "a process ignoring TERM in $2" as_user "$1" container-attach "$2" -- \
		sh -c '(trap "" TERM; : > /workspace/ready; exec sleep 1000) >/dev/null 2>&1 &'
	wait_for 10 test -e "$(user_home "$1")/workspace/$2/ready" ||
		fail "the TERM-ignoring process in $2 did not start"
}

# as_user USER CMD...: runs CMD as USER (real uid/gid, supplementary groups) with a clean
# environment whose PATH starts with $BIN (so `container-deploy` etc. are the copies under test)
# and DS01_SOCKET pointing at this test's daemon. Returns CMD's exit status. A terminal on stdin
# is replaced by /dev/null so `container-run NAME -- CMD` is always the non-interactive path.
as_user() {
	local u=$1
	shift
	_ds01_pw "$u" || return 125
	local uid=$PW_UID gid=$PW_GID home=$PW_HOME
	local -a cmd=(setpriv --reuid="$uid" --regid="$gid" --init-groups
		env -i PATH="$BIN:/usr/bin:/bin" HOME="$home" USER="$u" LOGNAME="$u"
		LANG=C.UTF-8 TERM="${TERM:-dumb}" DS01_SOCKET="$SOCK" DOCKER_HOST="unix://$DOCKER_API_SOCK"
		"ASAN_OPTIONS=${ASAN_OPTIONS:-}"
		"UBSAN_OPTIONS=${UBSAN_OPTIONS:-}" "TSAN_OPTIONS=${TSAN_OPTIONS:-}" "$@")
	local rc
	if [ -t 0 ]; then
		(cd / && "${cmd[@]}") </dev/null
	else
		(cd / && "${cmd[@]}")
	fi
	rc=$?
	_ds01_san_exit "$rc" as_user "$u" "$@"
	return "$rc"
}

# The full setpriv command line for USER as one shell-quoted string (for tmux, sh -c, ...).
as_user_cmdline() {
	local u=$1
	shift
	_ds01_pw "$u" || return 125
	local uid=$PW_UID gid=$PW_GID home=$PW_HOME
	local s
	s=$(printf '%q ' setpriv --reuid="$uid" --regid="$gid" --init-groups env -i \
		PATH="$BIN:/usr/bin:/bin" HOME="$home" USER="$u" LOGNAME="$u" LANG=C.UTF-8 \
		TERM=xterm-256color DS01_SOCKET="$SOCK" DOCKER_HOST="unix://$DOCKER_API_SOCK" \
		"ASAN_OPTIONS=${ASAN_OPTIONS:-}" \
		"UBSAN_OPTIONS=${UBSAN_OPTIONS:-}" "TSAN_OPTIONS=${TSAN_OPTIONS:-}" "$@")
	# sh syntax (tmux and sh -c run it); exit 86 is noted for the cleanup as in as_user
	local note
	note=$(printf '%q' "exit $DS01_SAN_EXIT (the sanitizers' exit status) from: as_user_cmdline $u $*")
	printf '(cd / && %s; r=$?; [ $r -ne %s ] || echo %s >>%q; exit $r)' "$s" "$DS01_SAN_EXIT" \
		"$note" "${T:-/tmp}/san/exit.cmdline"
}

# as_root CMD...: the CLI as root (an admin) against this test's daemon.
as_root() {
	(cd / && env -i PATH="$BIN:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root USER=root LOGNAME=root \
		LANG=C.UTF-8 DS01_SOCKET="$SOCK" "ASAN_OPTIONS=${ASAN_OPTIONS:-}" \
		"UBSAN_OPTIONS=${UBSAN_OPTIONS:-}" "TSAN_OPTIONS=${TSAN_OPTIONS:-}" "$@")
	local rc=$?
	_ds01_san_exit "$rc" as_root "$@"
	return "$rc"
}

# ---------------------------------------------------------------------------------------------
# Sanitizer reports (see the header: the cleanup fails a test for any of them)

# The pattern of a sanitizer report's first line (ASan, LSan, TSan, UBSan's "FILE:L:C: runtime
# error:").
_DS01_SAN_RE='ERROR: (Address|Leak|Thread|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer|:[0-9]+:[0-9]+: runtime error: '


# _ds01_san_no_log_path OPTIONS: OPTIONS without its log_path (the daemon's reports go to its log).
_ds01_san_no_log_path() {
	local IFS=: o out=()
	for o in $1; do
		[[ $o == log_path=* ]] || out+=("$o")
	done
	printf '%s' "${out[*]}"
}

# _ds01_san_keep NAME TEXT: keeps TEXT in $T/san/NAME.<unique> for the cleanup's scan.
_ds01_san_keep() {
	[ -n "$T" ] && [ -d "$T/san" ] || return 0
	printf '%s\n' "$2" >>"$T/san/$1.$BASHPID.$RANDOM"
}

# _ds01_san_stderr ERR CMD...: a sanitizer report on a captured stderr is kept.
_ds01_san_stderr() {
	local err=$1
	shift
	case "$err" in *Sanitizer* | *"runtime error: "*) ;; *) return 0 ;; esac
	printf '%s' "$err" | grep -Eq -- "$_DS01_SAN_RE" || return 0
	note "sanitizer report on the stderr of: $*"
	_ds01_san_keep stderr "on the stderr of: $*
$err"
}

# _ds01_san_exit RC CMD...: a CLI that exited with the sanitizers' exit status is kept.
_ds01_san_exit() {
	[ "$1" = "$DS01_SAN_EXIT" ] || return 0
	shift
	# kept only: a note here would land in the output of a command substitution or capture
	_ds01_san_keep exit "exit $DS01_SAN_EXIT (the sanitizers' exit status) from: $*"
}

# _ds01_san_setup: the sanitizer options every process of the test gets (called by ds01_setup).
_ds01_san_setup() {
	mkdir -p "$T/san" && chmod 1777 "$T/san"
	local x=exitcode=$DS01_SAN_EXIT
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$x:log_path=$T/san/asan"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1:$x:log_path=$T/san/ubsan"
	export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}$x:log_path=$T/san/tsan"
}

# _ds01_san_scan: prints every sanitizer report of the test (files in $T/san, reports in the
# daemon's logs) as "# cleanup:" diagnostics; 1 if there was any.
_ds01_san_scan() {
	[ -n "$T" ] && [ -d "$T" ] || return 0
	local f found=0
	for f in "$T"/san/*; do
		[ -f "$f" ] || continue
		found=1
		note "cleanup: sanitizer report ($f):"
		head -n 60 "$f" | sed 's/^/#   /'
	done
	for f in "$T"/ds01d.log*; do
		[ -f "$f" ] || continue
		grep -Eq -- "$_DS01_SAN_RE" "$f" || continue
		found=1
		note "cleanup: sanitizer report in the daemon log ($f):"
		grep -E -A40 -- "$_DS01_SAN_RE" "$f" | head -n 100 | sed 's/^/#   /'
	done
	[ "$found" -eq 0 ]
}

# ---------------------------------------------------------------------------------------------
# Assertions (each prints one "ok -" / "not ok -" line)

assert_eq() { # EXPECTED ACTUAL DESC
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3" "expected: '$1'
actual:   '$2'"
	fi
}

assert_ne() { # UNEXPECTED ACTUAL DESC
	if [ "$1" != "$2" ]; then
		ok "$3"
	else
		not_ok "$3" "value must not be '$1'"
	fi
}

assert_contains() { # HAYSTACK NEEDLE DESC
	case "$1" in
	*"$2"*) ok "$3" ;;
	*) not_ok "$3" "'$2' not found in:
$(printf '%s' "$1" | head -c 3000)" ;;
	esac
}

assert_not_contains() { # HAYSTACK NEEDLE DESC
	case "$1" in
	*"$2"*) not_ok "$3" "'$2' unexpectedly found in:
$(printf '%s' "$1" | head -c 3000)" ;;
	*) ok "$3" ;;
	esac
}

# Case-insensitive extended regex match.
assert_match() { # TEXT ERE DESC
	if printf '%s' "$1" | grep -Eqi -- "$2"; then
		ok "$3"
	else
		not_ok "$3" "/$2/ does not match:
$(printf '%s' "$1" | head -c 3000)"
	fi
}

# _ds01_code_ok RC SPEC: SPEC is "N", "N|M|..." or "!N" (anything but N).
_ds01_code_ok() {
	local rc=$1 spec=$2 c
	if [ "${spec#!}" != "$spec" ]; then
		[ "$rc" != "${spec#!}" ]
		return
	fi
	local IFS='|'
	for c in $spec; do
		[ "$rc" = "$c" ] && return 0
	done
	return 1
}

# assert_exit CODE [-m DESC] CMD...: runs CMD via capture (OUT/ERR/RC are set afterwards) and
# checks its exit status against CODE ("3", "1|4", "!0").
assert_exit() {
	local code=$1 desc=
	shift
	if [ "${1:-}" = "-m" ]; then
		desc=$2
		shift 2
	fi
	[ -n "$desc" ] || desc="exit $code: $*"
	capture "$@"
	if _ds01_code_ok "$RC" "$code"; then
		ok "$desc"
		return 0
	fi
	not_ok "$desc" "command: $*
expected exit $code, $(_ds01_last)"
	return 1
}

# assert_ok DESC CMD...: CMD (captured) exits 0.
assert_ok() {
	local desc=$1
	shift
	assert_exit 0 -m "$desc" "$@"
}

# assert_jq DESC FILTER JSON: JSON holds at least one value and `jq -e FILTER` on it is true.
assert_jq() {
	local desc=$1 filter=$2 json=$3 n
	# jq -e exits 0 on empty input: no JSON at all (a failed command) must not pass
	n=$(printf '%s' "$json" | jq -n '[inputs] | length' 2>/dev/null)
	if [ "${n:-0}" -gt 0 ] && printf '%s' "$json" | jq -e "$filter" >/dev/null 2>&1; then
		ok "$desc"
	else
		not_ok "$desc" "jq -e '$filter' is false/invalid on:
$(printf '%s' "$json" | head -c 3000)"
	fi
}

# jqr FILTER JSON: prints `jq -r FILTER` (empty on invalid JSON).
jqr() { printf '%s' "$2" | jq -r "$1" 2>/dev/null; }

# now_ms: scripts/lib.sh

# wait_for SECONDS CMD...: polls CMD until it exits 0; returns 1 on timeout. SECONDS may have a
# fraction (1.5); the deadline is kept in milliseconds, and CMD always gets one last try at the
# deadline. Polls come every 0.1 s at first, then less often: never more often than twice what
# CMD takes (docker or the CLI on a loaded machine), nor than a tenth of the time waited so far
# (at most 0.5 s apart). Tests wait side by side on two CPUs, and their polling was a large part
# of the suite's CPU time; a check made late by a tenth of the wait changes no assertion.
# The loop starts no process of its own (ds01_now, ds01_nap). Under ASan the polls skip the
# leak check at exit (about 30 ms of CPU per CLI run): the same commands run with it everywhere
# else in the test.
wait_for() {
	local secs=$1 whole frac=000
	shift
	whole=${secs%%.*}
	[ "$whole" != "$secs" ] && { frac=${secs#*.}000 && frac=${frac:0:3}; } # "1.5" -> 500
	ds01_now
	local start=$NOW_MS end=$((NOW_MS + 10#${whole:-0} * 1000 + 10#$frac)) t0 nap
	while :; do
		t0=$NOW_MS
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$@" >/dev/null 2>&1 && return 0
		ds01_now
		[ "$NOW_MS" -ge "$end" ] && break
		nap=$((2 * (NOW_MS - t0)))
		[ $(((NOW_MS - start) / 10)) -le "$nap" ] || nap=$(((NOW_MS - start) / 10))
		[ "$nap" -ge 100 ] || nap=100
		[ "$nap" -le 500 ] || nap=500
		[ "$nap" -le $((end - NOW_MS)) ] || nap=$((end - NOW_MS))
		ds01_nap "$nap"
		ds01_now
	done
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$@" >/dev/null 2>&1
}

# wait_started PID FILE: waits for a helper the test started in the background (a listener, an
# attacker) to write FILE. A loaded CI machine can take many seconds to start python3, so the
# wait is long (60 s) but ends at once if the helper has died: 0 when FILE is there, 1 if not.
wait_started() {
	local pid=$1 file=$2
	wait_for 60 sh -c 'test -s "$1" || ! kill -0 "$2"' _ "$file" "$pid"
	test -s "$file"
}

# strict_timing: true in the plain pass only; sanitizer builds run several times slower, so
# tight timing assertions (a stop within 1 s of its deadline) are made only where they mean
# something.
DS01_PASS=${DS01_PASS:-plain}
strict_timing() { [ "$DS01_PASS" = plain ]; }

# stress_count N: N in the plain pass, a quarter of it (at least 1) under a sanitizer.
stress_count() {
	if strict_timing; then
		echo "$1"
	else
		local n=$(($1 / 4))
		echo $((n > 0 ? n : 1))
	fi
}

# ---------------------------------------------------------------------------------------------
# Docker helpers (only ever this test's instance)

instance_containers() { docker ps -aq --filter "label=ds01.instance=$INSTANCE"; }
instance_container_count() { instance_containers | grep -c . ; }
# _ds01_ps NAME: this instance's container NAME (exact) as the Engine API's list shows it, a
# JSON array. The API through curl, not the docker CLI: these are what tests poll, and a docker
# CLI run costs several times the CPU of a curl.
_ds01_ps() {
	curl -sfG --unix-socket /var/run/docker.sock http://docker/containers/json \
		--data-urlencode all=1 \
		--data-urlencode "filters={\"label\":[\"ds01.instance=$INSTANCE\"],\"name\":[\"^/$1\$\"]}"
}
# docker_id NAME: the short id (as `docker ps -q`) of the instance's container NAME, or nothing.
docker_id() {
	local o
	o=$(_ds01_ps "$1") || return 1
	[[ $o =~ \"Id\":\"([0-9a-f]{12}) ]] && echo "${BASH_REMATCH[1]}"
}
docker_exists() { [ -n "$(docker_id "$1")" ]; }
# docker_state NAME: running / exited / created / "" (absent).
docker_state() {
	local o
	o=$(_ds01_ps "$1") || return 1
	[[ $o =~ \"State\":\"([a-z]+)\" ]] && echo "${BASH_REMATCH[1]}"
}
docker_json() { docker inspect "$1" | jq '.[0]'; }

assert_no_container() { # NAME DESC
	if docker_exists "$1"; then
		not_ok "$2" "container $1 still exists: $(docker ps -a --filter "name=^/$1\$" --format '{{.Names}} {{.Status}}')"
	else
		ok "$2"
	fi
}

assert_instance_empty() { # DESC
	local ids
	ids=$(instance_containers)
	if [ -z "$ids" ]; then
		ok "$1"
	else
		not_ok "$1" "containers left: $(docker ps -a --filter "label=ds01.instance=$INSTANCE" --format '{{.Names}} {{.Status}}')"
	fi
}

# ---------------------------------------------------------------------------------------------
# CLI JSON helpers

# list_json USER: container-list --json as USER (sets OUT/ERR/RC; prints nothing).
list_json() { capture as_user "$1" container-list --json; }

# container_entry USER PROJECT: prints the container-list entry of PROJECT (or nothing).
container_entry() {
	local j
	j=$(as_user "$1" container-list --json 2>/dev/null) || return 1
	printf '%s' "$j" | jq -c --arg p "$2" '.containers[]? | select(.project == $p)'
}

# container_gpus USER PROJECT: the leased uuids, comma-separated (list order).
container_gpus() {
	container_entry "$1" "$2" | jq -r '[.gpus[]? | if type == "object" then .uuid else . end] | join(",")'
}

# usage_gpueq USER: check-limits --json .usage.gpu_equivalents
usage_gpueq() {
	as_user "$1" check-limits --json 2>/dev/null | jq -r '.usage.gpu_equivalents'
}

# ---------------------------------------------------------------------------------------------
# Events (log_dir/events.jsonl, one JSON object per line)

EVENTS=

# events_query JQ_SELECT: prints matching events (compact), e.g.
#   events_query '.event_type == "gpu.allocate" and .user == "bob"'
events_query() {
	[ -f "$EVENTS" ] || return 0
	jq -c "select($1)" "$EVENTS" 2>/dev/null
}

# events_count TYPE [USER]
events_count() {
	local f='.event_type == $t'
	[ $# -gt 1 ] && f="$f and .user == \$u"
	[ -f "$EVENTS" ] || { echo 0; return; }
	jq -c --arg t "$1" --arg u "${2:-}" "select($f)" "$EVENTS" 2>/dev/null | grep -c .
}

# assert_event TYPE [USER]: at least one event of TYPE (by USER) in events.jsonl.
assert_event() {
	local n
	n=$(events_count "$@")
	if [ "${n:-0}" -gt 0 ]; then
		ok "event $1${2:+ by $2} logged"
	else
		not_ok "event $1${2:+ by $2} logged" "events.jsonl ($EVENTS):
$(tail -n 20 "$EVENTS" 2>/dev/null)"
	fi
}

# ---------------------------------------------------------------------------------------------
# Setup, daemon, users, cleanup

_ds01_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	# a test's own leftovers (images it built, a client's state): trap_extra, when it has one
	if declare -F trap_extra >/dev/null; then trap_extra; fi
	if [ -n "$T" ] && [ -f "$T/.tmux" ]; then
		local s
		while read -r s; do
			tmux kill-session -t "$s" >/dev/null 2>&1
		done <"$T/.tmux"
	fi
	# The test's daemon must have lived to this point and must stop cleanly now.
	if [ -n "$DS01_PID" ]; then
		local st
		if ds01_daemon_alive; then
			kill -TERM "$DS01_PID" 2>/dev/null
			_ds01_wait_gone "$DS01_PID" "$(_ds01_stop_grace_ms)"
			if ds01_daemon_alive; then
				note "cleanup: ds01d ($DS01_PID) ignored SIGTERM for $(($(_ds01_stop_grace_ms) / 1000)) s; killing it"
				kill -KILL "$DS01_PID" 2>/dev/null
				wait "$DS01_PID" 2>/dev/null
				rc=1
			else
				wait "$DS01_PID" 2>/dev/null
				st=$?
				if [ "$st" -ne 0 ]; then
					note "cleanup: ds01d ($DS01_PID) exited with status $st on SIGTERM (expected 0)"
					rc=1
				fi
			fi
		else
			wait "$DS01_PID" 2>/dev/null
			st=$?
			if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
				# the signal that stopped the test (Ctrl-C, a time limit) went to its daemon too
				note "cleanup: the test was interrupted (exit $rc); ds01d exited with status $st"
			else
				note "cleanup: ds01d died during the test: status $st (pid $DS01_PID; a test that stops it on purpose uses ds01_stop_daemon or ds01_kill9_daemon)"
				rc=1
			fi
		fi
		DS01_PID=
	fi
	_ds01_sshd_stop
	# Sanitizer reports of the daemon (its leaks are reported as it exits, above) and the CLI.
	_ds01_san_scan || rc=1
	if [ -n "${INSTANCE:-}" ]; then
		docker ps -aq --filter "label=ds01.instance=$INSTANCE" | xargs -r docker rm -f >/dev/null 2>&1
		ds01_remove_instance_network "$INSTANCE" # its per-user networks and their iptables chain
		ds01_remove_instance_cgroups "$INSTANCE" # its users' cgroups (aggregate caps)
	fi
	if [ -n "$T" ] && [ -f "$T/.users" ]; then
		local u
		while read -r u; do
			[ -n "$u" ] || continue
			id "$u" >/dev/null 2>&1 || continue
			userdel -f -r "$u" >/dev/null 2>&1
			getent group "$u" >/dev/null 2>&1 && groupdel "$u" >/dev/null 2>&1
		done <"$T/.users"
	fi
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "${DS01_KEEP:-0}" = 1 ]; then
			note "kept $T"
		else
			# A daemon killed in the middle of a start leaves a pin bound (a user's workspace
			# under $T/state): undo it, and never let the removal cross into a mount.
			awk -v d="$T/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r |
				while read -r m; do umount -l "$m"; done
			rm -rf --one-file-system "$T"
		fi
	fi
	if [ "$rc" -eq 0 ] && [ "$DS01_FAILED" -gt 0 ]; then
		rc=1
	fi
	exit "$rc"
}

# _ds01_stop_grace_ms: how long ds01d may take to exit on SIGTERM: 10 s, 30 s under a sanitizer
# (LeakSanitizer scans the heap at exit, and everything runs several times slower).
_ds01_stop_grace_ms() { if strict_timing; then echo 10000; else echo 30000; fi; }

# _ds01_wait_gone PID MS: waits up to MS milliseconds for our child PID to end.
_ds01_wait_gone() {
	local end=$(($(now_ms) + $2))
	while _ds01_child_running "$1" && [ "$(now_ms)" -lt "$end" ]; do
		sleep 0.05
	done
}

# _ds01_child_running PID: PID is a running (not zombie) child of this shell. Not kill -0 alone:
# bash reaps a dead child at once, and its pid may then belong to another process.
_ds01_child_running() {
	local stat rest
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	rest=${stat##*) } # after "pid (comm) ": "STATE PPID ..."
	set -- $rest
	[ "$1" != Z ] && [ "$1" != X ] && [ "$2" = "$$" ]
}

# Builds ds01-test/busybox:latest unless it exists (scripts/check.sh builds it before the tests).
ds01_ensure_image() { ds01_ensure_busybox_image "$DS01_IMAGE"; }

# ds01_write_config [NGPUS]: (re)writes $T/ds01.yaml (default $DS01_GPUS or 4 simulated A100s).
# shellcheck disable=SC2120 # tests may pass NGPUS
ds01_write_config() {
	local n=${1:-${DS01_GPUS:-4}} i
	{
		printf 'instance: %s\n' "$INSTANCE"
		printf 'socket: %s\n' "$SOCK"
		printf 'ports_dir: %s\n' "$T/run/ports"
		printf 'docker_api_socket: %s\n' "$DOCKER_API_SOCK"
		printf 'state_dir: %s\n' "$T/state"
		printf 'log_dir: %s\n' "$T/log"
		printf 'limits_file: %s\n' "$DS01_LIMITS"
		printf 'workspace_root: home\n'
		printf 'metrics_listen: "off"\n'
		printf 'images:\n  default: %s\n' "$DS01_IMAGE"
		printf 'gpus:\n  backend: simulated\n  simulated:\n'
		for ((i = 0; i < n; i++)); do
			printf '    - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960 }\n'
		done
		if [ -n "${DS01_CONFIG_EXTRA:-}" ]; then
			printf '%s\n' "$DS01_CONFIG_EXTRA"
		fi
	} >"$DS01_CONFIG"
}

# ds01_write_limits_sized < TEXT: $DS01_LIMITS with the test containers' sizes as its defaults
# (1 CPU, 256m memory and swap, 64m shm, 256 pids), then TEXT: more defaults keys (indented by
# two), default_group, groups, policies.
ds01_write_limits_sized() {
	{
		printf 'defaults:\n  max_cpus: 1\n  memory: 256m\n  memory_swap: 256m\n  shm_size: 64m\n  pids_limit: 256\n'
		cat
	} >"$DS01_LIMITS"
}

# ds01_write_limits: the default test limits (student: 2.0 gpueq, 2 slots/container,
# 3 containers, 1 CPU, 256m memory and swap, 64m shm, 256 pids). Tests may overwrite
# $DS01_LIMITS afterwards.
ds01_write_limits() {
	cat >"$DS01_LIMITS" <<'EOF'
defaults:
  max_gpu_equivalents: 2.0
  max_gpu_slots_per_container: 2
  allow_full_gpu: true
  max_cpus: 1
  memory: 256m
  memory_swap: 256m
  shm_size: 64m
  pids_limit: 256
  max_containers_per_user: 3
default_group: student
groups:
  student:
    allow_full_gpu: true
    max_gpu_equivalents: 2.0
    max_gpu_slots_per_container: 2
    max_containers_per_user: 3
    max_cpus: 1
    memory: 256m
    memory_swap: 256m
    shm_size: 64m
    pids_limit: 256
EOF
}

ds01_setup() {
	[ "$(id -u)" -eq 0 ] || { echo "integration tests must run as root" >&2; exit 1; }
	local tool
	for tool in docker jq setpriv useradd userdel flock; do
		command -v "$tool" >/dev/null 2>&1 || { echo "required tool missing: $tool" >&2; exit 1; }
	done
	if ! docker info >/dev/null 2>&1; then
		echo "FATAL: 'docker info' fails: the machine's dockerd is not answering (the runner starts it)" >&2
		docker info 2>&1 | tail -n 5 >&2
		exit 1
	fi
	if [ -z "${DS01_BUILD:-}" ]; then
		echo "DS01_BUILD is not set (absolute path of the build dir with ds01d, ds01, ds01-init, ds01-cp)" >&2
		exit 1
	fi
	local b
	for b in ds01d ds01 ds01-init ds01-cp; do
		[ -x "$DS01_BUILD/$b" ] || { echo "FATAL: $DS01_BUILD/$b missing or not executable" >&2; exit 1; }
	done

	INSTANCE=$(printf 'ds01-it-%s-%s' "$DS01_TEST" "$$" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_.\n-' '-')
	T=$(mktemp -d "/tmp/ds01-it-$DS01_TEST.XXXXXX") || exit 1
	chmod 755 "$T"
	trap _ds01_cleanup EXIT
	trap 'exit 130' INT
	trap _ds01_on_term TERM

	BIN=$T/bin
	SOCK=$T/run/ds01.sock
	DOCKER_API_SOCK=$T/run/docker.sock # the users' Docker endpoint (as_user's DOCKER_HOST)
	DS01_CONFIG=$T/ds01.yaml
	DS01_LIMITS=$T/etc/resource-limits.yaml
	EVENTS=$T/log/events.jsonl
	DAEMON_LOG=$T/ds01d.log
	mkdir -p "$BIN" "$T/run" "$T/state" "$T/log" "$T/etc"
	chmod 755 "$BIN" "$T/run" "$T/etc"
	for b in ds01d ds01 ds01-init ds01-cp; do
		install -m 755 "$DS01_BUILD/$b" "$BIN/$b"
	done
	local c
	for c in container-deploy container-retire container-run container-attach container-start \
		container-stop container-remove container-list container-stats container-logs \
		container-keepalive container-port container-top check-limits gpu-queue; do
		ln -s ds01 "$BIN/$c"
	done
	: >"$T/.users"
	: >"$T/.tmux"
	_ds01_san_setup

	ds01_ensure_image || { echo "FATAL: cannot build $DS01_IMAGE" >&2; exit 1; }
	ds01_write_limits
	ds01_write_config
	note "test $DS01_TEST: T=$T instance=$INSTANCE build=$DS01_BUILD"
}

# ACTIVE_LOOP: a container command (for sh -c) that keeps the container active for the idle
# rule without taking a core (tests run side by side on two): a spin of about 25 ms every 0.2 s,
# some 10 % of a CPU, five times the default cpu_idle_threshold of 2 %. SIGTERM ends it at once.
ACTIVE_LOOP='trap "exit 0" TERM; while :; do i=0; while [ $i -lt 20000 ]; do i=$((i + 1)); done; sleep 0.2; done'

# free_port [ADDR]: a TCP port nothing listens on at ADDR (default 127.0.0.1) just now.
free_port() {
	python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' \
		"${1:-127.0.0.1}"
}

# ds01_metrics_listen: before ds01_start_daemon, puts the test daemon's /metrics (and /board) on
# a free loopback port with a scrape token: sets MPORT, URL (its /metrics), TOKEN_FILE and AUTH
# (the header a scraper with the token sends; without it the per-user series are left out).
ds01_metrics_listen() {
	MPORT=$(free_port)
	sed -i "s/^metrics_listen: .*/metrics_listen: 127.0.0.1:$MPORT/" "$DS01_CONFIG"
	URL=http://127.0.0.1:$MPORT/metrics
	TOKEN_FILE=$T/etc/metrics.token
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN_FILE"
	chmod 0640 "$TOKEN_FILE"
	printf 'metrics_token_file: %s\n' "$TOKEN_FILE" >>"$DS01_CONFIG"
	AUTH="Authorization: Bearer $(cat "$TOKEN_FILE")"
}

# ds01_sshd ADDR [CONFIG LINE...]: starts a real OpenSSH server (sshd -D) listening on ADDR at a
# free port, SSHD_PORT, with its files in SSHD_DIR=$T/sshd: a host key (hostkey, hostkey.pub),
# keys/<user> (put a user's public key there to let them in by key) and the log (log). Public
# key logins only, no PAM. Waits until it accepts connections; fatal if it does not. The
# cleanup stops it.
SSHD_PID=
SSHD_RUN_MADE=0
ds01_sshd() {
	local addr=$1 line
	shift
	command -v /usr/sbin/sshd >/dev/null 2>&1 || fail "openssh-server is not installed (scripts/deps.sh installs it)"
	SSHD_DIR=$T/sshd
	mkdir -p "$SSHD_DIR/keys"
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/hostkey" || fail "ssh-keygen (sshd's host key)"
	chmod 755 "$SSHD_DIR" "$SSHD_DIR/keys"
	SSHD_PORT=$(free_port "$addr")
	{
		printf '%s\n' "Port $SSHD_PORT" "ListenAddress $addr" "HostKey $SSHD_DIR/hostkey" \
			"PidFile $SSHD_DIR/pid" "AuthorizedKeysFile $SSHD_DIR/keys/%u" "UsePAM no" \
			"# the keys are under /tmp (world-writable), which StrictModes refuses" \
			"StrictModes no" "PasswordAuthentication no" "KbdInteractiveAuthentication no" \
			"LogLevel VERBOSE"
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$SSHD_DIR/config"
	# its privilege separation directory; tests that start sshd say needs=sshd (one at a time)
	[ -d /run/sshd ] || { mkdir -p /run/sshd && SSHD_RUN_MADE=1; }
	/usr/sbin/sshd -D -e -f "$SSHD_DIR/config" >"$SSHD_DIR/log" 2>&1 &
	SSHD_PID=$!
	wait_for 20 bash -c "(echo >/dev/tcp/$addr/$SSHD_PORT) 2>/dev/null || ! kill -0 $SSHD_PID" &&
		kill -0 "$SSHD_PID" 2>/dev/null || fail "sshd did not start: $(cat "$SSHD_DIR/log")"
}

# _ds01_sshd_stop: the cleanup's part for ds01_sshd.
_ds01_sshd_stop() {
	[ -n "$SSHD_PID" ] || return 0
	kill -TERM "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
	[ "$SSHD_RUN_MADE" = 1 ] && rmdir /run/sshd 2>/dev/null
	return 0
}

# _ds01_on_term: the TERM trap (check.sh's time limit sends it): says what the test was doing
# (bash gives a trap the command but not its line; the calls that led to it have theirs).
_ds01_on_term() {
	local i calls=
	for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
		calls="$calls ${FUNCNAME[i]} (line ${BASH_LINENO[i]})"
	done
	note "stopped by SIGTERM (the time limit?) in: $BASH_COMMAND${calls:+; called from$calls}"
	exit 143
}

# ds01_start_daemon: starts ds01d in the background (log appended to $T/ds01d.log) and waits up
# to 10 s for `ds01 version` to answer; fails the test (fatal) otherwise.
ds01_start_daemon() {
	echo "=== ds01d start $(date +%T.%N) ===" >>"$DAEMON_LOG"
	# its sanitizer reports go to its log (stderr), among the lines that led to them
	ASAN_OPTIONS=$(_ds01_san_no_log_path "${ASAN_OPTIONS:-}") \
		UBSAN_OPTIONS=$(_ds01_san_no_log_path "${UBSAN_OPTIONS:-}") \
		TSAN_OPTIONS=$(_ds01_san_no_log_path "${TSAN_OPTIONS:-}") \
		"$BIN/ds01d" --config "$DS01_CONFIG" >>"$DAEMON_LOG" 2>&1 </dev/null &
	DS01_PID=$!
	local i
	for i in $(seq 1 100); do
		if ! ds01_daemon_alive; then
			wait "$DS01_PID"
			local st=$?
			DS01_PID=
			fail "ds01d exited during start-up (status $st)"
		fi
		if DS01_SOCKET=$SOCK "$BIN/ds01" version >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	capture env DS01_SOCKET="$SOCK" "$BIN/ds01" version
	fail "ds01d did not answer 'ds01 version' within 10 s"
}

# ds01_stop_daemon [DESC]: SIGTERM, then asserts the daemon exited (status 0) within 10 s (30 s
# under a sanitizer).
ds01_stop_daemon() {
	local desc=${1:-ds01d exits cleanly (status 0) on SIGTERM}
	[ -n "$DS01_PID" ] || { not_ok "$desc" "daemon not running"; return 1; }
	if ! ds01_daemon_alive; then
		wait "$DS01_PID" 2>/dev/null
		not_ok "$desc" "ds01d had already exited (status $?) before the SIGTERM"
		DS01_PID=
		return 1
	fi
	kill -TERM "$DS01_PID" 2>/dev/null
	_ds01_wait_gone "$DS01_PID" "$(_ds01_stop_grace_ms)"
	if ds01_daemon_alive; then
		kill -KILL "$DS01_PID" 2>/dev/null
		wait "$DS01_PID" 2>/dev/null
		DS01_PID=
		not_ok "$desc" "still running $(($(_ds01_stop_grace_ms) / 1000)) s after SIGTERM; killed"
		return 1
	fi
	wait "$DS01_PID"
	local st=$?
	DS01_PID=
	if [ "$st" -eq 0 ]; then
		ok "$desc"
	else
		not_ok "$desc" "exit status $st"
	fi
}

# ds01_daemon_alive: the daemon process is still running.
ds01_daemon_alive() { [ -n "$DS01_PID" ] && _ds01_child_running "$DS01_PID"; }

# ds01_user NAME [USERADD_OPTION...]: creates Unix user NAME (home, bash), records it for
# removal, prints NAME. Keep NAME short (<= 32) and [a-z0-9][a-z0-9_.-]*, e.g. "it$$a"
# (other names need --badname).
# A user of that name left by a killed test (the test's pid is in the name and was ours, so that
# test is gone) is removed first; any other existing user is refused.
ds01_user() {
	local u=$1
	shift
	if id "$u" >/dev/null 2>&1; then
		if grep -qxF -- "$u" "$T/.users" || ! ds01_stale_test_user "$u" "$$"; then
			echo "user $u already exists; refusing to reuse it" >&2
			exit 1
		fi
		note "removing user $u, left by a killed test that had pid $$ too" >&2
		ds01_remove_test_user "$u"
	fi
	local i err
	for i in 1 2 3; do
		# useradd waits 15 s for /etc/passwd's lock; other tests add and remove users too
		err=$(useradd -m -s /bin/bash "$@" "$u" 2>&1 >/dev/null) && break
		id "$u" >/dev/null 2>&1 && break
		sleep 1
	done
	id "$u" >/dev/null 2>&1 || { echo "useradd $u failed: $err" >&2; exit 1; }
	echo "$u" >>"$T/.users"
	printf '%s\n' "$u"
}

# ds01_tmux_session NAME: records a tmux session for cleanup.
ds01_tmux_session() { echo "$1" >>"$T/.tmux"; }

# pane: the last 200 lines of tmux session $S (the test's terminal); pane_has ERE: they match.
pane() { tmux capture-pane -p -t "$S" -S -200 2>/dev/null; }
pane_has() { pane | grep -Eq -- "$1"; }

# ---------------------------------------------------------------------------------------------
# GPU helpers (issue #3: MIG, drains, leases, fake NVML)

# ds01_write_gpu_config GPUS_YAML: rewrites $DS01_CONFIG like ds01_write_config, but with
# GPUS_YAML (the lines under "gpus:", already indented) as the gpus section, e.g.
#   ds01_write_gpu_config '  backend: simulated
#     simulated:
#       - { name: "NVIDIA A100-SXM4-40GB", memory_mib: 40960, mig: ["3g.20gb", "1g.5gb"] }'
# $DS01_CONFIG_EXTRA is appended as with ds01_write_config.
ds01_write_gpu_config() {
	{
		printf 'instance: %s\n' "$INSTANCE"
		printf 'socket: %s\n' "$SOCK"
		printf 'ports_dir: %s\n' "$T/run/ports"
		printf 'docker_api_socket: %s\n' "$DOCKER_API_SOCK"
		printf 'state_dir: %s\n' "$T/state"
		printf 'log_dir: %s\n' "$T/log"
		printf 'limits_file: %s\n' "$DS01_LIMITS"
		printf 'workspace_root: home\n'
		printf 'metrics_listen: "off"\n'
		printf 'images:\n  default: %s\n' "$DS01_IMAGE"
		printf 'gpus:\n%s\n' "$1"
		if [ -n "${DS01_CONFIG_EXTRA:-}" ]; then
			printf '%s\n' "$DS01_CONFIG_EXTRA"
		fi
	} >"$DS01_CONFIG"
}

# ds01_write_limits_with YAML_LINES: the default test limits (ds01_write_limits) with extra
# keys for the student group, e.g. ds01_write_limits_with '    gpu_hold_after_stop_h: 0.001'.
# Later keys override earlier ones only where the limits parser allows duplicates; prefer
# keys that the defaults do not set (see ds01_write_limits) or write $DS01_LIMITS yourself.
ds01_write_limits_with() {
	ds01_write_limits
	printf '%s\n' "$1" >>"$DS01_LIMITS"
}

# gpus_json: `ds01 gpus --json` as root; prints the JSON (empty on failure).
gpus_json() { as_root ds01 gpus --json 2>/dev/null; }

# gpu_slot UUID: the `ds01 gpus --json` entry of slot UUID (compact), or nothing.
gpu_slot() { gpus_json | jq -c --arg u "$1" '.slots[] | select(.uuid == $u)'; }

# gpu_lease_state UUID: the lease state of slot UUID (reserved/bound/held) or "free".
gpu_lease_state() {
	gpus_json | jq -r --arg u "$1" '.slots[] | select(.uuid == $u) | .lease.state // "free"'
}

# gpu_profile UUID: the MIG profile of slot UUID ("" for a whole GPU).
gpu_profile() { gpus_json | jq -r --arg u "$1" '.slots[] | select(.uuid == $u) | .profile // ""'; }

# gpus_leased_count: how many slots have a lease.
gpus_leased_count() { gpus_json | jq '[.slots[] | select(.lease != null)] | length'; }

# ledger_sql SQL: runs SQL on the daemon's ledger (read-only use, please) and prints the rows.
ledger_sql() { sqlite3 -cmd '.timeout 5000' "$T/state/ledger.db" "$1"; }

# ds01_kill9_daemon: SIGKILL the daemon and reap it (no clean shutdown).
ds01_kill9_daemon() {
	[ -n "$DS01_PID" ] || return 0
	kill -KILL "$DS01_PID" 2>/dev/null
	wait "$DS01_PID" 2>/dev/null
	DS01_PID=
}

# fake_nvml_lib: path of the fake libnvidia-ml.so.1 in $DS01_BUILD (empty if not built).
fake_nvml_lib() {
	local f=$DS01_BUILD/tests/fake-nvml/libnvidia-ml.so.1
	[ -f "$f" ] && printf '%s\n' "$f"
}

# fake_nvml_write JSON: atomically replaces $FAKE_NVML_FILE (default $T/fake-nvml.json).
fake_nvml_write() {
	: "${FAKE_NVML_FILE:=$T/fake-nvml.json}"
	export FAKE_NVML_FILE
	printf '%s\n' "$1" >"$FAKE_NVML_FILE.tmp.$$" && mv -f "$FAKE_NVML_FILE.tmp.$$" "$FAKE_NVML_FILE"
}

# The fake NVML machine (tests/fake-nvml/README.md has the description's format):
#
#   fake_nvml_use                          # $NVML_LIB, $FAKE_NVML_FILE; fatal if not built
#   fake_nvml_write "$(fake_nvml_inventory 3)"
#   fake_nvml_config                       # ds01.yaml: backend nvml on the fake, devices env
#   ds01_start_daemon
#   fake_nvml_util "$(fake_nvml_uuid 1)" 90   # GPU 1 busy from the next sample on
#
# fake_nvml_use: sets NVML_LIB to this build's fake libnvidia-ml.so.1 and exports
# FAKE_NVML_FILE=$T/fake-nvml.json (the daemon inherits it). The build always makes the fake
# (tests/fake-nvml/meson.build), so a missing one is a broken build: a failure, not a skip.
fake_nvml_use() {
	NVML_LIB=$(fake_nvml_lib)
	[ -n "$NVML_LIB" ] ||
		fail "fake NVML not built: $DS01_BUILD/tests/fake-nvml/libnvidia-ml.so.1 (every build makes it)"
	FAKE_NVML_FILE=$T/fake-nvml.json
	export FAKE_NVML_FILE
}

# fake_nvml_uuid I: the UUID of GPU I of fake_nvml_inventory (GPU-00000000-0000-4000-8000-
# followed by I in 12 digits).
fake_nvml_uuid() { printf 'GPU-00000000-0000-4000-8000-%012d\n' "$1"; }

# fake_nvml_inventory N [FILTER [JQ_OPTION...]]: prints a description of N GPUs. GPU i is an
# "NVIDIA A100-SXM4-40GB" with 40960 MiB, uuid $(fake_nvml_uuid i), minor i, pci_bus_id
# 00000000:<16+i in hex>:00.0, 0 % utilisation, no processes, no NUMA node, no NVLink, MIG
# off; driver 550.54.15. The jq FILTER (JQ_OPTIONs such as --arg NAME VALUE go to jq) then
# shapes the machine, e.g. an NVLink pair and a MIG GPU:
#   fake_nvml_inventory 3 '.gpus[0].nvlink_peers = [.gpus[1].pci_bus_id]
#     | .gpus[1].nvlink_peers = [.gpus[0].pci_bus_id]
#     | .gpus[2] += {mig_enabled: true, mig_devices: [{uuid: $m, profile: "3g.20gb"}]}' \
#     --arg m MIG-00000000-0002-4000-8000-000000000000
fake_nvml_inventory() {
	local n=$1 filter=${2:-.} i gpus=
	shift $(($# < 2 ? $# : 2))
	for ((i = 0; i < n; i++)); do
		gpus+=$(printf '%s{"uuid": "%s", "name": "NVIDIA A100-SXM4-40GB", "memory_mib": 40960, "minor": %d, "pci_bus_id": "00000000:%02X:00.0", "utilization": {"gpu": 0, "memory": 0}}' \
			"${gpus:+, }" "$(fake_nvml_uuid "$i")" "$i" $((16 + i)))
	done
	printf '{"driver_version": "550.54.15", "gpus": [%s]}' "$gpus" | jq "$@" "$filter"
}

# fake_nvml_edit FILTER [JQ_OPTION...]: applies the jq FILTER to the current description and
# replaces it atomically; the daemon sees the change at its next scan (sample_interval_s, or
# `ds01 gpus --rescan`). Returns 1 (and changes nothing) when jq fails.
fake_nvml_edit() {
	local filter=$1 new
	shift
	new=$(jq "$@" "$filter" "$FAKE_NVML_FILE") || return 1
	fake_nvml_write "$new"
}

# fake_nvml_util UUID PCT: GPU UUID reports PCT % utilisation, every other GPU 0 %.
fake_nvml_util() {
	fake_nvml_edit '.gpus[] |= (.utilization.gpu = (if .uuid == $u then $p else 0 end))' \
		--arg u "$1" --argjson p "$2"
}

# fake_nvml_config [DOCKER_DEVICES]: ds01_write_gpu_config with backend nvml on $NVML_LIB
# (fake_nvml_use first) and gpus.docker_devices DOCKER_DEVICES: default env (the containers
# get NVIDIA_VISIBLE_DEVICES; this dockerd has no NVIDIA runtime), "" for the daemon's
# default (auto: device requests with NVML).
fake_nvml_config() {
	local dev=${1-env}
	ds01_write_gpu_config "  backend: nvml
  nvml_library: $NVML_LIB${dev:+
  docker_devices: $dev}"
}

# daemon_log_mark: the daemon log's line count now; daemon_log_after N: the lines after line
# N. Never truncate the log (the cleanup scans all of it for sanitizer reports): remember the
# count, then look only at what follows.
daemon_log_mark() {
	if [ -f "$DAEMON_LOG" ]; then wc -l <"$DAEMON_LOG"; else echo 0; fi
}
daemon_log_after() { tail -n +"$(($1 + 1))" "$DAEMON_LOG" 2>/dev/null; }

# wait_daemon_log SECONDS MARK TEXT: waits until a line after line MARK of the daemon log
# contains TEXT (a fixed string); 1 on timeout.
_ds01_log_has() { daemon_log_after "$1" | grep -qF -- "$2"; }
wait_daemon_log() { wait_for "$1" _ds01_log_has "$2" "$3"; }

# assert_line TEXT LINE DESC: LINE is one whole line of TEXT (e.g. of daemon_log_after).
assert_line() {
	if printf '%s\n' "$1" | grep -qFx -- "$2"; then
		ok "$3"
	else
		not_ok "$3" "no line '$2' in:
$(printf '%s' "$1" | tail -c 3000)"
	fi
}

# ds01d_once SECONDS [VAR=VALUE...]: runs ds01d --config $DS01_CONFIG in the foreground, with
# the environment VARs added, for at most SECONDS (for a start-up that must fail). Its output
# is appended to the daemon log (where the cleanup looks for sanitizer reports); RC is its
# exit status (124: still running at the deadline), OUT what it wrote, ERR empty.
ds01d_once() {
	local secs=$1 mark
	shift
	echo "=== ds01d once $(date +%T.%N) ===" >>"$DAEMON_LOG"
	mark=$(daemon_log_mark)
	env "$@" timeout "$secs" "$BIN/ds01d" --config "$DS01_CONFIG" >>"$DAEMON_LOG" 2>&1 </dev/null
	RC=$?
	OUT=$(daemon_log_after "$mark")
	ERR=
}

# ---------------------------------------------------------------------------------------------
# Lifecycle enforcement helpers (idle, runtime, holds, cleanup, notifications)

# ds01_write_lifecycle_limits GROUP_KEYS [POLICY_KEYS]: writes $DS01_LIMITS like
# ds01_write_limits, but with max_cpus 0.25 (a busy loop in a test container takes a quarter of
# a CPU, far above the 2 % idle threshold), extra keys for the student group (GROUP_KEYS, one
# "key: value" per line, unindented; they may repeat max_cpus/memory/... to replace them) and a
# top-level `policies:` section (POLICY_KEYS, same format) that always has grace_period_m: 0 and
# sigterm_grace_s: 2 unless POLICY_KEYS sets them, so the idle clock starts at container start.
#   ds01_write_lifecycle_limits 'idle_timeout_h: 0.005' 'keepalive_max_duration_h: 24'
ds01_write_lifecycle_limits() {
	local gk=${1:-} pk=${2:-} l k
	declare -A base=([allow_full_gpu]=true [max_gpu_equivalents]=2.0 [max_gpu_slots_per_container]=2
		[max_containers_per_user]=3 [max_cpus]=0.25 [memory]=256m [memory_swap]=256m
		[shm_size]=64m [pids_limit]=256)
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		base[${l%%:*}]=${l#*:}
	done <<<"$gk"
	{
		printf 'defaults:\n'
		for k in max_gpu_equivalents max_gpu_slots_per_container allow_full_gpu max_cpus memory \
			memory_swap shm_size pids_limit max_containers_per_user; do
			printf '  %s: %s\n' "$k" "$(echo ${base[$k]})"
		done
		printf 'default_group: student\ngroups:\n  student:\n'
		for k in "${!base[@]}"; do
			printf '    %s: %s\n' "$k" "$(echo ${base[$k]})"
		done
		printf 'policies:\n'
		case "$pk" in *grace_period_m:*) ;; *) printf '  grace_period_m: 0\n' ;; esac
		case "$pk" in *sigterm_grace_s:*) ;; *) printf '  sigterm_grace_s: 2\n' ;; esac
		while IFS= read -r l; do
			[ -n "$l" ] && printf '  %s\n' "$l"
		done <<<"$pk"
	} >"$DS01_LIMITS"
}

# iso_epoch ISO8601: prints the Unix time of an event timestamp or Docker time (empty if bad).
iso_epoch() { [ -n "${1:-}" ] && date -d "$1" +%s 2>/dev/null; }

# event_epochs JQ_SELECT: the Unix times of the matching events, one per line, in log order.
event_epochs() {
	local ts
	events_query "$1" | jq -r '.timestamp' | while read -r ts; do iso_epoch "$ts"; done
}

# first_event JQ_SELECT: the first matching event (compact JSON) or nothing.
first_event() { events_query "$1" | head -n 1; }

# wait_event SECONDS JQ_SELECT: waits until events.jsonl has an event that matches; 1 on timeout.
# Each poll runs jq only on the lines written since the last one (read on from a descriptor
# kept open: a jq over the whole file at every poll was most of the suite's polling), and a
# wait that ends without a match looks at the whole file once more (a rotation moves lines to
# events.jsonl.1).
_ds01_has_event() { [ -n "$(events_query "$1" | head -n 1)" ]; }
_DS01_EV_FD= _DS01_EV_PART=
_ds01_new_event() {
	local line new=
	if [ -z "$_DS01_EV_FD" ]; then
		[ -f "$EVENTS" ] || return 1
		exec {_DS01_EV_FD}<"$EVENTS"
	fi
	while IFS= read -r -u "$_DS01_EV_FD" line; do
		new+="$_DS01_EV_PART$line"$'\n'
		_DS01_EV_PART=
	done
	_DS01_EV_PART+=$line # the end of the file: a line still being written
	[ -n "$new" ] && [ -n "$(printf '%s' "$new" | jq -c "select($1)" 2>/dev/null | head -n 1)" ]
}
wait_event() {
	local rc
	_DS01_EV_FD= _DS01_EV_PART=
	wait_for "$1" _ds01_new_event "$2"
	rc=$?
	[ -z "$_DS01_EV_FD" ] || exec {_DS01_EV_FD}<&-
	_DS01_EV_FD=
	[ "$rc" -eq 0 ] || _ds01_has_event "$2"
}

# docker_state_is NAME STATE: the instance's container NAME is in Docker state STATE.
docker_state_is() { [ "$(docker_state "$1" 2>/dev/null)" = "$2" ]; }

# wait_state SECONDS NAME STATE: polls Docker until NAME is in STATE; 1 on timeout.
wait_state() { wait_for "$1" docker_state_is "$2" "$3"; }

# docker_started_epoch NAME: Unix time of the container's last start (State.StartedAt).
docker_started_epoch() {
	local id
	id=$(docker_id "$1")
	[ -n "$id" ] || return 1
	iso_epoch "$(docker inspect -f '{{.State.StartedAt}}' "$id")"
}

# docker_started_at NAME: Unix time (fractional) of the container's last start.
docker_started_at() {
	local id
	id=$(docker_id "$1")
	[ -n "$id" ] || return 1
	date -d "$(docker inspect -f '{{.State.StartedAt}}' "$id")" +%s.%N 2>/dev/null
}

# now_s: the time in fractional Unix seconds (for deadlines computed with awk).
now_s() { echo "$EPOCHREALTIME"; }

# secs_since EPOCH: fractional seconds from EPOCH (fractional) to now, one decimal.
secs_since() { awk -v a="$1" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f", n - a }'; }

# monitor_ticks: how many ticks the daemon's monitor has finished since the daemon started
# (`ds01 status --json` .monitor.ticks, as root); fails when the daemon does not answer.
monitor_ticks() { as_root ds01 status --json 2>/dev/null | jq -er '.monitor.ticks | numbers'; }

_ds01_ticks_reach() {
	local n
	n=$(monitor_ticks) && [ "$n" -ge "$1" ]
}

# wait_ticks_total N [SECONDS]: waits until the running daemon has finished N ticks in all (right
# after ds01_start_daemon: its start-up tick is the first). 1 on timeout (default 30 s).
wait_ticks_total() { wait_for "${2:-30}" _ds01_ticks_reach "$1"; }

# wait_tick [N] [SECONDS]: waits until N (default 1) more monitor ticks have finished. A tick
# under way at the call counts, so `wait_tick 2` is the first to guarantee a whole tick (samples,
# rules, the warnings they give) that began after the call. 1 on timeout; SECONDS defaults to N
# sample intervals + 10 s. Waiting on the tick, not the clock: a slow daemon (a sanitizer, a
# loaded machine) is waited for, a fast one is not.
wait_tick() {
	local n=${1:-1} secs=${2:-} s t0 iv
	s=$(as_root ds01 status --json 2>/dev/null)
	t0=$(jqr '.monitor.ticks | numbers' "$s")
	iv=$(jqr '.monitor.interval_s | numbers' "$s")
	if [ -z "$t0" ] || [ -z "$iv" ]; then
		note "wait_tick: no tick count from ds01 status --json"
		return 1
	fi
	[ -n "$secs" ] || secs=$((n * iv + 10))
	wait_for "$secs" _ds01_ticks_reach $((t0 + n)) && return 0
	note "wait_tick: $n tick(s) after $t0 not finished within $secs s (now $(monitor_ticks))"
	return 1
}

# wait_tick_after EPOCH: waits until EPOCH (fractional Unix seconds) has passed and then for a
# whole monitor tick that began after it: whatever a rule does at EPOCH has been decided (the
# warnings it gives are in events.jsonl; a stop it starts may still be under way). 1 on timeout.
wait_tick_after() {
	local d
	d=$(awk -v e="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = e - n; printf "%.3f", (d > 0 ? d : 0) }')
	sleep "$d"
	wait_tick 2
}

# docker_finished_epoch NAME: Unix time (fractional) of the container's last stop.
docker_finished_epoch() {
	local id
	id=$(docker_id "$1")
	[ -n "$id" ] || return 1
	date -d "$(docker inspect -f '{{.State.FinishedAt}}' "$id")" +%s.%N 2>/dev/null
}

# ds01_labels_args NAME: `--label k=v` arguments for `docker create` copying the ds01.* labels
# of this instance's container NAME, with ds01.project replaced by $2 if given (one per line).
ds01_labels_args() {
	local id
	id=$(docker_id "$1")
	[ -n "$id" ] || return 1
	docker inspect "$id" | jq -r --arg p "${2:-}" '.[0].Config.Labels
		| with_entries(select(.key | startswith("ds01.")))
		| with_entries(select(.key | test("^ds01\\.(managed|instance|user|uid|gid|project|interface)$")))
		| if $p != "" then .["ds01.project"] = $p else . end
		| to_entries[] | "--label", "\(.key)=\(.value)"'
}

# inbox_json USER: `ds01 inbox --json` as USER (prints the JSON; marks the inbox read).
inbox_json() { as_user "$1" ds01 inbox --json 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Image helpers (issue #5: image-create / image-update / image-list / image-delete)
#
#   ds01_setup
#   ds01_image_setup                # image-* links, images.frameworks.minimal, image cleanup
#   ds01_start_daemon
#   A=$(ds01_image_user "it$$a")    # like ds01_user; its ds01-<uid>/* images go at exit
#
# Images a test builds are removed at exit (also on failure): every image labelled
# ds01.user_id=<uid> of a user made by ds01_image_user (tagged or left dangling by a rebuild),
# and every image labelled it.instance=$INSTANCE (put `LABEL it.instance=$INSTANCE` early in a
# hand-written Dockerfile - see image_dockerfile - so that the intermediate images of a failed
# or cancelled build are found too).

# ds01_image_setup: call after ds01_setup, before ds01_start_daemon. Links image-create,
# image-update, image-list and image-delete into $BIN, rewrites ds01.yaml (ds01_write_config)
# with images.frameworks.minimal = $DS01_IMAGE plus $DS01_IMAGES_EXTRA (raw lines under
# "images:", indented two spaces, e.g. DS01_IMAGES_EXTRA='  max_context_mb: 1'), and chains the
# image cleanup in front of the usual EXIT cleanup.
ds01_image_setup() {
	local c
	for c in image-create image-update image-list image-delete; do
		[ -e "$BIN/$c" ] || ln -s ds01 "$BIN/$c"
	done
	: >>"$T/.image_uids"
	ds01_write_image_config
	trap _ds01_image_exit EXIT
}

# ds01_write_image_config: ds01_write_config with the images section of ds01_image_setup.
ds01_write_image_config() {
	ds01_write_config
	local extra
	extra=$(printf '  frameworks:\n    minimal: %s\n%s' "$DS01_IMAGE" "${DS01_IMAGES_EXTRA:-}")
	awk -v extra="$extra" '{ print } /^images:$/ { print extra }' "$DS01_CONFIG" >"$DS01_CONFIG.tmp" &&
		mv -f "$DS01_CONFIG.tmp" "$DS01_CONFIG"
}

# ds01_image_user NAME [USERADD_OPTION...]: ds01_user, and its ds01-<uid>/* images (also stale
# ones of an earlier user with the same uid) are removed now and at exit. Prints NAME.
ds01_image_user() {
	local u
	u=$(ds01_user "$@") || exit 1
	local uid
	uid=$(id -u "$u")
	echo "$uid" >>"$T/.image_uids"
	_ds01_image_rm_uid "$uid"
	printf '%s\n' "$u"
}

# user_image USER PROJECT: ds01-<uid>/PROJECT:latest
user_image() { printf 'ds01-%s/%s:latest\n' "$(id -u "$1")" "$2"; }

# image_exists REF: docker knows image REF.
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# image_json REF: `docker image inspect` of REF, the object (empty if absent).
image_json() { docker image inspect "$1" 2>/dev/null | jq '.[0]'; }

# image_dockerfile USER PROJECT LINES...: writes ~USER/workspace/PROJECT/Dockerfile (owned by
# USER) as "FROM $DS01_IMAGE", "LABEL it.instance=$INSTANCE", then LINES (one per argument).
image_dockerfile() {
	local u=$1 p=$2
	shift 2
	local dir
	dir=$(user_home "$u")/workspace/$p
	install -d -o "$u" -g "$(id -g "$u")" -m 700 "$(user_home "$u")/workspace" "$dir"
	{
		printf 'FROM %s\n' "$DS01_IMAGE"
		printf 'LABEL it.instance=%s\n' "$INSTANCE"
		printf '%s\n' "$@"
	} >"$dir/Dockerfile"
	chown "$u:$(id -g "$u")" "$dir/Dockerfile"
}

# as_user_bg USER CMD...: like as_user, but in the background with $! = the CMD process itself
# (setpriv and env exec it), for signals. stdout/stderr go where the caller redirects them.
as_user_bg() {
	local u=$1
	shift
	_ds01_pw "$u" || return 125
	local uid=$PW_UID gid=$PW_GID home=$PW_HOME
	# the sanitizers' options too: ASan's and TSan's reports land in $T/san; a UBSan halt (exit
	# 86, report on stderr) is seen by whoever waits for $!
	(cd / && exec setpriv --reuid="$uid" --regid="$gid" --init-groups \
		env -i PATH="$BIN:/usr/bin:/bin" HOME="$home" USER="$u" LOGNAME="$u" \
		LANG=C.UTF-8 TERM=dumb DS01_SOCKET="$SOCK" "ASAN_OPTIONS=${ASAN_OPTIONS:-}" \
		"UBSAN_OPTIONS=${UBSAN_OPTIONS:-}" "TSAN_OPTIONS=${TSAN_OPTIONS:-}" "$@" </dev/null) &
}

# build_containers_matching TEXT: ids of running containers whose command contains TEXT (a
# build's RUN step runs in a container of its own).
build_containers_matching() {
	docker ps -q --no-trunc | while read -r id; do
		[ -n "$id" ] || continue
		docker inspect -f '{{json .Config.Cmd}}' "$id" 2>/dev/null | grep -qF -- "$1" && echo "$id"
	done
}

_ds01_image_rm_uid() {
	local uid=$1 ids
	# the uid's build cgroup (ds01d removes it; a cancelled build's may outlive the build)
	rmdir /sys/fs/cgroup/*/*-builds/u"$uid" /sys/fs/cgroup/*-builds/u"$uid" 2>/dev/null
	ids=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep "^ds01-$uid/")
	# shellcheck disable=SC2086 # one reference per word
	[ -z "$ids" ] || docker rmi -f $ids >/dev/null 2>&1
	ids=$(docker images -aq --no-trunc --filter "label=ds01.user_id=$uid" | sort -u)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || docker rmi -f $ids >/dev/null 2>&1
	return 0
}

# Removes this test's images: containers first (they pin images), then the users' images, then
# everything labelled with the instance, children before parents (a few passes).
_ds01_image_cleanup() {
	[ -n "${INSTANCE:-}" ] || return 0
	docker ps -aq --filter "label=ds01.instance=$INSTANCE" | xargs -r docker rm -f >/dev/null 2>&1
	local uid ids
	if [ -n "$T" ] && [ -f "$T/.image_uids" ]; then
		while read -r uid; do
			[ -n "$uid" ] && _ds01_image_rm_uid "$uid"
		done <"$T/.image_uids"
	fi
	for _ in 1 2 3 4 5; do
		ids=$(docker images -aq --no-trunc --filter "label=it.instance=$INSTANCE" | sort -u)
		[ -n "$ids" ] || break
		# shellcheck disable=SC2086
		docker rmi -f $ids >/dev/null 2>&1
	done
	return 0
}

_ds01_image_exit() {
	local rc=$?
	_ds01_image_cleanup
	(exit "$rc")
	_ds01_cleanup
}

# ---------------------------------------------------------------------------------------------
# Slurm (test-slurm-*): the daemons a test starts itself, on loopback

# slurm_munge_up: the test's own munged (the machine's key, its socket in $T/munge), so no other
# test's start or stop of a munged touches this one. Sets SLURM_MUNGE_SOCKET; a test's
# slurm.conf and slurmdbd.conf say "AuthInfo=socket=$SLURM_MUNGE_SOCKET", and slurm.conf
# "AccountingStoragePass=$SLURM_MUNGE_SOCKET" where slurmdbd is used (the socket for talking
# to slurmdbd: without it sacctmgr tries the default munged). Slurm's commands, run by the
# test's users too, then reach this munged. slurm_munge_down (from trap_extra) stops it.
SLURM_MUNGE_SOCKET=
slurm_munge_up() {
	local d=$T/munge
	[ -r /etc/munge/munge.key ] || fail "no /etc/munge/munge.key (scripts/deps.sh installs munge, which makes it)"
	mkdir -p "$d" && chown munge:munge "$d" && chmod 755 "$d" || fail "cannot make $d"
	runuser -u munge -- /usr/sbin/munged --socket="$d/socket" --pid-file="$d/munged.pid" \
		--log-file="$d/munged.log" --seed-file="$d/munged.seed" ||
		fail "munged does not start: $(tail -3 "$d/munged.log" 2>/dev/null)"
	SLURM_MUNGE_SOCKET=$d/socket
	munge -S "$SLURM_MUNGE_SOCKET" -n | unmunge -S "$SLURM_MUNGE_SOCKET" >/dev/null 2>&1 ||
		fail "munge does not work through $SLURM_MUNGE_SOCKET: $(tail -3 "$d/munged.log")"
}
slurm_munge_down() {
	[ -n "$SLURM_MUNGE_SOCKET" ] && [ -s "$T/munge/munged.pid" ] || return 0
	slurm_stop "$(cat "$T/munge/munged.pid")"
}

# The Slurm fixture, one per test, all in $SL=$T/slurm (logs in $SL/log): ports of its own,
# devices of its own (/dev/fakenvidia<pid>_...), its own munged. In order:
#   slurm_setup CLUSTER [accounting]   directories, ports, munged; with "accounting" also MariaDB
#                                      and slurmdbd.conf (slurmdbd starts in slurm_start_ctld)
#   slurm_fake_gpus N [TAG]            N character devices; SLURM_GPU_FILES is gres.conf's File=
#   slurm_conf_common [CTLADDR]        the slurm.conf lines every test has (accounting ones too
#                                      where set up): the test writes them, then its own (nodes,
#                                      partitions, timeouts) and exports SLURM_CONF=$SL/slurm.conf
#   slurm_start_ctld                   slurmdbd (with accounting: it answers, CLUSTER is added),
#                                      then slurmctld, answering (again after slurm_stop_ctld)
#   slurm_stop_ctld                    slurmctld stopped (a test of Slurm not answering)
#   slurm_start_node NODE [CMD...]     slurmd -N NODE (CMD: a prefix, e.g. nsenter --net=...), idle
#   slurm_one_node NODE N [LINE...]    all of the above but slurm_setup for one node on loopback
#                                      with N GPUs (LINE: more slurm.conf lines), running
#   slurm_teardown USER...             from trap_extra: the users' jobs cancelled and gone, every
#                                      daemon stopped (TERM, then KILL), the devices removed, munged
# slurm_tools TOOL...: each is installed (Slurm's daemons live in /usr/sbin, which joins PATH),
# else the test is skipped saying which package installs it (scripts/deps.sh does).
slurm_tools() {
	export PATH=$PATH:/usr/sbin
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 ||
			skip_test "$tool is not installed (scripts/deps.sh installs slurm-wlm, slurmdbd, munge, mariadb-server)"
	done
}
SL=
SLURM_CLUSTER=
SLURM_ACCOUNTING=0
SLURM_CTLPORT=
SLURM_DBPORT=
SLURM_DBDPORT=
SLURM_DPORT=
SLURM_GPU_FILES=
SLURM_PIDS=()        # the daemons started, in order
declare -A SLURM_COMM # pid -> its command name then: a pid reused since is never signalled
SLURM_DEVICES=()
slurm_setup() {
	SLURM_CLUSTER=$1
	[ "${2:-}" = accounting ] && SLURM_ACCOUNTING=1
	SL=$T/slurm
	mkdir -p "$SL"/{state,spool,log} || fail "cannot make $SL"
	chown slurm:slurm "$SL/state" "$SL/spool" "$SL/log"
	chmod 755 "$SL"
	slurm_munge_up
	SLURM_CTLPORT=$(free_port)
	SLURM_DPORT=$(free_port) # slurmd's: nodes on loopback must not meet another test's
	[ "$SLURM_ACCOUNTING" = 1 ] && _slurm_mariadb_up
	return 0
}

# MariaDB for slurmdbd (its own datadir, socket and port), and slurmdbd.conf.
_slurm_mariadb_up() {
	mkdir -p "$SL"/{db,mysqld} && chown mysql:mysql "$SL/db" "$SL/mysqld"
	SLURM_DBPORT=$(free_port)
	SLURM_DBDPORT=$(free_port)
	mariadb-install-db --no-defaults --user=mysql --datadir="$SL/db" \
		--auth-root-authentication-method=socket --skip-test-db >"$SL/log/mariadb-install.log" 2>&1 ||
		fail "mariadb-install-db: $(tail -5 "$SL/log/mariadb-install.log")"
	runuser -u mysql -- mariadbd --no-defaults --datadir="$SL/db" --socket="$SL/mysqld/sock" \
		--bind-address=127.0.0.1 --port="$SLURM_DBPORT" --pid-file="$SL/mysqld/pid" \
		--log-error="$SL/mysqld/err" </dev/null >/dev/null 2>&1 &
	_slurm_track "$SL/mysqld/pid" || fail "MariaDB did not start: $(tail -5 "$SL/mysqld/err")"
	wait_for 10 mariadb --no-defaults -S "$SL/mysqld/sock" -e 'select 1' || fail "MariaDB does not answer"
	mariadb --no-defaults -S "$SL/mysqld/sock" -e "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'ds01test';
		GRANT ALL ON slurm_acct.* TO 'slurm'@'127.0.0.1';" || fail "cannot create MariaDB's slurm user"
	cat >"$SL/slurmdbd.conf" <<EOC
AuthType=auth/munge
AuthInfo=socket=$SLURM_MUNGE_SOCKET
DbdAddr=127.0.0.1
DbdHost=localhost
DbdPort=$SLURM_DBDPORT
SlurmUser=slurm
LogFile=$SL/log/slurmdbd.log
PidFile=$SL/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$SLURM_DBPORT
StorageUser=slurm
StoragePass=ds01test
StorageLoc=slurm_acct
EOC
	chown slurm:slurm "$SL/slurmdbd.conf"
	chmod 600 "$SL/slurmdbd.conf"
}

slurm_fake_gpus() { # N [TAG]
	local i base=fakenvidia$$_${2:-}
	for ((i = 0; i < $1; i++)); do
		mknod -m 666 "/dev/$base$i" c 195 "$i" || fail "mknod /dev/$base$i"
		SLURM_DEVICES+=("/dev/$base$i")
	done
	SLURM_GPU_FILES="/dev/$base[0-$(($1 - 1))]"
}

slurm_conf_common() { # [CTLADDR]
	cat <<EOC
ClusterName=$SLURM_CLUSTER
SlurmctldHost=$(hostname -s)(${1:-127.0.0.1})
SlurmctldPort=$SLURM_CTLPORT
SlurmdPort=$SLURM_DPORT
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=socket=$SLURM_MUNGE_SOCKET
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool/%n
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd-%n.pid
SlurmctldLogFile=$SL/log/slurmctld.log
SlurmdLogFile=$SL/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
MinJobAge=300
EOC
	[ "$SLURM_ACCOUNTING" = 1 ] || return 0
	cat <<EOC
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$SLURM_DBDPORT
AccountingStoragePass=$SLURM_MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations,limits,qos
PriorityType=priority/multifactor
EOC
}

slurm_start_ctld() {
	[ -n "${SLURM_CONF:-}" ] || fail "slurm_start_ctld: export SLURM_CONF first"
	if [ "$SLURM_ACCOUNTING" = 1 ]; then
		slurmdbd || fail "slurmdbd does not start: $(tail -5 "$SL/log/slurmdbd.log")"
		_slurm_track "$SL/slurmdbd.pid" || fail "slurmdbd wrote no pid"
		wait_for 20 sacctmgr -n -P show cluster || fail "slurmdbd does not answer: $(tail -5 "$SL/log/slurmdbd.log")"
		sacctmgr -i add cluster "$SLURM_CLUSTER" >/dev/null || fail "sacctmgr add cluster"
	fi
	rm -f "$SL/slurmctld.pid" # (a test may start it again: the pid read must be the new one)
	slurmctld || fail "slurmctld does not start: $(tail -5 "$SL/log/slurmctld.log")"
	_slurm_track "$SL/slurmctld.pid" || fail "slurmctld wrote no pid"
	wait_for 20 scontrol ping || fail "slurmctld does not answer: $(tail -5 "$SL/log/slurmctld.log")"
}

slurm_start_node() { # NODE [CMD...]
	local node=$1
	shift
	mkdir -p "$SL/spool/$node"
	"$@" slurmd -N "$node" || fail "slurmd $node does not start: $(tail -5 "$SL/log/slurmd-$node.log")"
	_slurm_track "$SL/slurmd-$node.pid" || fail "slurmd $node wrote no pid"
	wait_for 20 _slurm_node_idle "$node" ||
		fail "node $node is not idle: $(sinfo -h -N 2>&1) $(tail -5 "$SL/log/slurmd-$node.log")"
}
_slurm_node_idle() { sinfo -h -n "$1" -o %t 2>/dev/null | grep -qx idle; }

# _slurm_track PIDFILE: the daemon whose pid PIDFILE holds joins SLURM_PIDS.
_slurm_track() {
	local pid comm
	pid=$(pid_of_file "$1") || return 1
	{ read -r comm <"/proc/$pid/comm"; } 2>/dev/null || return 1
	SLURM_PIDS+=("$pid")
	SLURM_COMM[$pid]=$comm
}

slurm_stop_ctld() { slurm_stop_tracked "$(cat "$SL/slurmctld.pid" 2>/dev/null)"; }

# slurm_stop_tracked PID: one of the fixture's daemons stopped (a test that stops one on purpose).
slurm_stop_tracked() {
	local comm=
	{ read -r comm <"/proc/$1/comm"; } 2>/dev/null # (gone: nothing to stop)
	[ -n "$comm" ] && [ "$comm" = "${SLURM_COMM[$1]:-}" ] && slurm_stop "$1"
	return 0
}

# slurm_ds01_cluster NODE [LINE...]: ds01.yaml's cluster key for this Slurm ($SLURM_CLUSTER,
# $SL/slurm.conf, the directory of the Slurm commands on PATH) with ds01d on NODE; each LINE
# (such as "accounts: false") is added under it.
slurm_ds01_cluster() {
	local node=$1 line
	shift
	printf 'cluster:\n  backend: slurm\n  name: %s\n  slurm_conf: %s\n  slurm_bin: %s\n  node: %s\n' \
		"$SLURM_CLUSTER" "$SL/slurm.conf" "$(dirname "$(command -v scontrol)")" "$node" >>"$DS01_CONFIG"
	for line in "$@"; do printf '  %s\n' "$line" >>"$DS01_CONFIG"; done
}

slurm_one_node() { # NODE N [LINE...]
	local node=$1 n=$2
	shift 2
	slurm_fake_gpus "$n"
	{
		slurm_conf_common
		printf '%s\n' "$@"
		echo "NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=8 RealMemory=16000 Gres=gpu:$n State=UNKNOWN"
		echo "PartitionName=gpu Nodes=$node Default=YES MaxTime=INFINITE State=UP"
	} >"$SL/slurm.conf"
	printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s\n' "$node" "$SLURM_GPU_FILES" >"$SL/gres.conf"
	export SLURM_CONF=$SL/slurm.conf
	slurm_start_ctld
	slurm_start_node "$node"
}

slurm_teardown() { # USER...
	local u i p
	if [ -n "${SLURM_CONF:-}" ] && [ -f "$SL/slurmctld.pid" ]; then
		# the jobs first (slurmd's steps end their processes), then the daemons
		for u in "$@"; do [ -n "$u" ] && scancel -u "$u" >/dev/null 2>&1; done
		wait_for 10 eval '[ -z "$(squeue -h -t R,CG 2>/dev/null)" ]'
	fi
	# last started, first stopped: slurmd, slurmctld, slurmdbd, MariaDB
	for ((i = ${#SLURM_PIDS[@]} - 1; i >= 0; i--)); do slurm_stop_tracked "${SLURM_PIDS[i]}"; done
	SLURM_PIDS=()
	for p in "${SLURM_DEVICES[@]}"; do rm -f "$p"; done
	slurm_munge_down
}

# slurm_stop PID...: each daemon gets SIGTERM and 10 s, then SIGKILL (empty PIDs are skipped).
slurm_stop() {
	local p
	for p in "$@"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null
		wait_for 10 eval "! kill -0 $p 2>/dev/null"
		kill -KILL "$p" 2>/dev/null
	done
}

# pid_of_file FILE: the pid a daemon wrote to FILE, waiting up to 10 s for it; 1 if none.
pid_of_file() { wait_for 10 test -s "$1" && cat "$1"; }
