#!/bin/bash
# events.jsonl rotated by size (events_max_kb, events_keep) without losing or splitting a line;
# ds01 events reads across the rotated files; ds01 events --follow keeps printing new events
# (only the caller's; an administrator's everyone's) across rotations and ends on Ctrl-C.
#
# Cheap events: a user naming someone else's container (container-stop x._.other) is refused
# and audited as auth.denied with details.container = the name, which numbers each event.
# (audit_names_per_uid: each made-up name is itemised, as a site that wants every name would)
# ds01-test: kind=functional threads budget=17
DS01_CONFIG_EXTRA=$'events_max_kb: 4\nevents_keep: 3\naudit_names_per_uid: 100000'
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon
A=$(ds01_user "it$$ra") || fail "cannot create user"
B=$(ds01_user "it$$rb") || fail "cannot create user"
OTHER="zz$$"
LOG=$T/log
F=$T/follow
mkdir -p "$F" && chmod 777 "$F"

# deny USER TAG...: one auth.denied event per TAG, by USER, naming container TAG._.$OTHER: the
# request container-stop TAG._.$OTHER sends, one connection each, in order, each answered "no
# such container" (exit code 4) before the next. One client process for all of them: a CLI per
# event made this test a minute long on a loaded machine; the CLI's own stop is tested elsewhere.
cat >"$T/deny.py" <<'PY'
import json, os, socket, sys
other, bad = sys.argv[1], 0
for tag in sys.argv[2:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(os.environ["DS01_SOCKET"])
    s.send(b"E" + json.dumps({"v": 1, "method": "container.stop",
                              "params": {"name": tag + "._." + other}}).encode())
    data = b""
    while True:
        frag = s.recv(70000)
        if not frag:
            break
        data += frag[1:]
        if frag[:1] == b"E":
            break
    s.close()
    try:
        code = json.loads(data).get("error", {}).get("code")
    except ValueError:
        code = None
    if code != 4:
        print("%s: answer %r" % (tag, data[:300]), file=sys.stderr)
        bad += 1
sys.exit(1 if bad else 0)
PY
chmod 644 "$T/deny.py"
: >"$T/deny.err"
deny() {
	local u=$1
	shift
	as_user "$u" python3 "$T/deny.py" "$OTHER" "$@" 2>>"$T/deny.err" ||
		echo "deny $u $*: not every request was refused as not found" >>"$T/deny.err"
}

# deny_shown USER FOLLOWER... -- TAG...: deny, 12 at a time, and each dozen shown by every
# FOLLOWER (see follower) before the next. A follower asks every 0.5 s, and the log keeps only
# about 60 events (events_keep 3 files of 4 KiB): one client could rotate events away before a
# follower asked (as a stopped follower sees below). Two users at once leave at most 24 events
# unread, and every dozen still crosses a rotation while a follower reads.
deny_shown() {
	local u=$1 f
	shift
	local -a fs=()
	while [ "$1" != -- ]; do
		fs+=("$1")
		shift
	done
	shift
	while [ $# -gt 0 ]; do
		local -a chunk=("${@:1:12}")
		shift "${#chunk[@]}"
		deny "$u" "${chunk[@]}"
		for f in "${fs[@]}"; do
			wait_for 10 has_line "$F/$f.out" "\"${chunk[-1]}\\._" ||
				echo "follower $f did not show ${chunk[-1]} within 10 s" >>"$T/deny.err"
		done
	done
}

# All kept lines, oldest first.
all_lines() {
	local k
	for k in 3 2 1; do
		if [ -f "$LOG/events.jsonl.$k" ]; then cat "$LOG/events.jsonl.$k"; fi
	done
	cat "$LOG/events.jsonl"
}

# table_tags: the container tags in `ds01 events` table rows on stdin, space-separated.
table_tags() {
	grep -o '"container":"[a-z][0-9]*\._' | sed 's/.*:"//; s/\._$//' | tr '\n' ' ' | sed 's/ $//'
}

# tags JSONL_FILE_OR_-: the auth.denied container tags in order, space-separated.
tags() {
	jq -r 'select(.event_type == "auth.denied") | .details.container | sub("\\._\\..*$"; "")' "$1" |
		tr '\n' ' ' | sed 's/ $//'
}

seqtags() { # PREFIX FROM TO
	local i s=
	for i in $(seq "$2" "$3"); do s="$s $1$i"; done
	printf '%s' "${s# }"
}

# follower NAME AS (user or root) ARGS...: ds01 events --follow ARGS in the background, stdout in
# $F/NAME.out, stderr in $F/NAME.err, its pid (ds01's own) in $F/NAME.pid, the job's in FPID.
follower() {
	local name=$1 who=$2
	shift 2
	local cmd
	cmd="echo \$\$ >$F/$name.pid; exec ds01 events --follow $*"
	if [ "$who" = root ]; then
		as_root sh -c "$cmd" >"$F/$name.out" 2>"$F/$name.err" &
	else
		as_user "$who" sh -c "$cmd" >"$F/$name.out" 2>"$F/$name.err" &
	fi
	FPID=$!
}

# stop_follower NAME JOBPID SIGNAL DESC: signals ds01 and asserts it exits 0 within 5 s.
stop_follower() {
	local pid st
	pid=$(cat "$F/$1.pid" 2>/dev/null)
	[ -n "$pid" ] && kill "-$3" "$pid" 2>/dev/null
	local i
	for i in $(seq 1 50); do
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$2" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$2" 2>/dev/null
		not_ok "$4" "still running 5 s after SIG$3"
		return
	fi
	wait "$2"
	st=$?
	assert_eq 0 "$st" "$4"
}

has_line() { grep -q -- "$2" "$1"; }

# --- history that will be rotated away, then a time mark ----------------------------------
deny "$A" $(seqtags p 1 25)
# Event times and --since are whole seconds: MARK is the next second; the p events are older,
# and every event from here on is written when MARK has come.
MARK_S=$(($(date +%s) + 1))
MARK=$(date -u -d "@$MARK_S" +%Y-%m-%dT%H:%M:%SZ)
sleep "$(awk -v m="$MARK_S" -v n="$(date +%s.%N)" 'BEGIN { d = m - n + 0.01; printf "%.3f", (d > 0 ? d : 0) }')"

# --- followers, each started after a marker it shows as its history -------------------------
deny "$A" m0
deny "$B" n0
follower fa "$A" --json --limit 1 --type auth.denied
FA=$FPID
follower fb "$B" --limit 1 --type auth.denied
FB=$FPID
follower fr root --json --limit 1 --type auth.denied
FR=$FPID
follower fs "$A" --json --limit 1 --type auth.denied
FS=$FPID
wait_for 10 has_line "$F/fa.out" "m0\._" || fail "A's follower did not print its history (m0)"
wait_for 10 has_line "$F/fb.out" '"n0\._' || fail "B's follower did not print its history (n0)"
wait_for 10 has_line "$F/fr.out" "n0\._" || fail "root's follower did not print its history (n0)"
wait_for 10 has_line "$F/fs.out" "m0\._" || fail "the stopped follower did not start"
# This one sleeps through several rotations: when it wakes its file is gone.
kill -STOP "$(cat "$F/fs.pid")"

# --- phase 1: A and B at once, a few rotations --------------------------------------------
deny_shown "$A" fa fr -- $(seqtags a 1 30) &
J=$!
deny_shown "$B" fb fr -- $(seqtags b 1 10)
wait "$J"

assert_ok "the daemon is alive after rotations" as_root ds01 version
assert_eq yes "$([ -f "$LOG/events.jsonl.1" ] && echo yes)" "events.jsonl was rotated (events.jsonl.1 exists)"
assert_eq "" "$(all_lines | jq -c . 2>&1 >/dev/null)" "every kept line parses as JSON (no line split)"
n_lines=$(all_lines | wc -l)
n_json=$(all_lines | jq -c . 2>/dev/null | wc -l)
assert_eq "$n_lines" "$n_json" "one JSON object per line in every file"
big=
for f in "$LOG"/events.jsonl*; do
	[ "$(stat -c %s "$f")" -le 4096 ] || big="$big $(basename "$f")=$(stat -c %s "$f")"
	[ "$(stat -c %a "$f")" = 600 ] || big="$big $(basename "$f") mode $(stat -c %a "$f")"
	[ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n' ] || big="$big $(basename "$f") ends mid-line"
done
assert_eq "" "$big" "every file is at most events_max_kb (4 KiB), mode 0600, and ends with a whole line"
all_lines >"$T/all1.jsonl"
assert_eq "$(seqtags p 1 25) m0 n0" "$(jq -r 'select(.event_type == "auth.denied") | .details.container | sub("\\._\\..*$"; "")' "$T/all1.jsonl" | grep -E '^(p|m|n)' | tr '\n' ' ' | sed 's/ $//')" \
	"every early event survives the rotations, in order"
assert_eq "$(seqtags a 1 30)" "$(tags "$T/all1.jsonl" | tr ' ' '\n' | grep '^a' | tr '\n' ' ' | sed 's/ $//')" \
	"every event of A's burst is kept once, in order"
assert_eq "$(seqtags b 1 10)" "$(tags "$T/all1.jsonl" | tr ' ' '\n' | grep '^b' | tr '\n' ' ' | sed 's/ $//')" \
	"every event of B's concurrent burst is kept once, in order"

# --- queries across the rotated files -----------------------------------------------------
capture as_user "$A" ds01 events --json --type auth.denied --limit 5000
assert_eq "$(seqtags p 1 25) m0 $(seqtags a 1 30)" "$(jqr '[.events[].details.container | sub("\\._\\..*$"; "")] | join(" ")' "$OUT")" \
	"A's query returns all A's events from every file, oldest first"
capture as_user "$A" ds01 events --json --type auth.denied --since "$MARK" --limit 5000
assert_eq "m0 $(seqtags a 1 30)" "$(jqr '[.events[].details.container | sub("\\._\\..*$"; "")] | join(" ")' "$OUT")" \
	"--since reads from the rotated files and leaves out older events"
first_file=
for k in 3 2 1; do
	if [ -f "$LOG/events.jsonl.$k" ] && grep -q '"m0\._' "$LOG/events.jsonl.$k"; then first_file=$k; fi
done
assert_ne "" "$first_file" "... and m0, which --since found, lies in a rotated file"
capture as_user "$A" ds01 events --type auth.denied --limit 3
assert_eq "a28 a29 a30" "$(printf '%s\n' "$OUT" | table_tags)" \
	"--limit 3 gives the newest three (table output)"

# --- phase 2: more than events_keep files hold ---------------------------------------------
deny_shown "$A" fa fr -- $(seqtags c 1 70) &
J=$!
deny_shown "$B" fb fr -- $(seqtags d 1 30)
wait "$J"
deny "$A" z1
rotated=$(ls "$LOG" | grep -c '^events\.jsonl\.[0-9]*$')
assert_eq 3 "$rotated" "exactly events_keep (3) rotated files are kept"
assert_eq "" "$(ls "$LOG" | grep -E '^events\.jsonl\.([4-9]|[0-9]{2,})$')" "no events.jsonl.4 or beyond"
all_lines >"$T/all2.jsonl"
assert_eq "" "$(jq -c . "$T/all2.jsonl" 2>&1 >/dev/null)" "after many rotations every line still parses"
assert_eq "" "$(tags "$T/all2.jsonl" | tr ' ' '\n' | grep -E '^p1$')" "the oldest event (p1) was dropped with the oldest file"
# What is kept is a contiguous stretch of A's c-burst up to the end: no gap.
kept_c=$(tags "$T/all2.jsonl" | tr ' ' '\n' | grep '^c' | tr '\n' ' ' | sed 's/ $//')
first_c=${kept_c%% *}
assert_eq "$(seqtags c "${first_c#c}" 70)" "$kept_c" "the kept files hold every newer event ($first_c..c70), none lost"
assert_eq z1 "$(tags "$T/all2.jsonl" | tr ' ' '\n' | tail -n 1)" "the newest event is last in events.jsonl"

# --- the followers ------------------------------------------------------------------------
wait_for 10 has_line "$F/fa.out" '"z1\._' || not_ok "A's follower printed z1 within 10 s"
wait_for 10 has_line "$F/fr.out" '"z1\._' || not_ok "root's follower printed z1 within 10 s"
wait_for 10 has_line "$F/fb.out" '"d30\._' || not_ok "B's follower printed d30 within 10 s"
stop_follower fa "$FA" INT "A's follower exits 0 on Ctrl-C (SIGINT)"
stop_follower fr "$FR" TERM "root's follower exits 0 on SIGTERM"
stop_follower fb "$FB" INT "B's follower exits 0 on Ctrl-C"

assert_eq "" "$(jq -c . "$F/fa.out" 2>&1 >/dev/null)" "--follow --json prints one JSON object per line"
assert_eq "m0 $(seqtags a 1 30) $(seqtags c 1 70) z1" "$(tags "$F/fa.out")" \
	"A's follower saw its history, then every new event of A once, in order, across rotations"
assert_eq "$A" "$(jq -r .user "$F/fa.out" | sort -u | tr '\n' ' ' | sed 's/ $//')" \
	"A's follower saw none of B's events"
want_root="n0 $(seqtags a 1 30) $(seqtags b 1 10) $(seqtags c 1 70) $(seqtags d 1 30) z1"
got_root=$(tags "$F/fr.out" | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')
assert_eq "$(printf '%s\n' $want_root | sort | tr '\n' ' ' | sed 's/ $//')" "$got_root" \
	"root's follower saw every event of both users exactly once"
assert_eq "$(seqtags c 1 70)" "$(tags "$F/fr.out" | tr ' ' '\n' | grep '^c' | tr '\n' ' ' | sed 's/ $//')" \
	"... each user's events in the order they were written"
fb_tags=$(table_tags <"$F/fb.out")
assert_eq "n0 $(seqtags b 1 10) $(seqtags d 1 30)" "$fb_tags" \
	"B's follower (table output) saw B's events only, in order"
assert_match "$(head -n 2 "$F/fb.out")" "auth\.denied +$B" "B's follower prints table rows (type, user)"

# The follower that slept through the rotations is told that events were lost, and goes on.
kill -CONT "$(cat "$F/fs.pid")"
deny "$A" z2
wait_for 10 has_line "$F/fs.out" '"z2\._' || not_ok "the woken follower printed z2 within 10 s"
stop_follower fs "$FS" INT "the woken follower exits 0 on Ctrl-C"
assert_match "$(cat "$F/fs.err")" "rotated past the last event shown" \
	"the woken follower says events were rotated away before it could show them"
assert_eq "" "$(tags "$F/fs.out" | tr ' ' '\n' | grep -E '^a1$')" "... it could not show a1 (rotated away)"
assert_eq "" "$(tags "$F/fs.out" | tr ' ' '\n' | sort | uniq -d)" "... and showed no event twice"

assert_eq "" "$(cat "$T/deny.err")" "every denied request was answered 'not found' (code 4), each dozen shown in time"

# --- the cursor in an answer ---------------------------------------------------------------
capture as_user "$A" ds01 events --json
cur=$(jqr .cursor "$OUT")
assert_match "$cur" '^[0-9a-f]{16}(:[0-9a-f]{16}){3}$' "an events answer carries a (sealed) cursor"

ds01_done
