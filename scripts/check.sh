#!/bin/bash
# Run every ds01 test (as root): packages, dockerd, the suite's fixtures, then three passes -- a
# plain build in build/, AddressSanitizer+UBSan in build-asan/, ThreadSanitizer in build-tsan/ --
# each running the unit tests (meson test) and its integration tests (tests/integration/test-*.sh)
# against the real dockerd; finally clang's diagnostics and clang-format.
#
#   scripts/check.sh [NAME...]     NAME limits the integration tests (test-NAME.sh or NAME)
#
# Environment:
#   DS01_CHECK_SANITIZE=0   the plain pass only
#   DS01_CHECK_JOBS=N       integration tests at once (default: 3 per 2 CPUs, at least 2; 1 runs
#                           them in turn). The tests wait much of the time: on 2 CPUs 3 at once
#                           finished a set in 141 s against 188 s for 2 (4: 127 s, CPUs 92 %
#                           busy, where timing checks start to suffer)
#   DS01_CHECK_MAXLOAD=L    start no further test while the load average is L or more and one
#                           is running (default: 4 per CPU; other runs may share the machine)
#   DS01_CHECK_SKIP=NAME..  deselect tests (space or comma separated; reported as skipped)
#   DS01_TEST_TIMEOUT=S     a test's time limit (default 600 s)
#
# Which test runs where comes from its tag line (see tests/integration/lib.sh):
#   # ds01-test: kind=functional|security|stress [threads] [needs=RES,...] budget=SECONDS
# The plain pass runs every test; ASan+UBSan every functional, security and stress test (stress
# tests size their loops with stress_count); TSan the tests tagged threads. $DS01_PASS tells a
# test its pass. A test without a valid tag line fails without running.
#
# Scheduling: the three passes' integration tests share one pool of DS01_CHECK_JOBS slots. The
# plain build comes first; beside the pool, one at a time, the ASan and TSan builds (niced: the
# tests, which mostly wait, keep the CPU they want) and then each pass's unit tests; a pass's
# integration tests join the pool when it is built. Tests with a resource in common
# (needs=utmp, needs=cpu, ...) never run at the same time, so the longest chain of them starts
# first, and otherwise the longest budget; a test that needs=dockerd runs alone, after
# everything else. The schedule is kept in build/check-schedule.tsv. Each test's output goes to
# <build>/integration-logs/NAME.log and its result line (PASS/FAIL/SKIP, time, budget) is
# printed when it ends; a failed test's checks and log follow its line, whole.
#
# Before the passes: the test image (ds01-test/busybox) is built once, and what killed tests
# left behind (users it<PID>..., containers, networks, iptables chains, images of test instances
# whose pid is gone) is removed; nothing of a live process is touched.
#
# Integration test contract: an executable bash script, run as root from the repo root with
# DS01_BUILD=<absolute build dir> and DS01_PASS=plain|asan|tsan, stdin /dev/null, a time limit;
# exit 0 = pass, 77 = skip (its output says why), anything else = fail.
#
# The very last line printed is "N passed, N failed" (", N skipped" only if any were);
# the exit status is non-zero if anything failed.
set -uo pipefail
DS01_PROG=check.sh
HERE=$(dirname "$(readlink -f "$0")")
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"
cd "$HERE/.." || exit 1
REPO=$(pwd)

ITEST_TIMEOUT=${DS01_TEST_TIMEOUT:-600}
NCPU=$(nproc 2>/dev/null || echo 2)
JOBS=${DS01_CHECK_JOBS:-$((NCPU * 3 / 2 > 2 ? NCPU * 3 / 2 : 2))}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || JOBS=1
MAXLOAD=${DS01_CHECK_MAXLOAD:-$((NCPU * 4))}
[[ $MAXLOAD =~ ^[1-9][0-9]*$ ]] || MAXLOAD=$((NCPU * 4))
throttled=0 # start_ready calls that waited for the load to drop
SANITIZE=${DS01_CHECK_SANITIZE:-1}
# Budgets are plain-pass seconds; a sanitizer pass may take this much longer (tenths).
SAN_BUDGET_X10=16

passed=0
failed=0
skipped=0
failures=()
over_budget=()

