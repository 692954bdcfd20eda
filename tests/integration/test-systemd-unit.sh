#!/usr/bin/env bash
# The systemd unit (contrib/systemd/ds01d.service; README "Running ds01d under systemd"), as far
# as a machine without systemd as init can check it. `make install DESTDIR=... PREFIX=...
# SYSTEMD_UNITDIR=...` (the variable stands in for a running systemd) puts a unit whose
# ExecStart names the ds01d it installed under PREFIX; the unit runs ds01d in the foreground,
# logs to the journal, starts after (and wants) docker.service and restarts on failure. Its
# ExecStart, run here as systemd would (a clean environment, the test's config added), starts a
# daemon that answers `ds01 status`; its ExecReload makes the daemon apply a changed limits file;
# SIGTERM (systemctl stop) ends it with status 0, which Restart=on-failure does not restart.
# `make uninstall` removes the unit again; without SYSTEMD_UNITDIR, install puts a unit only
# where systemd runs. `systemd-analyze verify` checks the unit when it is installed (it works
# without systemd as init); the test says when it is not.
# ds01-test: kind=functional budget=5
. "$(dirname "$0")/lib.sh"
ds01_setup
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DEST=$T/dest
PREFIX_=/opt/ds01-it
UNITDIR=/etc/systemd/system
UNIT=$DEST$UNITDIR/ds01d.service

# mk ARGS...: make in the repository, without what a surrounding `make check` or the caller's
# environment would pass down (its flags, a SYSTEMD_UNITDIR of its own).
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SYSTEMD_UNITDIR make -C "$REPO" --no-print-directory "$@"; }
# install_into DESTDIR [VAR=VALUE...]: make install of the binaries in $DS01_BUILD (-o build: no
# rebuild).
install_into() {
	local dest=$1
	shift
	capture mk -o build install BUILDDIR="$DS01_BUILD" DESTDIR="$dest" PREFIX="$PREFIX_" "$@"
}

install_into "$DEST" SYSTEMD_UNITDIR="$UNITDIR"
[ "$RC" -eq 0 ] || fail "make install with SYSTEMD_UNITDIR failed"
ok "make install DESTDIR=... SYSTEMD_UNITDIR=$UNITDIR"
[ -f "$UNIT" ] || fail "no unit at $UNIT"
ok "the unit is installed as $UNITDIR/ds01d.service"
if [ "$(stat -c %a "$UNIT")" = 644 ]; then
	ok "the unit is mode 0644"
else
	not_ok "the unit is mode 0644" "mode $(stat -c %a "$UNIT")"
fi

# unit_values KEY: the values of KEY= in the unit, one per line (a unit may repeat a key).
unit_values() { sed -n "s/^$1=//p" "$UNIT"; }
# unit_words KEY: the space-separated words of every KEY= line, one per line.
unit_words() { unit_values "$1" | tr ' ' '\n' | grep .; }

[ "$(unit_values ExecStart | grep -c .)" -eq 1 ] || fail "not one ExecStart line: $(unit_values ExecStart)"
read -ra EXEC <<<"$(unit_values ExecStart)"
if [ "${EXEC[0]}" = "$PREFIX_/sbin/ds01d" ]; then
	ok "ExecStart names the installed ds01d ($PREFIX_/sbin/ds01d)"
else
	not_ok "ExecStart names the installed ds01d ($PREFIX_/sbin/ds01d)" "ExecStart=${EXEC[*]}"
fi
if cmp -s "$DEST${EXEC[0]}" "$DS01_BUILD/ds01d"; then
	ok "what ExecStart names is the ds01d that make install copied"
else
	not_ok "what ExecStart names is the ds01d that make install copied" "$(ls -l "$DEST${EXEC[0]}" 2>&1)"
fi

if unit_words After | grep -qx docker.service && unit_words Wants | grep -qx docker.service; then
	ok "starts after docker.service and wants it"
else
	not_ok "starts after docker.service and wants it" "$(grep -E '^(After|Wants)=' "$UNIT")"
fi
if [ "$(unit_values Restart)" = on-failure ]; then
	ok "Restart=on-failure"
else
	not_ok "Restart=on-failure" "Restart=$(unit_values Restart)"
fi
# ds01d does not fork: simple (the default) or exec.
case "$(unit_values Type)" in
"" | simple | exec) ok "ds01d runs in the foreground (Type=$(unit_values Type))" ;;
*) not_ok "ds01d runs in the foreground" "Type=$(unit_values Type)" ;;
esac
# stderr (and stdout) go to the journal: the default, or journal[+console] when named.
if grep -E '^Standard(Output|Error)=' "$UNIT" | grep -qvE '=journal(\+console)?$'; then
	not_ok "logs to the journal" "$(grep -E '^Standard(Output|Error)=' "$UNIT")"
