#!/usr/bin/env bash
# image-create end to end (issue #5): the Dockerfile template (the user's file, kept unless
# --force), a real build through ds01d tagged ds01-<uid>/<project>:latest with the owner's labels
# and uid:gid, the progress stream in order, deploy/run using the image as the user (name and
# uid from the image's /etc/passwd), image-list with the containers using it, image-delete
# refusing while in use and keeping the Dockerfile, and package names checked before anything.
# ds01-test: kind=functional budget=25
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_image_setup
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
UA=$(user_uid "$A")
GA=$(user_gid "$A")
IMG=$(user_image "$A" p1)
DF=$HA/workspace/p1/Dockerfile

# --- the template -------------------------------------------------------------------------------
assert_exit 0 -m "image-create p1 --no-build" as_user "$A" image-create p1 --no-build
[ -f "$DF" ] && ok "workspace/p1/Dockerfile written" || fail "no $DF ($(_ds01_last))"
assert_eq "$A" "$(stat -c %U "$DF")" "the Dockerfile belongs to the user"
df=$(cat "$DF")
assert_contains "$df" "FROM $DS01_IMAGE" "FROM is images.frameworks.minimal"
assert_contains "$df" "# >>> ds01 python packages" "python package marker"
assert_contains "$df" "# >>> ds01 system packages" "system package marker"
assert_contains "$df" "ENV PYTHONUNBUFFERED=1" "PYTHONUNBUFFERED=1"
assert_contains "$df" 'USER ${DS01_UID}:${DS01_GID}' 'USER ${DS01_UID}:${DS01_GID}'
assert_not_contains "$(grep -v '^ *#' "$DF")" "sudo" "no sudo in the template (outside comments)"
assert_eq no "$(image_exists "$IMG" && echo yes || echo no)" "--no-build builds nothing"

echo "# my own edit $$" >>"$DF"
assert_exit 0 -m "image-create p1 --no-build again" as_user "$A" image-create p1 --no-build
assert_contains "$(cat "$DF")" "# my own edit $$" "a second image-create keeps the user's edit"
assert_exit 1 -m "image-create p1 --packages numpy on an existing Dockerfile -> 1" \
	as_user "$A" image-create p1 --no-build --packages numpy
assert_eq "image-create: $DF exists already; add packages to it with image-update p1 --add '...' (or --add-system), or regenerate it with --force (your edits are lost)" \
	"$ERR" "the refusal names image-update and --force"
assert_contains "$(cat "$DF")" "# my own edit $$" "...and the edit is still there"
assert_exit 0 -m "image-create p1 --no-build --force" as_user "$A" image-create p1 --no-build --force
assert_not_contains "$(cat "$DF")" "# my own edit $$" "--force regenerates the Dockerfile"

# --- the build, with the progress stream --------------------------------------------------------
assert_exit 0 -m "image-create p1 --json builds" as_user "$A" image-create p1 --json
progress=$OUT

if printf '%s\n' "$progress" | jq -e . >/dev/null 2>&1; then
	ok "stdout is a stream of JSON values"
else
	not_ok "stdout is a stream of JSON values" "$(printf '%s' "$progress" | head -c 2000)"
fi
steps=$(printf '%s\n' "$progress" | jq -c 'select(has("step")) | .step' 2>/dev/null | paste -sd, -)
last_m=$(printf '%s\n' "$progress" | jq -r 'select(has("step")) | .steps' 2>/dev/null | tail -n 1)
expect=$(seq -s, 1 "${last_m:-0}")
assert_ne "" "$steps" "progress carries ds01 step messages"
assert_eq "$expect" "$steps" "step numbers go 1..M in order (M=$last_m)"
last=$(printf '%s\n' "$progress" | tail -n 1)
assert_jq "the last line is the result with the image" '.image == "'"$IMG"'" and (.id | startswith("sha256:"))' "$last"
n_stream=$(printf '%s\n' "$progress" | jq -c 'select(has("stream"))' 2>/dev/null | grep -c .)
[ "${n_stream:-0}" -gt 0 ] && ok "Docker's own stream messages reach the CLI" ||
	not_ok "Docker's own stream messages reach the CLI" "$(printf '%s' "$progress" | head -c 2000)"
assert_event image.build "$A"

ij=$(image_json "$IMG")
assert_ne "" "$ij" "$IMG exists in Docker"
assert_jq "label ds01.user_id=$UA" '.Config.Labels["ds01.user_id"] == "'"$UA"'"' "$ij"
assert_jq "label ds01.project=p1" '.Config.Labels["ds01.project"] == "p1"' "$ij"
assert_jq "Config.User is $UA:$GA" '.Config.User == "'"$UA:$GA"'"' "$ij"

# A second build from the (unchanged) Dockerfile, plain output: a step counter on stdout.
assert_exit 0 -m "image-create p1 (plain output) rebuilds" as_user "$A" image-create p1
assert_match "$OUT" "Step 1/[0-9]+ : FROM" "plain output shows the step counter"
assert_match "$OUT" "Built $IMG" "plain output ends with 'Built <image>'"

