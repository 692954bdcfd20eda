#!/bin/bash
# tests/mutation/run.sh - proof that the suite bites (issue 12): applies, one at a time, the
# deliberate defects in tests/mutation/mutations/*.mut to a copy of the tree, builds the copy and
# runs the tests each mutation names; every defect must make one of them fail. Not part of
# `make check`; run it (as root) with `make mutation` after changing the tests or moving the code
# a mutation names. See tests/mutation/README.md.
#
#   tests/mutation/run.sh [--full] [--baseline] [--dir DIR] [NAME...]
#
#   NAME         only these mutations (file name, with or without .mut, or a prefix: 04a)
#   --full       run every test a mutation names to its end (default: a test is stopped at its
#                first failed check that matches the mutation's expect:, and a mutation's later
#                tests are not run once one caught it)
#   --baseline   first run every named test against the unmutated copy: a check that fails
#                there proves nothing, and a catch by that same check does not count
#   --dir DIR    the mutations in DIR/*.mut instead of tests/mutation/mutations (to try one
#                out, or to prove a new check can fail, without adding it to the set)
#
# The copy lives in build-mutation/tree (its build in build-mutation/tree/build, reused between
# runs so a mutation recompiles one file); the work tree is never modified. Tests run one after
# the other (never in parallel), as check.sh runs them: as root from the copy's root with
# DS01_BUILD=<copy>/build and DS01_PASS=plain. Logs: build-mutation/logs/MUTATION/TEST.log.
#
# Prints a table (mutation, the tests run, caught by which check, or SURVIVED) and the time;
# exits 1 if a mutation survived, no longer applies (the code moved: the message names the
# mutation file to update), does not build or builds to the unchanged program.
set -uo pipefail
DS01_PROG=mutation
HERE=$(dirname "$(readlink -f "$0")")
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$REPO/scripts/lib.sh"

WORK=${DS01_MUTATION_DIR:-$REPO/build-mutation}
COPY=$WORK/tree
LOGS=$WORK/logs
TEST_TIMEOUT=${DS01_MUTATION_TEST_TIMEOUT:-300}
MUTATE=(python3 "$HERE/mutate.py")

full=0
baseline=0
MUTDIR=$HERE/mutations
want=()
while [ $# -gt 0 ]; do
	a=$1
	shift
	case "$a" in
	--full) full=1 ;;
	--baseline) baseline=1 ;;
	--dir)
		[ $# -gt 0 ] || ds01_die "--dir needs a directory"
		MUTDIR=$(readlink -f "$1")
		shift
		;;
	-h | --help)
		sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) ds01_die "unknown option $a (see --help)" ;;
	*) want+=("$a") ;;
	esac
done

