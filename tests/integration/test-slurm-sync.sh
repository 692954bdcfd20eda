#!/usr/bin/env bash
# ds01 slurm-sync against a real Slurm accounting stack: a munged of its own, MariaDB
# with its own datadir and a loopback port, slurmdbd and slurmctld with their files in $T
# (SLURM_CONF, nothing in /etc/slurm). A dry run shows the plan and changes nothing; --apply
# writes a QOS, an account and the user associations per limits group with the limits file's
# values; a second run finds nothing to do; after the limits file changes (a MaxWall, a user
# moved between groups, a group removed) and a reload, `ds01 health` warns of the drift and
# `--check` exits 1; --apply converges (the user's default account follows, the removed group's
# objects go) and slurmctld enforces it (a job over the new MaxWall is refused at submission, a user outside
# the account cannot submit to it); a step failing mid-apply (the one stand-in: a wrapper of the
# real sacctmgr fails one step) is named with what was applied before it, and the next --apply
# finishes; a site's own accounts, a QOS of ds01's prefix without ds01's description and its
# users' associations are never touched, and a wanted name the site took is refused; a user is
# refused (exit 5); a daemon with no cluster key refuses slurm-sync and its health has no slurm
# line; with slurmdbd down, health fails its slurm check and slurm-sync says why.
# ds01-test: kind=functional needs=slurm budget=79
. "$(dirname "$0")/lib.sh"

slurm_tools sacctmgr slurmdbd slurmctld scontrol munge munged mariadbd mariadb mariadb-install-db
ds01_setup
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
C=$(ds01_user "it$$c") || fail "cannot create user C"
D=$(ds01_user "it$$d") || fail "cannot create user D"

# --- Slurm's accounting stack, in $T/slurm, on loopback ------------------------------------------
CLUSTER=ds01test
trap_extra() { slurm_teardown; }

T0=$(now_ms)
slurm_setup "$CLUSTER" accounting
note "MariaDB: $(($(now_ms) - T0)) ms"
{
	slurm_conf_common
	cat <<EOC
NodeName=localhost CPUs=2 State=UNKNOWN
PartitionName=gpu Nodes=localhost Default=YES
EOC
} >"$SL/slurm.conf"
export SLURM_CONF=$SL/slurm.conf
slurm_start_ctld
note "slurmdbd and slurmctld answer: $(($(now_ms) - T0)) ms"
ok "Slurm's accounting stack is up (MariaDB :$SLURM_DBPORT, slurmdbd :$SLURM_DBDPORT, slurmctld :$SLURM_CTLPORT)"

# The site's own: an account with a user (A), and an account and a QOS named with ds01's prefix
# but not made by ds01.
sacctmgr -i add account labsite cluster="$CLUSTER" Description="the lab's own" >/dev/null &&
	sacctmgr -i add account ds01_handmade cluster="$CLUSTER" Description="made by hand" >/dev/null &&
	sacctmgr -i add qos ds01_sitelimits Description="made by hand" MaxWall=60 >/dev/null &&
	sacctmgr -i add user "$A" account=labsite cluster="$CLUSTER" >/dev/null || fail "site accounts"

# --- ds01 ---------------------------------------------------------------------------------------------
write_limits() { # STUDENT_RUNTIME_H B_GROUP WITH_OLD [D_IN_RESEARCH RESEARCH_RUNTIME_H]
	cat >"$DS01_LIMITS" <<EOL
defaults:
  max_gpu_equivalents: 1.0
default_group: student
groups:
  student:
    members: [$A$([ "$2" = student ] && printf ', %s' "$B")]
    max_gpu_equivalents: 2.0
    max_runtime_h: $1
    priority: 10
  research:
    members: [$C$([ "$2" = research ] && printf ', %s' "$B")$([ "${4:-}" = yes ] && printf ', %s' "$D")]
    max_gpu_equivalents: 1.5
    max_runtime_h: ${5:-24}
    priority: 30
EOL
	[ "$3" = yes ] && cat >>"$DS01_LIMITS" <<EOL
  old:
    members: [$D]
    max_gpu_equivalents: 1
    max_runtime_h: null
    priority: 5
EOL
	return 0
}
write_limits 48 student yes
# sacctmgr as ds01d runs it: Slurm's own, except that while $SL/fail exists the step that adds
# user D fails (a failure in the middle of an apply, which real Slurm gives no way to order)
mkdir -p "$SL/bin"
cat >"$SL/bin/sacctmgr" <<EOS
#!/bin/sh
if [ -e "$SL/fail" ] && [ "\$2" = add ] && [ "\$3" = user ] && [ "\$4" = "name=$D" ]; then
	echo "sacctmgr: error: injected by test-slurm-sync" >&2
	exit 1
