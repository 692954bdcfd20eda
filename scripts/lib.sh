# shellcheck shell=bash
# Shared helpers for the ds01 scripts (sourced, not executed).

ds01_log() { printf '%s: %s\n' "${DS01_PROG:-${0##*/}}" "$*" >&2; }
ds01_die() {
	ds01_log "error: $*"
	exit 1
}

# now_ms: the time in milliseconds (Unix epoch), without starting a process.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((10#${t:0:13}))
}

# ds01_now: the same into NOW_MS, for loops: `$(now_ms)` forks a subshell, and on these virtual
# machines a fork of a large shell costs milliseconds of CPU.
ds01_now() {
	local t=${EPOCHREALTIME/./}
	NOW_MS=$((10#${t:0:13}))
}

# ds01_nap MS: sleeps MS milliseconds without starting a process (`read -t` on a pipe that never
# has data, opened once: a `sleep` per poll is a fork and an exec).
_DS01_NAP_FD=
ds01_nap() {
	[ -n "$_DS01_NAP_FD" ] || exec {_DS01_NAP_FD}<> <(:)
	local s
	printf -v s '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
	read -rt "$s" -u "$_DS01_NAP_FD" _ || :
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

# ds01_ensure_busybox_image NAME: builds the test image NAME (ds01-test/busybox:latest) from the
# host's static busybox unless it exists: /bin with busybox and its applets, /etc/passwd and
# /etc/group with root and nobody, /tmp, /workspace, PATH=/bin. Serialised with a lock, so
# tests started side by side build it once.
ds01_ensure_busybox_image() {
	local image=$1
	docker image inspect "$image" >/dev/null 2>&1 && return 0
	(
		flock 9
		docker image inspect "$image" >/dev/null 2>&1 && exit 0
		bb=$(command -v busybox) || { echo "busybox not installed (apt-get install busybox-static)" >&2; exit 1; }
		root=$(mktemp -d /tmp/ds01-it-rootfs.XXXXXX)
		mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/workspace"
		chmod 1777 "$root/tmp"
		cp "$bb" "$root/bin/busybox"
		for n in $("$root/bin/busybox" --list); do
			[ "$n" = busybox ] && continue
			[ -e "$root/bin/$n" ] || ln -s busybox "$root/bin/$n"
		done
		printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
		printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
		tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' - "$image" >/dev/null
		st=$?
		rm -rf "$root"
		exit $st
	) 9>/tmp/ds01-it-image.lock || return 1
}

# Integration tests (tests/integration) name what they make after their own pid: users
# it<PID>a, It<PID>W, Zit<PID>, probe<PID>X; Docker instances ds01-it-<test>-<PID> (containers,
# networks, the iptables chain, images labelled it.instance or tagged :<instance>) and containers
# named ds01-it-<what>-<PID>. A test killed before its cleanup
# ran leaves them behind; they are stale once no process has that pid (other test runs share the
# machine, so nothing of a live pid is touched).

# ds01_stale_test_user NAME [PID]: NAME is a test user whose test's pid is gone (or is PID: the
# caller's own pid, which its dead owner had before it).
ds01_stale_test_user() {
	[[ $1 =~ ^(it|It|Zit|probe)([0-9]+)([A-Za-z][A-Za-z0-9]*)?$ ]] || return 1
	local pid=${BASH_REMATCH[2]}
	if [ -n "${2:-}" ]; then
		[ "$pid" = "$2" ]
	else
		[ ! -e "/proc/$pid" ]
	fi
}

# ds01_remove_test_user NAME: removes the user, its group, its home, its images (ds01-<uid>/*
# and those labelled ds01.user_id=<uid>) and its build cgroup.
ds01_remove_test_user() {
	local u=$1 uid ids
	uid=$(id -u "$u" 2>/dev/null) || return 0
	ids=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep "^ds01-$uid/")
	# shellcheck disable=SC2086 # one reference per word
	[ -z "$ids" ] || docker rmi -f $ids >/dev/null 2>&1
	ids=$(docker images -aq --no-trunc --filter "label=ds01.user_id=$uid" 2>/dev/null | sort -u)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || docker rmi -f $ids >/dev/null 2>&1
	rmdir /sys/fs/cgroup/*/*-builds/u"$uid" /sys/fs/cgroup/*-builds/u"$uid" 2>/dev/null
	userdel -f -r "$u" >/dev/null 2>&1
	getent group "$u" >/dev/null 2>&1 && groupdel "$u" >/dev/null 2>&1
	return 0
}

# ds01_stale_instance INSTANCE: INSTANCE is a test's (ds01-it-<test>-<PID>) and PID is gone.
ds01_stale_instance() {
	[[ $1 =~ ^ds01-it-.*-([0-9]+)$ ]] && [ ! -e "/proc/${BASH_REMATCH[1]}" ]
}

# ds01_remove_instance_cgroups INSTANCE: the parents of the users' cgroups a test's ds01d made
# for the aggregate caps (/sys/fs/cgroup/[CONTROLLER/]INSTANCE/u<uid>) and for builds
# (INSTANCE-builds/u<uid>), once their containers are gone (a cgroup with a process or a child
# stays).
ds01_remove_instance_cgroups() {
	local d
	for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1-builds" \
		/sys/fs/cgroup/"$1-builds"; do
		[ -d "$d" ] || continue
		rmdir "$d"/u* "$d" 2>/dev/null
	done
	return 0
}

# ds01_sweep_stale_tests: removes what killed integration tests left behind (see above) and
# prints one line per thing removed.
ds01_sweep_stale_tests() {
	local u inst ids
	while IFS=: read -r u _; do
		ds01_stale_test_user "$u" || continue
		id -u "$u" >/dev/null 2>&1 || continue # its test removed it as it ended
		echo "sweep: user $u (uid $(id -u "$u")): its test is gone"
		ds01_remove_test_user "$u"
	done < <(getent passwd)
	{
		docker ps -a --format '{{.Label "ds01.instance"}}' 2>/dev/null
		docker ps -a --format '{{.Names}}' 2>/dev/null # test-cleanup-holds' ds01-it-plain-<PID>
		docker network ls --format '{{.Label "ds01.instance"}}' 2>/dev/null
		docker images --format '{{.Label "it.instance"}}' 2>/dev/null
		docker images --format '{{.Tag}}' 2>/dev/null
		ls /sys/fs/cgroup/memory /sys/fs/cgroup 2>/dev/null # user cgroups' parents (aggregate caps)
		command -v iptables >/dev/null 2>&1 &&
			iptables -w 10 -S OUTPUT 2>/dev/null | grep -o '"\{0,1\}ds01:ds01-it-[^" ]*' | sed 's/^"\{0,1\}ds01://'
	} | grep -E '^ds01-it-.*-[0-9]+$' | sort -u | while read -r inst; do
		ds01_stale_instance "$inst" || continue
		echo "sweep: instance $inst: its test is gone"
		docker ps -aq --filter "label=ds01.instance=$inst" | xargs -r docker rm -f >/dev/null 2>&1
		docker ps -aq --filter "name=^/$inst\$" | xargs -r docker rm -f >/dev/null 2>&1
		ds01_remove_instance_network "$inst"
		ds01_remove_instance_cgroups "$inst"
		for _ in 1 2 3; do # children before parents
			ids=$( (docker images -aq --no-trunc --filter "label=it.instance=$inst"
				docker images --format '{{.Repository}}:{{.Tag}}' | grep -F ":$inst") 2>/dev/null | sort -u)
			[ -n "$ids" ] || break
			# shellcheck disable=SC2086
			docker rmi -f $ids >/dev/null 2>&1
		done
	done
	return 0
}
