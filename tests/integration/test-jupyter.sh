#!/usr/bin/env bash
# ds01 jupyter (issue 14, item 2), with Debian's real Jupyter Notebook in the image
# (mkimage.sh jupyter): A runs `ds01 jupyter nb`; it publishes port 8888, starts Jupyter in the
# background and prints the laptop's ssh line and a URL with a fresh token. Through the printed
# socket, as A: the API answers with the token and refuses without it (never an empty token), a
# notebook saved through it lands in A's workspace as A's file, and Jupyter still runs after the
# command ended. B cannot open A's socket. A second `ds01 jupyter nb` finds it running. In a
# container without Jupyter the command says how to get it (exit 3) and unpublishes the port it
# published; a bad port is a usage error.
# ds01-test: kind=functional budget=16
. "$(dirname "$0")/lib.sh"
ds01_setup
# one build at a time (the plain and sanitizer passes may both want it); minutes on a fresh host
flock "/tmp/ds01-test-jupyter-image.lock" "$(dirname "$0")/../../scripts/mkimage.sh" jupyter >/dev/null ||
	fail "cannot build the test image ds01-test/jupyter (debootstrap and apt from the Debian mirror)"
DS01_IMAGES_EXTRA="    jupyter: ds01-test/jupyter:latest"
ds01_write_image_config
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
HA=$(user_home "$A")
PSOCK=$T/run/ports/$A/nb.8888

assert_exit 0 -m "A: container-deploy nb (the Jupyter image)" \
	as_user "$A" container-deploy nb --cpu-only --image ds01-test/jupyter:latest
assert_exit 0 -m "A: ds01 jupyter nb" as_user "$A" ds01 jupyter nb
assert_contains "$OUT" "ssh -N -L 8888:$PSOCK $A@" "it prints the laptop's ssh line"
TOKEN=$(grep -o 'http://localhost:8888/?token=[0-9a-f]*' <<<"$OUT" | sed 's/.*token=//')
assert_match "$TOKEN" '^[0-9a-f]{48}$' "... and the URL with a fresh 48-digit token"

# get USER PATH: curl through A's published socket as USER; OUT is "<status> <body>"
get() { capture as_user "$1" curl -s -m 10 -w ' %{http_code}' --unix-socket "$PSOCK" "http://localhost:8888$2"; }
get "$A" "/api/contents?token=$TOKEN"
assert_match "$OUT" '"type": ?"directory".* 200$' "through the socket, A lists the notebook's files with the token"
get "$A" "/api/contents"
assert_match "$OUT" ' 403$' "without the token Jupyter refuses (403)"
capture as_user "$A" curl -s -m 10 -o /dev/null -w '%{http_code}' -X PUT --unix-socket "$PSOCK" \
	-H 'Content-Type: application/json' --data '{"type": "notebook"}' \
	"http://localhost:8888/api/contents/made-in-jupyter.ipynb?token=$TOKEN"
assert_eq 201 "$OUT" "A saves a new notebook through Jupyter"
[ -f "$HA/workspace/nb/made-in-jupyter.ipynb" ] &&
	assert_eq "$(user_uid "$A")" "$(stat -c %u "$HA/workspace/nb/made-in-jupyter.ipynb")" \
		"... it is in A's workspace, A's own file" ||
	not_ok "... it is in A's workspace, A's own file" "$(ls -la "$HA/workspace/nb")"
get "$B" "/api?token=$TOKEN"
assert_ne 0 "$RC" "B cannot open A's socket, even with the token"

assert_exit 0 -m "A: ds01 jupyter nb again" as_user "$A" ds01 jupyter nb
assert_contains "$OUT" "already answers on port 8888" "... says it is already running"
assert_exit 0 -m "container-top nb" as_user "$A" container-top nb
assert_contains "$OUT" "jupyter" "Jupyter runs on after the command ended"

# --- no Jupyter in the image; a bad port ---------------------------------------------------------
assert_exit 0 -m "A: container-deploy plain" as_user "$A" container-deploy plain --cpu-only
assert_exit 3 -m "A: ds01 jupyter plain (no Jupyter in the image)" as_user "$A" ds01 jupyter plain
assert_contains "$ERR" "Jupyter is not installed" "... says so"
assert_contains "$ERR" "image-update" "... and how to add it"
assert_exit 0 -m "container-port plain list" as_user "$A" container-port plain list
assert_contains "$OUT" "publishes no port" "... and the port it published is gone again"
assert_exit 2 -m "ds01 jupyter nb --port 0" as_user "$A" ds01 jupyter nb --port 0

for p in nb plain; do
	as_user "$A" container-retire "$p" >/dev/null 2>&1
done
assert_instance_empty "nothing left in Docker"
ds01_done