step() { printf '\n==> %s\n' "$*"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
fmt_s() { printf '%d s' $((($1 + 500) / 1000)); }
fmt_min() { printf '%dm%02ds' $(($1 / 60000)) $((($1 / 1000) % 60)); }

[ "$(id -u)" -eq 0 ] || ds01_die "must be run as root (the tests create Unix users and talk to dockerd)"
command -v python3 >/dev/null 2>&1 || ds01_die "python3 is needed (scripts/deps.sh installs it)"
t_all=$(date +%s%N)

# ---- which mutations -------------------------------------------------------------------------
muts=()
for f in "$MUTDIR"/*.mut; do
	[ -e "$f" ] || continue
	b=${f##*/}
	b=${b%.mut}
	if [ ${#want[@]} -eq 0 ]; then
		muts+=("$f")
		continue
	fi
	for w in "${want[@]}"; do
		w=${w%.mut}
		case "$b" in "$w"*)
			muts+=("$f")
			break
			;;
		esac
	done
done
[ ${#muts[@]} -gt 0 ] || ds01_die "no mutation matches: ${want[*]:-(none in $MUTDIR)}"

# ---- the copy, and a check that every mutation still applies ---------------------------------
step "copy of the tree ($COPY)"
mkdir -p "$WORK" "$LOGS"
exec 9>"$WORK/.lock"
flock -n 9 || ds01_die "another mutation run is using $WORK"
"${MUTATE[@]}" sync "$REPO" "$COPY" || ds01_die "cannot copy the tree to $COPY"

declare -A VERDICT=() WHY=() RAN=()
errors=0
runnable=()
for f in "${muts[@]}"; do
	b=${f##*/}
	b=${b%.mut}
	if msg=$("${MUTATE[@]}" check "$COPY" "$f" 2>&1); then
		runnable+=("$f")
	else
		VERDICT[$b]="NOT APPLIED"
		WHY[$b]=$msg
		RAN[$b]="-"
		errors=$((errors + 1))
		printf '%s\n' "$msg" >&2
	fi
done

# ---- the unmutated build ---------------------------------------------------------------------
# werror=false: a mutant need not be warning-free (a dead variable is not the defect).
build_copy() { # LOG
	make -C "$COPY" --no-print-directory build BUILDDIR=build MESONFLAGS=-Dwerror=false \
		>"$1" 2>&1
}
# build_mutant LOG SPEC...: only what the tests run: the three programs, the fake NVML library
# the integration tests load, and the named unit tests (relinking all of them is most of a build).
build_mutant() {
	local log=$1 spec units=() tg
	shift
	for spec in "$@"; do
		case "$spec" in unit:*) units+=("${spec#unit:}") ;; esac
	done
	mapfile -t tg < <("${MUTATE[@]}" targets "$COPY/build" "${units[@]}")
	"${NINJA:-ninja}" -C "$COPY/build" ds01d ds01 ds01-init tests/fake-nvml/libnvidia-ml.so.1 "${tg[@]}" \
		>"$log" 2>&1
}
program_sums() { (cd "$COPY/build" && sha256sum ds01d ds01 ds01-init 2>/dev/null); }

step "build of the unmodified copy"
t=$(date +%s%N)
if ! build_copy "$LOGS/build-clean.log"; then
	tail -n 30 "$LOGS/build-clean.log"
	ds01_die "the unmodified copy does not build (log: $LOGS/build-clean.log)"
fi
echo "build: $(fmt_s "$(ms_since "$t")")"
CLEAN_SUMS=$(program_sums)

tests_of() { "${MUTATE[@]}" show "$1" | sed -n 's/^MUT_TESTS=(\(.*\))$/\1/p'; }
for f in "${runnable[@]}"; do
	for spec in $(tests_of "$f"); do
		case "$spec" in unit:*) ;; *) need_docker=1 ;; esac
	done
done
[ -n "${need_docker:-}" ] && ds01_ensure_dockerd
# "NAME" or, from newer meson, "ds01:NAME" or "ds01 / NAME"
UNIT_TESTS=$(meson test -C "$COPY/build" --no-rebuild --list 2>/dev/null | sed 's/^ds01://; s/^[^ ]* \/ //')

# ---- running one test ------------------------------------------------------------------------
# failed_checks LOG: the failed checks a test printed, one a line: "not ok - ..." (integration)
# or "[  FAILED  ] test_..." (cmocka).
failed_checks() { grep -E '^not ok|^\[  FAILED  \] test' "$1" 2>/dev/null; }
# A check with the digits blanked (user names and times differ from run to run).
norm() { sed 's/[0-9][0-9]*/N/g'; }

# run_test SPEC LOG STOP_EARLY EXPECT: runs one test. EXPECT (an ERE, or empty for any) is what
# a failed check must match to count as a catch. Sets TR: pass, caught, other (failed, but not
# at a check matching EXPECT), skip or missing; TWHY (the catching check, or what happened),
# TCHECK (the catching check as printed) and TSECS.
run_test() {
	local spec=$1 log=$2 early=$3 expect=$4 t rc pid child stopped=0 re more
	TR='' TWHY='' TCHECK=''
	re="^(not ok - |\[  FAILED  \] ).*(${expect:-.})"
	t=$(date +%s%N)
	case "$spec" in
	unit:*)
		local u=${spec#unit:}
		if ! grep -qxF "$u" <<<"$UNIT_TESTS"; then
			TR=missing TWHY="no unit test '$u' in the build (meson test --list)"
			TSECS=0
			return
		fi
		meson test -C "$COPY/build" --no-rebuild --print-errorlogs "$u" </dev/null >"$log" 2>&1
		rc=$?
		;;
	*)
		local f=tests/integration/test-${spec#test-}.sh
		if [ ! -f "$COPY/$f" ]; then
			TR=missing TWHY="$f does not exist"
			TSECS=0
			return
		fi
		# timeout kills the whole test (its process group) on expiry, as check.sh does
		(cd "$COPY" && DS01_PASS=plain DS01_BUILD="$COPY/build" \
			exec timeout -k 15 "$TEST_TIMEOUT" bash "$f") </dev/null >"$log" 2>&1 &
		pid=$!
		while kill -0 "$pid" 2>/dev/null; do
			if [ "$early" = 1 ] && grep -qE "$re" "$log" 2>/dev/null; then
				# Caught: stop the test (its TERM trap exits 143 and its EXIT trap cleans up)
				child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
				for c in $child; do kill -TERM "$c" 2>/dev/null; done
				stopped=1
				break
			fi
			sleep 0.5
		done
		wait "$pid"
		rc=$?
		;;
	esac
	TSECS=$((($(ms_since "$t") + 500) / 1000))
	case "$rc" in
	0) TR=pass ;;
	77) TR=skip TWHY="skipped: $(tail -n 1 "$log")" ;;
	*)
		TCHECK=$(grep -m 1 -E "$re" "$log")
		more=$(($(failed_checks "$log" | grep -c .) - 1))
		if [ -n "$TCHECK" ]; then
			TR=caught TWHY=$TCHECK
			# cmocka names the line: "[   LINE   ] --- ../tests/unit/test-x.c:123: error: ..."
			case "$spec" in unit:*)
				local at
				at=$(grep -m 1 '^\[   LINE   \]' "$log" | sed 's/^\[   LINE   \] --- //; s/: error.*//')
				TWHY="$TWHY${at:+ ($at)}"
				;;
			esac
		elif [ -z "$expect" ]; then
			TR=caught TWHY="exit $rc: $(tail -n 1 "$log")"
			[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && TWHY="timed out after $TEST_TIMEOUT s"
			TCHECK=$TWHY
		else
			TR=other
			TWHY="failed (exit $rc), but no failed check matches expect: $expect"
			[ "$more" -ge 0 ] && TWHY="$TWHY; first: $(failed_checks "$log" | head -n 1)"
			more=0
		fi
		[ "$more" -gt 0 ] && TWHY="$TWHY (and $more more failed)"
		[ "$stopped" = 1 ] && TWHY="$TWHY (stopped there)"
		;;
	esac
}

