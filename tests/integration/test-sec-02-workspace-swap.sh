#!/usr/bin/env bash
# Issue 11 item 2: the workspace check and Docker's mount cannot be raced. While a user swaps
# ~/workspace/swp with a symlink to a root-only directory (renameat2 RENAME_EXCHANGE every
# millisecond, from a small C program compiled here), they deploy and retire swp again and
# again. A deploy may be refused (the check saw the symlink), but no container ever has the
# root-only directory at /workspace: Docker mounts the directory ds01d opened and checked, not
# the path. Rounds until 12 deploys went through (3 under a sanitizer: stress_count), at most
# eight times as many rounds and 25 s: about half the rounds are refused, and 9 rounds once gave
# only 2 deploys.
# ds01-test: kind=security budget=38
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
command -v cc >/dev/null 2>&1 || { note "no C compiler: skipped"; exit 77; }

A=$(ds01_user "it$$a") || fail "cannot create user"
HA=$(user_home "$A")
XPID=
trap '_rc=$?; [ -n "$XPID" ] && kill "$XPID" 2>/dev/null; (exit $_rc); _ds01_cleanup' EXIT

# Root's secret, in a directory the user cannot even enter.
mkdir -m 700 "$T/priv"
mkdir -m 755 "$T/priv/secret"
echo root-secret >"$T/priv/secret/SECRET.txt"
chmod 644 "$T/priv/secret/SECRET.txt"

cat >"$T/xchg.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	for (;;) {
		if (renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) < 0) {
			perror("renameat2");
			return 1;
		}
		usleep(1000);
	}
}
EOF
cc -O2 -o "$T/xchg" "$T/xchg.c" || fail "cannot compile the attacker"
chmod 755 "$T/xchg"

W=$HA/workspace
as_user "$A" sh -c "mkdir -p '$W/swp' && echo mine >'$W/swp/MINE.txt' && ln -s '$T/priv/secret' '$W/swp.alt'" ||
	fail "cannot set up the workspace"
as_user "$A" sh -c "echo \$\$ >'$HA/xchg.pid'; exec '$T/xchg' '$W/swp' '$W/swp.alt'" &
XJOB=$!
wait_started "$XJOB" "$HA/xchg.pid"
XPID=$(cat "$HA/xchg.pid")
sleep 0.2
kill -0 "$XPID" 2>/dev/null && ok "the attacker swaps ~/workspace/swp and a symlink to a root-only directory" ||
	fail "the attacker does not run"

C="swp._.$A"
deployed=0 refused=0 leaked=0 mine=0 i=0 odd=
WANT=$(stress_count 12)
END=$((SECONDS + 25))
while [ "$deployed" -lt "$WANT" ] && [ "$i" -lt $((WANT * 8)) ] && [ "$SECONDS" -lt "$END" ]; do
	i=$((i + 1))
	capture as_user "$A" container-deploy swp --cpu-only
	if [ "$RC" -ne 0 ]; then
		refused=$((refused + 1))
		# the only refusal the race may cause: the check saw the symlink
		[ "$RC" = 5 ] && [[ $ERR == *"is a symlink"* ]] || odd="$odd
round $i: exit $RC: $ERR"
		continue
	fi
	deployed=$((deployed + 1))
	seen=$(docker exec "$C" ls -A /workspace 2>&1)
	case "$seen" in *SECRET.txt*) leaked=$((leaked + 1)) ;; esac
	case "$seen" in *MINE.txt*) mine=$((mine + 1)) ;; esac
	capture as_user "$A" container-retire swp
	[ "$RC" -eq 0 ] || { not_ok "retire swp (round $i)" "$ERR"; break; }
done
kill "$XPID" 2>/dev/null
wait "$XJOB" 2>/dev/null # the as_user job around it
XPID=
note "$i rounds: $deployed deployed, $refused refused (symlink seen), $leaked with the secret, $mine with the user's files"

[ "$deployed" -ge 3 ] && ok "at least 3 deploys went through during the swaps ($deployed)" ||
	not_ok "at least 3 deploys went through during the swaps" "$deployed of $i"
assert_eq "" "$odd" "every refused deploy was refused for the symlink (exit 5)"
assert_eq 0 "$leaked" "no container had the root-only directory at /workspace"
assert_eq "$deployed" "$mine" "every container had the user's own workspace at /workspace"
assert_eq "" "$(ls -A "$T/state/workspaces" 2>/dev/null)" "no pin is left behind"
as_user "$A" container-retire swp >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
