#!/usr/bin/env bash
# Issue 11 item 6: build output is the user's, and a line need not end. A RUN step prints 100 MB
# without a newline and fails; ds01d (root) keeps only the start of that line: its peak memory
# (VmHWM) stays under 64 MB, and the failure is reported with the step and a bounded tail.
# ds01-test: kind=security needs=cpu budget=19
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
# Under AddressSanitizer, freed memory waits in a quarantine (256 MB by default): keep it small so
# that the peak measures what ds01d holds.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
ds01_start_daemon

B=$(ds01_image_user "it$$b") || fail "cannot create user B"
image_dockerfile "$B" flood 'RUN head -c 100000000 /dev/zero | tr "\\000" x; exit 3'
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$DS01_PID/status"; }
note "ds01d VmHWM before: $(hwm) kB"
as_user "$B" image-create flood >/dev/null 2>"$T/err"
st=$?
assert_ne 0 "$st" "B: the flooding build fails"
assert_contains "$(cat "$T/err")" "failed at step" "the failure names the step"
assert_match "$(wc -c <"$T/err")" '^[0-9]{1,5}$' "the error is short (under 100 kB)"
note "error: $(head -c 300 "$T/err")"
peak=$(hwm)
note "ds01d VmHWM after: $peak kB"
[ "${peak:-999999}" -lt 65536 ] && ok "ds01d's peak memory stayed under 64 MB ($peak kB)" ||
	not_ok "ds01d's peak memory stayed under 64 MB" "VmHWM $peak kB"
ds01_daemon_alive && ok "ds01d is still running" || not_ok "ds01d is still running"
ds01_done