# ---- baseline --------------------------------------------------------------------------------
declare -A BASE=() BASEFAIL=()
if [ "$baseline" = 1 ]; then
	step "baseline: the named tests against the unmodified build"
	mkdir -p "$LOGS/baseline"
	for f in "${runnable[@]}"; do
		for spec in $(tests_of "$f"); do
			[ -n "${BASE[$spec]:-}" ] && continue
			run_test "$spec" "$LOGS/baseline/${spec//[:\/]/-}.log" 0 ""
			BASE[$spec]=$TR
			# what failed without a mutation: the same check failing with one proves nothing
			BASEFAIL[$spec]=$(failed_checks "$LOGS/baseline/${spec//[:\/]/-}.log" | norm)
			[ "$TR" = caught ] && [ -z "${BASEFAIL[$spec]}" ] && BASEFAIL[$spec]="*"
			[ "$TR" = caught ] && TR=fail
			printf '  %-8s %-32s %4d s  %s\n' "$TR" "$spec" "$TSECS" "$TWHY"
		done
	done
fi

# ---- the mutations ---------------------------------------------------------------------------
current=
restore_current() {
	[ -n "$current" ] && "${MUTATE[@]}" restore "$REPO" "$COPY" "$current"
	current=
}
trap restore_current EXIT

