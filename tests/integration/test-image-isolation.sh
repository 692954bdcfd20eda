#!/usr/bin/env bash
# Per-user images are private (issue #5): user B can neither list, deploy (by name, by id, or
# as the FROM of their own build) nor delete user A's ds01-<uid>/ image; an admin sees and may
# delete everyone's. And image-update as A: --add edits the marked python block (each package
# once, a new pin replaces the old one) and rebuilds; --add-system that cannot build (no
# apt-get in the base) fails naming the step and keeps the previous image.
# ds01-test: kind=functional budget=37
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user A"
B=$(ds01_image_user "it$$b") || fail "cannot create user B"
HA=$(user_home "$A")
UA=$(user_uid "$A")
IMG=$(user_image "$A" p1)
DF=$HA/workspace/p1/Dockerfile

assert_exit 0 -m "A: image-create p1 --no-build" as_user "$A" image-create p1 --no-build
# A's own edits outside the marked blocks: an instance label (for cleanup) and a stand-in for
# pip, which the busybox base lacks, that records its arguments in the image.
awk -v inst="$INSTANCE" '
	/^FROM / { print; print "LABEL it.instance=" inst; next }
	/^# >>> ds01 system packages/ {
		print "RUN printf '"'"'#!/bin/sh\\necho \"$@\" >> /pip-args\\n'"'"' > /bin/pip && chmod 755 /bin/pip"
	}
	{ print }' "$DF" >"$DF.new" && cat "$DF.new" >"$DF" && rm -f "$DF.new"
assert_exit 0 -m "A: image-create p1 builds" as_user "$A" image-create p1
image_exists "$IMG" && ok "$IMG exists" || fail "A's image was not built"
IMG_ID=$(docker image inspect -f '{{.Id}}' "$IMG")

# --- B cannot see, use or delete A's image -----------------------------------------------------------
assert_exit 0 -m "B: image-list --json" as_user "$B" image-list --json
assert_jq "B's image-list is empty" '.images | length == 0' "$OUT"
assert_exit 5 -m "B: image-list --all (not an admin) -> 5" as_user "$B" image-list --all --json
assert_contains "$ERR" "--all is for administrators" "...saying --all is for administrators"
assert_exit 4 -m "B: container-deploy x --image $IMG -> 4 (not found)" \
	as_user "$B" container-deploy x --cpu-only --image "$IMG"
assert_eq "container-deploy: no image '$IMG' of yours - image-list shows yours (ds01-$(user_uid "$B")/<project>)" \
	"$ERR" "the refusal answers as for a missing image"
