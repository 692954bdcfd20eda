#!/usr/bin/env bash
# The options of the atomic commands, as a user runs them (README "User commands"):
#  - container-stop --timeout S: the grace before SIGKILL. The owner's sigterm_grace_s is 1 s; a
#    process that traps SIGTERM and takes 3 s to write /workspace/ckpt saves it with --timeout 6
#    (and not without it); a process that ignores SIGTERM is killed after --timeout 3 s, not
#    before; a bad value is a usage error (2).
#  - container-remove [--force]: a running container is refused without --force (exit 1, the
#    documented message) and keeps running; with --force it gets SIGTERM (its trap saves), is
#    removed, its GPU is released, and the workspace is untouched.
#  - container-logs --follow: prints what was written, then each new line as the container
#    writes it, and ends (exit 0) when the container stops.
#  - container-stats --watch: a frame per sample (sample_interval_s 1) whose values change (the
#    runtime, and the pids after the container starts processes); it ends with exit 0 on Ctrl-C
#    (SIGINT); when the container is retired it ends with "not found" (exit 4).
# ds01-test: kind=functional budget=38
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits $'idle_timeout_h: 1\nmax_containers_per_user: 6' 'sigterm_grace_s: 1'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
W=$T/watch
mkdir -p "$W" && chmod 777 "$W"
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
in_range() { [ "$(awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { print (x >= lo && x <= hi) }')" = 1 ]; }
exists() { [ -e "$1" ]; }
has_line() { grep -q -- "$2" "$1" 2>/dev/null; }
exit_code() { docker inspect -f '{{.State.ExitCode}}' "$(docker_id "$1")"; }
# A shell that writes ready-$1 and, on SIGTERM, takes $2 s to write ckpt-$1 and exit.
saver() {
	printf 'trap "sleep %s; echo saved > /workspace/ckpt-%s; exit 0" TERM; : > /workspace/ready-%s; while :; do sleep 1; done' "$2" "$1" "$1"
}
# timed_stop DESC PROJECT [ARGS...]: container-stop, exit 0; sets TOOK (seconds) and GRACE: the
# seconds Docker waited between its SIGTERM and its SIGKILL ("none": no SIGKILL), from Docker's
# own events (nanoseconds), so the grace is measured without the CLI's and the daemon's time.
timed_stop() {
	local desc=$1 t0 id since
	shift
	id=$(docker_id "$1._.$A")
	since=$(date +%s.%N)
	t0=$(now)
	assert_exit 0 -m "$desc" as_user "$A" container-stop "$@"
	TOOK=$(took "$t0")
	GRACE=$(docker events --since "$since" --until "$(date +%s.%N)" --filter "container=$id" \
		--filter event=kill --format '{{.TimeNano}} {{.Actor.Attributes.signal}}' |
		awk '$2 == 15 && !t { t = $1 } $2 == 9 && t { printf "%.2f", ($1 - t) / 1e9; k = 1; exit }
			END { if (!k) print "none" }')
}

# ---- container-stop --timeout ----------------------------------------------------------------
assert_exit 0 -m "deploy slow (traps SIGTERM, saves in 3 s)" \
	as_user "$A" container-deploy slow --cpu-only -- sh -c "$(saver t 3)"
wait_for 10 exists "$HA/workspace/slow/ready-t" || fail "slow's process did not start"
timed_stop "container-stop slow --timeout 6" slow --timeout 6
assert_contains "$OUT" "SIGTERM and up to 6 s" "container-stop says the grace is the 6 s asked for"
assert_eq saved "$(cat "$HA/workspace/slow/ckpt-t" 2>/dev/null)" \
	"--timeout 6: the SIGTERM handler had its 3 s and wrote ckpt-t (stop took $TOOK s)"
assert_eq 0 "$(exit_code "slow._.$A")" "--timeout 6: slow exited by itself (status 0), not killed"
assert_eq none "$GRACE" "--timeout 6: Docker sent no SIGKILL"
in_range "$TOOK" 2.5 30 && ok "--timeout 6: the stop waited for the handler (~3 s: $TOOK s)" ||
	not_ok "--timeout 6: the stop waited for the handler (~3 s)" "took $TOOK s"

# The same without --timeout: the owner's 1 s grace is too short to save. (GRACE is Docker's
# timer: a few tenths late under load; the sanitizer passes allow more.)
rm -f "$HA/workspace/slow/ready-t"
assert_exit 0 -m "start slow again" as_user "$A" container-start slow
wait_for 10 exists "$HA/workspace/slow/ready-t" || fail "slow's process did not start again"
rm -f "$HA/workspace/slow/ckpt-t"
timed_stop "container-stop slow (the owner's 1 s grace)" slow
assert_contains "$OUT" "SIGTERM and up to 1 s" "container-stop without --timeout says the owner's 1 s"
assert_eq "" "$(cat "$HA/workspace/slow/ckpt-t" 2>/dev/null)" "without --timeout: killed after 1 s, before the handler saved"
assert_eq 137 "$(exit_code "slow._.$A")" "without --timeout: slow was killed (status 137)"
in_range "$GRACE" 0.95 "$(strict_timing && echo 1.9 || echo 4)" && ok "without --timeout: SIGKILL 1 s after SIGTERM (Docker's events: $GRACE s)" ||
	not_ok "without --timeout: SIGKILL 1 s after SIGTERM (Docker's events)" "grace: $GRACE s"

assert_exit 0 -m "deploy deaf (ignores SIGTERM)" \
	as_user "$A" container-deploy deaf --cpu-only -- sh -c 'trap "" TERM; : > /workspace/ready; while :; do sleep 1; done'
wait_for 10 exists "$HA/workspace/deaf/ready" || fail "deaf's process did not start"
timed_stop "container-stop deaf --timeout 3" deaf --timeout 3
assert_eq 137 "$(exit_code "deaf._.$A")" "--timeout 3: deaf was killed (status 137)"
in_range "$GRACE" 2.95 "$(strict_timing && echo 3.9 || echo 6)" && ok "--timeout 3: SIGKILL 3 s after SIGTERM, not before (Docker's events: $GRACE s)" ||
	not_ok "--timeout 3: SIGKILL 3 s after SIGTERM (Docker's events)" "grace: $GRACE s"
in_range "$TOOK" 2.95 30 && ok "--timeout 3: container-stop returned after the kill ($TOOK s)" ||
	not_ok "--timeout 3: container-stop returned after the kill" "took $TOOK s"
assert_exit 2 -m "container-stop --timeout soon: usage error (2)" as_user "$A" container-stop deaf --timeout soon
assert_contains "$ERR" "--timeout wants seconds" "the usage error says what --timeout wants"

# ---- container-remove [--force] --------------------------------------------------------------
assert_exit 0 -m "deploy rm1 (1 GPU; traps SIGTERM, saves at once)" \
	as_user "$A" container-deploy rm1 --gpus 1 -- sh -c "$(saver f 0)"
wait_for 10 exists "$HA/workspace/rm1/ready-f" || fail "rm1's process did not start"
U=$(container_gpus "$A" rm1)
assert_ne "" "$U" "rm1 leases a GPU"
echo keep >"$HA/workspace/rm1/keep.txt" && chown "$A" "$HA/workspace/rm1/keep.txt"
ID=$(docker_id "rm1._.$A")
capture as_user "$A" container-remove rm1
assert_eq 1 "$RC" "container-remove of a running container without --force: exit 1"
assert_contains "$ERR" "'rm1' is running - stop it first (container-stop rm1), retire it (container-retire rm1) or use --force" \
	"the refusal says what to do"
assert_eq running "$(docker_state "rm1._.$A")" "rm1 still running after the refusal"
assert_eq bound "$(gpu_lease_state "$U")" "rm1 keeps its GPU after the refusal"
assert_exit 0 -m "container-remove rm1 --force" as_user "$A" container-remove rm1 --force
assert_contains "$OUT" "Removed container rm1._.$A, GPU released ($U" "container-remove --force says the container and the GPU went"
assert_contains "$OUT" "the workspace is untouched" "... and that the workspace is untouched"
assert_no_container "rm1._.$A" "rm1 is gone from Docker"
assert_eq "" "$(docker ps -aq --filter "id=$ID")" "no container with rm1's id"
assert_eq free "$(gpu_lease_state "$U")" "rm1's GPU is free"
assert_eq "" "$(container_entry "$A" rm1)" "container-list no longer lists rm1"
assert_eq saved "$(cat "$HA/workspace/rm1/ckpt-f" 2>/dev/null)" "--force stopped rm1 with SIGTERM first (its handler saved)"
assert_eq keep "$(cat "$HA/workspace/rm1/keep.txt" 2>/dev/null)" "rm1's workspace files are untouched"
assert_exit 4 -m "container-remove rm1 again: not found (4)" as_user "$A" container-remove rm1 --force

# ---- container-logs --follow -----------------------------------------------------------------
# The container prints "hello", then a line for every word the test writes to /workspace/say.
TALK='echo hello; i=0; while :; do if [ -e /workspace/say ]; then i=$((i+1)); echo "line-$i $(cat /workspace/say)"; rm -f /workspace/say; fi; sleep 0.1; done'
assert_exit 0 -m "deploy talk" as_user "$A" container-deploy talk --cpu-only -- sh -c "$TALK"
say() { as_user "$A" sh -c "echo $1 > $HA/workspace/talk/say.tmp && mv $HA/workspace/talk/say.tmp $HA/workspace/talk/say"; }
as_user_bg "$A" container-logs talk --follow >"$W/logs.out" 2>"$W/logs.err"
LPID=$!
wait_for 10 has_line "$W/logs.out" '^hello$' || not_ok "--follow prints what was written before (hello)" "$(cat "$W/logs.out" "$W/logs.err")"
for w in alpha beta; do
	say "$w"
	if wait_for 5 has_line "$W/logs.out" " $w\$"; then
		ok "--follow prints '$w' as the container writes it"
	else
		not_ok "--follow prints '$w' as the container writes it" "$(cat "$W/logs.out" "$W/logs.err")"
	fi
done
kill -0 "$LPID" 2>/dev/null && ok "--follow is still running while the container runs" ||
	not_ok "--follow is still running while the container runs" "it exited"
assert_eq "hello
line-1 alpha
line-2 beta" "$(cat "$W/logs.out")" "--follow printed each line once, in order"
assert_exit 0 -m "container-stop talk" as_user "$A" container-stop talk
gone() { ! kill -0 "$1" 2>/dev/null; }
if wait_for 10 gone "$LPID"; then
	wait "$LPID"
	assert_eq 0 "$?" "--follow ends with exit 0 when the container stops"
else
	kill "$LPID" 2>/dev/null
	not_ok "--follow ends when the container stops" "still running 10 s after the stop"
fi
assert_eq "" "$(cat "$W/logs.err")" "--follow wrote nothing on stderr"

# ---- container-stats --watch -----------------------------------------------------------------
# pids: ds01-init, sh and its short sleep (2-3); then ds01-init, sh and 5 sleeps (7) once
# /workspace/spawn exists.
SPAWN='while [ ! -e /workspace/spawn ]; do sleep 0.2; done; for i in 1 2 3 4 5; do sleep 1000 & done; wait'
assert_exit 0 -m "deploy st" as_user "$A" container-deploy st --cpu-only -- sh -c "$SPAWN"
frames() { grep -c '"containers"' "$1" 2>/dev/null; }
at_least_frames() { [ "$(frames "$1")" -ge "$2" ]; }
as_user_bg "$A" container-stats st --watch --json >"$W/stats.out" 2>"$W/stats.err"
SPID=$!
wait_for 10 at_least_frames "$W/stats.out" 3 || not_ok "--watch prints a frame per sample" "$(cat "$W/stats.out" "$W/stats.err")"
N0=$(frames "$W/stats.out")
as_user "$A" touch "$HA/workspace/st/spawn"
pids_at_least() { jq -e '.containers[0].stats.pids >= 7' "$1" 2>/dev/null | grep -q true; }
wait_for 10 pids_at_least "$W/stats.out" || not_ok "--watch shows the pids grow" "$(tail -n 3 "$W/stats.out")"
kill -INT "$SPID"
if wait_for 3 gone "$SPID"; then
	wait "$SPID"
	assert_eq 0 "$?" "--watch ends with exit 0 on Ctrl-C (SIGINT)"
else
	kill -KILL "$SPID" 2>/dev/null
	not_ok "--watch ends on Ctrl-C (SIGINT)" "still running 3 s after SIGINT"
fi
N=$(frames "$W/stats.out")
assert_eq "$N" "$(jq -c . "$W/stats.out" 2>/dev/null | grep -c .)" "--watch --json: one JSON object per line ($N frames)"
assert_jq "every frame shows st only" 'all(.[]; (.containers | length) == 1 and .containers[0].project == "st")' "$(jq -s . "$W/stats.out")"
RT=$(jq -r '.containers[0].runtime_s' "$W/stats.out" | uniq | tr '\n' ' ')
[ "$(echo $RT | wc -w)" -ge 3 ] && ok "the runtime changes from frame to frame ($RT)" ||
	not_ok "the runtime changes from frame to frame" "$RT"
PIDS=$(jq -r '.containers[0].stats.pids' "$W/stats.out" | tr '\n' ' ')
BEFORE=$(jq -r '.containers[0].stats.pids' "$W/stats.out" | sed -n "${N0}p")
LAST=$(echo $PIDS | awk '{ print $NF }')
[ "$BEFORE" -le 3 ] 2>/dev/null && [ "$LAST" -eq 7 ] 2>/dev/null &&
	ok "the pids change from frame to frame: $BEFORE before the container starts 5 processes, then 7 ($PIDS)" ||
	not_ok "the pids change from frame to frame: <= 3 before the container starts 5 processes, then 7" "frame $N0: $BEFORE; all: $PIDS"

# the table redraws too, and the watch of a container that is retired ends with "not found"
as_user_bg "$A" container-stats st --watch >"$W/table.out" 2>"$W/table.err"
SPID=$!
tframes() { [ "$(grep -c 'Ctrl-C stops' "$W/table.out" 2>/dev/null)" -ge "$1" ]; }
wait_for 10 tframes 2 && ok "--watch (table) redraws at each sample" ||
	not_ok "--watch (table) redraws at each sample" "$(cat "$W/table.out" "$W/table.err")"
assert_contains "$(cat "$W/table.out")" "st" "the table names st"
assert_exit 0 -m "retire st while it is watched" as_user "$A" container-retire st
if wait_for 5 gone "$SPID"; then
	wait "$SPID"
	assert_eq 4 "$?" "--watch of a retired container ends with exit 4 (not found)"
	assert_contains "$(cat "$W/table.err")" "no container" "... saying it is not found"
else
	kill -KILL "$SPID" 2>/dev/null
	not_ok "--watch ends when its container is retired" "still running 5 s after the retire"
fi

for p in slow deaf talk; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
