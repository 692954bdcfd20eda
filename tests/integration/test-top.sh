#!/usr/bin/env bash
# container-top and long jobs: a job started in the background of a container-attach session keeps
# running after the session ends; container-top lists it with the pid the container sees, its CPU
# and how long it has run; another user's container is "not found" (exit 4); a stopped one says
# it is not running (exit 1).
# ds01-test: kind=functional budget=15
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

assert_exit 0 -m "A: deploy job" as_user "$A" container-deploy job --cpu-only
# a job that burns CPU for a while, then waits: started in the background of a session that ends
# at once (the test image's busybox has no nohup; without a terminal there is no SIGHUP anyway)
assert_exit 0 -m "A starts a job in the background and leaves" as_user "$A" container-attach job -- \
	sh -c '(sh -c "i=0; while [ \$i -lt 200000 ]; do i=\$((i+1)); done; exec sleep 600" >/workspace/job.log 2>&1 &)'
sleep 2
capture as_user "$A" container-top job --json
assert_eq 0 "$RC" "A: container-top job --json"
TOP=$OUT
JOB=$(jq -c '.processes[] | select(.command | test("sleep 600|while"))' <<<"$TOP" | head -1)
[ -n "$JOB" ] && ok "the job still runs after its session ended" || not_ok "the job still runs after its session ended" "$OUT"
PID=$(jq -r '.pid' <<<"$JOB")
capture as_user "$A" container-attach job -- cat "/proc/$PID/comm"
assert_match "$OUT" '^(sh|sleep)$' "its pid ($PID) is the container's own (/proc/$PID/comm inside)"
assert_match "$(jq -r '.elapsed_s' <<<"$JOB")" '^[1-9][0-9]*$' "it has run for a second or more"
awk -v p="$(jq -r '.cpu_percent' <<<"$JOB")" -v s="$(jq -r '.cpu_s' <<<"$JOB")" 'BEGIN { exit !(p > 0 || s > 0) }' &&
	ok "it shows CPU used" || not_ok "it shows CPU used" "$JOB"
[ "$(jq -r '.processes[0].pid' <<<"$TOP")" = 1 ] && ok "pid 1 (ds01-init) comes first" || not_ok "pid 1 comes first" "$TOP"
capture as_user "$A" container-top job
assert_match "$OUT" 'PID +CPU% +CPU-TIME +RUNNING +COMMAND' "the table's header"
assert_contains "$OUT" "nohup" "the table says what keeps a job running"
assert_exit 4 -m "B: container-top job._.$A -> not found" as_user "$B" container-top "job._.$A"
assert_exit 0 -m "A: stop job" as_user "$A" container-stop job --timeout 1
capture as_user "$A" container-top job
assert_eq 1 "$RC" "container-top of a stopped container -> exit 1"
assert_contains "$ERR" "not running" "it says so"
ds01_done