else
	ok "logs to the journal"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
	# verify checks that ExecStart's program exists: here it lives under DESTDIR.
	mkdir -p "$T/verify"
	sed "s|^ExecStart=$PREFIX_|ExecStart=$DEST$PREFIX_|" "$UNIT" >"$T/verify/ds01d.service"
	capture systemd-analyze verify "$T/verify/ds01d.service"
	if [ "$RC" -eq 0 ] && [ -z "$OUT$ERR" ]; then
		ok "systemd-analyze verify finds nothing to say"
	else
		not_ok "systemd-analyze verify finds nothing to say" "$(_ds01_last)"
	fi
else
	note "systemd-analyze is not installed: the unit is not verified by systemd"
fi

# Run ExecStart as systemd would: a clean environment, stdin /dev/null, output to the log.
echo "=== ds01d from the unit's ExecStart $(date +%T.%N) ===" >>"$DAEMON_LOG"
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	"ASAN_OPTIONS=${ASAN_OPTIONS:-}" "UBSAN_OPTIONS=${UBSAN_OPTIONS:-}" "TSAN_OPTIONS=${TSAN_OPTIONS:-}" \
	"$DEST${EXEC[0]}" "${EXEC[@]:1}" --config "$DS01_CONFIG" >>"$DAEMON_LOG" 2>&1 </dev/null &
DS01_PID=$!
ds01_answers() { as_root ds01 status --json >/dev/null 2>&1; }
wait_for 10 ds01_answers || fail "the daemon ExecStart started does not answer 'ds01 status' within 10 s"
capture as_root ds01 status --json
assert_jq "ds01 status answers from the daemon ExecStart started" '.totals.slots == 4 and (.slots | length) == 4' "$OUT"
if [ "$(readlink "/proc/$DS01_PID/exe")" = "$DEST${EXEC[0]}" ]; then
	ok "the daemon is the installed ds01d"
else
	not_ok "the daemon is the installed ds01d" "exe: $(readlink "/proc/$DS01_PID/exe")"
fi

# ExecReload (systemctl reload) with $MAINPID as systemd sets it: the daemon reads the limits
# file again.
max_containers() { as_root check-limits --json 2>/dev/null | jq -r '.limits.max_containers_per_user'; }
max_containers_is() { [ "$(max_containers)" = "$1" ]; }
[ "$(max_containers)" = 3 ] || fail "check-limits as root: max_containers_per_user is not 3: $(max_containers)"
sed -i 's/max_containers_per_user: 3/max_containers_per_user: 2/' "$DS01_LIMITS"
MARK=$(daemon_log_mark)
RELOAD=$(unit_values ExecReload)
[ -n "$RELOAD" ] || fail "the unit has no ExecReload"
RELOAD=${RELOAD//\$\{MAINPID\}/$DS01_PID}
RELOAD=${RELOAD//\$MAINPID/$DS01_PID}
read -ra RELOAD_ARGV <<<"$RELOAD"
assert_exit 0 -m "ExecReload ($(unit_values ExecReload)) runs" "${RELOAD_ARGV[@]}"
if wait_daemon_log 10 "$MARK" "reloaded $DS01_CONFIG and $DS01_LIMITS"; then
	ok "ExecReload: the daemon logs that it reloaded"
else
	not_ok "ExecReload: the daemon logs that it reloaded" "$(daemon_log_after "$MARK")"
fi
if wait_for 5 max_containers_is 2; then
	ok "ExecReload: the changed limit applies"
else
	not_ok "ExecReload: the changed limit applies" "max_containers_per_user: $(max_containers)"
fi
ds01_stop_daemon "SIGTERM (systemctl stop) ends the daemon with status 0"

capture mk uninstall DESTDIR="$DEST" PREFIX="$PREFIX_" SYSTEMD_UNITDIR="$UNITDIR"
if [ "$RC" -eq 0 ] && [ ! -e "$UNIT" ] && [ ! -e "$DEST$PREFIX_/sbin/ds01d" ]; then
	ok "make uninstall removes the unit and ds01d"
else
	not_ok "make uninstall removes the unit and ds01d" "$(_ds01_last)
$(find "$DEST" -type f)"
fi

# Without SYSTEMD_UNITDIR, install puts a unit only where systemd runs.
install_into "$T/plain"
[ "$RC" -eq 0 ] || fail "make install without SYSTEMD_UNITDIR failed"
unit_where_systemd_runs() {
	if [ -d /run/systemd/system ]; then
		[ -f "$T/plain$UNITDIR/ds01d.service" ]
	else
		[ ! -e "$T/plain/etc/systemd" ]
	fi
}
if unit_where_systemd_runs; then
	ok "without SYSTEMD_UNITDIR, a unit is installed only where systemd runs"
else
	not_ok "without SYSTEMD_UNITDIR, a unit is installed only where systemd runs" \
		"$(find "$T/plain" -name '*.service')"
fi

ds01_done
