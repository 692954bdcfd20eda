#!/usr/bin/env bash
# container-retire and container-remove release the container's GPU themselves, before they
# answer: the command names the GPU it released (text and --json), events.jsonl has the
# gpu.release of that GPU with reason "retired" / "removed" (not "container removed outside
# ds01": Docker's destroy event also reaches the daemon's watcher, which would release a lease
# that retire had left behind a moment later, so only what retire itself says and logs shows
# that it released it), check-limits shows nothing held, and the one GPU is free for the next
# deploy. The mutation check (tests/mutation, 05-retire-keeps-leases) proves these checks bite.
# ds01-test: kind=functional budget=15
DS01_GPUS=1
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
release_of() { # CONTAINER: its gpu.release events, as one JSON array
	events_query ".event_type == \"gpu.release\" and .details.container == \"$1\"" | jq -cs .
}
# the one gpu.release the command itself logged (REASON), for GPU $U
by_command() { printf '[.[] | select(.details.reason == "%s")] | length == 1 and .[0].details.gpus == ["%s"]' "$1" "$U"; }
deployed_gpu() { jqr '.gpus[0] | if type == "object" then .uuid else . end' "$OUT"; }

# --- retire, as a user reads it -----------------------------------------------------------
assert_exit 0 -m "A: deploy r1 (the one GPU)" as_user "$A" container-deploy r1 --json
U=$(deployed_gpu)
assert_match "$U" '^GPU-' "r1 has the GPU ($U)"
assert_eq bound "$(gpu_lease_state "$U")" "the GPU is leased to r1 (bound)"
capture as_user "$A" container-retire r1
assert_eq 0 "$RC" "container-retire r1 exits 0"
assert_contains "$OUT" "GPU released ($U)" "container-retire says it released r1's GPU"
assert_not_contains "$OUT" "no GPU was held" "container-retire does not say r1 held no GPU"
# Written by the retire itself, before it answered: no waiting.
E=$(release_of "r1._.$A")
assert_jq "gpu.release for r1 by the retire: the GPU, reason \"retired\", user $A" \
	"$(by_command retired) and .[0].user == \"$A\"" "$E"
assert_jq "exactly one gpu.release for r1" 'length == 1' "$E"
assert_jq "container.remove for r1 has reason \"retired\"" '.details.reason == "retired"' \
	"$(events_query ".event_type == \"container.remove\" and .details.container == \"r1._.$A\"" | head -n 1)"
assert_eq 0 "$(usage_gpueq "$A")" "check-limits after the retire: no GPU held"

# --- retire --json ------------------------------------------------------------------------
assert_exit 0 -m "A: deploy r2 (the GPU again: retire freed it)" as_user "$A" container-deploy r2 --json
assert_eq "$U" "$(deployed_gpu)" "r2 got the GPU that r1 released"
assert_exit 0 -m "A: container-retire r2 --json" as_user "$A" container-retire r2 --json
assert_jq "retire --json: released is [$U]" ".released == [\"$U\"] and .container == \"r2._.$A\"" "$OUT"
assert_jq "gpu.release for r2 by the retire (reason \"retired\")" "$(by_command retired)" "$(release_of "r2._.$A")"

# --- remove of a stopped container whose GPU is held ----------------------------------------
assert_exit 0 -m "A: deploy r3" as_user "$A" container-deploy r3 --json
assert_eq "$U" "$(deployed_gpu)" "r3 got the GPU that r2 released"
assert_exit 0 -m "A: container-stop r3" as_user "$A" container-stop r3
assert_eq held "$(gpu_lease_state "$U")" "the stopped r3 holds its GPU (gpu_hold_after_stop_h)"
capture as_user "$A" container-remove r3
assert_eq 0 "$RC" "container-remove r3 exits 0"
assert_contains "$OUT" "GPU released ($U)" "container-remove says it released r3's held GPU"
assert_jq "gpu.release for r3 by the remove (reason \"removed\")" "$(by_command removed)" "$(release_of "r3._.$A")"
assert_exit 0 -m "A: deploy r4 at once: the one GPU is free" as_user "$A" container-deploy r4 --json
assert_eq "$U" "$(deployed_gpu)" "r4 got the GPU"
assert_exit 0 -m "A: retire r4" as_user "$A" container-retire r4
assert_instance_empty "nothing left in Docker"
ds01_done
