#!/usr/bin/env bash
# Issue 11 item 10: a build request cannot hold a slot or disk. A raw client (no CLI) opens 4
# image.build requests at once, each with a pipe that gets 1 MiB and then stays open: one is
# received (one build per user), the others are refused at once naming
# images.max_builds_per_user. When the client hangs up (its pipes still open), ds01d stops
# reading within seconds: the spooled context is gone and B's next build works.
# ds01-test: kind=security threads budget=15
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

B=$(ds01_image_user "it$$b") || fail "cannot create user B"
cp "$(dirname "$0")/raw-rpc.py" "$T/raw-rpc.py"
chmod 755 "$T/raw-rpc.py"
# spool_fds: ds01d's descriptors of unnamed files in the state directory (spooled contexts).
spool_fds() {
	local f
	for f in /proc/"$DS01_PID"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in "$T/state/"*"(deleted)") echo "$f" ;; esac
	done
}
spools() { spool_fds | grep -c .; }
as_user_bg "$B" env RAW_BUILD_LINGER=20 /usr/bin/python3 "$T/raw-rpc.py" hold held 4 3 \
	>"$T/hold.out" 2>&1
pid=$!
has_spool() { [ "$(spools)" -ge 1 ]; }
wait_for 5 has_spool && ok "ds01d spools the held request" || not_ok "ds01d spools the held request"
answered() { [ "$(grep -c . "$T/hold.out")" -ge 4 ]; }
wait_for 10 answered || not_ok "the raw client answered" "$(cat "$T/hold.out")"
assert_eq 1 "$(grep -cx held "$T/hold.out")" "one request was being received at the hang-up"
assert_eq 3 "$(grep -c max_builds_per_user "$T/hold.out")" \
	"the 3 others were refused at once, naming images.max_builds_per_user"
no_spool() { [ "$(spools)" -eq 0 ]; }
wait_for 5 no_spool && ok "the spool is gone within 5 s of the hang-up (pipes still open)" ||
	not_ok "the spool is gone within 5 s of the hang-up (pipes still open)" \
		"$(spool_fds)"
kill -0 "$pid" 2>/dev/null && ok "the client still holds its pipes" || not_ok "the client still holds its pipes"
image_dockerfile "$B" after "RUN true"
assert_exit 0 -m "B: the next build works" as_user "$B" image-create after
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
ds01_done
