#!/usr/bin/env bash
# Backfill in the GPU queue (issue 16, item 2): on 3 GPUs, H holds one with a 2 h runtime cap, so
# B's 3-GPU request at the head of the queue starts when H's cap ends at the latest (its
# estimate). D (a 4 h cap) asks for 1 GPU after B: two GPUs are free, but D would still hold one
# when B is due, so D waits. C (a 1 h cap) asks after D and starts at once: C is gone before B's
# estimate. Then the order holds as capacity frees: with H gone, B's estimate moves to C's cap's
# end, E (0.5 h) passes and D still may not; when C goes B starts, and D only after B.
# ds01-test: kind=functional budget=30
DS01_GPUS=3
DS01_CONFIG_EXTRA='sample_interval_s: 1
queue:
  pass_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
H=$(ds01_user "it$$h") || fail "cannot create user H"
B=$(ds01_user "it$$b") || fail "cannot create user B"
C=$(ds01_user "it$$c") || fail "cannot create user C"
D=$(ds01_user "it$$d") || fail "cannot create user D"
E=$(ds01_user "it$$e") || fail "cannot create user E"
ds01_write_limits_sized <<EOL
  max_gpu_equivalents: 3.0
  max_gpu_slots_per_container: 3
  allow_full_gpu: true
default_group: two
groups:
  two:
    members: [$H, $B]
    max_runtime_h: 2
  four:
    members: [$D]
    max_runtime_h: 4
  one:
    members: [$C]
    max_runtime_h: 1
  half:
    members: [$E]
    max_runtime_h: 0.5
EOL
ds01_start_daemon

queue_json() { as_root ds01 gpu-queue --all --json 2>/dev/null; }
waits() { queue_json | jq -e --arg u "$1" '[.requests[].user] | index($u) != null' >/dev/null; }
running() { docker_state_is "$1" running; }

assert_exit 0 -m "H takes one GPU (2 h cap)" as_user "$H" container-deploy h1 --gpus 1
T_H=$(date -d "$(docker inspect -f '{{.Created}}' "$(docker_id "h1._.$H")")" +%s)
assert_exit 0 -m "B asks for all three GPUs with --wait" as_user "$B" container-deploy big --gpus 3 --wait
assert_contains "$OUT" "waits for GPUs: position 1" "... and is first in the queue"
# the estimate is known once the monitor has seen H's container (its first sample, at once)
est_known() { queue_json | jq -e '.requests[0].estimate != null' >/dev/null; }
wait_for 10 est_known || not_ok "B's estimate stays unknown" "$(queue_json)"
capture queue_json
EST=$(jqr '.requests[] | select(.user == "'"$B"'") | .estimate' "$OUT")
assert_jq "B's estimate is H's runtime cap's end (H created $T_H + 7200 s)" \
	"(.requests[] | select(.user == \"$B\") | .estimate) - ($T_H + 7200) | fabs <= 5" "$OUT"

assert_exit 0 -m "D (4 h cap) asks for 1 GPU with --wait" as_user "$D" container-deploy dd --gpus 1 --wait
assert_contains "$OUT" "waits for GPUs: position 2" "... behind B"
assert_exit 0 -m "C (1 h cap) asks for 1 GPU with --wait, after D" as_user "$C" container-deploy cc --gpus 1 --wait
wait_for 20 running "cc._.$C" && ok "C's container runs at once: its 1 h cap ends before B's estimate" ||
	not_ok "C was not granted by backfill" "$(queue_json)"
assert_event queue.grant "$C"
# C's grant came from a pass after D joined, and that pass left D waiting
assert_no_container "dd._.$D" "D, ahead of C in the queue, got no container: it would delay B"
waits "$D" && ok "D still waits" || not_ok "D left the queue" "$(queue_json)"
capture as_root ds01 board --json
assert_jq "the board shows one GPU free while D waits (2 leased of 3)" '[.slots[] | select(.state == "free")] | length == 1' "$OUT"
capture queue_json
assert_jq "B keeps its estimate and position 1, D position 2" \
	"[.requests[] | [.user, .position]] == [[\"$B\", 1], [\"$D\", 2]] and (.requests[0].estimate - $EST | fabs <= 2)" "$OUT"

# --- the order holds as capacity frees: B (3 GPUs) before D (1) -------------------------------
assert_exit 0 -m "H retires: two GPUs free, C's cap still in the way" as_user "$H" container-retire h1
est_moved() { queue_json | jq -e ".requests[0].user == \"$B\" and .requests[0].estimate < $EST" >/dev/null; }
wait_for 10 est_moved && ok "B's estimate moves to C's cap's end (before: H's)" ||
	not_ok "B's estimate did not move to C's cap's end" "$(queue_json)"
# E (0.5 h cap) asks now: its grant proves a pass ran with two GPUs free, and D was left waiting
assert_exit 0 -m "E (0.5 h cap) asks for 1 GPU with --wait" as_user "$E" container-deploy ee --gpus 1 --wait
wait_for 20 running "ee._.$E" && ok "E starts at once: gone before C's cap ends" ||
	not_ok "E was not granted by backfill" "$(queue_json)"
assert_no_container "dd._.$D" "D still waits with a GPU free: its 4 h cap would run past B's estimate"
assert_exit 0 -m "E retires" as_user "$E" container-retire ee
assert_exit 0 -m "C retires: all three GPUs free" as_user "$C" container-retire cc
wait_for 20 running "big._.$B" && ok "B's 3-GPU request starts first" || not_ok "B was not granted" "$(queue_json)"
assert_no_container "dd._.$D" "D waits on while B holds all three"
assert_exit 0 -m "B retires" as_user "$B" container-retire big
wait_for 20 running "dd._.$D" && ok "then D starts" || not_ok "D was not granted" "$(queue_json)"
assert_exit 0 -m "D retires" as_user "$D" container-retire dd
ds01_stop_daemon
ds01_done
