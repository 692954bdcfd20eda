#!/usr/bin/env bash
# Issue 11 item 14: builds count against the user. While one build of B runs, a second one is
# refused at once with a message naming images.max_builds_per_user (default 1); once the first
# ends, it works. A build's RUN runs under the group's memory limit (its cgroup says 256 MB).
# ds01-test: kind=security threads budget=14
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

B=$(ds01_image_user "it$$b") || fail "cannot create user B"
MARK=mark-$INSTANCE
image_dockerfile "$B" slow "RUN echo started && sleep 30 && echo $MARK"
as_user_bg "$B" image-create slow >"$T/slow.out" 2>&1
pid=$!
has_build() { [ -n "$(build_containers_matching "$MARK")" ]; }
wait_for 20 has_build && ok "B's first build is running" ||
	not_ok "B's first build is running" "$(cat "$T/slow.out")"
image_dockerfile "$B" mem \
	'RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; exit 7'
assert_exit 3 -m "B: a second build at the same time is refused (exit 3)" as_user "$B" image-create mem
assert_contains "$ERR" "max_builds_per_user" "the refusal names the limit"
assert_not_contains "$OUT$ERR" "Step 1" "the second build did not start"
kill -INT "$pid"
wait "$pid"
no_build() { ! has_build; }
wait_for 15 no_build && ok "the first build is gone" || not_ok "the first build is gone"
assert_exit 1 -m "B: the build runs once the first has ended (its RUN fails on purpose)" \
	as_user "$B" image-create mem
assert_contains "$OUT$ERR" "268435456" "the build's RUN sees the group's 256 MB memory limit"
ds01_done
