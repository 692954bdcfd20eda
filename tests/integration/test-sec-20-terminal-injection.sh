#!/usr/bin/env bash
# Issue 11 item 20: a container's output must not drive the terminal of whoever reads its logs.
# A real user's batch command prints a title change, a screen clear, a colour and a C1 CSI; an
# administrator runs `container-logs` on a terminal (script(1) gives it a pty): the control
# characters arrive as visible caret text (^[), with no ESC or CSI byte; the user's own
# container-logs on a terminal likewise. `--raw` and a pipe get the bytes as they are.
# ds01-test: kind=security budget=5
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null 2>&1 || skip_test "script (util-linux) not installed"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
# ESC ] 0 ; title BEL, ESC [ 2 J (clear), ESC [ 31 m, UTF-8 C1 CSI (c2 9b) 2J, and plain text.
EVIL='printf "\033]0;PWNED-TITLE\007\033[2J\033[31mRED\033[0m \302\2332J tab\there caf\303\251 end\n"; sleep 60'
assert_exit 0 -m "A deploys a batch command that prints escape sequences" \
	as_user "$A" container-deploy evil --cpu-only -- sh -c "$EVIL"
logged() { docker logs "evil._.$A" 2>&1 | grep -q end; }
wait_for 10 logged || fail "the container printed nothing"

# on_tty FILE CMD...: runs CMD on a pseudo-terminal; FILE gets what the terminal received.
on_tty() {
	local f=$1
	shift
	script -qec "$(printf '%q ' "$@")" /dev/null </dev/null >"$f" 2>&1
}
has_byte() { LC_ALL=C grep -q "$(printf "$2")" "$1"; }
ADMIN=(env -i PATH="$BIN:/usr/bin:/bin" HOME=/root LANG=C.UTF-8 DS01_SOCKET="$SOCK")

on_tty "$T/admin.out" "${ADMIN[@]}" container-logs "evil._.$A"
note "admin's terminal got: $(LC_ALL=C cat -v "$T/admin.out" | head -c 300)"
if has_byte "$T/admin.out" '\033'; then
	not_ok "the admin's terminal gets no ESC byte from the container" "$(LC_ALL=C cat -v "$T/admin.out")"
else
	ok "the admin's terminal gets no ESC byte from the container"
fi
if has_byte "$T/admin.out" '\233'; then
	not_ok "the admin's terminal gets no C1 CSI byte" "$(LC_ALL=C cat -v "$T/admin.out")"
else
	ok "the admin's terminal gets no C1 CSI byte"
fi
assert_contains "$(cat "$T/admin.out")" '^[]0;PWNED-TITLE^G^[[2J^[[31mRED^[[0m M-^[2J' \
	"the sequences are shown as caret text"
assert_contains "$(cat "$T/admin.out")" "$(printf 'tab\there café end')" \
	"tabs and UTF-8 text pass unchanged"

U=(setpriv --reuid="$(id -u "$A")" --regid="$(id -g "$A")" --init-groups env -i
	PATH="$BIN:/usr/bin:/bin" HOME="$(user_home "$A")" LANG=C.UTF-8 DS01_SOCKET="$SOCK")
on_tty "$T/user.out" "${U[@]}" container-logs evil
if has_byte "$T/user.out" '\033'; then
	not_ok "the user's own container-logs on a terminal has no ESC byte" "$(LC_ALL=C cat -v "$T/user.out")"
else
	ok "the user's own container-logs on a terminal has no ESC byte"
fi

on_tty "$T/raw.out" "${ADMIN[@]}" container-logs --raw "evil._.$A"
if has_byte "$T/raw.out" '\033\]0;PWNED'; then
	ok "--raw passes the bytes as they are"
else
	not_ok "--raw passes the bytes as they are" "$(LC_ALL=C cat -v "$T/raw.out")"
fi
"${ADMIN[@]}" container-logs "evil._.$A" >"$T/pipe.out" 2>&1
if has_byte "$T/pipe.out" '\033\[2J' && has_byte "$T/pipe.out" '\302\233'; then
	ok "a pipe gets the bytes as they are"
else
	not_ok "a pipe gets the bytes as they are" "$(LC_ALL=C cat -v "$T/pipe.out")"
fi

as_user "$A" container-retire evil >/dev/null 2>&1
assert_instance_empty "nothing left in Docker"
ds01_done
