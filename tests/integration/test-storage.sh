#!/usr/bin/env bash
# Storage (issue 18, item 3): workspace_root is a real ext4 file system on a loop device made by
# the test; user A's group limit storage_workspace is 8m, B has none.
#  - ds01d measures each user's workspaces by its low-priority scan: the usage in check-limits is
#    exactly what du counts (blocks, a hard link once), and a symlink to a big root-owned file
#    outside the workspace is neither followed nor counted;
#  - crossing 90 % and then 100 % each puts one warning in A's inbox (once per crossing);
#  - at 100 % container-deploy is refused (exit 3) with the usage, the limit and the way out;
#    after A deletes files the deploy works;
#  - check-limits (A's own only), ds01 users (administrators), /metrics (per-user series with
#    the token only) and ds01 board show the usage;
#  - ds01 storage setup refuses on this ext4 without project quotas, naming the cause and fix;
#  - the project-quota backend itself runs only where the kernel mounts ext4 with prjquota (not
#    this CI kernel: built without CONFIG_QFMT_V2), else that part is skipped with the reason.
# ds01-test: kind=functional threads budget=24
. "$(dirname "$0")/lib.sh"
ds01_setup
for tool in mkfs.ext4 losetup mountpoint curl du; do
	command -v "$tool" >/dev/null || fail "$tool is not installed"
done

WSR=$T/ws
LOOPS=()
MOUNTS=()
# Unmounts and detaches what the test made, even after a failure (the daemon may still hold a
# directory there: lazily, and the loop device goes once it is released).
trap_extra() {
	local m l
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
}
# make_fs IMG DIR [MKFS_OPTS] [MOUNT_OPTS]: a 64 MiB ext4 on a loop device, mounted on DIR.
make_fs() {
	local img=$1 dir=$2 mkfs_opts=${3:-} mount_opts=${4:-} loop
	truncate -s 64M "$img" && mkfs.ext4 -q -F $mkfs_opts "$img" || return 1
	loop=$(losetup -f --show "$img") || return 1
	LOOPS+=("$loop")
	install -d -m 755 "$dir"
	mount ${mount_opts:+-o "$mount_opts"} "$loop" "$dir" 2>"$T/mount.err" || return 1
	MOUNTS+=("$dir")
	chmod 755 "$dir"
}
make_fs "$T/ws.img" "$WSR" || fail "cannot make the loop ext4: $(cat "$T/mount.err" 2>/dev/null)"

sed -i "s|^workspace_root: home\$|workspace_root: $WSR|" "$DS01_CONFIG"
grep -qx "workspace_root: $WSR" "$DS01_CONFIG" || fail "could not set workspace_root"
printf 'storage_scan_interval_s: 1\n' >>"$DS01_CONFIG"
ds01_metrics_listen

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
cat >>"$DS01_LIMITS" <<EOF2
user_overrides:
  $A:
    storage_workspace: 8m
EOF2
LIMIT=$((8 << 20))
for u in "$A" "$B"; do install -d -o "$u" -g "$(id -g "$u")" -m 700 "$WSR/$u"; done
WA=$WSR/$A
# a big root-owned file outside the workspaces, which A links to
BIG=$T/big-root-file
dd if=/dev/zero of="$BIG" bs=1M count=16 status=none conv=fsync
ds01_start_daemon

storage_json() { as_user "$1" check-limits --json 2>/dev/null | jq -c .storage; }
used() { storage_json "$1" | jq -r '.used_bytes // "null"'; }
du_bytes() { du -s -B1 "$1" | cut -f1; }
_used_is() { [ "$(used "$1")" = "$2" ]; }
# wait_used USER BYTES: until the scan reports exactly BYTES for USER.
wait_used() { wait_for 30 _used_is "$1" "$2"; }
passes() { storage_json "$1" | jq -r .scan_passes; }
_passes_over() { [ "$(passes "$1")" -gt "$2" ]; }
# wait_passes USER N: N more complete scan passes (one that started after now, and another).
wait_passes() { local p; p=$(passes "$1"); wait_for 30 _passes_over "$1" "$((p + $2))"; }
inbox_count() {
	ledger_sql "SELECT count(*) FROM inbox WHERE uid = $(id -u "$1") AND event = '$2';"
}
_inbox_has() { [ "$(inbox_count "$1" "$2")" -ge 1 ]; }
write_mib() { # USER FILE MIB
	as_user "$1" dd if=/dev/zero of="$2" bs=1M count="$3" status=none conv=fsync
}

