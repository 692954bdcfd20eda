#!/usr/bin/env bash
# Issue 11 item 4: a build cannot read another user's image, however the Dockerfile or the
# context names it. User B tries the three reported bypasses of the FROM check against A's image
# holding a secret file: FROM "quoted", FROM \ + newline + name, and a context tar (sent by a
# raw client, without the CLI) with two Dockerfile entries (the check read the first, Docker
# built the last); and variants (escape directive, COPY --from='quoted', a base's ONBUILD
# trigger). Each is refused with a message naming the problem, and the secret is never printed.
# A raw client's plain context still builds (the refusals are not the client's fault).
# ds01-test: kind=security budget=18
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user A"
B=$(ds01_image_user "it$$b") || fail "cannot create user B"
SECRET="TOPSECRET-$$-$RANDOM"
IMG=$(user_image "$A" vault)
image_dockerfile "$A" vault "RUN echo $SECRET > /secret && chmod 644 /secret"
assert_exit 0 -m "A: image-create vault" as_user "$A" image-create vault
image_exists "$IMG" || fail "A's image was not built"

# attack NAME DESC: B's image-create NAME (its Dockerfile written before) is refused and never
# shows A's secret.
attack() {
	assert_exit 5 -m "B: image-create $1 ($2) is refused (exit 5, permission)" as_user "$B" image-create "$1"
	assert_not_contains "$OUT$ERR" "$SECRET" "$2: A's secret is not printed"
	assert_contains "$ERR" "another user" "$2: the refusal says the image is another user's"
	image_exists "$(user_image "$B" "$1")" && not_ok "$2: no image for B" || ok "$2: no image for B"
}
DFB() { printf '%s\n' "$@" >"$(user_home "$B")/workspace/$P/Dockerfile"; }

P=quoted
image_dockerfile "$B" $P
DFB "FROM \"$IMG\"" "LABEL it.instance=$INSTANCE" "RUN cat /secret"
attack $P 'FROM "quoted"'

P=cont
image_dockerfile "$B" $P
DFB 'FROM \' "$IMG" "LABEL it.instance=$INSTANCE" "RUN cat /secret"
attack $P 'FROM \ + newline'

P=escape
image_dockerfile "$B" $P
DFB '# escape=`' 'FROM `' "  $IMG" "LABEL it.instance=$INSTANCE" "RUN cat /secret"
attack $P 'escape directive + continuation'

P=copyfrom
image_dockerfile "$B" $P
DFB "FROM $DS01_IMAGE" "LABEL it.instance=$INSTANCE" "COPY --from='$IMG' /secret /s" "RUN cat /s"
attack $P "COPY --from='quoted'"

# A base whose ONBUILD trigger reads A's image (made by root here, as an image built before
# ds01 checked triggers could be): the trigger runs in B's build, so it is checked too.
TRIG=ds01-test/trigger:$INSTANCE
printf 'FROM %s\nLABEL it.instance=%s\nONBUILD COPY --from=%s /secret /s\n' \
	"$DS01_IMAGE" "$INSTANCE" "$IMG" | docker build -q -t "$TRIG" - >/dev/null || fail "cannot build $TRIG"
P=onbuild
image_dockerfile "$B" $P
DFB "FROM $TRIG" "LABEL it.instance=$INSTANCE" "RUN cat /s"
attack $P "a base's ONBUILD COPY --from"
docker rmi -f "$TRIG" >/dev/null 2>&1

# --- two Dockerfile entries in a context sent without the CLI ---------------------------------
cp "$(dirname "$0")/raw-rpc.py" "$T/raw-rpc.py"
chmod 755 "$T/raw-rpc.py"
/usr/bin/python3 - "$T" "$DS01_IMAGE" "$IMG" "$INSTANCE" <<'PY'
import io, sys, tarfile
t, base, victim, inst = sys.argv[1:]
def tar(path, entries):
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        for name, text in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(text)
            tf.addfile(ti, io.BytesIO(text.encode()))
benign = f"FROM {base}\nLABEL it.instance={inst}\nRUN true\n"
evil = f"FROM {victim}\nLABEL it.instance={inst}\nRUN cat /secret\n"
tar(f"{t}/two.tar", [("Dockerfile", benign), ("./Dockerfile", evil)])
tar(f"{t}/one.tar", [("Dockerfile", benign)])
PY
chmod 644 "$T/two.tar" "$T/one.tar"
assert_exit 1 -m "B: a raw build with two Dockerfile entries is refused (ok: false)" \
	as_user "$B" /usr/bin/python3 "$T/raw-rpc.py" send twotar "$T/two.tar"
assert_not_contains "$OUT$ERR" "$SECRET" "two Dockerfiles: A's secret is not printed"
assert_contains "$OUT" "more than one Dockerfile" "two Dockerfiles: the refusal names the problem"
image_exists "$(user_image "$B" twotar)" && not_ok "two Dockerfiles: no image for B" ||
	ok "two Dockerfiles: no image for B"
assert_exit 0 -m "B: the same raw client's plain context builds" \
	as_user "$B" /usr/bin/python3 "$T/raw-rpc.py" send onetar "$T/one.tar"
image_exists "$(user_image "$B" onetar)" && ok "B's plain raw build made its image" ||
	not_ok "B's plain raw build made its image"
ds01_done
