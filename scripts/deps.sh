#!/bin/bash
# Install the Debian packages ds01 needs to build, run and test (as root).
# Fast when everything is present: one dpkg-query, no apt.
set -euo pipefail

BUILD_DEPS=(make gcc meson ninja-build pkg-config libc6-dev libcurl4-gnutls-dev libjansson-dev
	libyaml-dev libsqlite3-dev libmicrohttpd-dev libcmocka-dev clang-format)
RUN_DEPS=(docker.io iptables busybox-static debootstrap tmux util-linux bsdutils curl passwd procps
	jq sqlite3 python3 prometheus iproute2 openssh-server openssh-client git docker-compose
	gdb) # gdb: check.sh shows the threads of a daemon in a test about to time out

want=("${BUILD_DEPS[@]}" "${RUN_DEPS[@]}")
# One dpkg-query for all: packages it does not know print nothing (error on stderr).
declare -A installed=()
while read -r name st; do
	case "$st" in
	ii*) installed["${name%%:*}"]=1 ;;
	esac
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${want[@]}" 2>/dev/null || true)
missing=()
for p in "${want[@]}"; do
	[ -n "${installed[$p]:-}" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps.sh: all ${#want[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi

echo "deps.sh: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
"${APT[@]}" update -qq
"${APT[@]}" install -y -q --no-install-recommends "${missing[@]}"
echo "deps.sh: done"