for f in "${runnable[@]}"; do
	eval "$("${MUTATE[@]}" show "$f")"
	b=$MUT_NAME
	step "$b: $MUT_DESC"
	mkdir -p "$LOGS/$b"
	rm -f "$LOGS/$b"/*.log
	current=$f
	if ! msg=$("${MUTATE[@]}" apply "$COPY" "$f" 2>&1); then
		VERDICT[$b]="NOT APPLIED" WHY[$b]=$msg RAN[$b]="-"
		errors=$((errors + 1))
		restore_current
		continue
	fi
	t=$(date +%s%N)
	if ! build_mutant "$LOGS/$b/build.log" "${MUT_TESTS[@]}"; then
		tail -n 20 "$LOGS/$b/build.log" | sed 's/^/  | /'
		VERDICT[$b]="BUILD FAILED"
		WHY[$b]="the mutant does not compile: fix replace: in ${f#"$REPO"/} (log: $LOGS/$b/build.log)"
		RAN[$b]="-"
		errors=$((errors + 1))
		restore_current
		continue
	fi
	echo "build: $(fmt_s "$(ms_since "$t")")"
	if [ "$(program_sums)" = "$CLEAN_SUMS" ]; then
		VERDICT[$b]="NO EFFECT"
		WHY[$b]="ds01d, ds01 and ds01-init are byte-identical to the unmodified build: the mutation changes nothing (update ${f#"$REPO"/})"
		RAN[$b]="-"
		errors=$((errors + 1))
		restore_current
		continue
	fi
	ran=() caught=
	for spec in "${MUT_TESTS[@]}"; do
		if [ -n "$caught" ] && [ "$full" = 0 ]; then
			break
		fi
		run_test "$spec" "$LOGS/$b/${spec//[:\/]/-}.log" $((1 - full)) "$MUT_EXPECT"
		r=$TR
		if [ "$r" = caught ] && { [ "${BASEFAIL[$spec]:-}" = "*" ] ||
			grep -qxF -- "$(norm <<<"$TCHECK")" <<<"${BASEFAIL[$spec]:-}"; }; then
			r=other TWHY="$TWHY - but it fails without the mutation too (--baseline)"
		fi
		printf '  %-8s %-32s %4d s  %s\n' "$r" "$spec" "$TSECS" "$TWHY"
		ran+=("$spec:$r:${TSECS}s")
		if [ "$r" = caught ]; then
			[ -n "$caught" ] || { caught=$spec WHY[$b]=$TWHY; }
		elif [ "$r" != pass ] && [ -z "$caught" ]; then
			WHY[$b]="${WHY[$b]:+${WHY[$b]}; }$spec: $TWHY"
		fi
	done
	RAN[$b]="${ran[*]}"
	if [ -n "$caught" ]; then
		VERDICT[$b]="caught by $caught"
	else
		VERDICT[$b]="SURVIVED"
		errors=$((errors + 1))
	fi
	restore_current
done
trap - EXIT

# ---- the table -------------------------------------------------------------------------------
step "mutation check: ${#muts[@]} mutations, $(fmt_min "$(ms_since "$t_all")")"
printf '%-36s %-58s %s\n' MUTATION "TESTS RUN (result, time)" VERDICT
for f in "${muts[@]}"; do
	b=${f##*/}
	b=${b%.mut}
	printf '%-36s %-58s %s\n' "$b" "${RAN[$b]:--}" "${VERDICT[$b]:-not run}"
	[ -n "${WHY[$b]:-}" ] && printf '%-36s   %s\n' "" "${WHY[$b]}"
done
echo
echo "total time: $(fmt_min "$(ms_since "$t_all")")"
if [ "$errors" -gt 0 ]; then
	echo "$errors of ${#muts[@]} mutations not caught (SURVIVED, NOT APPLIED, BUILD FAILED or NO EFFECT)"
	exit 1
fi
echo "all ${#muts[@]} mutations caught"
