#!/usr/bin/env bash
# Builds that go wrong (issue #5): a failing step is named with its last output lines, the
# group's memory limit stops a build that needs more, an oversized build context is refused
# (CLI cap DS01_MAX_CONTEXT_MB and the daemon's images.max_context_mb) with a pointer to
# .dockerignore, which then works, Ctrl-C cancels a build (exit 130, the build container goes,
# nothing is tagged), and images.build_timeout_s stops a build that runs too long.
# ds01-test: kind=functional threads budget=35
. "$(dirname "$0")/lib.sh"
ds01_setup
BUILD_TIMEOUT=12
# The builds before the timeout section run with a generous timeout (a loaded machine may take
# more than 12 s for a few steps); `ds01 reload` lowers it just before the build that must hit it.
# shellcheck disable=SC2034 # read by ds01_image_setup (lib.sh)
DS01_IMAGES_EXTRA="  max_context_mb: 1
  build_timeout_s: 300"
ds01_image_setup
# The group's memory limit applies to every RUN step: 64 MiB, no swap.
ds01_write_limits
sed -i 's/\bmemory: 256m/memory: 64m/; s/memory_swap: 256m/memory_swap: 64m/' "$DS01_LIMITS"
grep -q 'memory: 64m' "$DS01_LIMITS" || fail "could not set memory: 64m in $DS01_LIMITS"
ds01_start_daemon