summary() {
	echo
	echo "==> summary"
	local f
	if [ ${#failures[@]} -gt 0 ]; then
		for f in "${failures[@]}"; do
			case "$f" in
			" "*) printf '  %s\n' "$f" ;; # a failed check of the test above
			*) printf '  FAILED: %s\n' "$f" ;;
			esac
		done
	fi
	if [ ${#over_budget[@]} -gt 0 ]; then
		echo "  over budget (a sanitizer pass may take ${SAN_BUDGET_X10%?}.${SAN_BUDGET_X10#?}x):"
		for f in "${over_budget[@]}"; do
			printf '    %s\n' "$f"
		done
	fi
	local line="$passed passed, $failed failed"
	[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
	echo "$line"
}

finish() {
	summary
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

step() { printf '\n==> %s\n' "$*"; }
fmt_s() { printf '%d.%01d s' $(($1 / 1000)) $((($1 % 1000) / 100)); }

if [ "$(id -u)" -ne 0 ]; then
	ds01_log "error: must be run as root (the tests create Unix users and talk to dockerd)"
	failed=1
	failures+=("not run as root")
	finish
fi
t_all=$(now_ms)

step "packages"
if ! bash "$HERE/deps.sh"; then
	failed=1
	failures+=("scripts/deps.sh")
	finish
fi

step "docker engine"
if ! (ds01_ensure_dockerd); then
	failed=1
	failures+=("dockerd not available")
	finish
fi
# The unit tests' live Docker cases fail rather than skip without an engine from here on.
export DS01_REQUIRE_DOCKER=1

step "fixtures"
# Leftovers of killed tests (a later test whose pid is the same would trip over its user).
ds01_sweep_stale_tests
if ds01_ensure_busybox_image ds01-test/busybox:latest; then
	echo "test image: ds01-test/busybox:latest"
else
	failed=1
	failures+=("the test image ds01-test/busybox:latest cannot be built")
	finish
fi

# ---- the tests and their tags ----------------------------------------------------------------

tests=()
if [ -d tests/integration ]; then
	while IFS= read -r f; do
		tests+=("$f")
	done < <(find tests/integration -maxdepth 1 -type f -name 'test-*.sh' | LC_ALL=C sort)
fi
if [ $# -gt 0 ]; then
	sel=()
	for want in "$@"; do
		want=${want##*/}
		want=${want%.sh}
		found=0
		for f in "${tests[@]}"; do
			b=${f##*/}
			b=${b%.sh}
			if [ "$b" = "$want" ] || [ "$b" = "test-$want" ]; then
				sel+=("$f")
				found=1
				break
			fi
		done
		if [ "$found" -eq 0 ]; then
			failed=$((failed + 1))
			failures+=("no test named '$want' (tests/integration/test-*.sh)")
		fi
	done
	tests=("${sel[@]}")
fi

declare -A T_KIND T_THREADS T_NEEDS T_BUDGET T_SKIP
skip_list=" $(printf '%s' "${DS01_CHECK_SKIP:-}" | tr ',' ' ') "

# read_tag FILE NAME: fills T_* for NAME; returns 1 with $tag_error saying what is wrong.
read_tag() {
	local f=$1 name=$2 line w kind= threads=0 needs= budget=
	line=$(grep -m 1 '^# ds01-test:' "$f")
	if [ -z "$line" ]; then
		tag_error="no tag line: add '# ds01-test: kind=functional|security|stress [threads] [needs=RES,...] budget=SECONDS' after its leading comment (see tests/integration/lib.sh)"
		return 1
	fi
	for w in ${line#\# ds01-test:}; do
		case "$w" in
		kind=functional | kind=security | kind=stress) kind=${w#kind=} ;;
		threads) threads=1 ;;
		needs=?*) needs=${w#needs=} ;;
		budget=*)
			budget=${w#budget=}
			[[ $budget =~ ^[1-9][0-9]*$ ]] || {
				tag_error="tag line: budget '$budget' is not a whole number of seconds: $line"
				return 1
			}
			;;
		*)
			tag_error="tag line: unknown word '$w': $line"
			return 1
			;;
		esac
	done
	[ -n "$kind" ] || { tag_error="tag line: no kind=functional|security|stress: $line"; return 1; }
	[ -n "$budget" ] || { tag_error="tag line: no budget=SECONDS: $line"; return 1; }
	T_KIND[$name]=$kind
	T_THREADS[$name]=$threads
	T_NEEDS[$name]=$needs
	T_BUDGET[$name]=$budget
}

runnable=()
for f in "${tests[@]}"; do
	name=${f##*/}
	name=${name%.sh}
	if ! read_tag "$f" "$name"; then
		failed=$((failed + 1))
		failures+=("$name: $tag_error")
		printf '  FAIL  %-42s %s\n' "$name" "$tag_error"
		continue
	fi
	case "$skip_list" in
	*" $name "* | *" ${name#test-} "*) T_SKIP[$name]=1 ;;
	esac
	runnable+=("$f")
done

# pass_runs PASS NAME: the pass runs the test.
pass_runs() {
	case "$1" in
	plain) return 0 ;;
	asan) case "${T_KIND[$2]}" in functional | security | stress) return 0 ;; esac ;;
	tsan) [ "${T_THREADS[$2]}" = 1 ] && return 0 ;;
	esac
	return 1
}

# ---- the job pool ----------------------------------------------------------------------------
# A job is one integration test in one pass; J_* are indexed by job id. Builds and unit tests run
# one at a time beside the pool ("prep"), not in its slots.

PASSES=(plain)
[ "$SANITIZE" != 0 ] && PASSES+=(asan tsan)
declare -A P_BUILD P_FLAGS P_T0 P_T1 P_SUM P_N
P_BUILD=([plain]=$REPO/build [asan]=$REPO/build-asan [tsan]=$REPO/build-tsan)
P_FLAGS=([plain]="" [asan]="-Db_sanitize=address,undefined -Db_lundef=false"
	[tsan]="-Db_sanitize=thread -Db_lundef=false")

J_PASS=() J_NAME=() J_FILE=() J_NEEDS=() J_EST=() J_BUDGET=() J_T0=()
pending=()                # job ids not started, highest priority first (order_pending)
declare -A RUNNING=()     # pid -> job id
declare -A BUSY=()        # resource -> job id
alone=                    # the job id running alone (needs=dockerd)
max_running=0
busy_ms=0                 # sum of test durations (for the mean number at once)
pool_t0=
prep_pid=                 # the build or unit-test run going on beside the pool
prep_item=                # build:PASS or unit:PASS
prep_t0=
prep_queue=()             # what is still to build or unit-test

label() { [ "$1" = plain ] && printf '%s' "$2" || printf '%s/%s' "$1" "$2"; }

# add_job PASS NAME FILE: queues a test.
add_job() {
	local id=${#J_PASS[@]} est budget
	J_PASS[id]=$1 J_NAME[id]=$2 J_FILE[id]=$3 J_NEEDS[id]=${T_NEEDS[$2]}
	budget=$((T_BUDGET[$2] * 10))
	[ "$1" = plain ] || budget=$((budget * SAN_BUDGET_X10 / 10))
	budget=$(((budget + 9) / 10))
	est=$budget
	# needs=dockerd runs last: below every other job
	case ",${J_NEEDS[id]}," in *,dockerd,*) est=-1 ;; esac
	J_EST[id]=$est J_BUDGET[id]=$budget
	pending+=("$id")
}

# order_pending: sorts `pending` by priority, highest first. A job's priority is its expected
# time, or, if it needs a resource, the expected time of all the pending jobs that need that
# resource (they run one after another: the longest such chain should start first).
order_pending() {
	local id r
	declare -A chain=()
	for id in "${pending[@]}"; do
		[ "${J_EST[id]}" -gt 0 ] || continue
		local IFS=,
		for r in ${J_NEEDS[id]}; do
			chain[$r]=$((${chain[$r]:-0} + J_EST[id]))
		done
		IFS=$' \t\n'
	done
	local lines=() p
	for id in "${pending[@]}"; do
		p=${J_EST[id]}
		if [ "$p" -gt 0 ]; then
			local IFS=,
			for r in ${J_NEEDS[id]}; do
				[ "${chain[$r]}" -le "$p" ] || p=${chain[$r]}
			done
			IFS=$' \t\n'
		fi
		lines+=("$p $id")
	done
	[ ${#lines[@]} -gt 0 ] || return 0
	mapfile -t pending < <(printf '%s\n' "${lines[@]}" | sort -s -k1,1nr | cut -d' ' -f2)
}

# queue_pass PASS: the integration tests it runs (DS01_CHECK_SKIP ones are reported as skipped).
queue_pass() {
	local p=$1 f name n=0
	for f in "${runnable[@]}"; do
		name=${f##*/}
		name=${name%.sh}
		pass_runs "$p" "$name" || continue
		if [ -n "${T_SKIP[$name]:-}" ]; then
			skipped=$((skipped + 1))
			printf '  SKIP  %-42s deselected by DS01_CHECK_SKIP\n' "$(label "$p" "$name")"
			continue
		fi
		add_job "$p" "$name" "$f"
		n=$((n + 1))
	done
	order_pending
	P_N[$p]=$n
	echo "  ${p}: $n integration tests queued"
}

# start_prep: the next build (niced: the tests running meanwhile keep the CPU they want, and spend
# most of their time waiting anyway) or unit-test run (meson test), in the background.
start_prep() {
	[ -z "$prep_pid" ] && [ ${#prep_queue[@]} -gt 0 ] || return 0
	prep_item=${prep_queue[0]}
	prep_queue=("${prep_queue[@]:1}")
	local p=${prep_item#*:} b
	b=${P_BUILD[$p]}
	prep_t0=$(now_ms)
	case "$prep_item" in
	build:*)
		echo "  $p build ($b) started"
		nice -n 10 make --no-print-directory build BUILDDIR="$b" MESONFLAGS="${P_FLAGS[$p]}" \
			</dev/null >"${P_BUILD[plain]}/check-build-$p.log" 2>&1 &
		;;
	unit:*)
		rm -f "$b/meson-logs/testlog.json"
		meson test -C "$b" --print-errorlogs </dev/null >"$b/unit-tests.log" 2>&1 &
		;;
	esac
	prep_pid=$!
}

# end_prep RC: the build or unit-test run $prep_item ended.
end_prep() {
	local rc=$1 p=${prep_item#*:} log=${P_BUILD[plain]}/check-build-${prep_item#*:}.log
	prep_pid=
	case "$prep_item" in
	build:*)
		if [ "$rc" -eq 0 ]; then
			echo "  $p build: $(fmt_s $(($(now_ms) - prep_t0)))"
			rm -f "$log"
			queue_pass "$p"
		else
			failed=$((failed + 1))
			failures+=("$(label "$p" build) (make exit $rc): its tests did not run")
			echo "  FAIL  $p build (make exit $rc); the last lines of its output:"
			tail -n 60 "$log" | sed 's/^/  | /'
			rm -f "$log"
			# nor its unit tests
			local q rest=()
			for q in "${prep_queue[@]}"; do
				[ "$q" = "unit:$p" ] || rest+=("$q")
			done
			prep_queue=("${rest[@]}")
		fi
		;;
	unit:*) end_unit "$p" "$rc" $(($(now_ms) - prep_t0)) ;;
	esac
	start_prep
}

# can_start ID: its resources are free (and nothing runs alone).
can_start() {
	local id=$1 r
	[ -z "$alone" ] || return 1
	case ",${J_NEEDS[id]}," in
	*,dockerd,*)
		# alone and last: no other job running, waiting or still to be built
		[ ${#RUNNING[@]} -eq 0 ] && [ -z "$prep_pid" ] && [ ${#prep_queue[@]} -eq 0 ] || return 1
		local i
		for i in "${pending[@]}"; do
			case ",${J_NEEDS[i]}," in *,dockerd,*) ;; *) return 1 ;; esac
		done
		return 0
		;;
	esac
	local IFS=,
	for r in ${J_NEEDS[id]}; do
		[ -z "${BUSY[$r]:-}" ] || return 1
	done
	return 0
}

start_job() {
	local id=$1 p=${J_PASS[$1]} b r
	b=${P_BUILD[$p]}
	J_T0[id]=$(now_ms)
	[ -n "${P_T0[$p]:-}" ] || P_T0[$p]=${J_T0[id]}
	mkdir -p "$b/integration-logs"
	# timeout runs the test in its own process group and signals all of it on expiry: TERM,
	# then KILL a minute later if the test's cleanup has not finished by then
	DS01_BUILD=$b DS01_PASS=$p timeout -k 60 "$ITEST_TIMEOUT" bash "$REPO/${J_FILE[id]}" \
		</dev/null >"$b/integration-logs/${J_NAME[id]}.log" 2>&1 &
	RUNNING[$!]=$id
	local IFS=,
	for r in ${J_NEEDS[id]}; do
		BUSY[$r]=$id
	done
	case ",${J_NEEDS[id]}," in *,dockerd,*) alone=$id ;; esac
	[ ${#RUNNING[@]} -le "$max_running" ] || max_running=${#RUNNING[@]}
}

# overloaded: the machine's load (1-minute average) is over MAXLOAD: other test runs or builds
# share it. Starting more tests then only slows every test down and makes timing checks fail.
overloaded() {
	local l
	read -r l _ </proc/loadavg || return 1
	[ "${l%%.*}" -ge "$MAXLOAD" ]
}

# start_ready: starts pending jobs in order while slots and resources allow (and, once one is
# running, while the machine is not overloaded).
start_ready() {
	local id rest=() started=0
	[ ${#RUNNING[@]} -lt "$JOBS" ] || return 0
	if [ ${#RUNNING[@]} -gt 0 ] && overloaded; then
		throttled=$((throttled + 1))
		return 0
	fi
	for id in "${pending[@]}"; do
		if [ ${#RUNNING[@]} -lt "$JOBS" ] && can_start "$id"; then
			start_job "$id"
			started=1
		else
			rest+=("$id")
		fi
	done
	pending=("${rest[@]}")
	[ "$started" -eq 0 ] || order_pending
}

# One JSON object per line: {"name": ..., "result": "OK" | "FAIL" | "SKIP" | ...}
count_results() {
	if command -v jq >/dev/null 2>&1; then
		jq -r '[.name, .result] | @tsv' "$1"
	else
		python3 -c '
import json, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        r = json.loads(line)
        print("%s\t%s" % (r.get("name"), r.get("result")))' "$1"
	fi
}

# end_unit PASS RC MS: the results of a pass's unit tests.
end_unit() {
	local p=$1 rc=$2 dur=$3 b name result seen=0 nf=0 np=0
	b=${P_BUILD[$p]}
	local testlog=$b/meson-logs/testlog.json
	if [ -s "$testlog" ]; then
		while IFS=$'\t' read -r name result; do
			[ -n "$name" ] || continue
			seen=$((seen + 1))
			case "$result" in
			OK | EXPECTEDFAIL) passed=$((passed + 1)) np=$((np + 1)) ;;
			SKIP) skipped=$((skipped + 1)) ;;
			*)
				failed=$((failed + 1))
				nf=$((nf + 1))
				failures+=("$(label "$p" "unit/$name") ($result)")
				;;
			esac
		done < <(count_results "$testlog")
	fi
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		# meson test failed without a failing test (e.g. a rebuild error): count it once
		failed=$((failed + 1))
		nf=1
		failures+=("$(label "$p" "unit tests") (meson test exit $rc, $seen results)")
	fi
	if [ "$nf" -eq 0 ]; then
		printf '  PASS  %-42s %s (%d tests)\n' "$(label "$p" "unit tests")" "$(fmt_s "$dur")" "$np"
	else
		printf '  FAIL  %-42s %s (%d passed, %d failed)\n' "$(label "$p" "unit tests")" "$(fmt_s "$dur")" "$np" "$nf"
		tail -n 200 "$b/unit-tests.log" | sed 's/^/  | /'
		echo "  ---- end of $(label "$p" "unit tests") ----"
	fi
}

end_test() {
	local id=$1 rc=$2 dur=$3 p=${J_PASS[$1]} name=${J_NAME[$1]} lbl why lines log f btxt
	lbl=$(label "$p" "$name")
	log=${P_BUILD[$p]}/integration-logs/$name.log
	P_SUM[$p]=$((${P_SUM[$p]:-0} + dur))
	busy_ms=$((busy_ms + dur))
	btxt=$(printf '%7s / %3d s' "$(fmt_s "$dur")" "${J_BUDGET[id]}")
	if [ "$rc" -ne 77 ] && [ "$dur" -gt $((J_BUDGET[id] * 1000)) ]; then
		btxt="$btxt  OVER BUDGET"
		over_budget+=("$(printf '%-42s %s' "$lbl" "$(fmt_s "$dur") > ${J_BUDGET[id]} s")")
	fi
	case "$rc" in
	0)
		passed=$((passed + 1))
		printf '  PASS  %-42s %s\n' "$lbl" "$btxt"
		;;
	77)
		skipped=$((skipped + 1))
		why=$(grep -m 1 -E '^# *SKIP' "$log" 2>/dev/null || tail -n 1 "$log" 2>/dev/null)
		printf '  SKIP  %-42s %s  %s\n' "$lbl" "$(fmt_s "$dur")" "${why:-(no reason given)}"
		;;
	*)
		failed=$((failed + 1))
		why="exit $rc"
		[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="timed out after ${ITEST_TIMEOUT} s"
		failures+=("$lbl ($why)")
		printf '  FAIL  %-42s %s  (%s)\n' "$lbl" "$btxt" "$why"
		# the failed checks first (and again in the summary): a long log gets cut
		# where it is shown in part
		while IFS= read -r f; do
			failures+=("    $f")
		done < <(grep -m 5 -E '^not ok|^# cleanup: |SUMMARY: ' "$log" | sed 's/^# *//; s/^#   *//')
		grep -A 4 -m 5 -E '^not ok|^# cleanup: ' "$log" | sed 's/^/  ! /'
		lines=$(wc -l <"$log")
		echo "  ---- $log ($lines lines) ----"
		if [ "$lines" -gt 400 ]; then
			echo "  [... first $((lines - 400)) lines omitted ...]"
		fi
		tail -n 400 "$log" | sed 's/^/  | /'
		[ ! -s "$log.stuck" ] || sed 's/^/  | /' "$log.stuck"
		echo "  ---- end of $lbl ----"
		;;
	esac
}

# end_job PID RC: bookkeeping and the result of the job that ended.
end_job() {
	local pid=$1 rc=$2 id r dur
	id=${RUNNING[$pid]}
	unset "RUNNING[$pid]" "STUCK[$pid]"
	local IFS=,
	for r in ${J_NEEDS[id]}; do
		unset "BUSY[$r]"
	done
	IFS=$' \t\n'
	[ "$alone" != "$id" ] || alone=
	dur=$(($(now_ms) - J_T0[id]))
	P_T1[${J_PASS[id]}]=$(now_ms)
	printf '%s\t%s\t%d\t%d\t%s\t%s\n' "${J_PASS[id]}" "${J_NAME[id]}" $((J_T0[id] - pool_t0)) \
		$((J_T0[id] - pool_t0 + dur)) "$rc" "${J_NEEDS[id]}" >>"$SCHEDULE"
	end_test "$id" "$rc" "$dur"
}

# child_running PID: PID is a running child of this shell (bash reaps an ended child at once, and
# its pid may then be another process's: `wait -n` would miss a job that ended before it).
child_running() {
	local stat rest
	{ IFS= read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	set -- $rest
	[ "$1" != Z ] && [ "$1" != X ] && [ "$2" = "$$" ]
}

# watch_stuck: for each job 20 s short of its time limit, once, what it is doing into
# <log>.stuck (the failure report shows it; the test's own log is still being written): its
# processes, and the threads of each ds01d among them (gdb, where installed).
declare -A STUCK=()
watch_stuck() {
	local pid id now
	ds01_now
	now=$NOW_MS
	for pid in "${!RUNNING[@]}"; do
		id=${RUNNING[$pid]}
		[ -z "${STUCK[$pid]:-}" ] || continue
		[ $((now - J_T0[id])) -ge $(((ITEST_TIMEOUT - 20) * 1000)) ] || continue
		STUCK[$pid]=1
		dump_stuck "$pid" >"${P_BUILD[${J_PASS[id]}]}/integration-logs/${J_NAME[id]}.log.stuck" 2>&1
	done
}

# dump_stuck PGID: the processes of a job (timeout makes each its own process group).
dump_stuck() {
	local pids d
	pids=$(pgrep -d, -g "$1")
	echo "# ---- 20 s before the time limit: the test's processes ----"
	[ -z "$pids" ] || ps -o pid,ppid,etimes,stat,wchan:24,args --forest -p "$pids"
	command -v gdb >/dev/null 2>&1 || return 0
	for d in $(pgrep -g "$1" -x ds01d); do
		echo "# ---- ds01d $d: its threads ----"
		timeout 60 gdb -p "$d" -batch -nx -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)'
	done
}

# reap_ended: handles every job (and the build) that has ended; 1 if none had.
reap_ended() {
	local pid rc any=1
	for pid in "${!RUNNING[@]}"; do
		child_running "$pid" && continue
		wait "$pid"
		rc=$?
		end_job "$pid" "$rc"
		any=0
	done
	if [ -n "$prep_pid" ] && ! child_running "$prep_pid"; then
		wait "$prep_pid"
		rc=$?
		end_prep "$rc"
		any=0
	fi
	return $any
}

# Ctrl-C / SIGTERM: stop the running tests (their cleanup runs), then the summary.
interrupted() {
	trap - INT TERM
	echo
	echo "==> interrupted: stopping ${#RUNNING[@]} running jobs"
	local pid
	for pid in "${!RUNNING[@]}" $prep_pid; do
		kill -TERM "$pid" 2>/dev/null
	done
	wait
	failed=$((failed + 1))
	failures+=("interrupted")
	finish
}
trap interrupted INT TERM

step "plain build (${P_BUILD[plain]})"
t=$(now_ms)
if ! make --no-print-directory build BUILDDIR="${P_BUILD[plain]}" MESONFLAGS=""; then
	failed=$((failed + 1))
	failures+=("build (make)")
	finish
fi
echo "build: $(fmt_s $(($(now_ms) - t)))"

# cpu_ticks: the machine's busy and idle clock ticks so far (/proc/stat's first line; iowait
# counts as idle), to report how busy the CPUs were while the tests ran.
cpu_ticks() {
	local _cpu user nice sys idle iowait irq softirq steal
	read -r _cpu user nice sys idle iowait irq softirq steal _ </proc/stat
	echo "$((user + nice + sys + irq + softirq + steal)) $((idle + iowait))"
}

step "tests (${PASSES[*]}; up to $JOBS at once)"
pool_t0=$(now_ms)
read -r cpu_busy0 cpu_idle0 < <(cpu_ticks)
# when each job ran (ms from the start of the pool): pass, name, start, end, exit status, needs
SCHEDULE=${P_BUILD[plain]}/check-schedule.tsv
: >"$SCHEDULE"
queue_pass plain
# the sanitizer builds first (their tests are the longer ones), then the unit tests
prep_queue=()
for p in "${PASSES[@]:1}"; do
	prep_queue+=("build:$p")
done
for p in "${PASSES[@]}"; do
	prep_queue+=("unit:$p")
done
start_prep
while :; do
	start_ready
	if [ ${#RUNNING[@]} -eq 0 ] && [ -z "$prep_pid" ]; then
		[ ${#pending[@]} -eq 0 ] && break
		# cannot happen (a job that can never start): report instead of spinning
		for id in "${pending[@]}"; do
			failed=$((failed + 1))
			failures+=("$(label "${J_PASS[id]}" "${J_NAME[id]}") (never scheduled: needs=${J_NEEDS[id]})")
		done
		break
	fi
	watch_stuck
	reap_ended || ds01_nap 250 # (no process: this loop runs for the whole suite)
done
pool_ms=$(($(now_ms) - pool_t0))
read -r cpu_busy1 cpu_idle1 < <(cpu_ticks)
cpu_all=$((cpu_busy1 - cpu_busy0 + cpu_idle1 - cpu_idle0))

echo
echo "tests: $(fmt_s "$pool_ms") wall (the schedule: $SCHEDULE); up to $max_running at once (DS01_CHECK_JOBS=$JOBS), $((busy_ms / (pool_ms > 0 ? pool_ms : 1))).$(((busy_ms * 10 / (pool_ms > 0 ? pool_ms : 1)) % 10)) on average"
echo "  the CPUs ($NCPU) were $(((cpu_busy1 - cpu_busy0) * 100 / (cpu_all > 0 ? cpu_all : 1))) % busy (anything else on the machine included)"
[ "$throttled" -eq 0 ] || echo "  the machine's load average reached $MAXLOAD (DS01_CHECK_MAXLOAD): new tests waited about $((throttled / 4)) s in all"
for p in "${PASSES[@]}"; do
	[ -n "${P_T0[$p]:-}" ] || continue
	echo "  $p: ${P_N[$p]:-0} integration tests, $(fmt_s "${P_SUM[$p]:-0}") of test time, from +$(fmt_s $((P_T0[$p] - pool_t0))) to +$(fmt_s $((P_T1[$p] - pool_t0)))"
done

step "clang's diagnostics (scripts/clang-check.sh)"
if bash "$REPO/scripts/clang-check.sh" "${P_BUILD[plain]}"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failures+=("clang-check (clang refuses what gcc accepted: see its output above)")
fi

step "format (clang-format)"
if make --no-print-directory format-check; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failures+=("format-check (run 'make format')")
fi

echo
echo "total time: $(fmt_s $(($(now_ms) - t_all)))"
finish
