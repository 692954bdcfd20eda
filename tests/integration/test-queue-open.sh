#!/usr/bin/env bash
# container-deploy NAME --wait --open on a real terminal (issue 16, item 1): on a full server it
# says its place in the queue and keeps showing it while it waits; when the GPU is retired the
# request is granted and the shell opens in the new container, on the GPU that was freed.
# ds01-test: kind=functional needs=utmp budget=16
DS01_GPUS=1
DS01_CONFIG_EXTRA='queue:
  pass_interval_s: 1'
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null 2>&1 || fail "tmux is not installed (the terminal; scripts/deps.sh installs it)"
ds01_setup
ds01_start_daemon
H=$(ds01_user "it$$h") || fail "cannot create user H"
A=$(ds01_user "it$$a") || fail "cannot create user A"
S="ds01it-qopen-$$"
mkdir -p "$T/tmux"
export TMUX_TMPDIR=$T/tmux # a private tmux server, removed with $T

assert_exit 0 -m "H takes the only GPU" as_user "$H" container-deploy h1
GPU=$(docker_json "h1._.$H" | jq -r '.Config.Labels["ds01.gpu.uuids"]')

ds01_tmux_session "$S"
tmux new-session -d -s "$S" -x 120 -y 40 \
	"$(as_user_cmdline "$A" container-deploy w --wait --open); echo \"DEPLOY-EXITED=\$?\"; sleep 120" ||
	fail "tmux new-session failed"
wait_for 15 pane_has "waits for GPUs: position 1 of 1" &&
	ok "the terminal says the request waits, first in the queue" || not_ok "no queue position shown" "$(pane)"
wait_for 10 pane_has "waiting: position 1 of 1, starts by" &&
	ok "... and keeps showing its position and estimate while it waits" || not_ok "no waiting line" "$(pane)"
assert_no_container "w._.$A" "nothing is made while it waits"

assert_exit 0 -m "H retires h1" as_user "$H" container-retire h1
if wait_for 20 pane_has '[$#] ?$'; then
	ok "when the GPU frees, the shell opens"
else
	not_ok "when the GPU frees, the shell opens" "$(pane)"
fi
tmux send-keys -t "$S" 'echo "gpu=$NVIDIA_VISIBLE_DEVICES"' Enter
wait_for 10 pane_has "^gpu=GPU-" && ok "the shell runs in the granted container" ||
	not_ok "the shell runs in the granted container" "$(pane)"
assert_match "$(pane)" "^gpu=$GPU[[:space:]]*$" "... on the GPU H retired"
tmux send-keys -t "$S" 'exit' Enter
wait_for 10 pane_has 'DEPLOY-EXITED=0' && ok "exit ends it with status 0" ||
	not_ok "exit ends it with status 0" "$(pane | tail -n 10)"
tmux kill-session -t "$S" 2>/dev/null
assert_event queue.grant "$A"
ds01_done
