#!/usr/bin/env bash
# The image commands with workspace_root set to a directory: the project directory is the
# daemon's to say, so image-create, image-update and image-delete use the one a container of the
# project mounts (DIR/<user>/<project>), never ~/workspace/<project>. With workspace_root $T/ws:
#  - image-create P writes DIR/<user>/P/Dockerfile (owned by the user, the directories made as a
#    deploy makes them) and nothing in the home directory; the build reads it from there;
#  - a framework the site added (images.frameworks.Site_RAPIDS, a name the CLI has no rule for)
#    is accepted; one the site lacks is refused with the site's list and leaves nothing behind;
#  - a container of P sees that Dockerfile at /workspace/Dockerfile;
#  - image-update P finds it there; image-delete P says DIR/<user>/P/Dockerfile is kept.
# ds01-test: kind=functional budget=20
. "$(dirname "$0")/lib.sh"
ds01_setup
DS01_IMAGES_EXTRA="    Site_RAPIDS: $DS01_IMAGE"
ds01_image_setup
WSR=$T/ws
install -d -o root -g root -m 755 "$WSR"
sed -i "s|^workspace_root: home\$|workspace_root: $WSR|" "$DS01_CONFIG"
grep -qx "workspace_root: $WSR" "$DS01_CONFIG" || fail "could not set workspace_root in $DS01_CONFIG"
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
UA=$(user_uid "$A") GA=$(user_gid "$A")
IMG=$(user_image "$A" p1)
DF=$WSR/$A/p1/Dockerfile

# ---- image-create writes DIR/<user>/p1/Dockerfile, with the site's own framework
assert_exit 0 -m "image-create p1 --framework Site_RAPIDS --no-build" \
	as_user "$A" image-create p1 --framework Site_RAPIDS --no-build
assert_contains "$OUT" "Wrote $DF (Site_RAPIDS, from $DS01_IMAGE)" "image-create names DIR/<user>/p1/Dockerfile"
[ -f "$DF" ] && ok "the Dockerfile is in DIR/<user>/p1" || not_ok "the Dockerfile is in DIR/<user>/p1" "$(ls -laR "$WSR" 2>&1)"
assert_eq "$UA:$GA 700" "$(stat -c '%u:%g %a' "$WSR/$A" 2>&1)" "DIR/<user> is the user's, mode 0700"
assert_eq "$UA:$GA 700" "$(stat -c '%u:%g %a' "$WSR/$A/p1" 2>&1)" "DIR/<user>/p1 is the user's, mode 0700"
assert_eq "$A" "$(stat -c %U "$DF" 2>&1)" "the Dockerfile belongs to the user"
assert_contains "$(cat "$DF" 2>&1)" "framework 'Site_RAPIDS'" "the template is the site's framework's"
if [ -e "$HA/workspace" ]; then
	not_ok "nothing is created in the home directory" "$(ls -laR "$HA/workspace")"
else
	ok "nothing is created in the home directory"
fi

# ---- a framework the site lacks: refused with the site's list, nothing made
assert_exit 2 -m "image-create fw1 --framework pytorch (the site has none)" \
	as_user "$A" image-create fw1 --framework pytorch --no-build
assert_contains "$ERR" "Site_RAPIDS" "the refusal lists the site's frameworks"
[ -e "$WSR/$A/fw1" ] && not_ok "no DIR/<user>/fw1 left behind" "$(ls -la "$WSR/$A")" ||
	ok "no DIR/<user>/fw1 left behind"

# ---- the build reads it from there; a container of p1 mounts the same directory
echo "# edited in DIR $$" >>"$DF"
assert_exit 0 -m "image-create p1 builds" as_user "$A" image-create p1
assert_eq yes "$(image_exists "$IMG" && echo yes || echo no)" "the image is built"
assert_exit 0 -m "deploy p1" as_user "$A" container-deploy p1 --cpu-only
assert_contains "$OUT" "workspace: $WSR/$A/p1 -> /workspace" "the container mounts DIR/<user>/p1"
assert_exit 0 -m "container-run p1 -- cat /workspace/Dockerfile" as_user "$A" container-run p1 -- cat /workspace/Dockerfile
assert_eq "$(cat "$DF")" "$OUT" "the container sees the Dockerfile image-create wrote"
assert_exit 0 -m "retire p1" as_user "$A" container-retire p1

# ---- image-update finds it; image-delete names it
assert_exit 0 -m "image-update p1 --rebuild" as_user "$A" image-update p1 --rebuild
assert_exit 0 -m "image-delete p1" as_user "$A" image-delete p1
assert_eq "Deleted $IMG; $DF is kept" "$OUT" "image-delete names DIR/<user>/p1/Dockerfile"
[ -f "$DF" ] && ok "the Dockerfile is kept" || not_ok "the Dockerfile is kept"

assert_instance_empty "nothing left in Docker"
ds01_done