A=$(ds01_image_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")

# --- a failing step -------------------------------------------------------------------------------
image_dockerfile "$A" pfail 'RUN echo before-fail && false' 'RUN echo never-reached'
assert_exit 1 -m "image-create of a Dockerfile whose step 3 fails -> 1" as_user "$A" image-create pfail
assert_eq "image-create: the build of $(user_image "$A" pfail) failed at step 3/6 (RUN echo before-fail && false): The command '/bin/sh -c echo before-fail && false' returned a non-zero code: 1" \
	"$(sed -n 1p <<<"$ERR")" "the message names step 3/6, its instruction and its exit code 1"
# (the first line names the step, which has "before-fail" in it too: only what follows counts)
assert_eq "last output:
  before-fail" "$(sed -n '/^last output:$/,$p' <<<"$ERR")" \
	"the step's output (before-fail) follows as its last output, and nothing after the failing step ran"
image_exists "$(user_image "$A" pfail)" && not_ok "no image tagged after a failed build" ||
	ok "no image tagged after a failed build"
n=$(events_query '.event_type == "image.build" and .details.result == "failed"' | grep -c .)
[ "${n:-0}" -ge 1 ] && ok "event image.build (failed) logged" ||
	not_ok "event image.build (failed) logged" "$(tail -n 5 "$EVENTS" 2>/dev/null)"

# --- the group's memory limit -----------------------------------------------------------------------
# busybox dd allocates its block and fills it: 200 MiB resident, far over 64 MiB.
image_dockerfile "$A" poom 'RUN echo before-oom && dd if=/dev/zero of=/dev/null bs=200M count=1 && echo oom-survived'
assert_exit 1 -m "a build needing 200 MiB under a 64 MiB limit -> 1" as_user "$A" image-create poom
assert_eq "image-create: the build of $(user_image "$A" poom) failed at step 3/5 (RUN echo before-oom && dd if=/dev/zero of=/dev/null bs=200M count=1 && echo oom-survived): The command '/bin/sh -c echo before-oom && dd if=/dev/zero of=/dev/null bs=200M count=1 && echo oom-survived' returned a non-zero code: 137" \
	"$(sed -n 1p <<<"$ERR")" "the message names the RUN step (3/5), and it was OOM-killed (code 137, SIGKILL)"
assert_eq "last output:
  before-oom
  Killed" "$(sed -n '/^last output:$/,$p' <<<"$ERR")" \
	"the step's output ends with the shell's 'Killed' (the allocation did not succeed: no oom-survived)"
assert_not_contains "$ERR" $'\e' "the message carries no raw terminal escape codes (Docker colours stderr)"
assert_not_contains "$ERR" "Removing intermediate container" "Docker's bookkeeping lines are not shown as the step's output"
image_exists "$(user_image "$A" poom)" && not_ok "no image tagged after the OOM" ||
	ok "no image tagged after the OOM"

# --- the build context cap --------------------------------------------------------------------------
image_dockerfile "$A" pctx 'COPY . /ctx/' 'RUN ls /ctx && test ! -e /ctx/data.bin'
head -c 2097152 /dev/zero >"$HA/workspace/pctx/data.bin"
echo small >"$HA/workspace/pctx/keep.txt"
chown "$A:$(user_gid "$A")" "$HA/workspace/pctx/data.bin" "$HA/workspace/pctx/keep.txt"
assert_exit 2 -m "a 2 MB context under DS01_MAX_CONTEXT_MB=1 is refused by the CLI (exit 2)" \
	as_user "$A" env DS01_MAX_CONTEXT_MB=1 image-create pctx
assert_eq "image-create: build context of pctx is larger than 1 MB (see .dockerignore)" "$ERR" \
	"the CLI's refusal names its cap and .dockerignore"
assert_exit 2 -m "a 2 MB context over the daemon's images.max_context_mb: 1 is refused (exit 2)" \
	as_user "$A" image-create pctx
assert_eq "image-create: the build context is larger than 1 MB (images.max_context_mb) - list what the image does not need (data, checkpoints) in .dockerignore" \
	"$ERR" "the daemon's refusal names its cap (images.max_context_mb) and .dockerignore"
echo data.bin >"$HA/workspace/pctx/.dockerignore"
chown "$A:$(user_gid "$A")" "$HA/workspace/pctx/.dockerignore"
assert_exit 0 -m "with data.bin in .dockerignore the build works (and data.bin is not in it)" \
	as_user "$A" env DS01_MAX_CONTEXT_MB=1 image-create pctx
image_exists "$(user_image "$A" pctx)" && ok "ds01-<uid>/pctx:latest built" ||
	not_ok "ds01-<uid>/pctx:latest built"

# --- Ctrl-C -------------------------------------------------------------------------------------
MARK=mark-$INSTANCE
image_dockerfile "$A" pint "RUN echo started && sleep 30 && echo $MARK"
as_user_bg "$A" image-create pint >"$T/pint.out" 2>"$T/pint.err"
pid=$!
has_build() { [ -n "$(build_containers_matching "$MARK")" ]; }
if wait_for 20 has_build; then
	ok "the sleep 30 step is running in a build container"
else
	not_ok "the sleep 30 step is running in a build container" "$(cat "$T/pint.out" "$T/pint.err")"
fi
sleep 1
t0=$(date +%s%N)
kill -INT "$pid"
for _ in $(seq 1 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
assert_eq 130 "$rc" "image-create exits 130 on SIGINT"
[ "$ms" -le 3000 ] && ok "it exits within 3 s of SIGINT (${ms} ms)" ||
	not_ok "it exits within 3 s of SIGINT (${ms} ms)"
assert_eq "build cancelled" "$(tail -n 1 "$T/pint.err")" "it says the build was cancelled"
no_build() { ! has_build; }
if wait_for 10 no_build; then
	ok "no build container runs the cancelled step after a few seconds"
else
	not_ok "no build container runs the cancelled step after a few seconds" \
		"$(docker ps --no-trunc --format '{{.ID}} {{.Command}} {{.Status}}' | grep -F "$MARK")"
fi
image_exists "$(user_image "$A" pint)" && not_ok "no image tagged after Ctrl-C" ||
	ok "no image tagged after Ctrl-C"
wait_event 5 '.event_type == "image.build" and .details.result == "cancelled"' &&
	ok "event image.build (cancelled) logged" || not_ok "event image.build (cancelled) logged"
assert_exit 0 -m "the daemon still answers" as_user "$A" image-list --json

# --- the build timeout --------------------------------------------------------------------------
MARK2=mark2-$INSTANCE
sed -i "s/^  build_timeout_s: 300\$/  build_timeout_s: $BUILD_TIMEOUT/" "$DS01_CONFIG"
grep -qx "  build_timeout_s: $BUILD_TIMEOUT" "$DS01_CONFIG" || fail "could not set build_timeout_s in $DS01_CONFIG"
assert_ok "ds01 reload applies images.build_timeout_s: $BUILD_TIMEOUT" as_root ds01 reload
image_dockerfile "$A" pslow "RUN sleep 60 && echo $MARK2"
start=$SECONDS
assert_exit 1 -m "a build longer than images.build_timeout_s ($BUILD_TIMEOUT s) -> 1" \
	as_user "$A" image-create pslow
el=$((SECONDS - start))
assert_eq "image-create: the build of $(user_image "$A" pslow) took longer than $BUILD_TIMEOUT s (images.build_timeout_s) and was cancelled" \
	"$ERR" "the message names the timeout"
[ "$el" -le $((BUILD_TIMEOUT + 8)) ] && ok "stopped after about $BUILD_TIMEOUT s (${el} s)" ||
	not_ok "stopped after about $BUILD_TIMEOUT s (${el} s)"
has_slow() { [ -n "$(build_containers_matching "$MARK2")" ]; }
no_slow() { ! has_slow; }
if wait_for 10 no_slow; then
	ok "the timed-out step's build container is gone"
else
	not_ok "the timed-out step's build container is gone"
fi
image_exists "$(user_image "$A" pslow)" && not_ok "no image tagged after the timeout" ||
	ok "no image tagged after the timeout"
wait_event 5 '.event_type == "image.build" and .details.result == "timeout"' &&
	ok "event image.build (timeout) logged" || not_ok "event image.build (timeout) logged"

ds01_daemon_alive && ok "ds01d survived all of it" || not_ok "ds01d survived all of it"
assert_instance_empty "nothing left in Docker"
ds01_done
