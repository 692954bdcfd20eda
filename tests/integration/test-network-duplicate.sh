#!/usr/bin/env bash
# Docker 20.10's duplicate-name check races: a ds01d killed while it creates a user's network,
# and its successor creating the same one, can leave two networks of one name, after which every
# use of the name is "ambiguous" and every deploy of that user fails. Here two such networks are
# made by hand (the Engine API with CheckDuplicate false, as the race leaves them): the user's
# next deploy still works, one network of the name is left, and the container is on it.
# ds01-test: kind=functional budget=12
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
NET="$INSTANCE-u$(id -u "$A")"
dup() {
	curl -sS --fail --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' \
		-d "{\"Name\": \"$NET\", \"CheckDuplicate\": false, \"Labels\": {\"ds01.instance\": \"$INSTANCE\", \"ds01.uid\": \"$(id -u "$A")\", \"ds01.network\": \"containers\"}}" \
		http://localhost/networks/create >/dev/null
}
named() { docker network ls -q --filter "label=ds01.instance=$INSTANCE" --format '{{.Name}}' | grep -cx "$NET"; }
dup && dup || fail "cannot create the two networks"
assert_eq 2 "$(named)" "two Docker networks named $NET (the race's leftover)"
assert_exit 0 -m "A: deploy p1 with two networks of A's name about" as_user "$A" container-deploy p1 --cpu-only
assert_eq 1 "$(named)" "one network named $NET is left"
assert_eq "$NET" "$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "p1._.$A")" \
	"p1 is on $NET"
assert_exit 0 -m "A: retire p1" as_user "$A" container-retire p1
assert_instance_empty "nothing left in Docker"
ds01_done
