#!/usr/bin/env bash
# Issue 11 item 14: builds are in the user's usage and their images' disk is bounded.
#  - While B's build runs, check-limits --json (and the admin's ds01 users --json) count it
#    against images.max_builds_per_user; once it ends, it is gone.
#  - images.max_images_mb_per_user (1 MB here): B's first build succeeds; with B's images at
#    or over the cap the next build is refused (exit 3) naming the key and the fix; image-list
#    shows the total against the cap; image-delete makes room and the build works again.
# ds01-test: kind=security budget=20
. "$(dirname "$0")/lib.sh"
ds01_setup
# shellcheck disable=SC2034 # read by ds01_image_setup (lib.sh)
DS01_IMAGES_EXTRA='  max_images_mb_per_user: 1'
ds01_image_setup
ds01_start_daemon

B=$(ds01_image_user "it$$b") || fail "cannot create user B"
builds() { as_user "$B" check-limits --json 2>/dev/null | jq -e ".usage.builds == $1" >/dev/null; }
assert_ok "B: check-limits --json counts no build and the limit of 1" builds 0
assert_jq "check-limits --json gives max_builds_per_user" '.limits.max_builds_per_user == 1' \
	"$(as_user "$B" check-limits --json)"

image_dockerfile "$B" slow "RUN echo started && sleep 4"
as_user_bg "$B" image-create slow >"$T/slow.out" 2>&1
pid=$!
wait_for 20 builds 1 && ok "B: check-limits --json shows the running build" ||
	not_ok "B: check-limits --json shows the running build" "$(cat "$T/slow.out")"
assert_jq "ds01 users --json shows B's running build" \
	'.users[] | select(.user == "'"$B"'") | .usage.builds == 1' "$(as_root ds01 users "$B" --json)"
assert_contains "$(as_user "$B" check-limits)" "image builds" "check-limits lists image builds"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] && ok "B: the first build succeeds under the cap" ||
	not_ok "B: the first build succeeds under the cap (exit $rc)" "$(cat "$T/slow.out")"
assert_ok "B: check-limits --json counts no build once it ended" builds 0

assert_exit 0 -m "B: image-list --json" as_user "$B" image-list --json
assert_jq "image-list shows B's images against the 1 MB cap" \
	'.disk.max == 1048576 and .disk.used >= 1048576' "$OUT"
image_dockerfile "$B" second "RUN true"
assert_exit 3 -m "B: a build with B's images over the cap is refused (exit 3)" \
	as_user "$B" image-create second
assert_contains "$ERR" "max_images_mb_per_user" "the refusal names the key"
assert_contains "$ERR" "image-delete" "the refusal names the fix"
assert_not_contains "$OUT$ERR" "Step 1" "the refused build did not start"
assert_exit 0 -m "B: image-delete slow" as_user "$B" image-delete slow
assert_exit 0 -m "B: with room again, the build works" as_user "$B" image-create second
ds01_done