assert_no_container "x._.$B" "no container for B"
# Every other name Docker resolves to A's image: the full id, the bare 64 hex digits, the
# 12-digit short id `docker images` shows, and the docker.io/ spelling of the name.
HEX=${IMG_ID#sha256:}
SHORT=${HEX:0:12}
assert_eq "$IMG_ID" "$(docker image inspect -f '{{.Id}}' "$SHORT" 2>/dev/null)" \
	"(the short id $SHORT is A's image to Docker)"
n=2
for ref in "$IMG_ID" "$HEX" "$SHORT" "docker.io/$IMG"; do
	assert_exit 4 -m "B: container-deploy x$n --image $ref (A's image) -> 4" \
		as_user "$B" container-deploy "x$n" --cpu-only --image "$ref"
	assert_eq "container-deploy: no image '$ref' of yours - it belongs to another user, or to nobody ds01 knows (an unnamed build layer); use your own (ds01-$(user_uid "$B")/<project>) or a shared image" \
		"$ERR" "...answering as for a missing image"
	assert_no_container "x$n._.$B" "no container for B from $ref"
	n=$((n + 1))
done
for x in x2 x3 x4 x5; do # so that a leak above does not fail the checks below as well
	docker_exists "$x._.$B" && as_user "$B" container-retire "$x" >/dev/null 2>&1
done
image_dockerfile "$B" bx "RUN true"
sed -i "s|^FROM .*|FROM $IMG|" "$(user_home "$B")/workspace/bx/Dockerfile"
assert_exit 5 -m "B: image-create bx FROM A's image is refused (exit 5)" as_user "$B" image-create bx
assert_eq "image-create: the Dockerfile builds on '$IMG', which belongs to another user - build on your own images or a shared one" \
	"$ERR" "...saying the base image is another user's"
image_exists "$(user_image "$B" bx)" && not_ok "no image for B built on A's" ||
	ok "no image for B built on A's"
assert_exit 4 -m "B: image-delete $IMG -> 4" as_user "$B" image-delete "$IMG"
assert_exit 4 -m "B: image-delete p1 (B has none) -> 4" as_user "$B" image-delete p1
assert_exit 4 -m "B: image-delete $IMG --force -> 4" as_user "$B" image-delete "$IMG" --force
assert_eq "$IMG_ID" "$(docker image inspect -f '{{.Id}}' "$IMG" 2>/dev/null)" "A's image is untouched"

assert_exit 0 -m "root: image-list --all --json" as_root ds01 image-list --all --json
assert_jq "the admin sees A's image" \
	'[.images[] | select(.image == "'"$IMG"'" and .uid == '"$UA"' and .project == "p1")] | length == 1' "$OUT"

# --- image-update ---------------------------------------------------------------------------------
pyrun() { sed -n '/^# >>> ds01 python packages/,/^# <<< ds01 python packages/p' "$DF" | grep '^RUN'; }
sysrun() { sed -n '/^# >>> ds01 system packages/,/^# <<< ds01 system packages/p' "$DF" | grep '^RUN'; }
assert_exit 0 -m "A: image-update p1 --add 'pkgA pkgB' rebuilds" as_user "$A" image-update p1 --add 'pkgA pkgB'
assert_eq "RUN pip install --no-cache-dir pkgA pkgB" "$(pyrun)" "the python block's RUN line lists both, once"
assert_eq "$A" "$(stat -c %U "$DF")" "the Dockerfile still belongs to A"
ID2=$(docker image inspect -f '{{.Id}}' "$IMG" 2>/dev/null)
assert_ne "$IMG_ID" "$ID2" "the image was rebuilt"
assert_eq "install --no-cache-dir pkgA pkgB" \
	"$(docker run --rm --network none --entrypoint cat "$IMG" /pip-args 2>&1)" \
	"the rebuilt image ran pip install with both packages"
assert_exit 0 -m "A: image-update p1 --add pkgA (already there)" as_user "$A" image-update p1 --add pkgA
assert_eq "RUN pip install --no-cache-dir pkgA pkgB" "$(pyrun)" "no duplicate pkgA"
assert_eq "$ID2" "$(docker image inspect -f '{{.Id}}' "$IMG" 2>/dev/null)" "nothing to add: no rebuild"
assert_exit 0 -m "A: image-update p1 --add pkga==2.0 (a pin)" as_user "$A" image-update p1 --add 'pkga==2.0'
assert_eq "RUN pip install --no-cache-dir pkga==2.0 pkgB" "$(pyrun)" "the pin replaces pkgA in place"
ID3=$(docker image inspect -f '{{.Id}}' "$IMG" 2>/dev/null)
assert_ne "$ID2" "$ID3" "the image was rebuilt with the pin"

assert_exit 1 -m "A: image-update p1 --add-system curl (no apt-get in busybox) -> 1" \
	as_user "$A" image-update p1 --add-system curl
assert_match "$(sed -n 1p <<<"$ERR")" "^image-update: the build of $IMG failed at step [0-9]+/[0-9]+ \\(RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/\\*\\): The command '/bin/sh -c apt-get update && [^']*' returned a non-zero code: 127\$" \
	"the message names the failing step, the apt-get one, and its exit code 127 (not found)"
assert_match "$(printf '%s\n' "$ERR" | sed -n '/last output/,$p')" "apt-get.*not found" \
	"the step's output (apt-get: not found) is shown"
assert_eq "RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*" \
	"$(sysrun)" "the system block's RUN line lists curl"
assert_eq "$ID3" "$(docker image inspect -f '{{.Id}}' "$IMG" 2>/dev/null)" "a failed rebuild keeps the previous image"
assert_exit 2 -m "A: image-update p1 --add 'a;b' -> 2" as_user "$A" image-update p1 --add 'a;b'
assert_exit 2 -m "A: image-update p1 (nothing to do) -> 2" as_user "$A" image-update p1
assert_exit 4 -m "A: image-update nosuch --add x -> 4" as_user "$A" image-update nosuch --add x
assert_exit 4 -m "B: image-update p1 --add x (B has no p1) -> 4" as_user "$B" image-update p1 --add x

# --- the admin may delete anyone's image ----------------------------------------------------------------
assert_exit 0 -m "root: image-delete $IMG" as_root ds01 image-delete "$IMG"
image_exists "$IMG" && not_ok "A's image is gone after the admin's delete" ||
	ok "A's image is gone after the admin's delete"
[ -f "$DF" ] && ok "A's Dockerfile is kept" || not_ok "A's Dockerfile is kept"

assert_instance_empty "nothing left in Docker"
ds01_done
