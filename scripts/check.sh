#!/bin/bash
# Run every ds01 test (as root): packages, dockerd, then three passes -- a plain build in
# build/, AddressSanitizer+UBSan in build-asan/, ThreadSanitizer in build-tsan/ -- each running
# the unit tests (meson test) and every tests/integration/test-*.sh against the real dockerd;
# finally clang-format. DS01_CHECK_SANITIZE=0 runs the plain pass only.
#
#   scripts/check.sh [NAME...]     NAME limits the integration tests (test-NAME.sh or NAME)
#
# Integration test contract: an executable bash script, run as root from the repo root with
# DS01_BUILD=<absolute build dir>, stdin /dev/null, a 600 s timeout; exit 0 = pass,
# 77 = skip, anything else = fail.  Output goes to <build>/integration-logs/NAME.log.
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

passed=0
failed=0
skipped=0
failures=()

summary() {
	echo
	echo "==> summary"
	if [ ${#failures[@]} -gt 0 ]; then
		local f
		for f in "${failures[@]}"; do
			case "$f" in
			" "*) printf '  %s\n' "$f" ;; # a failed check of the test above
			*) printf '  FAILED: %s\n' "$f" ;;
			esac
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
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
fmt_s() { printf '%d.%01d s' $(($1 / 1000)) $((($1 % 1000) / 100)); }

if [ "$(id -u)" -ne 0 ]; then
	ds01_log "error: must be run as root (the tests create Unix users and talk to dockerd)"
	failed=1
	failures+=("not run as root")
	finish
fi
t_all=$(date +%s%N)

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

# One pass: build into $1 with meson flags $3, run the unit tests and every integration test
# against that build. Results are counted under the label $2 ("" for the plain build).
run_pass() {
	local build=$1 label=$2 mesonflags=$3
	local pfx=${label:+$label/}
	local logdir=$build/integration-logs testlog=$build/meson-logs/testlog.json
	local t name result f rc dur why lines log unit_seen=0 mrc unit_failed=0

	step "${label:-plain} build ($build)"
	t=$(date +%s%N)
	if ! make --no-print-directory build BUILDDIR="$build" MESONFLAGS="$mesonflags"; then
		failed=$((failed + 1))
		failures+=("${pfx}build (make)")
		return
	fi
	echo "build: $(fmt_s "$(ms_since "$t")")"

	step "${label:-plain} unit tests (meson test)"
	t=$(date +%s%N)
	rm -f "$testlog"
	meson test -C "$build" --print-errorlogs </dev/null
	mrc=$?
	echo "unit tests: $(fmt_s "$(ms_since "$t")"), meson test exit $mrc"
	if [ -s "$testlog" ]; then
		while IFS=$'\t' read -r name result; do
			[ -n "$name" ] || continue
			unit_seen=$((unit_seen + 1))
			case "$result" in
			OK | EXPECTEDFAIL) passed=$((passed + 1)) ;;
			SKIP) skipped=$((skipped + 1)) ;;
			*)
				failed=$((failed + 1))
				unit_failed=$((unit_failed + 1))
				failures+=("${pfx}unit/$name ($result)")
				;;
			esac
		done < <(count_results "$testlog")
	fi
	if [ "$mrc" -ne 0 ] && [ "$unit_failed" -eq 0 ]; then
		# meson test failed without a failing test (e.g. a rebuild error): count it once
		failed=$((failed + 1))
		failures+=("${pfx}unit tests (meson test exit $mrc, $unit_seen results)")
	fi

	step "${label:-plain} integration tests (tests/integration/test-*.sh)"
	mkdir -p "$logdir"
	if [ ${#tests[@]} -eq 0 ]; then
		echo "no integration tests"
	fi
	for f in "${tests[@]}"; do
		name=${f##*/}
		name=${name%.sh}
		log=$logdir/$name.log
		t=$(date +%s%N)
		# timeout runs the test in its own process group and kills all of it on expiry
		DS01_BUILD=$build timeout -k 15 "$ITEST_TIMEOUT" bash "$REPO/$f" </dev/null >"$log" 2>&1
		rc=$?
		dur=$(fmt_s "$(ms_since "$t")")
		case "$rc" in
		0)
			passed=$((passed + 1))
			printf '  PASS  %-40s %s\n' "$pfx$name" "$dur"
			;;
		77)
			skipped=$((skipped + 1))
			printf '  SKIP  %-40s %s  %s\n' "$pfx$name" "$dur" "$(tail -n 1 "$log" 2>/dev/null)"
			;;
		*)
			failed=$((failed + 1))
			why="exit $rc"
			[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="timed out after ${ITEST_TIMEOUT} s"
			failures+=("$pfx$name ($why)")
			printf '  FAIL  %-40s %s  (%s)\n' "$pfx$name" "$dur" "$why"
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
			echo "  ---- end of $pfx$name ----"
			;;
		esac
	done
}

tests=()
if [ -d tests/integration ]; then
	while IFS= read -r f; do
		tests+=("$f")
	done < <(find tests/integration -maxdepth 1 -type f -name 'test-*.sh' | LC_ALL=C sort)
fi
if [ $# -gt 0 ]; then
	sel=()
	for f in "${tests[@]}"; do
		b=${f##*/}
		b=${b%.sh}
		for want in "$@"; do
			want=${want##*/}
			want=${want%.sh}
			if [ "$b" = "$want" ] || [ "$b" = "test-$want" ]; then
				sel+=("$f")
				break
			fi
		done
	done
	tests=("${sel[@]}")
fi

run_pass "$REPO/build" "" ""
# The same suite with AddressSanitizer + UBSan and with ThreadSanitizer: a sanitizer
# report in a unit test or in a daemon's log fails that test. DS01_CHECK_SANITIZE=0 skips them.
if [ "${DS01_CHECK_SANITIZE:-1}" != 0 ]; then
	run_pass "$REPO/build-asan" asan "-Db_sanitize=address,undefined -Db_lundef=false"
	run_pass "$REPO/build-tsan" tsan "-Db_sanitize=thread -Db_lundef=false"
fi

step "format (clang-format)"
if make --no-print-directory format-check; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
	failures+=("format-check (run 'make format')")
fi

echo
echo "total time: $(fmt_s "$(ms_since "$t_all")")"
finish
