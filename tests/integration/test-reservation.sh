#!/usr/bin/env bash
# Administrators' GPU reservations (ds01 reservation create|list|delete) on 4 simulated GPUs:
# only administrators create and delete them, bad input is refused with what to fix; before a
# window, a non-member's container (24 h runtime cap) is not placed on a slot whose window
# starts within its cap, but is on a slot whose window starts after it; a member's is; the
# refusal names the reservation; overlapping windows on a slot are refused; with
# reservation_unused_release_m 0 a slot no member leased is everyone's in the window, and one a
# member has leased stays the members' for the rest of it; delete frees the slots; list, status
# and the events show them, and they outlive a daemon restart.
# ds01-test: kind=functional budget=27
DS01_CONFIG_EXTRA='reservation_unused_release_m: 0'
. "$(dirname "$0")/lib.sh"
ds01_setup
M=$(ds01_user "it$$m") || fail "cannot create user M"
N=$(ds01_user "it$$n") || fail "cannot create user N"
O=$(ds01_user "it$$o") || fail "cannot create user O"
P=$(ds01_user "it$$p") || fail "cannot create user P"
ds01_write_lifecycle_limits 'max_gpu_equivalents: 1.0'
cat >>"$DS01_LIMITS" <<EOF
user_overrides:
  $M:
    max_gpu_equivalents: 2.0
EOF
ds01_start_daemon
mapfile -t S < <(gpus_json | jq -r '[.slots[] | select(.allocatable != false)] | sort_by(.index) | .[].uuid')
[ "${#S[@]}" -eq 4 ] || fail "expected 4 simulated GPUs, got ${#S[@]}"
slot_of() { docker inspect --format '{{index .Config.Labels "ds01.gpu.uuids"}}' "$1"; }

# who may, and what is refused
capture as_user "$N" ds01 reservation create mine --gpus 1 --start now --end +1h --users "$N"
assert_eq 5 "$RC" "a user cannot create a reservation (exit 5)"
capture as_root ds01 reservation create bad --gpus 1 --start +2h --end now --users "$M"
assert_eq 2 "$RC" "an end before the start is refused (exit 2)"
assert_contains "$ERR" "must end after it starts" "... and the error says so"
capture as_root ds01 reservation create bad --gpus 1 --start now --end +1h --users "nobody$$"
assert_eq 2 "$RC" "an unknown member is refused"
assert_contains "$ERR" "no user 'nobody$$'" "... named"
capture as_root ds01 reservation create bad --gpus 5 --start now --end +1h --users "$M"
assert_eq 2 "$RC" "more GPUs than the server has is refused"
assert_contains "$ERR" "only 4 whole GPUs" "... with what there is"
capture as_root ds01 reservation create bad --slots GPU-nope --start now --end +1h --users "$M"
assert_contains "$ERR" "'GPU-nope' is not a GPU slot" "an unknown slot is refused, named"

# exam: S2 and S3 in two hours, for M; far: S1 in 30 hours (after any 24 h runtime cap)
assert_exit 0 -m "create exam" as_root ds01 reservation create exam --slots "${S[2]},${S[3]}" \
	--start +2h --end +4h --users "$M"
assert_exit 0 -m "create far" as_root ds01 reservation create far --slots "${S[1]}" \
	--start +30h --end +31h --users "$M"
capture as_root ds01 reservation create clash --slots "${S[3]}" --start +3h --end +5h --group student
assert_eq 2 "$RC" "an overlapping window on the same slot is refused"
assert_contains "$ERR" "reserved by 'exam'" "... naming the reservation it overlaps"
assert_jq "reservation.create logged, by root, with exam's two slots" '.user == "root" and (.details.slots | length) == 2' \
	"$(first_event '.event_type == "reservation.create" and .details.name == "exam"')"

