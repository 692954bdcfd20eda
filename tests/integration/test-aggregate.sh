#!/usr/bin/env bash
# Aggregate caps per user (issue 18, item 1): a group's `aggregate:` caps all of a user's
# containers together, through a parent cgroup of the user's own. Two of U's containers that
# together exceed memory_max hit U's cap, while B's container beside them (a group without
# aggregate) fills the same memory untouched; a fork loop stops at tasks_max across U's
# containers; the caps are in the kernel's files, in check-limits, `ds01 users` and /metrics, and
# a reload rewrites them. aggregate.gpu_limit lowers max_gpu_equivalents.
# ds01-test: kind=functional budget=17
. "$(dirname "$0")/lib.sh"
ds01_setup
command -v curl >/dev/null 2>&1 || skip_test "curl not installed"
U=$(ds01_user "it$$u") || fail "cannot create user U"
B=$(ds01_user "it$$b") || fail "cannot create user B"
UUID_=$(user_uid "$U")

# Each container may hold 96m (its own limit), so 70m in one is fine; U's two together may hold
# only 128m.
write_limits() { # MEMORY_MAX
	cat >"$DS01_LIMITS" <<EOF
defaults:
  max_gpu_equivalents: 2.0
  max_cpus: 1
  memory: 96m
  memory_swap: 96m
  shm_size: 100m
  pids_limit: 256
  max_containers_per_user: 3
default_group: student
groups:
  student:
    aggregate:
      cpu_quota: "150%"
      memory_max: $1
      memory_high: 120m
      tasks_max: 40
      gpu_limit: 1.5
  other:
    members: [$B]
EOF
}
write_limits 128m
ds01_metrics_listen
ds01_start_daemon

# The user cgroup's file FILE (v1: in CONTROLLER's hierarchy; v2: the one tree), below the
# instance's own parent.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cg() { cat "/sys/fs/cgroup/$INSTANCE/u$UUID_/$2"; }
	MEM_MAX=memory.max
else
	cg() { cat "/sys/fs/cgroup/$1/$INSTANCE/u$UUID_/$2"; }
	MEM_MAX=memory.limit_in_bytes
fi

capture as_user "$U" check-limits --json
assert_jq "check-limits shows U's aggregate caps" \
	'.limits.aggregate == {"cpu_quota": 1.5, "memory_max": 134217728, "memory_high": 125829120, "tasks_max": 40, "gpu_limit": 1.5}' "$OUT"
assert_jq "aggregate.gpu_limit (1.5) lowers max_gpu_equivalents (2.0)" '.limits.max_gpu_equivalents == 1.5' "$OUT"
capture as_user "$B" check-limits --json
assert_jq "B's group has no aggregate caps" '.limits.aggregate.memory_max == null and .usage.aggregate == null' "$OUT"

for c in c1 c2; do
	assert_exit 0 -m "U: deploy $c" as_user "$U" container-deploy "$c" --cpu-only
done
assert_exit 0 -m "B: deploy b1" as_user "$B" container-deploy b1 --cpu-only
assert_eq "/$INSTANCE/u$UUID_" "$(docker_json "c1._.$U" | jq -r '.HostConfig.CgroupParent')" \
	"U's container is made under U's cgroup"
assert_eq "/$INSTANCE/u$UUID_" "$(docker_json "c2._.$U" | jq -r '.HostConfig.CgroupParent')" \
	"... both of them"
assert_eq "" "$(docker_json "b1._.$B" | jq -r '.HostConfig.CgroupParent')" \
	"B's container (no aggregate) is in Docker's default parent"
assert_eq 134217728 "$(cg memory "$MEM_MAX")" "the kernel has U's memory cap (128m)"
assert_eq 40 "$(cg pids pids.max)" "the kernel has U's tasks cap (40)"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	assert_eq "150000 100000" "$(cg cpu cpu.max)" "the kernel has U's CPU cap (1.5 CPUs)"
else
	assert_eq 150000 "$(cg cpu cpu.cfs_quota_us)" "the kernel has U's CPU cap (1.5 CPUs)"
fi

# --- memory: 70m in each of U's containers is over U's 128m; B fills 70m beside them ---------
FILL='dd if=/dev/zero of=/dev/shm/fill bs=1M count=70 2>/dev/null; echo rc=$?; ls -l /dev/shm/fill'
capture as_user "$U" container-run c1 -- sh -c "$FILL"
assert_contains "$OUT" "rc=0" "U's first 70m fit under U's cap"
capture as_user "$U" container-run c2 -- sh -c "$FILL"
note "the second fill: exit $RC: $OUT"
# It did not fit: the shell reports the fill cut short (dd killed, the file short of 70m), or
# the OOM killer took the shell itself (container-run exits 137); an empty answer is neither.
if [[ $OUT == *"rc="* ]]; then
	[[ $OUT != *"rc=0"* && $OUT != *" 73400320 "* ]] &&
		ok "U's second 70m did not fit: both containers together are capped at 128m" ||
		not_ok "U's second 70m did not fit: both containers together are capped at 128m" "$OUT"
