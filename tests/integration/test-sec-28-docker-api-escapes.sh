#!/usr/bin/env bash
# The Docker API endpoint's escape suite: an unprivileged user with the real docker CLI tries
# every way out that Docker itself would allow root - --privileged, host mounts (/, another
# user's home, a symlink in the workspace pointing out), host namespaces (--pid, --network,
# --userns host), --device, --cap-add, --security-opt, --user 0, exec -u 0, cp onto a host path,
# ds01's own labels, another user's container (by name and by id prefix) and image, a build with
# --network host. Each is refused, nothing is created, and each is audited (auth.denied).
# ds01-test: kind=security budget=42
DS01_CONFIG_EXTRA='audit_names_per_uid: 1000'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
IMG=$DS01_IMAGE
HA=$(user_home "$A")
HB=$(user_home "$B")

assert_exit 0 -m "A: deploy mine" as_user "$A" container-deploy mine --cpu-only
assert_exit 0 -m "B: deploy theirs" as_user "$B" container-deploy theirs --cpu-only
BID=$(docker inspect --format '{{.Id}}' "theirs._.$B")
as_user "$B" sh -c 'echo b-secret >~/workspace/theirs/secret'
as_user "$A" ln -s /etc "$HA/workspace/link"
BIMG="ds01-$(id -u "$B")/private:latest"
# an image of B's own (an image id of its own: a tag on the site's image would make that one B's)
printf 'FROM %s\nLABEL ds01.user_id=%s\n' "$IMG" "$(id -u "$B")" | docker build -q -t "$BIMG" - >/dev/null ||
	fail "cannot build B's image"
trap_extra() { docker rmi "$BIMG" >/dev/null 2>&1; }

BEFORE=$(instance_container_count)
denials() { events_query ".event_type == \"auth.denied\" and .user == \"$A\"" | grep -c .; }

# attempt DESC EXPECT CMD...: CMD as A fails, its error contains EXPECT, the instance has no new
# container, and one more auth.denied of A's is written
attempt() {
	local desc=$1 expect=$2
	shift 2
	local n0
	n0=$(denials)
	capture as_user "$A" "$@"
	assert_ne 0 "$RC" "$desc: refused"
	assert_contains "$ERR" "$expect" "$desc: the refusal says '$expect'"
	assert_eq "$BEFORE" "$(instance_container_count)" "$desc: nothing was created"
	wait_for 5 eval '[ "$(denials)" -gt "$n0" ]' && ok "$desc: audited" ||
		not_ok "$desc: audited (auth.denied)" "$(events_query '.event_type == "auth.denied"' | tail -3)"
}

attempt "--privileged" "--privileged" docker run --rm --privileged "$IMG" true
attempt "-v /:/host" "only a project directory" docker run --rm -v /:/host "$IMG" true
attempt "-v other's home" "only a project directory" docker run --rm -v "$HB:/x" "$IMG" true
attempt "-v other's workspace" "only a project directory" docker run --rm -v "$HB/workspace/theirs:/x" "$IMG" true
attempt "--mount of /etc" "only a project directory" docker run --rm --mount type=bind,source=/etc,target=/x "$IMG" true
attempt "a workspace symlink out" "symlink" docker run --rm -v "$HA/workspace/link:/x" "$IMG" true
attempt "a named volume" "/workspace" docker run --rm -v data:/x "$IMG" true
attempt "--pid host" "--pid" docker run --rm --pid host "$IMG" true
attempt "--ipc host" "--ipc" docker run --rm --ipc host "$IMG" true
attempt "--uts host" "--uts" docker run --rm --uts host "$IMG" true
attempt "--network host" "--network" docker run --rm --network host "$IMG" true
attempt "--network container:" "--network" docker run --rm --network "container:theirs._.$B" "$IMG" true
attempt "--userns host" "--userns" docker run --rm --userns host "$IMG" true
attempt "--device /dev/mem" "--device" docker run --rm --device /dev/mem "$IMG" true
attempt "--cap-add SYS_ADMIN" "--cap-add" docker run --rm --cap-add SYS_ADMIN "$IMG" true
attempt "--security-opt seccomp=unconfined" "--security-opt" docker run --rm --security-opt seccomp=unconfined "$IMG" true
attempt "--security-opt systempaths=unconfined" "systempaths" docker run --rm --security-opt systempaths=unconfined "$IMG" true
attempt "--sysctl" "--sysctl" docker run --rm --sysctl net.ipv4.ip_forward=1 "$IMG" true
attempt "--cgroup-parent" "--cgroup-parent" docker run --rm --cgroup-parent /x "$IMG" true
attempt "--runtime" "--runtime" docker run --rm --runtime nvidia "$IMG" true
attempt "--user 0" "run as you" docker run --rm --user 0 "$IMG" true
attempt "--user root" "run as you" docker run --rm --user root "$IMG" true
attempt "--user of B" "run as you" docker run --rm --user "$(id -u "$B")" "$IMG" true
attempt "-p 8080:80" "container-port" docker run --rm -p 8080:80 "$IMG" true
attempt "a ds01.user label" "ds01" docker run --rm --label "ds01.user=$B" "$IMG" true
attempt "a ds01.managed label" "ds01" docker run --rm --label ds01.managed=false "$IMG" true
attempt "--volumes-from B's" "--volumes-from" docker run --rm --volumes-from "theirs._.$B" "$IMG" true
attempt "B's image" "Unable to find image" docker run --rm "$BIMG" true
attempt "exec -u 0" "run as you" docker exec -u 0 mine id
attempt "exec --privileged" "privileged" docker exec --privileged mine id
as_user "$A" ln -s /etc "$HA/workspace/mine/etc"
attempt "cp onto the host's /etc through a link" "permission denied" sh -c "echo x >/tmp/cp-$$ && docker cp /tmp/cp-$$ mine:/workspace/etc/ds01-cp-$$"
[ ! -e "/etc/ds01-cp-$$" ] && ok "cp: nothing reached /etc" || not_ok "cp: nothing reached /etc"
rm -f "/etc/ds01-cp-$$" "/tmp/cp-$$"
attempt "cp out of B's container" "No such container" docker cp "${BID:0:9}:/workspace/secret" -
attempt "B's container by name" "No such container" docker exec "theirs._.$B" cat /workspace/secret
attempt "B's container by id prefix" "No such container" docker exec "${BID:0:10}" cat /workspace/secret
attempt "B's container logs" "No such container" docker logs "${BID:0:12}"
attempt "B's container stopped" "No such container" docker stop "$BID"
as_user "$A" sh -c "printf 'FROM %s\n' '$IMG' >~/workspace/mine/Dockerfile"
attempt "a build with --network host" "image-create" env DOCKER_BUILDKIT=0 docker build --network host -t x "$HA/workspace/mine"
attempt "docker pull" "image-create" docker pull busybox
attempt "swarm init" "swarm" docker swarm init
assert_eq running "$(docker_state "theirs._.$B")" "B's container was not touched"
assert_eq b-secret "$(cat "$HB/workspace/theirs/secret")" "B's workspace was not touched"
[ -z "$(find /tmp -maxdepth 1 -name "x" -newer "$T" -user root 2>/dev/null)" ] && ok "nothing written as root on the host" ||
	not_ok "nothing written as root on the host"
docker rmi "$BIMG" >/dev/null 2>&1
ds01_done
