#!/usr/bin/env bash
# Issue 11 item 13: package specs reach RUN lines quoted. image-create --packages
# "numpy>=1.20 scipy<2" writes them single-quoted, the build hands pip exactly those two
# arguments and makes no file named "=1.20" or "2" (no shell redirection); image-update --add
# re-pins a quoted spec. A spec with a character no requirement has is refused, naming it.
# ds01-test: kind=security budget=28
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user A"
DF=$(user_home "$A")/workspace/p1/Dockerfile
IMG=$(user_image "$A" p1)
assert_exit 0 -m "A: image-create p1 --packages 'numpy>=1.20 scipy<2' --no-build" \
	as_user "$A" image-create p1 --packages "numpy>=1.20 scipy<2" --no-build
pyrun() { sed -n '/^# >>> ds01 python packages/,/^# <<< ds01 python packages/p' "$DF" | grep '^RUN'; }
assert_eq "RUN pip install --no-cache-dir 'numpy>=1.20' 'scipy<2'" "$(pyrun)" \
	"the RUN line quotes both specs"
# A stand-in for pip (the busybox base has none) that records its arguments, one per line.
awk -v inst="$INSTANCE" '
	/^FROM / { print; print "LABEL it.instance=" inst; next }
	/^# >>> ds01 system packages/ {
		print "RUN printf '"'"'#!/bin/sh\\nfor a; do echo \"$a\"; done > /pip-args\\n'"'"' > /bin/pip && chmod 755 /bin/pip"
	}
	{ print }' "$DF" >"$DF.new" && cat "$DF.new" >"$DF" && rm -f "$DF.new"
assert_exit 0 -m "A: image-create p1 builds" as_user "$A" image-create p1
args=$(docker run --rm --pull never --network none --entrypoint cat "$IMG" /pip-args 2>&1)
assert_eq "$(printf 'install\n--no-cache-dir\nnumpy>=1.20\nscipy<2')" "$args" \
	"pip got the two specs as two arguments"
files=$(docker run --rm --pull never --network none --entrypoint sh "$IMG" -c 'ls -a / /workspace 2>/dev/null')
assert_match "$files" '^bin$' "the image's / can be listed (it has bin)"
assert_not_contains "$files" "=1.20" "no file named =1.20 was written"
assert_match "$(printf '%s\n' "$files" | grep -cx 2)" '^0$' "no file named 2 was written"
assert_exit 0 -m "A: image-update p1 --add 'scipy<3' (re-pins, rebuilds)" \
	as_user "$A" image-update p1 --add "scipy<3"
assert_eq "RUN pip install --no-cache-dir 'numpy>=1.20' 'scipy<3'" "$(pyrun)" \
	"image-update re-pinned the quoted spec"
assert_exit 2 -m "A: --packages 'x;id' is refused" \
	as_user "$A" image-create p2 --packages 'x;id' --no-build
assert_contains "$ERR" "x;id" "the refusal names the spec"
ds01_done