else
	assert_eq 137 "$RC" "U's second 70m did not fit: the OOM killer took the filling shell"
fi
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	assert_match "$(cg memory memory.events)" 'max [1-9]' "U's cgroup hit its memory.max"
else
	assert_match "$(cg memory memory.failcnt)" '^[1-9]' "U's cgroup hit its memory limit (failcnt)"
	MAXU=$(cg memory memory.max_usage_in_bytes)
	[ "$MAXU" -le 134217728 ] && ok "U's containers together never held more than 128m ($MAXU)" ||
		not_ok "U's containers together held $MAXU bytes, over the 128m cap"
fi
capture as_user "$B" container-run b1 -- sh -c "$FILL"
assert_contains "$OUT" "rc=0" "B's 70m fit: U's cap is U's alone"
assert_contains "$OUT" "73400320" "... all of it"
assert_eq running "$(docker_state "b1._.$B")" "B's container runs on"

capture as_user "$U" check-limits --json
assert_jq "check-limits shows what U's containers hold together" \
	'.usage.aggregate.memory > 60000000 and .usage.aggregate.memory <= 134217728' "$OUT"
capture as_user "$U" check-limits
assert_match "$OUT" 'memory \(all\) +[0-9.]+m of 128m' "check-limits prints memory (all) against the cap"

# --- a reload rewrites the caps in place --------------------------------------------------------
write_limits 200m
assert_exit 0 -m "ds01 reload" as_root ds01 reload
assert_eq 209715200 "$(cg memory "$MEM_MAX")" "after the reload U's cgroup has the new cap (200m)"
# (U's containers are at the old cap: with room again, they can let go of the files)
for c in c1 c2; do
	as_user "$U" container-start "$c" >/dev/null 2>&1 # if the OOM took one
	as_user "$U" container-run "$c" -- rm -f /dev/shm/fill >/dev/null 2>&1
done

# --- tasks: 15 sleeps in c1, then c2 cannot start 30 more (U's 40 together) -------------------
capture as_user "$U" container-run c1 -- sh -c 'for i in $(seq 15); do sleep 300 >/dev/null 2>&1 & done; echo started'
assert_contains "$OUT" "started" "c1 runs 15 sleeps"
capture as_user "$U" container-run c2 -- sh -c 'for i in $(seq 30); do sleep 300 >/dev/null 2>&1 & done; echo all-started'
assert_not_contains "$OUT" "all-started" "c2 cannot start 30 more: U's containers share 40 tasks"
assert_match "$OUT $ERR" "fork|Resource temporarily unavailable" "... the fork fails ($ERR)"
T_NOW=$(cg pids pids.current)
[ "$T_NOW" -le 40 ] && ok "U's tasks stay at or under 40 ($T_NOW)" || not_ok "U has $T_NOW tasks, over 40"
capture as_user "$B" container-run b1 -- sh -c 'for i in $(seq 30); do sleep 300 >/dev/null 2>&1 & done; echo all-started'
assert_contains "$OUT" "all-started" "B starts 30 sleeps: U's tasks cap is U's alone"

capture as_root ds01 users --json
assert_jq "ds01 users shows U's tasks together" \
	".users[] | select(.user == \"$U\") | .usage.aggregate.tasks >= 15" "$OUT"
capture as_root ds01 users
assert_match "$OUT" "$U .* [0-9]+m / 200m" "ds01 users has U's memory against the cap"
MET=$(curl -sf --max-time 10 -H "$AUTH" "$URL")
assert_contains "$MET" "ds01_user_memory_max_bytes{user=\"$U\"} 209715200" "/metrics: U's memory cap"
assert_contains "$MET" "ds01_user_tasks_max{user=\"$U\"} 40" "/metrics: U's tasks cap"
assert_match "$MET" "ds01_user_tasks_current\\{user=\"$U\"\\} [1-9]" "/metrics: U's tasks now"
assert_not_contains "$MET" "ds01_user_tasks_max{user=\"$B\"}" "/metrics: B has no tasks cap"

for c in c1 c2; do as_user "$U" container-retire "$c" >/dev/null 2>&1; done
as_user "$B" container-retire b1 >/dev/null 2>&1
ds01_done