fi
exec "$(command -v sacctmgr)" "\$@"
EOS
chmod 755 "$SL/bin/sacctmgr"
cat >>"$DS01_CONFIG" <<EOC
cluster:
  backend: slurm
  name: $CLUSTER
  slurm_conf: $SL/slurm.conf
  slurm_bin: $SL/bin
EOC
ds01_start_daemon

qos_row() { sacctmgr -n -P show qos "$1" format=Name,Description,MaxTRESPU,MaxWall 2>/dev/null; }
assoc_rows() { sacctmgr -n -P show assoc where cluster="$CLUSTER" format=Account,User,Fairshare,QOS,DefaultQOS 2>/dev/null | sort; }
user_default() { sacctmgr -n -P show user "$1" format=DefaultAccount 2>/dev/null; }
BEFORE=$(assoc_rows)

capture as_user "$A" ds01 slurm-sync --apply
assert_eq 5 "$RC" "a user's slurm-sync --apply is refused (exit 5)"
assert_eq "$BEFORE" "$(assoc_rows)" "... and changes nothing in Slurm"

assert_exit 0 -m "slurm-sync (dry run)" as_root ds01 slurm-sync
assert_contains "$OUT" "+ qos ds01_student: gres/gpu per user 2, MaxWall 2880 min" "the dry run shows the student QOS"
assert_contains "$OUT" "+ qos ds01_research: gres/gpu per user 2, MaxWall 1440 min" "... research's (1.5 GPU-equivalents: 2 devices)"
assert_contains "$OUT" "+ account ds01_research on $CLUSTER: Fairshare 30" "... the accounts with the groups' priority as shares"
assert_contains "$OUT" "+ user $B in account ds01_student" "... the users"
assert_contains "$OUT" "nothing changed yet" "... and says nothing changed"
assert_eq "" "$(qos_row ds01_student)" "the dry run made no QOS"
assert_eq "$BEFORE" "$(assoc_rows)" "... and no association"

assert_exit 0 -m "slurm-sync --apply" as_root ds01 slurm-sync --apply
assert_contains "$OUT" "applied" "--apply says it applied the changes"
assert_eq "ds01_student|ds01: group student|gres/gpu=2|2-00:00:00" "$(qos_row ds01_student)" \
	"QOS ds01_student: 2 GPUs per user, MaxWall 48 h, marked as ds01's"
assert_eq "ds01_research|ds01: group research|gres/gpu=2|1-00:00:00" "$(qos_row ds01_research)" \
	"QOS ds01_research: 2 GPUs per user, MaxWall 24 h"
assert_eq "ds01_old|ds01: group old|gres/gpu=1|" "$(qos_row ds01_old)" "QOS ds01_old: no MaxWall (no runtime cap)"
ROWS=$(assoc_rows)
for row in "ds01_student||10|ds01_student|ds01_student" "ds01_research||30|ds01_research|ds01_research" \
	"ds01_student|$A|1|ds01_student|ds01_student" "ds01_student|$B|1|ds01_student|ds01_student" \
	"ds01_research|$C|1|ds01_research|ds01_research" "ds01_old|$D|1|ds01_old|ds01_old" \
	"labsite|$A|1|normal|"; do
	grep -qxF -- "$row" <<<"$ROWS" && ok "association $row" || not_ok "association $row" "$ROWS"