# ---- the scan runs at nice 19 and the idle I/O class
TID=$(grep -lx ds01d-storage /proc/"$DS01_PID"/task/*/comm 2>/dev/null | head -n 1 | cut -d/ -f5)
if [ -n "$TID" ]; then
	assert_eq 19 "$(awk '{ print $19 }' "/proc/$DS01_PID/task/$TID/stat")" "the scan thread runs at nice 19"
	command -v ionice >/dev/null && assert_eq idle "$(ionice -p "$TID" | cut -d: -f1)" "the scan thread has the idle I/O class"
else
	not_ok "ds01d has a thread named ds01d-storage" "$(cat /proc/"$DS01_PID"/task/*/comm 2>&1 | sort | uniq -c)"
fi

# ---- the scan: blocks, hard links once, symlinks not followed
wait_used "$A" "$(du_bytes "$WA")" || fail "the first scan never reported A's empty workspace ($(storage_json "$A"))"
as_user "$A" mkdir -p "$WA/p1" "$WA/p2/deep/er" || fail "A cannot make directories"
write_mib "$A" "$WA/p1/data" 4 || fail "A cannot write 4 MiB"
as_user "$A" ln "$WA/p1/data" "$WA/p2/deep/er/data.hardlink" || fail "A cannot hard-link"
as_user "$A" ln -s "$BIG" "$WA/p1/big.symlink" || fail "A cannot symlink"
WANT=$(du_bytes "$WA")
if wait_used "$A" "$WANT"; then
	ok "check-limits: A uses $WANT bytes, what du counts (4 MiB once, the 16 MiB symlink target not)"
else
	not_ok "check-limits: A uses $WANT bytes" "$(storage_json "$A")"
fi
GOT=$(used "$A")
[ "$GOT" -ge $((4 << 20)) ] && [ "$GOT" -lt $((5 << 20)) ] &&
	ok "the usage is 4 MiB and a little ($GOT): the hard link once, the symlink's target never" ||
	not_ok "the usage is 4 MiB and a little" "$GOT"
assert_jq "check-limits: the limit, the path, the method" \
	".storage.limit_bytes == $LIMIT and .storage.path == \"$WA\" and .storage.method == \"scan\" and .storage.percent == $((GOT * 100 / LIMIT))" \
	"$(as_user "$A" check-limits --json)"
assert_eq 0 "$(inbox_count "$A" storage_warning)" "no warning at $((GOT * 100 / LIMIT)) %"

# ---- 90 %: one warning
write_mib "$A" "$WA/p2/more" 3 || fail "A cannot write 3 MiB more"
as_user "$A" dd if=/dev/zero of="$WA/p2/bit" bs=256K count=1 status=none conv=fsync
wait_for 30 _inbox_has "$A" storage_warning && ok "A's inbox has the 90 % warning" ||
	not_ok "A's inbox has the 90 % warning" "$(storage_json "$A")"
MSG=$(ledger_sql "SELECT message FROM inbox WHERE uid = $(id -u "$A") AND event = 'storage_warning';")
assert_match "$MSG" "^storage quota nearly reached: your workspaces \($WA\) use 7\.[0-9] MiB of your 8\.0 MiB \(90 %\) - delete files you no longer need" \
	"the warning gives the usage, the limit and what to do"
capture as_user "$A" check-limits
assert_match "$OUT" "workspace storage +7\.[0-9] MiB of 8\.0 MiB \(9[0-9] %\) in $WA" "check-limits shows A's usage against the limit"
wait_passes "$A" 2
assert_eq 1 "$(inbox_count "$A" storage_warning)" "one 90 % warning, not one per scan"

# ---- 100 %: a second warning, and deploys are refused
write_mib "$A" "$WA/p2/full" 1 || fail "A cannot write 1 MiB more"
wait_for 30 _inbox_has "$A" storage_full && ok "A's inbox has the 100 % warning" ||
	not_ok "A's inbox has the 100 % warning" "$(storage_json "$A")"
FULL=$(used "$A")
assert_exit 3 -m "A: deploy at 100 % of storage_workspace is refused (exit 3)" \
	as_user "$A" container-deploy p1 --cpu-only
assert_match "$ERR" "^container-deploy: storage quota reached: your workspaces \($WA\) use 8\.[0-9] MiB of 8\.0 MiB - delete files in $WA, or ask an administrator for more" \
	"the refusal gives the usage, the limit and the way out"
assert_no_container "p1._.$A" "no container left after the refusal"
capture as_user "$A" check-limits
assert_contains "$OUT" "new containers are refused - delete files in $WA" "check-limits says deploys are refused and what to do"
wait_passes "$A" 2
assert_eq "1 1" "$(inbox_count "$A" storage_warning) $(inbox_count "$A" storage_full)" "each level warned once"
capture as_user "$A" ds01 inbox
assert_contains "$OUT" "storage quota reached" "ds01 inbox shows A the 100 % warning"

