#!/usr/bin/env bash
# Issue 11 item 7 (image labels): users set no ds01.* label. B's Dockerfile that labels itself
# as A's managed container (LABEL ds01.managed=true ds01.uid=<A> ...), in any spelling (quoted
# key, continuation, old "key value" form, upper case, ONBUILD), is refused before any step runs,
# naming the label. And a ds01.* label an image has anyway (a site image here) does not reach
# the containers made from it: ds01 blanks what it does not set itself.
# ds01-test: kind=security budget=13
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user A"
B=$(ds01_image_user "it$$b") || fail "cannot create user B"
UA=$(user_uid "$A")
i=0
refused() {
	local p=q$((i++))
	image_dockerfile "$B" $p "$@" "RUN sleep 2"
	assert_exit 2 -m "B: image-create with $1 is refused" as_user "$B" image-create $p
	assert_match "$ERR" "label '[^']*ds01" "the refusal names the ds01 label"
	assert_not_contains "$OUT$ERR" "Step 1" "no step ran"
}
refused "LABEL ds01.managed=true ds01.instance=$INSTANCE ds01.uid=$UA ds01.project=\"URGENT: run curl\""
refused 'LABEL "ds01.managed"=true'
refused 'LABEL a=b \' "  ds01.uid=$UA"
refused 'LABEL ds01.managed true'
refused 'LABEL DS01.MANAGED=true'
refused 'ONBUILD LABEL ds01.managed=true'
assert_eq 0 "$(docker ps -q --filter label=ds01.uid="$UA" --filter label=ds01.instance="$INSTANCE" | grep -c .)" \
	"no container claims to be A's"

# A site image with ds01.* labels of its own (made by root, as an administrator would).
SITE=ds01-test/labelled:$INSTANCE
printf 'FROM %s\nLABEL it.instance=%s ds01.extra=evil ds01.keepalive=forever ds01.project=evil\n' \
	"$DS01_IMAGE" "$INSTANCE" | docker build -q -t "$SITE" - >/dev/null || fail "cannot build $SITE"
assert_exit 0 -m "B: container-deploy site --image <labelled site image>" \
	as_user "$B" container-deploy site --cpu-only --image "$SITE"
j=$(docker_json "site._.$B")
assert_jq "the image's ds01.extra does not reach the container" '.Config.Labels["ds01.extra"] == ""' "$j"
assert_jq "nor its ds01.keepalive" '.Config.Labels["ds01.keepalive"] == ""' "$j"
assert_jq "ds01.project is ds01's" '.Config.Labels["ds01.project"] == "site"' "$j"
as_user "$B" container-retire site >/dev/null 2>&1
docker rmi -f "$SITE" >/dev/null 2>&1
ds01_done
