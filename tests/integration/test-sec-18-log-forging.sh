#!/usr/bin/env bash
# Issue 11 item 18 (log forging): a user names a container whose user part carries a newline and
# a syslog priority ($'y._.x\n<3>FORGED'), a carriage return, an escape sequence. Each is refused
# as a usage error that says what a valid name looks like, and ds01d.log gets no line of the
# user's making: no line starts with the forged "<3>", none holds a raw control character.
# A user part that is a valid name of another user is still "not found" and audited, and the
# name reaches the log only escaped (a \x0a, never a line break).
# ds01-test: kind=security budget=4
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

for verb in container-stop container-start container-remove container-retire container-logs container-stats; do
	assert_exit 2 -m "$verb 'y._.x<newline><3>FORGED' is a usage error" \
		as_user "$A" "$verb" $'y._.x\n<3>FORGED'
	assert_contains "$ERR" "must be a user name" "$verb: the error says what the part after '._.' must be"
done
assert_exit 2 -m "a carriage return in the user part is refused" as_user "$A" container-stop $'y._.x\r<0>FORGED-CR'
assert_exit 2 -m "an escape sequence in the user part is refused" as_user "$A" container-stop $'y._.x\e]0;FORGED-ESC\a'
assert_exit 2 -m "a '._.' inside the user part is refused" as_user "$A" container-stop "y._.$B._.x"
assert_exit 2 -m "a 33-character user part is refused" as_user "$A" container-stop "y._.$(printf 'a%.0s' $(seq 1 33))"
# events --container goes through the same check
assert_exit 2 -m "events --container with a forged user part is refused" \
	as_user "$A" ds01 events --container $'y._.x\n<3>FORGED-EV'

# Another user's (valid) name: not found, audited, the name only ever escaped in the log.
assert_exit 4 -m "stopping B's container by its full name is 'not found'" as_user "$A" container-stop "y._.$B"
wait_for 5 grep -q "tried to stop 'y._.$B'" "$DAEMON_LOG" && ok "the denial is in ds01d.log" ||
	not_ok "the denial is in ds01d.log" "$(tail -n 20 "$DAEMON_LOG")"
assert_exit 2 -m "the project part is checked too" as_user "$A" container-stop $'p\n<3>FORGED-P._.x'

# The log: nothing the user wrote starts a line, no raw control characters (but tabs) at all.
assert_eq 0 "$(grep -c 'FORGED' "$DAEMON_LOG")" "no forged text reached ds01d.log"
assert_eq 0 "$(grep -c '^<[0-7]>FORGED' "$DAEMON_LOG")" "no ds01d.log line starts with a forged priority"
assert_eq 0 "$(LC_ALL=C grep -c $'[\x01-\x08\x0b-\x1f\x7f]' "$DAEMON_LOG")" \
	"ds01d.log holds no control characters"
# Every line is the daemon's own: a priority prefix, or the test harness's start marker.
BAD=$(grep -v -E '^(<[0-7]>|=== ds01d start )' "$DAEMON_LOG" | head -n 5)
assert_eq "" "$BAD" "every ds01d.log line starts with the daemon's priority prefix"
assert_exit 0 -m "A's own commands still work" as_user "$A" container-list
ds01_done
