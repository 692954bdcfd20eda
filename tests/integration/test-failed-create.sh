#!/usr/bin/env bash
# A deploy whose container cannot be created (image does not exist) fails with a message naming
# the image, and rolls back: no container, no GPU lease (usage 0; a deploy needing every GPU
# succeeds afterwards).
# ds01-test: kind=functional budget=7
DS01_GPUS=2
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"

MISSING="container-deploy: image 'does-not-exist:latest' is not on this server - build it with image-create, or pick one that 'docker images' lists (ds01 pulls nothing)"
assert_exit 4 -m "deploy --image does-not-exist:latest fails: not found (exit 4)" \
	as_user "$A" container-deploy bad --image does-not-exist:latest
assert_eq "$MISSING" "$ERR" "the error names the image and says ds01 pulls nothing"
assert_no_container "bad._.$A" "no container left"
assert_instance_empty "nothing of this instance in Docker"
capture as_user "$A" check-limits --json
assert_jq "check-limits: usage.gpu_equivalents == 0 and no containers" \
	'.usage.gpu_equivalents == 0 and .usage.containers == 0' "$OUT"
list_json "$A"
assert_jq "container-list is empty" '(.containers | length) == 0' "$OUT"

assert_exit 4 -m "deploy --gpus 2 --image does-not-exist:latest fails (exit 4)" \
	as_user "$A" container-deploy bad2 --gpus 2 --image does-not-exist:latest
assert_eq "$MISSING" "$ERR" "...with the same message"
assert_no_container "bad2._.$A" "no container left"
assert_eq 0 "$(usage_gpueq "$A")" "usage.gpu_equivalents == 0 after the 2-GPU failure"

assert_exit 0 -m "deploy all --gpus 2 (every GPU) succeeds after the failures" \
	as_user "$A" container-deploy all --gpus 2
assert_eq 2 "$(container_entry "$A" all | jq '.gpus | length')" "all has both GPUs"
assert_exit 0 -m "retire all" as_user "$A" container-retire all
assert_eq 0 "$(usage_gpueq "$A")" "usage back to 0"

# The daemon is still healthy.
assert_ok "daemon answers ds01 version" as_user "$A" ds01 version
assert_instance_empty "nothing left in Docker"
ds01_done
