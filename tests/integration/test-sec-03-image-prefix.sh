#!/usr/bin/env bash
# Issue 11 item 3: an image is usable only when ds01 can tell whose it is. User A builds an image
# that COPYs a secret file; its build leaves intermediate layers with no tag and no owner.
# User B deploys with --image set to every one-digit hex prefix (0-f) and to each of A's layer
# ids, full and short: every deploy is refused or runs an image that is none of A's, and B never
# reads A's file. The site image stays usable.
# ds01-test: kind=security budget=24
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user A"
B=$(ds01_image_user "it$$b") || fail "cannot create user B"
SECRET="TOPSECRET-$$-$RANDOM"
IMG=$(user_image "$A" vault)
image_dockerfile "$A" vault "COPY secret /secret" "RUN true"
printf '%s\n' "$SECRET" >"$(user_home "$A")/workspace/vault/secret"
chown "$A" "$(user_home "$A")/workspace/vault/secret"
assert_exit 0 -m "A: image-create vault" as_user "$A" image-create vault
image_exists "$IMG" || fail "A's image was not built"
# A's image and its local ancestors that are not the site's base image.
BASE_ID=$(docker image inspect -f '{{.Id}}' "$DS01_IMAGE")
A_IDS=$(docker history -q --no-trunc "$IMG" | grep -v '<missing>' | grep -vxF "$BASE_ID")
LAYER=$(printf '%s\n' "$A_IDS" | sed -n 2p)
[ -n "$LAYER" ] || fail "A's build left no intermediate layer to try"
note "A's image and layers: $(printf '%s\n' "$A_IDS" | tr '\n' ' ')"

# try REF: B's deploy with --image REF is refused, or its container's image is none of A's and
# it cannot read /secret.
try() {
	local ref=$1 p=p$2
	capture as_user "$B" container-deploy "$p" --cpu-only --image "$ref"
	if [ "$RC" = 0 ]; then
		local id
		id=$(docker inspect -f '{{.Image}}' "$p._.$B" 2>/dev/null)
		if printf '%s\n' "$A_IDS" | grep -qxF "$id"; then
			not_ok "B: --image $ref is refused (exit 4: not found, or another user's), or none of A's" "ran A's image $id"
		else
			ok "B: --image $ref is refused (exit 4: not found, or another user's), or none of A's"
		fi
		capture as_user "$B" container-run "$p" -- cat /secret
		assert_not_contains "$OUT" "$SECRET" "B: --image $ref does not read A's secret"
		as_user "$B" container-retire "$p" >/dev/null 2>&1
	elif [ "$RC" = 4 ] && { [[ "$ERR" == *"image '$ref' is not on this server"* ]] ||
		[[ "$ERR" == *"no image '$ref' of yours - it belongs to another user"* ]]; }; then
		ok "B: --image $ref is refused (exit 4: not found, or another user's), or none of A's"
	else
		not_ok "B: --image $ref is refused (exit 4: not found, or another user's), or none of A's" "$(_ds01_last)"
	fi
}
i=0
for h in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do
	try "$h" $((i++))
done
for id in $A_IDS; do
	try "$id" $((i++))
	short=${id#sha256:}
	try "${short:0:12}" $((i++))
done
assert_exit 4 -m "B: --image <A's layer> is refused (exit 4, as a missing image)" \
	as_user "$B" container-deploy q --cpu-only --image "${LAYER#sha256:}"
assert_contains "$ERR" "another user" "the refusal says whose it may be"
assert_exit 0 -m "B: --image <the site image> is usable" \
	as_user "$B" container-deploy site --cpu-only --image "$DS01_IMAGE"
as_user "$B" container-retire site >/dev/null 2>&1
ds01_done
