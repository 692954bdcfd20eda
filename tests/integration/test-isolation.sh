#!/usr/bin/env bash
# Users cannot see or act on each other's containers: B's list has none of A's, every action of B
# on A's container answers "not found" (exit 4) and is logged as auth.denied; A's container is
# untouched; B's workspace is B's own. Root (admin) sees everything with --all.
# ds01-test: kind=functional budget=15
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
CA="iso._.$A"

assert_exit 0 -m "A: deploy iso" as_user "$A" container-deploy iso
# A's secret file, and a line in its container's log (what PID 1 writes to stdout is the log).
LOGLINE=a-log-line-$$
assert_exit 0 -m "A: write a secret into /workspace and a line into iso's log" \
	as_user "$A" container-run iso -- sh -c "echo top-secret-a > /workspace/secret.txt && echo $LOGLINE > /proc/1/fd/1"
assert_eq "" "$ERR" "...without an error"
log_has_line() { [ "$(as_user "$A" container-logs iso 2>&1)" = "$LOGLINE" ]; }
wait_for 5 log_has_line
assert_exit 0 -m "A: container-logs iso" as_user "$A" container-logs iso
assert_eq "$LOGLINE" "$OUT" "A's log has the line (so B's not seeing it means something)"
assert_exit 0 -m "B: deploy own project bee --cpu-only" as_user "$B" container-deploy bee --cpu-only

list_json "$B"
assert_eq 0 "$RC" "B: container-list --json exits 0"
assert_jq "B's list has only B's containers" "all(.containers[]; .user == \"$B\")" "$OUT"
assert_not_contains "$OUT" "$A" "B's list never mentions A"
assert_jq "B's list has bee" 'any(.containers[]; .project == "bee")' "$OUT"
list_json "$A"
assert_not_contains "$OUT" "bee._.$B" "A's list never mentions B's container"

# B acting on A's container by its full name: not found, every verb
assert_exit 4 -m "B: container-stop $CA -> 4" as_user "$B" container-stop "$CA"
assert_exit 4 -m "B: container-retire $CA -> 4" as_user "$B" container-retire "$CA"
assert_exit 4 -m "B: container-remove $CA -> 4" as_user "$B" container-remove "$CA"
assert_exit 4 -m "B: container-start $CA -> 4" as_user "$B" container-start "$CA"
assert_exit 4 -m "B: container-logs $CA -> 4" as_user "$B" container-logs "$CA"
assert_eq "" "$OUT" "B gets none of A's logs (nothing on stdout)"
assert_eq "container-logs: no container '$CA' - container-list shows yours" "$ERR" \
	"...only 'no container' on stderr"
assert_exit 4 -m "B: container-run $CA -- cat /workspace/secret.txt -> 4" \
	as_user "$B" container-run "$CA" -- cat /workspace/secret.txt
assert_eq "" "$OUT" "B does not get A's file (nothing on stdout)"
assert_eq "container-run: no container '$CA' - container-list shows yours" "$ERR" \
	"...only 'no container' on stderr"
# README: --all shows everyone's to admins; anyone else is refused (exit 5).
assert_exit 5 -m "B: container-list --all (not an admin) -> 5" as_user "$B" container-list --all --json
assert_eq "" "$OUT" "...and lists nothing"
assert_exit 4 -m "B: container-run iso (B has no such project) -> 4" as_user "$B" container-run iso -- true
assert_eq "container-run: no container 'iso' - container-list shows yours, container-deploy iso creates one" \
	"$ERR" "...saying B has no container iso"

assert_eq running "$(docker_state "$CA")" "A's container is still running in Docker"
assert_jq "A still sees iso running" '.state == "running"' "$(container_entry "$A" iso)"
assert_exit 0 -m "A still reads its secret" as_user "$A" container-run iso -- cat /workspace/secret.txt
assert_eq top-secret-a "$OUT" "A's workspace file intact"
assert_event auth.denied "$B"
assert_eq 0 "$(events_count auth.denied "$A")" "no auth.denied charged to A"

# B's project of the same name is B's own, with B's own workspace
assert_exit 0 -m "B: deploy its own iso --cpu-only" as_user "$B" container-deploy iso --cpu-only
assert_exit 1 -m "B: cat /workspace/secret.txt in B's own iso fails (exit 1: cat's own)" \
	as_user "$B" container-run iso -- cat /workspace/secret.txt
assert_eq "" "$OUT" "B's iso does not see A's workspace (nothing printed)"
assert_eq "cat: can't open '/workspace/secret.txt': No such file or directory" "$ERR" \
	"...because there is no such file in B's /workspace"
assert_eq "$(user_uid "$B")" "$(stat -c %u "$(user_home "$B")/workspace/iso" 2>/dev/null)" "B's workspace is owned by B"

# root/admin
capture as_root container-list --all --json
assert_eq 0 "$RC" "root: container-list --all --json exits 0"
assert_jq "root sees A's iso" "any(.containers[]; .name == \"$CA\")" "$OUT"
assert_jq "root sees B's bee and iso" \
	"any(.containers[]; .name == \"bee._.$B\") and any(.containers[]; .name == \"iso._.$B\")" "$OUT"

assert_exit 0 -m "root: container-logs $CA (admin, full name)" as_root container-logs "$CA"
assert_eq "$LOGLINE" "$OUT" "root gets A's log line"
assert_exit 4 -m "root: container-logs iso (no project of root's own) -> 4" as_root container-logs "iso._.nosuchuser"
assert_exit 0 -m "A: retire iso" as_user "$A" container-retire iso
assert_exit 0 -m "B: retire iso" as_user "$B" container-retire iso
assert_exit 0 -m "B: retire bee" as_user "$B" container-retire bee
assert_instance_empty "nothing left in Docker"
ds01_done
