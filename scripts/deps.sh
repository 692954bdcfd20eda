#!/bin/bash
# Install the Debian packages ds01 needs to build, run and test (as root), and the Dev Containers
# CLI from the npm registry. Fast when everything is present: one dpkg-query and one
# `devcontainer --version`, no apt, no npm.
set -euo pipefail

BUILD_DEPS=(make gcc meson ninja-build pkg-config libc6-dev libcurl4-gnutls-dev libjansson-dev
	libyaml-dev libsqlite3-dev libmicrohttpd-dev libarchive-dev libcmocka-dev clang-format clang)
RUN_DEPS=(docker.io iptables busybox-static debootstrap tmux util-linux bsdutils curl passwd procps
	jq sqlite3 python3 prometheus iproute2 openssh-server openssh-client git docker-compose nodejs
	gdb chromium slurm-wlm slurmdbd munge mariadb-server) # gdb: check.sh shows the threads of a
	# daemon in a test about to time out; chromium: test-board loads /board in headless Chromium;
	# slurm-wlm, slurmdbd, munge, mariadb-server: test-slurm-sync runs Slurm's accounting (the
	# test starts them itself; nothing is enabled)

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

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
apt_updated=0
apt_install() {
	[ "$apt_updated" = 1 ] || "${APT[@]}" update -qq
	apt_updated=1
	"${APT[@]}" install -y -q --no-install-recommends "$@"
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps.sh: all ${#want[@]} packages present"
elif [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
else
	echo "deps.sh: installing: ${missing[*]}"
	apt_install "${missing[@]}"
	echo "deps.sh: done"
fi

# The Dev Containers CLI (tests/integration/test-devcontainer.sh), from the npm registry: the
# release pinned here, or on a Node.js older than 20 (Debian 12's is 18) the last release that
# runs on it. Node.js's own npm where it has one (NodeSource's packages), else Debian's.
DEVCONTAINER_CLI=0.89.0
DEVCONTAINER_CLI_NODE18=0.83.0
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
cli=$DEVCONTAINER_CLI
[ "$node_major" -ge 20 ] || cli=$DEVCONTAINER_CLI_NODE18
if [ "$(devcontainer --version 2>/dev/null)" = "$cli" ]; then
	echo "deps.sh: the Dev Containers CLI $cli is present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: the Dev Containers CLI $cli is missing (run as root to install it)" >&2
	exit 1
fi
command -v npm >/dev/null 2>&1 || apt_install npm
echo "deps.sh: installing @devcontainers/cli@$cli (npm)"
npm install -g --no-fund --no-audit --loglevel=error "@devcontainers/cli@$cli"
echo "deps.sh: done"
