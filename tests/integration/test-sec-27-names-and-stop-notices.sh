#!/usr/bin/env bash
# Issue 11 item 27 (the papercuts in sessions and stops): inside a container the user has a
# name (a passwd entry for their uid, home /home/<user>: no "I have no name!" prompt), and
# /etc/passwd there is read-only; the idle warning and stop notice of a CPU-only container do
# not talk about GPUs (a GPU container's do), and stop notices and container-stop say that a
# stopped container is removed after container_hold_after_stop_h.
# ds01-test: kind=security budget=20
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
# A's two containers are idle-stopped after 7.2 s (idle_timeout_h 0.002); B's, where the
# sessions run meanwhile, is not (an hour), however long they take on a loaded machine.
ds01_write_lifecycle_limits $'idle_timeout_h: 0.002\ncontainer_hold_after_stop_h: 2'
cat >>"$DS01_LIMITS" <<EOF2
user_overrides:
  $B:
    idle_timeout_h: 1
EOF2
ds01_start_daemon
ev_for() { printf '.event_type == "%s" and .details.container == "%s"' "$1" "$2"; }

assert_exit 0 -m "A: deploy cpu (CPU only)" as_user "$A" container-deploy cpu --cpu-only
assert_exit 0 -m "A: deploy gpu (1 GPU)" as_user "$A" container-deploy gpu
assert_exit 0 -m "B: deploy shell (CPU only)" as_user "$B" container-deploy shell --cpu-only

assert_exit 0 -m "id -un in the container" as_user "$B" container-attach shell -- id -un
assert_eq "$B" "$OUT" "the user has their login name inside the container"
assert_exit 0 -m "the passwd entry" as_user "$B" container-attach shell -- sh -c 'grep "^$(id -un):" /etc/passwd'
assert_contains "$OUT" ":/home/$B:" "its home is /home/$B (test-ssh-keys checks the rest)"
capture as_user "$B" container-attach shell -- sh -c 'echo x >> /etc/passwd'
assert_eq 1 "$RC" "/etc/passwd cannot be written from inside (the shell's exit status 1)"
assert_match "$ERR" "can't create /etc/passwd: (Permission denied|Read-only file system)" \
	"... the shell says it cannot create (open for writing) /etc/passwd"
assert_exit 0 -m "the passwd file is unchanged" as_user "$B" container-attach shell -- sh -c 'tail -n 1 /etc/passwd'
assert_ne x "$OUT" "... no line was appended"

for p in cpu gpu; do
	wait_event 30 "$(ev_for maintenance.idle_kill "$p._.$A")" ||
		not_ok "$p was idle-stopped" "$(tail -n 5 "$EVENTS")"
done
CW=$(first_event "$(ev_for maintenance.idle_warning "cpu._.$A")" | jq -r '.details.message')
CK=$(inbox_json "$A" | jq -r --arg c "cpu._.$A" '.messages[] | select(.container == $c and (.message | test("was stopped"))) | .message')
GK=$(inbox_json "$A" | jq -r --arg c "gpu._.$A" '.messages[] | select(.container == $c and (.message | test("was stopped"))) | .message')
note "cpu warning: $CW"
note "cpu stop: $CK"
assert_contains "$CW" "has been idle" "the CPU-only container got an idle warning"
assert_not_contains "$CW" "GPU" "the CPU-only idle warning does not talk about GPUs"
assert_not_contains "$CK" "GPU" "the CPU-only stop notice does not talk about GPUs"
assert_contains "$GK" "GPUs were released" "the GPU container's stop notice says its GPUs were released"
assert_contains "$CK" "removed after 2h00m (container_hold_after_stop_h)" \
	"the stop notice says when the stopped container is removed"

assert_exit 0 -m "start cpu again" as_user "$A" container-start cpu
assert_exit 0 -m "container-stop cpu" as_user "$A" container-stop cpu
assert_not_contains "$OUT" "GPU" "container-stop of a CPU-only container does not talk about GPUs"
assert_contains "$OUT" "removed after 2h00m (container_hold_after_stop_h)" \
	"container-stop says when the stopped container is removed"

for p in cpu gpu; do
	as_user "$A" container-retire "$p" >/dev/null 2>&1
done
as_user "$B" container-retire shell >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
