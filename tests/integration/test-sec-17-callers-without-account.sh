#!/usr/bin/env bash
# Issue 11 item 17 (callers without an account): only callers with a passwd entry, in ds01d's
# user namespace, are served. A user runs the CLI inside a user namespace of their own
# (`unshare -U`, and `unshare -Ur`, where they are "root") and is refused with a message that
# says why and what to do; a uid without a passwd entry (root dropping to it with setpriv) is
# refused with a message naming service_uids; a uid listed in service_uids is served. Each
# refusal is audited (auth.denied, action "connect"). The user's normal session still works.
# ds01-test: kind=security budget=4
UNUSED1=64$((RANDOM % 900 + 100))1
UNUSED2=64$((RANDOM % 900 + 100))2
. "$(dirname "$0")/lib.sh"
command -v unshare >/dev/null 2>&1 || skip_test "unshare (util-linux) not installed"
ds01_setup
getent passwd "$UNUSED1" >/dev/null && skip_test "uid $UNUSED1 has an account here"
getent passwd "$UNUSED2" >/dev/null && skip_test "uid $UNUSED2 has an account here"
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
assert_exit 0 -m "A's container-list works in A's session" as_user "$A" container-list
if ! as_user "$A" unshare -U true 2>/dev/null; then
	skip_test "unprivileged user namespaces are disabled on this host"
fi

assert_exit 5 -m "A's container-list inside 'unshare -U' is refused" as_user "$A" unshare -U container-list
assert_contains "$ERR" "user namespace" "the refusal says it is because of the user namespace"
assert_contains "$ERR" "normal login session" "and what to do instead"
assert_exit 5 -m "A's container-deploy inside 'unshare -Ur' (root inside) is refused" \
	as_user "$A" unshare -Ur container-deploy ns1 --cpu-only
assert_contains "$ERR" "user namespace" "the refusal says why"
assert_instance_empty "nothing was deployed from inside the user namespace"

# No passwd entry: root drops to an unused uid.
no_account() {
	local uid=$1
	shift
	(cd / && setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		env -i PATH="$BIN:/usr/bin:/bin" HOME=/ LANG=C.UTF-8 DS01_SOCKET="$SOCK" "$@")
}
assert_exit 5 -m "uid $UNUSED1 (no passwd entry) is refused" no_account "$UNUSED1" container-list
assert_contains "$ERR" "no account" "the refusal says the uid has no account"
assert_contains "$ERR" "service_uids" "and how an administrator allows a service account"
assert_exit 5 -m "uid $UNUSED1 cannot deploy" no_account "$UNUSED1" container-deploy svc --cpu-only
assert_instance_empty "nothing was deployed for the uid without an account"
assert_exit 5 -m "uid $UNUSED2 (no passwd entry) is refused too" no_account "$UNUSED2" container-list
printf 'service_uids: [%s]\n' "$UNUSED2" >>"$DS01_CONFIG"
assert_exit 0 -m "ds01 reload with service_uids: [$UNUSED2]" as_root ds01 reload
assert_exit 0 -m "uid $UNUSED2 (listed in service_uids) is served" no_account "$UNUSED2" container-list --json
assert_exit 5 -m "uid $UNUSED1 (not listed) is still refused" no_account "$UNUSED1" container-list

denied_connect() { [ "$(events_query '.event_type == "auth.denied" and .details.action == "connect" and .details.container == "'"$1"'"'"${2:+ and .user == \"$2\"}" | grep -c .)" -gt 0 ]; }
wait_for 5 denied_connect "(user namespace)" "$A" && ok "the user-namespace refusal is audited (under A's name)" ||
	not_ok "the user-namespace refusal is audited" "$(tail -n 5 "$EVENTS")"
wait_for 5 denied_connect "(no account)" && ok "the no-account refusal is audited" ||
	not_ok "the no-account refusal is audited" "$(tail -n 5 "$EVENTS")"
assert_exit 0 -m "A's own session still works" as_user "$A" container-list
ds01_done