done
assert_eq "ds01_student" "$(user_default "$B")" "a new Slurm user's default account is their group's"
assert_eq "labsite" "$(user_default "$A")" "a user Slurm knew keeps the site's default account"

assert_exit 0 -m "slurm-sync again" as_root ds01 slurm-sync
assert_contains "$OUT" "nothing to do" "a second run finds nothing to do"
assert_exit 0 -m "slurm-sync --check (in step)" as_root ds01 slurm-sync --check
capture as_root ds01 health --json
assert_jq "health: slurm is ok, no warning" \
	'[.checks[] | select(.name == "slurm")][0] | .ok == true and (.warn // false) == false' "$OUT"

# The limits file changes: student's runtime cap, B to research, group old removed.
write_limits 6 research no
assert_exit 0 -m "reload" as_root ds01 reload
capture as_root ds01 health --json
assert_jq "health warns of the drift (ok, warn, the way to fix it)" \
	'[.checks[] | select(.name == "slurm")][0] | .ok == true and .warn == true and (.detail | test("slurm-sync --apply"))' "$OUT"
capture as_root ds01 health
assert_match "$OUT" "warn +slurm +Slurm differs from" "... as a warning line"
capture as_root ds01 slurm-sync --check
assert_eq 1 "$RC" "slurm-sync --check exits 1 on drift"
assert_contains "$OUT" "~ qos ds01_student: gres/gpu per user 2 -> 2, MaxWall 2880 min -> 360 min" "... and shows the MaxWall change"
assert_contains "$OUT" "~ user $B: default account ds01_student -> ds01_research" "... B's default account"
assert_contains "$OUT" "- account ds01_old on $CLUSTER" "... the removed group's account"
assert_contains "$OUT" "- qos ds01_old" "... and QOS"
assert_not_contains "$OUT" "labsite" "the site's account is not in the plan"
assert_not_contains "$OUT" "ds01_handmade" "... nor an account of ds01's prefix that ds01 did not make"
assert_not_contains "$OUT" "ds01_sitelimits" "... nor such a QOS"

assert_exit 0 -m "slurm-sync --apply (the changes)" as_root ds01 slurm-sync --apply
assert_eq "ds01_student|ds01: group student|gres/gpu=2|06:00:00" "$(qos_row ds01_student)" "MaxWall is now 6 h"
ROWS=$(assoc_rows)
grep -qxF "ds01_research|$B|1|ds01_research|ds01_research" <<<"$ROWS" && ok "B is in research" || not_ok "B is in research" "$ROWS"
grep -q "^ds01_student|$B|" <<<"$ROWS" && not_ok "B left student" "$ROWS" || ok "B left student"
assert_eq "ds01_research" "$(user_default "$B")" "B's default account followed"
grep -q "^ds01_old|" <<<"$ROWS" && not_ok "group old's account and its users are gone" "$ROWS" ||
	ok "group old's account and its users are gone"
assert_eq "" "$(qos_row ds01_old)" "... and its QOS"
grep -qxF "labsite|$A|1|normal|" <<<"$ROWS" && grep -q "^ds01_handmade||" <<<"$ROWS" &&
	ok "the site's accounts and A's site association are untouched" || not_ok "the site's own are untouched" "$ROWS"
assert_eq "ds01_sitelimits|made by hand||01:00:00" "$(qos_row ds01_sitelimits)" "... and the site's QOS"
assert_exit 0 -m "slurm-sync after the apply" as_root ds01 slurm-sync --check
assert_contains "$OUT" "nothing to do" "the apply converged"
capture as_root ds01 health --json
assert_jq "health: no drift once applied" '[.checks[] | select(.name == "slurm")][0] | (.warn // false) == false' "$OUT"

