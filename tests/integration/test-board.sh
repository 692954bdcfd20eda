#!/usr/bin/env bash
# The board (ds01 board, alias dashboard; /board on the metrics listener) on 4 simulated GPUs
# with two users' containers and a reservation: the counts by model (free, leased, reserved)
# match the daemon's state, each user sees their own containers and no one else's name, the
# next slot frees by the runtime cap, the reservation is listed (and the member knows it is
# theirs). The web page, loaded in headless Chromium: its DOM shows the same numbers, it
# reloads itself, has no scripts or external assets, names nobody until board_show_users is
# set (then it does), and renders (a PNG screenshot).
# ds01-test: kind=functional budget=22
. "$(dirname "$0")/lib.sh"
ds01_setup
command -v chromium >/dev/null || fail "chromium is not installed (scripts/deps.sh installs it)"
MPORT=$(free_port)
sed -i "s/^metrics_listen: .*/metrics_listen: 127.0.0.1:$MPORT/" "$DS01_CONFIG"
grep -q "^metrics_listen: 127.0.0.1:$MPORT" "$DS01_CONFIG" || fail "could not set metrics_listen"
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user A"
B=$(ds01_user "it$$b") || fail "cannot create user B"
URL="http://127.0.0.1:$MPORT/board"
mapfile -t S < <(gpus_json | jq -r '[.slots[] | select(.allocatable != false)] | sort_by(.index) | .[].uuid')
[ "${#S[@]}" -eq 4 ] || fail "expected 4 simulated GPUs, got ${#S[@]}"

assert_exit 0 -m "A: deploy a1 (1 GPU)" as_user "$A" container-deploy a1
assert_exit 0 -m "B: deploy b1 (1 GPU)" as_user "$B" container-deploy b1
FREE=$(gpus_json | jq -r '[.slots[] | select(.allocatable != false and .lease == null)] | .[0].uuid')
assert_exit 0 -m "reserve one free slot for A" as_root ds01 reservation create lab --slots "$FREE" \
	--start now --end +1h --users "$A"

capture as_user "$A" ds01 board --json
assert_eq 0 "$RC" "ds01 board --json as A ($ERR)"
BA=$OUT
assert_jq "A's board: 4 slots of one model, 2 leased, 1 reserved, 1 free" \
	'(.models | length) == 1 and .models[0].total == 4 and .models[0].leased == 2 and .models[0].reserved == 1 and .models[0].free == 1 and .demand.leased == 2 and .demand.slots == 4' "$BA"
assert_jq "A's board: A's own container, not B's" "[.mine[].name] == [\"a1._.$A\"]" "$BA"
assert_jq "A's board: A's slot is named, B's is not" \
	"([.slots[] | select(.container == \"a1._.$A\")] | length) == 1 and ([.slots[] | select(.user == \"$B\")] | length) == 0" "$BA"
NOW=$(date +%s)
assert_jq "the next slot frees by the 24 h runtime cap" \
	".next_free.at > $NOW + 23 * 3600 and .next_free.at <= $NOW + 24 * 3600 + 60" "$BA"
assert_jq "A sees the reservation as theirs" '.reservations[0].name == "lab" and .reservations[0].member == true' "$BA"
capture as_user "$B" ds01 board --json
assert_jq "B's board: B's own container only; B is not in lab" \
	"[.mine[].name] == [\"b1._.$B\"] and .reservations[0].member == false and ([.slots[] | select(.user == \"$A\")] | length) == 0" "$OUT"
capture as_user "$A" ds01 dashboard
assert_eq 0 "$RC" "ds01 dashboard (DS01's name) works ($ERR)"
assert_contains "$OUT" "2 of 4 GPU slots leased, 0 waiting" "the text board says how many are leased"
assert_contains "$OUT" "Reservation lab (active, yours)" "the text board shows A's reservation"
assert_contains "$OUT" "a1._.$A" "the text board lists A's container"
assert_not_contains "$OUT" "b1._.$B" "... and not B's"

# the web page
HTML=$(curl -s --max-time 10 "$URL")
CT=$(curl -s -o /dev/null -w '%{content_type}' --max-time 10 "$URL")
assert_contains "$CT" "text/html" "/board is an HTML page"
assert_not_contains "$HTML" "<script" "no scripts"
assert_not_contains "$HTML" "src=" "no external assets (nothing is loaded from elsewhere)"
assert_not_contains "$HTML" "$A" "no user is named while board_show_users is off"
capture as_user "$B" curl -s --max-time 10 "$URL"
assert_contains "$OUT" 'id="demand" data-leased="2"' "an unprivileged user reads the same page"
assert_not_contains "$OUT" "a1._.$A" "... which names nobody else's container to them"
DOM=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
	--dump-dom "$URL" 2>/dev/null)
assert_match "$DOM" 'data-free="1" data-total="4"' "Chromium: the model row shows 1 free of 4"
assert_match "$DOM" 'id="demand" data-leased="2" data-slots="4" data-waiting="0"' "Chromium: the demand line matches"
assert_eq 1 "$(grep -o 'class="slot" data-state="reserved"' <<<"$DOM" | wc -l)" "Chromium: one slot shown reserved"
assert_contains "$DOM" '<td>lab</td>' "Chromium: the reservation is listed"
assert_match "$DOM" '<meta http-equiv="refresh" content="[0-9]+">' "the page reloads itself"
assert_match "$DOM" '<svg id="bars"' "the bars are inline SVG"
timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
	--window-size=1000,900 --screenshot="$T/board.png" "$URL" >/dev/null 2>&1
[ "$(head -c 8 "$T/board.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
	[ "$(stat -c %s "$T/board.png")" -gt 10000 ] && ok "Chromium renders the page (a PNG screenshot)" ||
	not_ok "Chromium renders the page (a PNG screenshot)" "$(ls -l "$T/board.png" 2>&1)"

# a site that shows names
printf 'board_show_users: true\n' >>"$DS01_CONFIG"
assert_exit 0 -m "reload with board_show_users" as_root ds01 reload
HTML=$(curl -s --max-time 10 "$URL")
assert_contains "$HTML" "a1._.$A" "with board_show_users the page names A's container"
assert_contains "$HTML" "b1._.$B" "... and B's"
capture as_user "$B" ds01 board --json
assert_jq "... and B's board names A's" "([.slots[] | select(.user == \"$A\")] | length) == 1" "$OUT"
ds01_done
