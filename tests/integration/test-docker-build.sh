#!/usr/bin/env bash
# docker build through the Docker API endpoint is image-create's build: `docker build -t PROJECT`
# (Debian's 20.10 client, and the machine's newer one with the classic builder, as the profile
# script sets it) builds ds01-<uid>/PROJECT:latest with the build's output streamed back; the
# image is the user's (image-list shows it, docker run uses it); another tag, --build-arg,
# --network host and a Dockerfile FROM another user's image are refused with the reason.
# ds01-test: kind=functional budget=12
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
UA=$(id -u "$A")
WS=$(user_home "$A")/workspace
as_user "$A" mkdir -p "$WS/proj"
as_user "$A" sh -c "printf 'FROM %s\nRUN echo built-%s >/built.txt\n' '$DS01_IMAGE' '$$' >'$WS/proj/Dockerfile'"

capture as_user "$A" /usr/bin/docker build -t proj "$WS/proj"
assert_eq 0 "$RC" "docker build -t proj (Debian's client) ($ERR)"
assert_match "$OUT" 'Step 1/[0-9]+ : FROM' "the build's steps stream back"
assert_contains "$OUT" "Successfully tagged ds01-$UA/proj:latest" "it names the image it made"
assert_eq "$UA" "$(docker image inspect -f '{{index .Config.Labels "ds01.user_id"}}' "ds01-$UA/proj:latest")" \
	"ds01-$UA/proj:latest is A's (owner label)"
capture as_user "$A" env DOCKER_BUILDKIT=0 /usr/local/bin/docker build -t "ds01-$UA/proj2" "$WS/proj"
assert_eq 0 "$RC" "the newer client with the classic builder, -t ds01-$UA/proj2 ($ERR)"
capture as_user "$A" ds01 image-list --json
assert_contains "$OUT" "proj2" "image-list shows the image docker build made ($ERR)"
capture as_user "$A" docker run --rm "ds01-$UA/proj:latest" cat /built.txt
assert_eq "built-$$" "$OUT" "docker run uses the built image"

capture as_user "$A" /usr/bin/docker build -t someone/else "$WS/proj"
assert_ne 0 "$RC" "-t someone/else is refused"
assert_contains "$ERR" "ds01-$UA/" "it says which tags are the user's"
capture as_user "$A" /usr/bin/docker build --build-arg X=1 -t proj "$WS/proj"
assert_contains "$ERR" "--build-arg" "--build-arg is refused by name"
capture as_user "$A" /usr/bin/docker build --network host -t proj "$WS/proj"
assert_contains "$ERR" "--network" "--network host is refused by name"
as_user "$A" sh -c "printf 'FROM ds01-$UA/proj:latest\n' >'$WS/proj/Dockerfile.b'"
as_user "$B" mkdir -p "$(user_home "$B")/workspace/steal"
as_user "$B" sh -c "printf 'FROM ds01-$UA/proj:latest\n' >~/workspace/steal/Dockerfile"
capture as_user "$B" /usr/bin/docker build -t steal "$(user_home "$B")/workspace/steal"
assert_ne 0 "$RC" "B cannot build FROM A's image"
assert_contains "$ERR$OUT" "ds01-$UA/proj" "the refusal names the image"
capture docker image inspect "ds01-$(id -u "$B")/steal:latest"
assert_ne 0 "$RC" "no image was made for B"
docker rmi -f "ds01-$UA/proj:latest" "ds01-$UA/proj2:latest" >/dev/null 2>&1
ds01_done