assert_exit 0 -m "N: deploy (1 GPU)" as_user "$N" container-deploy a
assert_exit 0 -m "O: deploy (1 GPU)" as_user "$O" container-deploy b
GOT="$(slot_of "a._.$N") $(slot_of "b._.$O")"
assert_eq "$(printf '%s\n' "${S[0]}" "${S[1]}" | sort | paste -sd' ')" \
	"$(tr ' ' '\n' <<<"$GOT" | sort | paste -sd' ')" \
	"non-members got S0 and S1: far starts after their runtime cap, exam does not"
capture as_user "$P" container-deploy c
assert_eq 3 "$RC" "a third non-member is refused while only exam's slots are free (exit 3)"
assert_contains "$ERR" "2 more reserved: 'exam' from" "the refusal names the reservation"
assert_exit 0 -m "M: deploy (1 GPU)" as_user "$M" container-deploy m1
MS=$(slot_of "m1._.$M")
[[ "$MS" == "${S[2]}" || "$MS" == "${S[3]}" ]] && ok "a member gets a reserved slot ($MS)" ||
	not_ok "a member gets a reserved slot" "$MS"

# what users and administrators see
capture as_user "$P" ds01 reservation list --json
assert_jq "P sees exam (upcoming, not a member) without its members" \
	'[.reservations[] | select(.name == "exam")][0] | .state == "upcoming" and .member == false and (has("users") | not)' "$OUT"
capture as_root ds01 reservation list
assert_match "$OUT" "exam +upcoming .*$M" "an administrator sees the members"
assert_contains "$OUT" "m1._.$M" "... and who holds the slots"
capture as_root ds01 status --json
assert_jq "ds01 status lists both reservations" '[.reservations[].name] == ["exam", "far"]' "$OUT"

# delete: exam's other slot is everyone's
assert_exit 0 -m "delete exam" as_root ds01 reservation delete exam
capture as_root ds01 reservation delete exam
assert_eq 4 "$RC" "deleting it again: no such reservation (exit 4)"
assert_exit 0 -m "P: deploy once exam is gone" as_user "$P" container-deploy c
FREE=$(slot_of "c._.$P")

# lab: in its window now; released at once when no member leased it (release 0) ...
assert_exit 0 -m "P: retire c" as_user "$P" container-retire c
assert_exit 0 -m "create lab (now, for M)" as_root ds01 reservation create lab --slots "$FREE" \
	--start now --end +1h --users "$M"
assert_exit 0 -m "P: deploy onto lab's unused slot (released: no member leased it)" as_user "$P" container-deploy c
assert_eq "$FREE" "$(slot_of "c._.$P")" "P got lab's slot"
assert_exit 0 -m "P: retire c" as_user "$P" container-retire c
# ... but once a member leased it, it is the members' for the rest of the window (M's m1 keeps
# the other free slot: lab's is the only one m2 can get)
assert_exit 0 -m "M: deploy onto lab's slot" as_user "$M" container-deploy m2 --gpus 1
assert_eq "$FREE" "$(slot_of "m2._.$M")" "M got lab's slot"
assert_exit 0 -m "M: retire m2" as_user "$M" container-retire m2
LABFREE=$(as_root ds01 reservation list --json | jq -r '.reservations[] | select(.name == "lab") | .slots[0].used')
assert_eq true "$LABFREE" "lab's slot is recorded as used by a member"
capture as_user "$P" container-deploy c
assert_eq 3 "$RC" "P is refused lab's slot (the only free one) after a member used it"
assert_contains "$ERR" "1 more reserved: 'lab' from" "... and told why"

# reservations live in the ledger
ds01_stop_daemon
ds01_start_daemon
capture as_root ds01 reservation list --json
assert_jq "after a restart: lab and far are still there" '[.reservations[].name] | sort == ["far", "lab"]' "$OUT"
assert_jq "reservation.delete logged" '.details.name == "exam"' "$(first_event '.event_type == "reservation.delete"')"
ds01_done
