#!/usr/bin/env bash
# Issue 11 item 1: the root daemon never follows a user-controlled path. Users plant, in their
# workspaces, what ds01d opens as root when it writes .ds01-alerts (idle warnings) and reads
# .keep-alive (every monitor tick):
#   A: ~/workspace is a symlink through /proc/PID/root into the user's own `unshare -Urm` mount
#      namespace, where ~/workspace/ns1/.ds01-alerts is a bind mount of a root-owned 0600 empty
#      file (the published attack: ds01d chowned it to the user);
#   B: .ds01-alerts is a symlink to a root-owned file (lnk1), a FIFO with a reader (fifo1), and
#      .keep-alive is a symlink to a fresh root-owned file and a FIFO (ka1, ka2).
# The root files stay root's and unchanged, no keep-alive is honoured, and the monitor does not
# stall: every container is stopped on time for idleness. B's traps are in place before B's
# containers start, A's right after ns1 starts, before its first warning.
# ds01-test: kind=security budget=26
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
ds01_setup
# idle_timeout_h 0.002 (7.2 s: the first warning at 5.8 s); 10.8 s under a sanitizer
if strict_timing; then IDLE_H=0.002; else IDLE_H=0.003; fi
ds01_write_lifecycle_limits "idle_timeout_h: $IDLE_H"$'\nmax_containers_per_user: 5' 'keepalive_max_duration_h: 1'
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
HA=$(user_home "$A") HB=$(user_home "$B")
NSPID='' READER=''
stop_helpers() {
	[ -n "$NSPID" ] && kill "$NSPID" 2>/dev/null
	[ -n "$READER" ] && kill "$READER" 2>/dev/null
	NSPID='' READER=''
}
trap '_rc=$?; stop_helpers; (exit $_rc); _ds01_cleanup' EXIT

# Root's files, in a directory users can search but not write (made by this test, never a real
# system file).
mkdir -m 755 "$T/pub"
for f in ns lnk ka; do
	: >"$T/pub/$f"
	chmod 600 "$T/pub/$f"
done
touch -d '2020-01-01' "$T/pub/ns" "$T/pub/lnk" # so a write shows in the mtime too
root_file_ok() { # FILE DESC
	local s
	s=$(stat -c '%u %s %a %Y' "$1")
	assert_eq "0 0 600 $(date -d 2020-01-01 +%s)" "$s" "$2"
}

# --- B: links and FIFOs in the workspaces, made before the containers ------------------------
WB=$HB/workspace
assert_ok "B: makes the four workspaces" as_user "$B" mkdir -p "$WB/lnk1" "$WB/fifo1" "$WB/ka1" "$WB/ka2"
assert_ok "B: lnk1/.ds01-alerts -> a root file" as_user "$B" ln -s "$T/pub/lnk" "$WB/lnk1/.ds01-alerts"
assert_ok "B: fifo1/.ds01-alerts is a FIFO" as_user "$B" mkfifo "$WB/fifo1/.ds01-alerts"
# a reader on the FIFO, so an open for writing would succeed (and one for reading block)
as_user "$B" sh -c "echo \$\$ >'$HB/reader.pid'; exec 3<>'$WB/fifo1/.ds01-alerts'; exec sleep 120" &
wait_started $! "$HB/reader.pid" || fail "B's FIFO reader did not start"
READER=$(cat "$HB/reader.pid")
touch "$T/pub/ka"
assert_ok "B: ka1/.keep-alive -> a fresh root file" as_user "$B" ln -s "$T/pub/ka" "$WB/ka1/.keep-alive"
assert_ok "B: ka2/.keep-alive is a FIFO" as_user "$B" mkfifo "$WB/ka2/.keep-alive"
for p in lnk1 fifo1 ka1 ka2; do
	assert_exit 0 -m "B: deploy $p" as_user "$B" container-deploy "$p" --cpu-only
done
assert_exit 0 -m "A: deploy ns1" as_user "$A" container-deploy ns1 --cpu-only

# --- A: ~/workspace through /proc/PID/root of the user's own mount namespace -----------------
NSREADY=$HA/nsready
as_user "$A" unshare -Urm sh -c "
	mkdir -p '$HA/nsroot/ns1' && : >'$HA/nsroot/ns1/.ds01-alerts' &&
	mount --bind '$T/pub/ns' '$HA/nsroot/ns1/.ds01-alerts' && echo \$\$ >'$NSREADY' &&
	exec sleep 120" &
if wait_started $! "$NSREADY"; then
	ok "A: bind mount of a root file inside the user's own namespace"
	IN=$(cat "$NSREADY")
	NSPID=$IN
	assert_exit 0 -m "A: ~/workspace -> /proc/$IN/root$HA/nsroot" as_user "$A" sh -c \
		"mv '$HA/workspace' '$HA/workspace.real' && ln -s /proc/$IN/root$HA/nsroot '$HA/workspace'"
else
	# Hosts without unprivileged user namespaces cannot stage this attack at all.
	note "A: unshare -Urm does not work for a plain user here: the namespace attack is not covered"
fi

# --- every one stopped on time for idleness ---------------------------------------------------
START=$SECONDS
for c in "ns1._.$A" "lnk1._.$B" "fifo1._.$B" "ka1._.$B" "ka2._.$B"; do
	if wait_event 30 ".event_type == \"maintenance.idle_kill\" and .details.container == \"$c\""; then
		ok "$c stopped for idleness"
	else
		not_ok "$c stopped for idleness (no keep-alive through a link or FIFO, no stall)" \
			"$(tail -n 5 "$EVENTS")"
	fi
done
note "all idle stops seen $((SECONDS - START)) s after the attacks were set up"
W=$(events_query ".event_type == \"maintenance.idle_warning\"" | grep -c .)
[ "$W" -ge 5 ] && ok "idle warnings were sent ($W), so the alerts files were tried" ||
	not_ok "idle warnings were sent" "$W"

root_file_ok "$T/pub/ns" "A: the root file bind-mounted in the user's namespace is still root's and unchanged"
if [ -L "$HA/workspace" ]; then
	# An alert written before the swap would be in the real workspace: then the attack was late.
	assert_ok "A: no alert reached ns1's real workspace (the swap came before the first warning)" \
		test ! -e "$HA/workspace.real/ns1/.ds01-alerts"
fi
root_file_ok "$T/pub/lnk" "B: the root file behind the .ds01-alerts symlink is still root's and unchanged"
assert_eq "0" "$(stat -c %u "$T/pub/ka")" "B: the root file behind the .keep-alive symlink is still root's"
assert_eq "p" "$(stat -c %A "$WB/fifo1/.ds01-alerts" | cut -c1)" "B: the FIFO is still a FIFO"
assert_ok "B: the links and the keep-alive FIFO stayed in place" sh -c \
	"test -L '$WB/lnk1/.ds01-alerts' && test -L '$WB/ka1/.keep-alive' && test -p '$WB/ka2/.keep-alive'"

stop_helpers
[ -L "$HA/workspace" ] && as_user "$A" sh -c "rm '$HA/workspace' && mv '$HA/workspace.real' '$HA/workspace'"
as_user "$A" container-retire ns1 >/dev/null 2>&1
for p in lnk1 fifo1 ka1 ka2; do as_user "$B" container-retire "$p" >/dev/null 2>&1; done
assert_instance_empty "nothing left in Docker"
ds01_done
