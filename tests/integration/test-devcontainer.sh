#!/usr/bin/env bash
# The Dev Containers CLI (@devcontainers/cli, as editors run it) works for a user through ds01's
# Docker endpoint: `devcontainer up --workspace-folder ~/workspace/P` with a devcontainer.json
# naming an image starts a ds01-managed container (container-list shows it), labelled
# ds01.interface=devcontainer, running as the user, with the project's workspace mounted where
# the CLI asks (/workspaces/P) and at /workspace and nothing else of the host; `devcontainer exec`
# runs commands in it as the user, and what they write is in ~/workspace/P; a second `up` finds
# the same container; a configuration with remoteUser (the user's name) works once
# updateRemoteUserUID is off; container-retire removes them. The CLI waits for the container's start with
# `docker events`, which shows the user's own containers only.
# ds01-test: kind=functional budget=40
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
# The CLI keeps state in /tmp/devcontainercli-<login>: an earlier test whose pid (and so whose
# user names) this one reuses may have left one, owned by a uid that is gone.
rm -rf "/tmp/devcontainercli-$A" "/tmp/devcontainercli-$B"
trap_extra() { rm -rf "/tmp/devcontainercli-$A" "/tmp/devcontainercli-$B"; }
DC=$(command -v devcontainer) || fail "the Dev Containers CLI is missing (scripts/deps.sh installs it)"
note "devcontainer $("$DC" --version 2>/dev/null), node $(node --version 2>/dev/null)"
UA=$(id -u "$A")
WS=$(user_home "$A")/workspace
as_user "$A" mkdir -p "$WS/proj/.devcontainer"
# No features and no Dockerfile: nothing to build or download. The CLI builds an image of its own
# only to give remoteUser the host user's uid (updateRemoteUserUID), for an image with a user of
# its own and remoteUser set; ds01 runs every container as its owner already, so none is set here.
as_user "$A" sh -c "cat >$WS/proj/.devcontainer/devcontainer.json" <<JSON
{
  "name": "proj",
  "image": "$DS01_IMAGE"
}
JSON

# B watches docker events meanwhile: they must not show A's container
START=$(date +%s)
as_user "$B" sh -c 'echo $$; exec timeout 300 docker events --format "{{.Actor.Attributes.name}}"' \
	>"$T/b-events" 2>&1 &
B_EVENTS=$!

capture as_user "$A" timeout 120 "$DC" up --workspace-folder "$WS/proj"
[ "$RC" = 0 ] || note "$(tail -n 20 <<<"$ERR")"
assert_eq 0 "$RC" "devcontainer up"
assert_jq "it reports success" '.outcome == "success"' "$OUT"
ID=$(jqr .containerId "$OUT")
assert_match "$ID" '^[0-9a-f]{64}$' "and its container"
J=$(docker_json "$ID")
NAME=$(jq -r '.Name | ltrimstr("/")' <<<"$J")
PROJECT=$(jq -r '.Config.Labels["ds01.project"]' <<<"$J")
capture as_user "$A" container-list --json
assert_contains "$OUT" "$NAME" "container-list shows $NAME: it is ds01-managed"
assert_eq devcontainer "$(jq -r '.Config.Labels["ds01.interface"]' <<<"$J")" "labelled ds01.interface=devcontainer"
assert_eq "$WS/proj" "$(jq -r '.Config.Labels["devcontainer.local_folder"]' <<<"$J")" "the CLI's labels kept"
assert_eq "$UA:$(id -g "$A")" "$(jq -r .Config.User <<<"$J")" "it runs as A"
assert_eq true "$(jq -r '.HostConfig.Privileged == false and (.HostConfig.CapDrop | index("ALL") != null)' <<<"$J")" \
	"not privileged, capabilities dropped"
