#!/usr/bin/env bash
# Issue 11 item 23 (/metrics listed every user's containers to any local user): an ordinary
# user's scrape of /metrics on 127.0.0.1 gets the aggregate series (capacity, leases, counters)
# and no other user's name, container or project; a scrape with a wrong token is refused (401);
# the scraper with the token of metrics_token_file gets the per-user series (set with `ds01
# reload`; the token is read at each scrape). test-metrics has a real Prometheus scrape them
# with the shipped configuration's authorization: credentials_file.
# ds01-test: kind=security budget=8
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null 2>&1 || skip_test "curl not installed"
ds01_setup
MPORT=$(free_port)
sed -i "s/^metrics_listen: .*/metrics_listen: 127.0.0.1:$MPORT/" "$DS01_CONFIG"
URL=http://127.0.0.1:$MPORT/metrics
ds01_start_daemon
A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"
assert_exit 0 -m "A deploys secretproj (1 GPU)" as_user "$A" container-deploy secretproj

# ---- B, an ordinary local user, scrapes
capture as_user "$B" curl -s -m 5 "$URL"
assert_eq 0 "$RC" "B's curl of /metrics answers"
SCRAPE=$OUT
assert_contains "$SCRAPE" "ds01_exporter_info" "B gets the exposition"
assert_match "$SCRAPE" '^ds01_leases\{state="bound"\} 1$' "B sees the aggregate: 1 bound lease"
assert_not_contains "$SCRAPE" "$A" "B's scrape names no other user"
assert_not_contains "$SCRAPE" "secretproj" "B's scrape names no other user's project or container"
assert_not_contains "$SCRAPE" 'user="' "B's scrape has no per-user series at all"

# ---- the token (an admin sets metrics_token_file and reloads)
TOKEN_FILE=$T/etc/metrics.token
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN_FILE"
chmod 0640 "$TOKEN_FILE"
printf 'metrics_token_file: %s\n' "$TOKEN_FILE" >>"$DS01_CONFIG"
assert_exit 0 -m "ds01 reload with metrics_token_file" as_root ds01 reload
capture as_user "$B" curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer not-the-token-0123456789" "$URL"
assert_eq 401 "$OUT" "a wrong token is refused (401)"
capture as_user "$B" cat "$TOKEN_FILE"
assert_ne 0 "$RC" "B cannot read the token file"
capture curl -s -m 5 -H "Authorization: Bearer $(cat "$TOKEN_FILE")" "$URL"
assert_contains "$OUT" "ds01_user_gpu_equivalents{user=\"$A\"} 1" "the token gets the per-user series (A's 1 GPU)"
assert_contains "$OUT" "container=\"secretproj._.$A\"" "and the container names"
capture as_user "$B" curl -s -m 5 "$URL"
assert_not_contains "$OUT" "$A" "without the token B still sees no other user"

assert_exit 0 -m "A retires secretproj" as_user "$A" container-retire secretproj
ds01_done