# --- used by a container ------------------------------------------------------------------------
assert_exit 0 -m "container-deploy p1 --cpu-only" as_user "$A" container-deploy p1 --cpu-only
assert_eq "$IMG" "$(docker inspect -f '{{.Config.Image}}' "p1._.$A" 2>/dev/null)" \
	"the container runs the project's image"
assert_exit 0 -m "container-run p1 -- id -un" as_user "$A" container-run p1 -- id -un
assert_eq "$A" "$OUT" "inside, the user has their login name (the image's /etc/passwd)"
assert_exit 0 -m "container-run p1 -- id -u" as_user "$A" container-run p1 -- id -u
assert_eq "$UA" "$OUT" "inside, the user has their uid"
assert_exit 0 -m "container-run p1 -- sh -c 'echo \$PYTHONUNBUFFERED \$XDG_CACHE_HOME'" \
	as_user "$A" container-run p1 -- sh -c 'echo $PYTHONUNBUFFERED $XDG_CACHE_HOME'
assert_eq "1 /workspace/.cache" "$OUT" "the image's environment reaches the container"
# Jupyter, if the user installs it, listens where container-port reaches it, token untouched
assert_exit 0 -m "container-run p1 -- cat /etc/jupyter/jupyter_server_config.py" \
	as_user "$A" container-run p1 -- cat /etc/jupyter/jupyter_server_config.py
assert_contains "$OUT" "c.ServerApp.ip = '0.0.0.0'" "the image's Jupyter listens on the container's network"
assert_contains "$OUT" "c.ServerApp.open_browser = False" "and opens no browser"
assert_not_contains "$OUT" "token" "and keeps Jupyter's own random token"

assert_exit 0 -m "image-list --json" as_user "$A" image-list --json
assert_jq "image-list shows $IMG used by p1._.$A" \
	'[.images[] | select(.image == "'"$IMG"'" and .project == "p1" and (.containers | index("p1._.'"$A"'")))] | length == 1' "$OUT"
assert_exit 0 -m "image-list (table)" as_user "$A" image-list
assert_contains "$OUT" "$IMG" "the table names the image"
assert_contains "$OUT" "p1._.$A" "the table names the container"

assert_exit 1 -m "image-delete p1 while p1._.$A uses it -> 1" as_user "$A" image-delete p1
# (the container list is shown as Docker's JSON array today; either form names the container)
assert_match "$ERR" "^image-delete: $IMG is used by \\[?\"?p1\\._\\.$A\"?\\]? - retire those first \\(container-retire\\), or delete anyway with --force\$" \
	"the refusal names the container using it (p1._.$A), container-retire and --force"
image_exists "$IMG" && ok "the image is still there" || not_ok "the image is still there"

assert_exit 0 -m "container-retire p1" as_user "$A" container-retire p1
assert_exit 0 -m "image-delete p1 after the retire" as_user "$A" image-delete p1
image_exists "$IMG" && not_ok "the image is gone" || ok "the image is gone"
[ -f "$DF" ] && ok "the Dockerfile is kept" || not_ok "the Dockerfile is kept"
assert_exit 4 -m "image-delete p1 again -> 4" as_user "$A" image-delete p1
assert_exit 0 -m "image-list --json after the delete" as_user "$A" image-list --json
assert_jq "image-list no longer shows it" '[.images[] | select(.image == "'"$IMG"'")] | length == 0' "$OUT"
assert_event image.delete "$A"

# --- bad input ----------------------------------------------------------------------------------
USAGE_IC="$(as_user "$A" image-create --help | head -n 1)
Try 'image-create --help' for more."
assert_match "$USAGE_IC" '^Usage: image-create PROJECT ' "(image-create's usage line)"
assert_exit 2 -m "image-create p2 --packages 'x; rm -rf /' -> 2" \
	as_user "$A" image-create p2 --no-build --packages 'x; rm -rf /'
assert_eq "image-create: --packages: 'x;' is not a package name (letters, digits and ._+=<>!~,@:/- only)
$USAGE_IC" "$ERR" "...naming the bad package"
assert_exit 2 -m "image-create p2 --system 'curl\$(id)' -> 2" \
	as_user "$A" image-create p2 --no-build --system 'curl$(id)'
assert_eq "image-create: --system: 'curl\$(id)' is not a package name (letters, digits and ._+=<>!~,@:/- only)
$USAGE_IC" "$ERR" "...naming the bad package"
assert_exit 2 -m "image-create p2 --packages '--index-url=http://x' -> 2" \
	as_user "$A" image-create p2 --no-build --packages '--index-url=http://x'
assert_eq "image-create: --packages: '--index-url=http://x' is an option, not a package name
$USAGE_IC" "$ERR" "...saying it is an option, not a package"
[ -e "$HA/workspace/p2/Dockerfile" ] && not_ok "no Dockerfile written for p2" || ok "no Dockerfile written for p2"
assert_exit 2 -m "image-create 'Bad_Name' -> 2" as_user "$A" image-create Bad_Name --no-build
assert_eq "image-create: invalid project name 'Bad_Name': use lower-case letters, digits, '-' and '_', starting with a letter or digit (e.g. 'my-project')
$USAGE_IC" "$ERR" "...saying the project name is invalid"

assert_instance_empty "nothing left in Docker"
ds01_done