assert_eq proj "$(jq -r '.Config.Labels["ds01.workspace_project"]' <<<"$J")" "its workspace is proj's"
MOUNTS=$(jq -r '.Mounts[] | "\(.Destination) \(.RW)"' <<<"$J" | sort)
assert_eq "$(printf '/.ds01/init false\n/etc/passwd false\n/workspace true\n/workspaces/proj true')" "$MOUNTS" \
	"mounted: the workspace (at /workspaces/proj and /workspace), ds01-init and the passwd file, nothing else"
assert_eq 1 "$(jq -r '[.Mounts[] | select(.Destination | startswith("/workspace")) | .Source] | unique | length' <<<"$J")" \
	"both workspace mounts are the one workspace pin"

capture as_user "$A" timeout 60 "$DC" exec --workspace-folder "$WS/proj" id -u
[ "$RC" = 0 ] || note "$(tail -n 20 <<<"$ERR")"
assert_eq 0 "$RC" "devcontainer exec"
assert_eq "$UA" "$(tail -n 1 <<<"$OUT")" "devcontainer exec runs as A"
capture as_user "$A" timeout 60 "$DC" exec --workspace-folder "$WS/proj" sh -c 'pwd; echo from-dev >from-dev'
assert_eq /workspaces/proj "$(head -n 1 <<<"$OUT")" "in the workspace folder"
assert_eq from-dev "$(cat "$WS/proj/from-dev" 2>/dev/null)" "what it writes is in ~/workspace/proj"
assert_eq "$A" "$(stat -c %U "$WS/proj/from-dev" 2>/dev/null)" "owned by A"

capture as_user "$A" timeout 120 "$DC" up --workspace-folder "$WS/proj"
[ "$RC" = 0 ] || note "$(tail -n 20 <<<"$ERR")"
assert_eq 0 "$RC" "a second devcontainer up"
assert_eq "$ID" "$(jqr .containerId "$OUT")" "it finds the same container"
assert_eq 1 "$(instance_container_count)" "one container"

# A's events as A sees them; B saw none of them
capture as_user "$A" timeout 10 docker events --since "$START" --until "$(date +%s)" --format '{{.Actor.Attributes.name}} {{.Action}}'
assert_contains "$OUT" "$NAME start" "docker events shows A its container's start"
kill -TERM "$(head -n 1 "$T/b-events")" # B's timeout, which ends its docker events
wait "$B_EVENTS"
assert_eq "" "$(tail -n +2 "$T/b-events" | grep -v '^Terminated$')" "B's docker events showed nothing of A's"

# remoteUser, as editors' configurations name it: the user's own name, and no image of the CLI's
# own to give it the user's uid ("updateRemoteUserUID": false; it would `docker build` one, which
# is image-create's on ds01)
as_user "$A" mkdir -p "$WS/named/.devcontainer"
as_user "$A" sh -c "cat >$WS/named/.devcontainer/devcontainer.json" <<JSON
{ "image": "$DS01_IMAGE", "remoteUser": "$A", "updateRemoteUserUID": false }
JSON
capture as_user "$A" timeout 120 "$DC" up --workspace-folder "$WS/named"
[ "$RC" = 0 ] || note "$(tail -n 20 <<<"$ERR")"
assert_jq "devcontainer up with remoteUser $A" '.outcome == "success" and .remoteUser == "'"$A"'"' "$OUT"
NAMED=$(docker inspect --format '{{index .Config.Labels "ds01.project"}}' "$(jqr .containerId "$OUT")")
capture as_user "$A" timeout 60 "$DC" exec --workspace-folder "$WS/named" sh -c 'id -u; whoami'
assert_eq "$(printf '%s\n%s' "$UA" "$A")" "$(tail -n 2 <<<"$OUT")" "devcontainer exec runs as A, by name"

assert_exit 0 -m "container-retire $PROJECT" as_user "$A" container-retire "$PROJECT"
assert_exit 0 -m "container-retire $NAMED" as_user "$A" container-retire "$NAMED"
assert_instance_empty "nothing left"
assert_eq from-dev "$(cat "$WS/proj/from-dev" 2>/dev/null)" "the workspace stays"
ds01_done
