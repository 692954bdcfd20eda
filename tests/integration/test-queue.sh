#!/usr/bin/env bash
# The GPU queue (issue 16, items 1-2): on a full server, three users wait with --wait; the one
# who used the fewest GPU-hours lately is granted first when a GPU frees; a kill -9 of ds01d
# loses nothing of the queue; an administrator moves a request first; a deploy without --wait
# does not jump the queue (and says --wait exists); leave and --max-wait end a request; a
# request that can never fit is refused at once, not queued.
# ds01-test: kind=functional budget=28
DS01_GPUS=2
DS01_CONFIG_EXTRA='sample_interval_s: 1
queue:
  pass_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup

ds01_start_daemon
H=$(ds01_user "it$$h") || fail "cannot create user H"
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
C=$(ds01_user "it$$c") || fail "cannot create user C"
D=$(ds01_user "it$$d") || fail "cannot create user D"

inbox_has() { inbox_json "$1" | grep -q -- "$2"; }

# Past usage: A 100 GPU-hours yesterday, B 10, C none.
YDAY=$(date -u -d yesterday +%F)
ledger_sql "INSERT INTO usage (day, uid, user, allocated_s) VALUES
  ('$YDAY', $(user_uid "$A"), '$A', 360000), ('$YDAY', $(user_uid "$B"), '$B', 36000)"

assert_exit 0 -m "H takes GPU 1" as_user "$H" container-deploy h1 --gpus 1
assert_exit 0 -m "H takes GPU 2: the server is full" as_user "$H" container-deploy h2 --gpus 1
assert_exit 3 -m "a plain deploy on a full server is refused (exit 3)" as_user "$A" container-deploy pa
assert_contains "$ERR" "--wait" "... and the refusal says --wait exists"
assert_exit 3 -m "a request that can never fit is refused at once, even with --wait" \
	as_user "$A" container-deploy big --gpus 3 --wait
assert_contains "$ERR" "at most 2" "... saying why ($ERR)"
assert_exit 3 -m "... as is a MIG profile the server does not have" \
	as_user "$A" container-deploy mig --mig 3g.20gb --wait
assert_contains "$ERR" "MIG" "... saying so ($ERR)"
capture ledger_sql "SELECT count(*) FROM queue"
assert_eq 0 "$OUT" "neither joined the queue"

for u in "$A" "$B" "$C"; do
	assert_exit 0 -m "$u waits: container-deploy --wait" as_user "$u" container-deploy "p$u" --wait
	assert_contains "$OUT" "waits for GPUs: position" "... told its position"
done
assert_exit 3 -m "D's plain deploy does not jump the queue" as_user "$D" container-deploy pd --gpus 1
assert_contains "$ERR" "3 deploys wait for GPUs ahead of you" "... and says so ($ERR)"

capture as_root ds01 gpu-queue --all --json
Q=$OUT
pos() { jqr ".requests[] | select(.user == \"$1\") | .position" "$Q"; }
assert_eq "1 2 3" "$(pos "$C") $(pos "$B") $(pos "$A")" \
	"the queue is ordered by fair share: C (no use), B (10 GPU-h), A (100 GPU-h)"
capture as_user "$C" gpu-queue --json
assert_jq "C sees only their own request" '[.requests[].user] == ["'"$C"'"] and .waiting == 3' "$OUT"
capture as_user "$B" gpu-queue
assert_match "$OUT" "^2 +[0-9]+ +$B +p$B +1 " "gpu-queue prints B's position 2 and 1 GPU"
capture as_user "$A" ds01 board --json
assert_jq "the board shows A's place in the queue and the 3 waiting" \
	'.queue.mine[0].position == 3 and .queue.mine[0].project == "p'"$A"'" and .demand.waiting == 3' "$OUT"
capture as_user "$A" ds01 board
assert_contains "$OUT" "Your deploy of p$A waits: position 3" "ds01 board prints it"
assert_exit 5 -m "a user may not list everyone's requests" as_user "$B" gpu-queue --all
assert_exit 5 -m "... nor move one" as_user "$B" gpu-queue move 1 1
assert_exit 2 -m "a project waits once: a second --wait for it is refused" \
	as_user "$C" container-deploy "p$C" --wait
assert_contains "$ERR" "waiting already" "... saying it waits already"

# --- a retire frees a GPU: C is granted ----------------------------------------------------
assert_exit 0 -m "H retires h1" as_user "$H" container-retire h1
wait_for 20 docker_state_is "p$C._.$C" running &&
	ok "C's container runs: granted to the highest priority" || not_ok "C was not granted"
assert_no_container "p$A._.$A" "A (lowest priority) is still waiting"
assert_event queue.grant "$C"
wait_for 10 inbox_has "$C" "GPUs you waited for"
capture inbox_json "$C"
assert_contains "$OUT" "GPUs you waited for" "C is told in the inbox"

# --- a crash loses nothing --------------------------------------------------------------------
ds01_kill9_daemon
ds01_start_daemon
capture as_root ds01 gpu-queue --all --json
assert_jq "after kill -9 and a restart A and B still wait, and only they" \
	'[.requests[].user] | sort == (["'"$A"'", "'"$B"'"] | sort)' "$OUT"
AID=$(jqr ".requests[] | select(.user == \"$A\") | .id" "$OUT")
assert_exit 0 -m "an administrator moves A's request first" as_root ds01 gpu-queue move "$AID" 1
capture as_root ds01 gpu-queue --all --json
assert_eq 1 "$(jqr ".requests[] | select(.user == \"$A\") | .position" "$OUT")" "A is first now"

assert_exit 0 -m "H retires h2" as_user "$H" container-retire h2
wait_for 20 docker_state_is "p$A._.$A" running &&
	ok "A's container runs: the move counted" || not_ok "A was not granted after the move"
assert_exit 0 -m "B leaves the queue" as_user "$B" gpu-queue leave "p$B"
capture as_user "$B" gpu-queue --json
assert_jq "B has no request left" '.requests == [] and .waiting == 0' "$OUT"
assert_event queue.leave "$B"

# --- --max-wait ------------------------------------------------------------------------------
assert_exit 0 -m "D waits at most 2 s" as_user "$D" container-deploy pd --wait --max-wait 2s
wait_for 15 inbox_has "$D" "max-wait"
capture inbox_json "$D"
assert_contains "$OUT" "as long as --max-wait allowed" "D is told the wait ran out"
assert_event queue.expire "$D"
assert_no_container "pd._.$D" "... and D has no container"
ds01_done
