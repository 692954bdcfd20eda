#!/usr/bin/env bash
# Issue 11 item 27, the new-user papercuts on the CLI side: `--gpus 0 --mig 1g` is refused for
# what it says (not as --cpu-only); image-create --framework with a framework the site does not
# have fails with the list the site has and leaves no empty project directory behind; a site's
# own framework name (not one of DS01's four) is accepted; -h promises no framework by name.
# ds01-test: kind=security budget=10
. "$(dirname "$0")/lib.sh"
ds01_setup
DS01_IMAGES_EXTRA="    rapids: $DS01_IMAGE"
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")

# --gpus 0 --mig: a usage error about those two options
assert_exit 2 -m "deploy --gpus 0 --mig 1g: usage error" as_user "$A" container-deploy p0 --gpus 0 --mig 1g
assert_contains "$ERR" "--gpus 0" "the message names --gpus 0"
assert_not_contains "$(head -n 1 <<<"$ERR")" "cpu-only" "the message does not talk about --cpu-only"
assert_no_container "p0._.$A" "nothing deployed"

# a framework the site lacks: refused by the daemon with the site's list, nothing left behind
[ -e "$HA/workspace/fw1" ] && fail "fw1 exists before the test"
assert_exit 2 -m "image-create fw1 --framework pytorch (the site has none)" \
	as_user "$A" image-create fw1 --framework pytorch --no-build
assert_contains "$ERR" "rapids" "the refusal lists the frameworks the site has"
[ -e "$HA/workspace/fw1" ] && not_ok "no empty ~/workspace/fw1 left behind" "$(ls -la "$HA/workspace/fw1")" ||
	ok "no empty ~/workspace/fw1 left behind"

# an existing project directory is never taken away, even when empty
as_user "$A" mkdir -p "$HA/workspace/fw2"
assert_exit 2 -m "image-create fw2 --framework pytorch (existing empty dir)" \
	as_user "$A" image-create fw2 --framework pytorch --no-build
[ -d "$HA/workspace/fw2" ] && ok "the user's own (empty) fw2 directory stays" ||
	not_ok "the user's own (empty) fw2 directory stays"

# the site's own framework name works
assert_exit 0 -m "image-create fw3 --framework rapids --no-build" \
	as_user "$A" image-create fw3 --framework rapids --no-build
assert_contains "$(cat "$HA/workspace/fw3/Dockerfile" 2>/dev/null)" "FROM $DS01_IMAGE" \
	"the Dockerfile builds on the site's rapids image"

# a pip install that cannot reach the index says so. pip is not in the test image: a stand-in
# prints what pip 23 prints without a route to PyPI, and fails as it does.
image_dockerfile "$A" pipnet \
	"RUN printf '#!/bin/sh\\necho \"WARNING: Retrying after connection broken by NewConnectionError: Failed to establish a new connection: [Errno 101] Network is unreachable\" >&2\\necho \"ERROR: Could not find a version that satisfies the requirement numpy (from versions: none)\" >&2\\necho \"ERROR: No matching distribution found for numpy\" >&2\\nexit 1\\n' >/bin/pip && chmod 755 /bin/pip" \
	"RUN pip install --no-cache-dir numpy"
assert_exit 1 -m "image-create pipnet: the pip step fails" as_user "$A" image-create pipnet
assert_contains "$ERR$OUT" "No matching distribution found for numpy" "the failure shows pip's last lines"
assert_match "$ERR$OUT" "hint: .*package index or mirror" "...and says the index could not be reached"
assert_contains "$ERR$OUT" "--find-links" "...and how to install without it"

# -h names no framework the site may not have
assert_exit 0 -m "image-create -h" as_user "$A" image-create -h
assert_not_contains "$OUT" "pytorch, tensorflow, jax or minimal" "-h does not list DS01's four frameworks as given"
assert_contains "$OUT" "images.frameworks" "-h says where the site's frameworks come from"

ds01_done
