# shellcheck shell=bash
# Shared helpers for the ds01 scripts (sourced, not executed).

ds01_log() { printf '%s: %s\n' "${DS01_PROG:-${0##*/}}" "$*" >&2; }
ds01_die() {
	ds01_log "error: $*"
	exit 1
}

ds01_need_root() {
	[ "$(id -u)" -eq 0 ] || ds01_die "must be run as root (try: sudo $0 $*)"
}

# Start the machine's one dockerd if `docker info` fails; wait up to 30 s.
# Never starts a second engine (a --bridge=none dockerd in the host network namespace deletes docker0).
ds01_ensure_dockerd() {
	if docker info >/dev/null 2>&1; then
		return 0
	fi
	command -v dockerd >/dev/null 2>&1 || ds01_die "dockerd not found (install docker.io: scripts/deps.sh)"
	command -v docker >/dev/null 2>&1 || ds01_die "docker client not found (install docker.io: scripts/deps.sh)"
	if pgrep -x dockerd >/dev/null 2>&1; then
		ds01_log "dockerd is running but not answering yet; waiting"
	else
		ds01_log "starting dockerd (log: /var/log/dockerd.log)"
		nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
	fi
	local i
	for i in $(seq 1 300); do
		if docker info >/dev/null 2>&1; then
			ds01_log "dockerd is up ($((i / 10)).$((i % 10)) s)"
			return 0
		fi
		sleep 0.1
	done
	tail -n 20 /var/log/dockerd.log >&2 2>/dev/null || true
	ds01_die "dockerd did not answer 'docker info' within 30 s (see /var/log/dockerd.log)"
}

# ds01_remove_instance_network INSTANCE: removes what a ds01d of INSTANCE made for its per-user
# networks (src/daemon/network.h), for tests and benchmarks once the instance's containers are
# gone: the Docker networks labelled ds01.instance=INSTANCE, and the iptables chain that keeps
# the host's users out of them (OUTPUT jumps to it with the comment "ds01:INSTANCE").
ds01_remove_instance_network() {
	local inst=$1 chain
	docker network ls -q --filter "label=ds01.instance=$inst" 2>/dev/null |
		xargs -r docker network rm >/dev/null 2>&1
	command -v iptables >/dev/null 2>&1 || return 0
	chain=$(iptables -w 10 -S OUTPUT 2>/dev/null |
		awk -v c="ds01:$inst" '$1 == "-A" && $2 == "OUTPUT" && $5 == "--comment" &&
			($6 == c || $6 == "\"" c "\"") && $7 == "-j" { print $8; exit }')
	[ -n "$chain" ] || return 0
	iptables -w 10 -D OUTPUT -m comment --comment "ds01:$inst" -j "$chain" >/dev/null 2>&1
	iptables -w 10 -F "$chain" >/dev/null 2>&1
	iptables -w 10 -X "$chain" >/dev/null 2>&1
	return 0
}

# ds01_ledger_seed DB [LEASE_STATE]: records the containers read from stdin, one
# "NAME DOCKER_ID UID [SLOT]" per line (NAME = PROJECT._.USER), in the ledger DB (made by a ds01d
# that has run and stopped) as bound, with a whole-GPU lease on SLOT when given (LEASE_STATE:
# bound, the default, for running containers; held for stopped ones): what ds01d records when it
# creates a container itself. ds01d manages only containers its ledger records, so a benchmark that makes
# many containers with `docker create` seeds the ledger with them.
ds01_ledger_seed() {
	local db=$1 lstate=${2:-bound} name id uid slot now
	now=$(date +%s)
	{
		echo 'BEGIN;'
		while read -r name id uid slot; do
			[ -n "$name" ] || continue
			printf "INSERT INTO containers (name, project, user, uid, docker_id, state, created_at) VALUES ('%s', '%s', '%s', %d, '%s', 'bound', %d);\n" \
				"$name" "${name%%._.*}" "${name##*._.}" "$uid" "$id" "$now"
			[ -z "$slot" ] || printf "INSERT INTO leases (slot_uuid, container, uid, state, weight, since, leased_at) VALUES ('%s', '%s', %d, '%s', 1.0, %d, %d);\n" \
				"$slot" "$name" "$uid" "$lstate" "$now" "$now"
		done
		echo 'COMMIT;'
	} | sqlite3 -cmd '.timeout 5000' "$db"
}