# Slurm enforces what ds01 wrote: A's job (student) beyond 6 h is refused at submission (the
# QOS's MaxWall with DenyOnLimit); C (research) may not use student's account.
SBATCH=(env SLURM_CONF="$SL/slurm.conf" sbatch --parsable -p gpu -D /tmp -o /dev/null -e /dev/null)
capture as_user "$A" "${SBATCH[@]}" -A ds01_student -q ds01_student -t 400 --wrap true
assert_ne 0 "$RC" "slurmctld refuses A's 400-minute job at submission: ds01_student's MaxWall (6 h), DenyOnLimit"
assert_contains "$ERR" "QOS" "... Slurm names the QOS policy"
[ "$RC" -eq 0 ] && [ -n "$OUT" ] && scancel "$OUT" 2>/dev/null
capture as_user "$C" "${SBATCH[@]}" -A ds01_student -q ds01_student -t 10 --wrap true
assert_ne 0 "$RC" "C (research) cannot submit to ds01_student's account"
assert_contains "$ERR" "Invalid account" "... Slurm says the account is not theirs"

# A step that fails in the middle: named, with Slurm's message and what was applied before it;
# the next --apply finishes the work.
write_limits 6 research no yes 12
assert_exit 0 -m "reload (D to research, research's MaxWall)" as_root ds01 reload
touch "$SL/fail"
capture as_root ds01 slurm-sync --apply
assert_eq 1 "$RC" "an apply whose step fails exits 1"
assert_contains "$ERR" "step 2 of 2 failed (add user $D in account ds01_research on $CLUSTER)" "... naming the step"
assert_contains "$ERR" "injected by test-slurm-sync" "... with Slurm's message"
assert_contains "$ERR" "applied before it: change qos ds01_research" "... and what was applied before it"
assert_eq "ds01_research|ds01: group research|gres/gpu=2|12:00:00" "$(qos_row ds01_research)" "the step before it is in Slurm"
rm -f "$SL/fail"
assert_exit 0 -m "slurm-sync --apply again" as_root ds01 slurm-sync --apply
assert_contains "$OUT" "+ user $D in account ds01_research" "the second apply does only what was left"
assert_not_contains "$OUT" "qos ds01_research" "... not the step that had succeeded"
assert_exit 0 -m "and converges" as_root ds01 slurm-sync --check

# A QOS of a group's name that ds01 did not make: refused, named, nothing applied.
sacctmgr -i add qos ds01_newgroup Description="made by hand" >/dev/null || fail "add qos ds01_newgroup"
printf '  newgroup:\n    members: [%s]\n' "$D" >>"$DS01_LIMITS"
assert_exit 0 -m "reload (newgroup)" as_root ds01 reload
capture as_root ds01 slurm-sync --apply
assert_eq 2 "$RC" "a wanted name taken by a site's QOS is refused (exit 2)"
assert_contains "$ERR" "QOS 'ds01_newgroup' that ds01 did not make" "... naming it"
assert_eq "" "$(sacctmgr -n -P show assoc where account=ds01_newgroup format=Account)" "... and nothing applied"

# slurmdbd down: health fails its slurm check with the reason, slurm-sync says why.
slurm_stop_tracked "$(cat "$SL/slurmdbd.pid")"
T1=$(now_ms)
capture as_root ds01 health --json
assert_jq "slurmdbd down: health's slurm check fails, saying it cannot read Slurm" \
	'[.checks[] | select(.name == "slurm")][0] | .ok == false and (.detail | test("cannot compare Slurm"))' "$OUT"
capture as_root ds01 slurm-sync
assert_eq 1 "$RC" "... and slurm-sync exits 1"
assert_contains "$ERR" "sacctmgr exited with" "... with sacctmgr's message"
note "health and slurm-sync with slurmdbd down: $(($(now_ms) - T1)) ms"

# Without the cluster key: slurm-sync is refused, health has no slurm line.
ds01_stop_daemon "ds01d stops (to start without the cluster key)"
sed -i '/^cluster:/,$d' "$DS01_CONFIG"
ds01_start_daemon
capture as_root ds01 slurm-sync
assert_eq 2 "$RC" "without the cluster key slurm-sync is refused (exit 2)"
assert_contains "$ERR" "has no 'cluster:' key" "... saying why"
capture as_root ds01 health --json
assert_jq "... and health has no slurm check" '[.checks[] | select(.name == "slurm")] | length == 0' "$OUT"

note "done: $(($(now_ms) - T0)) ms after the stack's start"
ds01_done
