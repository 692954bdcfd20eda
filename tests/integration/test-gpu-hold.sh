#!/usr/bin/env bash
# GPU leases across stops (issue #3): container-stop and an outside `docker stop`
# make the lease `held`, container-start / `docker start` make it `bound` again on the same GPU;
# a batch container that exits by itself is held too. With gpu_hold_after_stop_h 0.001 (3.6 s)
# the monitor releases the lease after the hold (gpu.release "hold after stop expired") while
# the stopped container stays; container-start then gets the same GPU back if it is free, or
# else (another user took it) another GPU: the container is recreated, a note says so, and
# /workspace keeps its files.
# ds01-test: kind=functional budget=23
DS01_GPUS=3
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
C=$(ds01_user "it$$c") || fail "cannot create user"
cat >>"$DS01_LIMITS" <<EOF2
user_overrides:
  $A:
    gpu_hold_after_stop_h: 1
  $B:
    gpu_hold_after_stop_h: 0.001
EOF2
ds01_start_daemon

# wait_lease UUID STATE SECS: polls `ds01 gpus --json` until slot UUID is in STATE.
lease_is() { [ "$(gpu_lease_state "$1")" = "$2" ]; }

# ---- 1. stop / start keep the GPU (A: 1 h hold)
assert_exit 0 -m "A: deploy h1" as_user "$A" container-deploy h1
U=$(container_gpus "$A" h1)
assert_eq bound "$(gpu_lease_state "$U")" "h1's lease is bound"
assert_exit 0 -m "A: container-stop h1" as_user "$A" container-stop h1
assert_eq exited "$(docker_state "h1._.$A")" "h1 stopped"
assert_eq held "$(gpu_lease_state "$U")" "after container-stop: lease held"
assert_eq 1 "$(usage_gpueq "$A")" "a held lease counts against A's quota"
assert_exit 0 -m "A: container-start h1" as_user "$A" container-start h1
assert_eq running "$(docker_state "h1._.$A")" "h1 running again"
assert_eq bound "$(gpu_lease_state "$U")" "after container-start: lease bound"
assert_eq "$U" "$(container_gpus "$A" h1)" "same GPU after the restart"

docker stop -t 5 "$(docker_id "h1._.$A")" >/dev/null
if wait_for 2 lease_is "$U" held; then ok "docker stop outside ds01: lease held within 2 s"; else
	not_ok "docker stop outside ds01: lease held within 2 s" "state: $(gpu_lease_state "$U")"; fi
docker start "$(docker_id "h1._.$A")" >/dev/null
if wait_for 2 lease_is "$U" bound; then ok "docker start outside ds01: lease bound within 2 s"; else
	not_ok "docker start outside ds01: lease bound within 2 s" "state: $(gpu_lease_state "$U")"; fi
assert_exit 0 -m "A: container-run h1 (already running) works" as_user "$A" container-run h1 -- true
assert_eq "$U" "$(container_gpus "$A" h1)" "h1 still on $U"

# batch container that exits by itself
assert_exit 0 -m "A: deploy batch b1 -- sh -c 'exit 0'" as_user "$A" container-deploy b1 -- sh -c 'exit 0'
UB=$(container_gpus "$A" b1)
assert_ne "" "$UB" "b1 leased a GPU"
if wait_for 5 lease_is "$UB" held; then ok "batch b1 exited by itself: lease held"; else
	not_ok "batch b1 exited by itself: lease held" "state: $(gpu_lease_state "$UB"), docker: $(docker_state "b1._.$A")"; fi
assert_eq exited "$(docker_state "b1._.$A")" "b1 exists, exited"
assert_exit 0 -m "A: retire h1" as_user "$A" container-retire h1
# docker rm -f outside ds01 (of a held lease): released within ~1 s
docker rm -f "$(docker_id "b1._.$A")" >/dev/null
if wait_for 2 lease_is "$UB" free; then ok "docker rm -f outside ds01: lease released within 2 s"; else
	not_ok "docker rm -f outside ds01: lease released within 2 s" "state: $(gpu_lease_state "$UB")"; fi
assert_event gpu.release "$A"
assert_eq "" "$(container_entry "$A" b1)" "b1 no longer listed"
assert_eq 0 "$(gpus_leased_count)" "no lease left after A's retires"

