#!/usr/bin/env bash
# DS01's container_types: containers made through the Docker API endpoint follow their
# interface's lifecycle, not the group's: with the group's idle timeout at 7 s, an idle
# container-deploy container is stopped, while an idle `docker run` container (docker:
# idle_timeout_h 1) and a dev container (devcontainer: idle_timeout_h null, exempt) keep
# running; each gets its interface's SIGTERM grace as its stop timeout.
# ds01-test: kind=functional budget=17
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.002'
cat >>"$DS01_LIMITS" <<'YAML'
container_types:
  docker:
    idle_timeout_h: 1
    sigterm_grace_s: 5
  devcontainer:
    idle_timeout_h: null
    max_runtime_h: 168
    sigterm_grace_s: 3
YAML
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"

assert_exit 0 -m "deploy dep (idle)" as_user "$A" container-deploy dep --cpu-only
assert_exit 0 -m "docker run -d --name dk (idle)" as_user "$A" docker run -d --name dk "$DS01_IMAGE" sleep 600
assert_exit 0 -m "a dev container (idle)" as_user "$A" docker run -d --name dc \
	--label devcontainer.local_folder=/x "$DS01_IMAGE" sleep 600
assert_eq devcontainer "$(docker inspect -f '{{index .Config.Labels "ds01.interface"}}' "dc._.$A")" \
	"the dev container is labelled devcontainer"
assert_eq 2 "$(docker inspect -f '{{.Config.StopTimeout}}' "dep._.$A")" "dep: the group's grace"
assert_eq 5 "$(docker inspect -f '{{.Config.StopTimeout}}' "dk._.$A")" "dk: container_types.docker's grace"
assert_eq 3 "$(docker inspect -f '{{.Config.StopTimeout}}' "dc._.$A")" "dc: container_types.devcontainer's grace"

wait_state 40 "dep._.$A" exited && ok "the idle deploy is stopped at the group's 7 s" ||
	not_ok "the idle deploy is stopped at the group's 7 s" "$(docker_state "dep._.$A")"
wait_tick
assert_eq running "$(docker_state "dk._.$A")" "the idle docker-run container runs on (docker: 1 h)"
assert_eq running "$(docker_state "dc._.$A")" "the idle dev container runs on (devcontainer: exempt)"
capture as_user "$A" container-stats dk --json
assert_eq 3600 "$(jq -r '.containers[0].idle_timeout_s // .idle_timeout_s // empty' <<<"$OUT")" \
	"container-stats shows dk's own idle timeout" 
ds01_done
