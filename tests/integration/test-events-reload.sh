#!/usr/bin/env bash
# SIGHUP applies events_max_kb and events_keep (README "Events": "Both keys take effect on
# SIGHUP"; "Configuration": "a bad file keeps the running configuration and the log says why").
# ds01d starts with events_max_kb 4 and events_keep 3 and rotates at 4 KiB. After a SIGHUP with
# events_max_kb 8 and events_keep 1, events.jsonl grows past 4 KiB without rotating, rotates
# before it would pass 8 KiB, and that rotation leaves one rotated file (the other is deleted). A SIGHUP with a file that has an error (events_max_kb 4 and an unknown key) is
# refused, the log names the file and line, and the log still rotates at 8 KiB, not 4. No line is
# lost or split through it all.
#
# Cheap events: a user naming someone else's container (container-stop x._.other) is refused and
# audited as auth.denied with details.container = the name, which numbers each event (long names:
# fewer events fill a file).
# ds01-test: kind=functional threads budget=13
DS01_CONFIG_EXTRA=$'events_max_kb: 4\nevents_keep: 3\naudit_names_per_uid: 100000'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user"
OTHER="zz$$-nobody-by-this-name"
PAD=-abcdefghijklmnopqrstuvwxyz-abcdefghijklmnopqrstuvwxyz
LOG=$T/log
CUR=$LOG/events.jsonl
N=0

# deny: one more auth.denied event (numbered e$N, padded to a long project name).
deny() {
	N=$((N + 1))
	as_user "$A" container-stop "e$N$PAD._.$OTHER" >/dev/null 2>&1
}
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
# first FILE: its first line, which names the file (an inode can be reused by the next file).
first() { head -n 1 "$1" 2>/dev/null; }
rotated() { ls "$LOG" | grep -c '^events\.jsonl\.[0-9]*$'; }
rotated_at_least() { [ "$(rotated)" -ge "$1" ]; }
bigger_than() { [ "$(size "$1")" -gt "$2" ]; } # FILE BYTES
first_is_not() { [ "$(first "$1")" != "$2" ]; } # FILE LINE
# deny_until MAX CMD...: events until CMD holds (at most MAX); 1 if it never did.
deny_until() {
	local max=$1 i
	shift
	for ((i = 0; i < max; i++)); do
		"$@" && return 0
		deny
	done
	"$@"
}
# All kept lines, oldest first.
all_lines() {
	local k
	for k in 9 8 7 6 5 4 3 2 1; do
		if [ -f "$LOG/events.jsonl.$k" ]; then cat "$LOG/events.jsonl.$k"; fi
	done
	cat "$CUR"
}
# The event numbers kept, in order, space-separated.
kept() {
	all_lines | jq -r 'select(.event_type == "auth.denied") | .details.container | sub("-.*$"; "") | ltrimstr("e")' |
		tr '\n' ' ' | sed 's/ $//'
}
# contiguous FROM: the kept numbers are FROM..N, each once, in order.
contiguous() { [ "$(kept)" = "$(seq -s ' ' "$1" "$N")" ]; }
big_files() { # LIMIT_BYTES: files over the limit, or ending mid-line
	local f bad=
	for f in "$LOG"/events.jsonl*; do
		[ "$(size "$f")" -le "$1" ] || bad="$bad $(basename "$f")=$(size "$f")"
		[ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n' ] || bad="$bad $(basename "$f")(mid-line)"
	done
	printf '%s' "${bad# }"
}
log_count() { grep -cF -- "$1" "$DAEMON_LOG"; }
more_lines() { [ "$(log_count "$1")" -gt "$2" ]; } # PATTERN COUNT
# reload DESC TEXT: SIGHUP, then waits for one more daemon log line containing TEXT.
reload() {
	local before
	before=$(log_count "$2")
	kill -HUP "$DS01_PID"
	if wait_for 10 more_lines "$2" "$before"; then
		ok "$1"
	else
		not_ok "$1" "$(tail -n 5 "$DAEMON_LOG")"
	fi
}
set_events_config() { # MAX_KB KEEP [EXTRA_LINE]
	sed -i -e "s/^events_max_kb: .*/events_max_kb: $1/" -e "s/^events_keep: .*/events_keep: $2/" \
		-e '/^bogus_key:/d' "$DS01_CONFIG"
	[ -z "${3:-}" ] || printf '%s\n' "$3" >>"$DS01_CONFIG"
}

# ---- 4 KiB, 3 kept: two rotations --------------------------------------------------------------
deny_until 200 rotated_at_least 2 || fail "no two rotations at 4 KiB after $N events"
assert_eq "" "$(big_files 4096)" "at events_max_kb 4 every file is at most 4 KiB and ends with a whole line ($N events)"
note "$(rotated) rotated files after $N events"
FIRST=$(kept | awk '{ print $1 }')

# ---- SIGHUP: 8 KiB, 1 kept ---------------------------------------------------------------------
set_events_config 8 1
reload "SIGHUP with events_max_kb 8, events_keep 1: ds01d reloads" '<5>reloaded '
deny
I=$(first "$CUR")
deny_until 100 bigger_than "$CUR" 4096
S=$(size "$CUR")
assert_eq "$I" "$(first "$CUR")" "events.jsonl grows past 4 KiB ($S bytes) without rotating"
assert_eq 1 "$([ "$S" -gt 4096 ] && echo 1)" "... it is over 4 KiB ($S bytes)"
assert_eq 2 "$(rotated)" "... and the rotated files are as they were (2) until the next rotation"
deny_until 100 first_is_not "$CUR" "$I" || fail "no rotation at 8 KiB after $N events"
assert_eq 1 "$(rotated)" "the first rotation after the reload leaves events_keep (1) rotated file"
assert_eq "" "$(ls "$LOG" | grep -E '^events\.jsonl\.[2-9]$')" "events.jsonl.2 and beyond are deleted"
S1=$(size "$LOG/events.jsonl.1")
assert_eq 1 "$([ "$S1" -gt 4096 ] && [ "$S1" -le 8192 ] && echo 1)" \
	"the file rotated at the new size holds 4-8 KiB ($S1 bytes)"
assert_eq "" "$(big_files 8192)" "every file is at most 8 KiB and ends with a whole line"
OLDEST=$(kept | awk '{ print $1 }')
if contiguous "$OLDEST"; then
	ok "no event lost or repeated across the reload (kept e$OLDEST..e$N, older ones rotated away; e$FIRST was oldest before)"
else
	not_ok "no event lost or repeated across the reload" "kept: $(kept)"
fi

# ---- SIGHUP with an error: the running configuration (8 KiB) stays -----------------------------
set_events_config 4 1 'bogus_key: 1'
reload "SIGHUP with an unknown key: refused" 'reload failed, keeping the running configuration'
assert_match "$(grep 'reload failed' "$DAEMON_LOG" | tail -n 1)" "ds01\\.yaml:[0-9]+.*bogus_key|bogus_key.*ds01\\.yaml:[0-9]+" \
	"the log names the file, the line and the key"
I=$(first "$CUR")
deny_until 100 bigger_than "$CUR" 4096
S=$(size "$CUR")
assert_eq "$I" "$(first "$CUR")" "after the refused reload events.jsonl still grows past 4 KiB ($S bytes) without rotating"
assert_eq 1 "$([ "$S" -gt 4096 ] && echo 1)" "... it is over 4 KiB ($S bytes)"
assert_eq "" "$(big_files 8192)" "every file is still at most 8 KiB"
assert_ok "ds01d still answers" as_root ds01 version
ds01_stop_daemon
ds01_done