# ---- 2. the hold expires (B: 0.001 h = 3.6 s)
assert_exit 0 -m "B: deploy g1" as_user "$B" container-deploy g1
U=$(container_gpus "$B" g1)
CID=$(docker_id "g1._.$B")
assert_exit 0 -m "B: write a file in /workspace" as_user "$B" container-run g1 -- sh -c 'echo kept > /workspace/keep.txt'
assert_exit 0 -m "B: container-stop g1" as_user "$B" container-stop g1
assert_eq held "$(gpu_lease_state "$U")" "g1's lease held right after the stop"
t0=$SECONDS
if wait_for 12 lease_is "$U" free; then ok "lease released after the 3.6 s hold ($((SECONDS - t0)) s)"; else
	not_ok "lease released after the 3.6 s hold" "state after 12 s: $(gpu_lease_state "$U")"; fi
[ $((SECONDS - t0)) -ge 2 ] && ok "not released before the hold (>= 2 s)" || not_ok "not released before the hold (>= 2 s)" "released after $((SECONDS - t0)) s"
N=$(events_query '.event_type == "gpu.release" and (.details.reason // "" | test("hold after stop expired"))' | grep -c .)
[ "${N:-0}" -ge 1 ] && ok "gpu.release event with reason 'hold after stop expired'" ||
	not_ok "gpu.release event with reason 'hold after stop expired'" "$(tail -n 10 "$EVENTS")"
assert_eq "$CID" "$(docker_id "g1._.$B")" "the stopped container g1 still exists"
assert_eq 0 "$(usage_gpueq "$B")" "B holds nothing after the release"
E=$(container_entry "$B" g1)
assert_jq "container-list still lists g1 (stopped, no GPU)" '.state != "running" and ((.gpus // []) | length == 0)' "$E"

# start again: same GPU back when free
assert_exit 0 -m "B: container-start g1 after the hold" as_user "$B" container-start g1
assert_eq "$U" "$(container_gpus "$B" g1)" "g1 got the same GPU back ($U)"
assert_eq bound "$(gpu_lease_state "$U")" "lease bound again"
assert_eq running "$(docker_state "g1._.$B")" "g1 running"

# release again, then someone else takes U
assert_exit 0 -m "B: container-stop g1 (2nd time)" as_user "$B" container-stop g1
wait_for 12 lease_is "$U" free && ok "released again after the hold" || not_ok "released again after the hold" "$(gpu_lease_state "$U")"
assert_exit 0 -m "A: deploy a1" as_user "$A" container-deploy a1
assert_exit 0 -m "A: deploy a2" as_user "$A" container-deploy a2
assert_exit 0 -m "C: deploy c1" as_user "$C" container-deploy c1
assert_eq 3 "$(gpus_leased_count)" "all 3 GPUs leased by A and C"
assert_exit 3 -m "B: container-start g1 with no GPU free exits 3" as_user "$B" container-start g1
assert_ne "" "$(docker_id "g1._.$B")" "g1 still exists after the refused start"
# free a GPU other than U
for x in "$A a1" "$A a2" "$C c1"; do
	set -- $x
	if [ "$(container_gpus "$1" "$2")" != "$U" ]; then
		assert_exit 0 -m "$1: retire $2 (not on $U)" as_user "$1" container-retire "$2"
		break
	fi
done
V=$(gpus_json | jq -r '[.slots[] | select(.allocatable and .lease == null) | .uuid][0]')
assert_ne "$U" "$V" "the free GPU is not g1's old one"
assert_exit 0 -m "B: container-start g1 with its GPU taken: succeeds elsewhere" as_user "$B" container-start g1
assert_match "$ERR" 'note:.*(recreat|another GPU|new GPU)' "a note on stderr says the container was recreated"
assert_eq "$V" "$(container_gpus "$B" g1)" "g1 now leases $V"
NEWID=$(docker_id "g1._.$B")
assert_ne "$CID" "$NEWID" "g1 was recreated (new container id)"
assert_eq "$V" "$(docker inspect -f '{{index .Config.Labels "ds01.gpu.uuids"}}' "$NEWID")" "label ds01.gpu.uuids is the new GPU"
assert_contains "$(docker inspect -f '{{json .Config.Env}}' "$NEWID")" "\"NVIDIA_VISIBLE_DEVICES=$V\"" "NVIDIA_VISIBLE_DEVICES is the new GPU"
assert_exit 0 -m "B: /workspace/keep.txt survived the recreation" as_user "$B" container-run g1 -- cat /workspace/keep.txt
assert_eq kept "$OUT" "file content intact"
assert_eq 1 "$(usage_gpueq "$B")" "B holds exactly 1.0"

for x in "$A a1" "$A a2" "$C c1" "$B g1"; do
	set -- $x
	as_user "$1" container-retire "$2" >/dev/null 2>&1
done
assert_eq 0 "$(gpus_leased_count)" "every GPU free at the end"
assert_instance_empty "nothing left in Docker"
ds01_done