# ---- everyone sees only their own; administrators everyone's
assert_jq "B's check-limits: B's own (empty) workspace, no limit" \
	".storage.path == \"$WSR/$B\" and .storage.limit_bytes == null and .storage.used_bytes < 65536" \
	"$(as_user "$B" check-limits --json)"
capture as_root ds01 users "$A" --json
assert_jq "ds01 users: A's storage usage and limit" \
	".users[0].storage.used_bytes == $FULL and .users[0].storage.limit_bytes == $LIMIT" "$OUT"
capture as_root ds01 users "$A"
assert_match "$OUT" "STORAGE" "ds01 users has a STORAGE column"
assert_match "$OUT" "8\.[0-9] MiB of 8\.0 MiB \(10[0-9] %\)" "ds01 users shows A's usage against the limit"
assert_exit 5 -m "B may not run ds01 users" as_user "$B" ds01 users
capture as_user "$A" ds01 board
assert_match "$OUT" "Your workspaces: 8\.[0-9] MiB of 8\.0 MiB" "ds01 board shows A's own usage"
assert_jq "B's board has B's usage only" ".my_storage.path == \"$WSR/$B\"" "$(as_user "$B" ds01 board --json)"
METRICS=$(curl -s -H "Authorization: Bearer $(cat "$TOKEN_FILE")" "$URL")
assert_contains "$METRICS" "ds01_user_storage_workspace_bytes{user=\"$A\"} $FULL" "/metrics with the token: A's usage"
ANON=$(curl -s "$URL")
assert_not_contains "$ANON" "ds01_user_storage_workspace_bytes{" "/metrics without the token names no user"
assert_match "$ANON" "ds01_storage_workspaces_bytes [0-9]" "/metrics without the token: the total"

# ---- deleting files lets A deploy again
as_user "$A" rm -f "$WA/p2/more" "$WA/p2/full" "$WA/p2/bit" || fail "A cannot delete"
wait_used "$A" "$(du_bytes "$WA")" || not_ok "the usage falls after A deleted files" "$(storage_json "$A")"
assert_exit 0 -m "A: deploy works again below the limit" as_user "$A" container-deploy p1 --cpu-only
assert_exit 0 -m "A: retire p1" as_user "$A" container-retire p1

# ---- ds01 storage setup: refused on this ext4 (no quota feature, not mounted with prjquota)
assert_exit 1 -m "ds01 storage setup is refused on ext4 without project quotas" as_root ds01 storage setup
assert_match "$ERR" "project quotas are not available on $WSR \(ext4 on /dev/loop[0-9]+\): the file system has no quota and project features - unmount it, run 'tune2fs -O quota,project /dev/loop[0-9]+', and mount it with -o prjquota" \
	"the refusal names the file system, the cause and the fix"
if ! grep -qw v2_read_file_info /proc/kallsyms; then
	assert_contains "$ERR" "built without CONFIG_QFMT_V2" "...and that this kernel cannot enforce them at all"
fi
assert_exit 5 -m "B may not run ds01 storage setup" as_user "$B" ds01 storage setup

# ---- the project-quota backend, where the kernel has it
QWS=$T/qws
if ! make_fs "$T/qws.img" "$QWS" "-O quota,project" prjquota; then
	note "SKIP project-quota backend: this kernel cannot mount ext4 with project quotas ($(head -c 200 "$T/mount.err" | tr '\n' ' ')); its refusal is tested above"
else
	sed -i "s|^workspace_root: .*|workspace_root: $QWS|" "$DS01_CONFIG"
	for u in "$A" "$B"; do install -d -o "$u" -g "$(id -g "$u")" -m 700 "$QWS/$u"; done
	assert_exit 0 -m "ds01 reload (workspace_root on the prjquota ext4)" as_root ds01 reload
	assert_exit 0 -m "ds01 storage setup with project quotas" as_root ds01 storage setup --json
	assert_jq "setup labelled A's directory with project = uid and the 8m limit" \
		".users | map(select(.user == \"$A\" and .project == $(id -u "$A") and .limit_bytes == $LIMIT)) | length == 1" "$OUT"
	if write_mib "$A" "$QWS/$A/too-much" 12 2>/dev/null; then
		not_ok "the kernel stops A at 8 MiB"
	else
		ok "the kernel stops A at 8 MiB (EDQUOT)"
	fi
	_by_quota() { [ "$(storage_json "$A" | jq -r .method)" = "project quota" ]; }
	wait_for 30 _by_quota && ok "the usage comes from the project quota" ||
		not_ok "the usage comes from the project quota" "$(storage_json "$A")"
fi

ds01_done
