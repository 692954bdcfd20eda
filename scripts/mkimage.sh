#!/bin/bash
# Build ds01's base images offline (no registry needed), as root.
#
#   mkimage.sh base    [NAME] [--force]   Debian bookworm minbase (default ds01/base:latest);
#                                         falls back to the busybox image if debootstrap fails
#   mkimage.sh busybox [NAME] [--force]   tiny test image from /bin/busybox
#                                         (default ds01-test/busybox:latest)
#   mkimage.sh tools   [NAME] [--force]   busybox plus this host's git and ssh clients
#                                         (default ds01-test/tools:latest)
#   mkimage.sh jupyter [NAME] [--force]   the base image plus Debian's Jupyter Notebook
#                                         (default ds01-test/jupyter:latest)
#
# Each does nothing if NAME already exists, unless --force.
set -euo pipefail
DS01_PROG=mkimage.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

kind=""
name=""
force=0
for a in "$@"; do
	case "$a" in
	--force | -f) force=1 ;;
	-h | --help) usage ;;
	-*) usage ;;
	*)
		if [ -z "$kind" ]; then
			kind=$a
		elif [ -z "$name" ]; then
			name=$a
		else
			usage
		fi
		;;
	esac
done
case "$kind" in
base) name=${name:-ds01/base:latest} ;;
busybox) name=${name:-ds01-test/busybox:latest} ;;
tools) name=${name:-ds01-test/tools:latest} ;;
jupyter) name=${name:-ds01-test/jupyter:latest} ;;
*) usage ;;
esac
case "$name" in
*:*) ;;
*) name="$name:latest" ;;
esac

ds01_need_root "$@"
docker info >/dev/null 2>&1 || ds01_die "the Docker engine is not answering (start dockerd first)"

if [ "$force" -eq 0 ] && docker image inspect "$name" >/dev/null 2>&1; then
	ds01_log "$name exists (use --force to rebuild)"
	exit 0
fi

ROOT=""
cleanup() {
	if [ -n "$ROOT" ] && [ -d "$ROOT" ]; then
		# debootstrap may leave /proc or /sys mounted in the rootfs on failure
		for m in proc sys dev/pts dev; do
			if mountpoint -q "$ROOT/rootfs/$m" 2>/dev/null; then
				umount -l "$ROOT/rootfs/$m" || true
			fi
		done
		rm -rf --one-file-system "$ROOT"
	fi
}
trap cleanup EXIT
ROOT=$(mktemp -d /var/tmp/ds01-mkimage.XXXXXX)
chmod 755 "$ROOT"

# Debian mirror: the first non-security URIs: line of the deb822 sources, else sources.list.
debian_mirror() {
	local m=""
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
			/etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } else break } }' \
			/etc/apt/sources.list)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

build_busybox() {
	busybox_rootfs
	tar -C "$ROOT/rootfs" -c . | docker import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' \
		- "$1" >/dev/null
}

# busybox_rootfs: $ROOT/rootfs with busybox and its applets, /etc/passwd and /etc/group.
busybox_rootfs() {
	local rootfs="$ROOT/rootfs" bb n
	bb=$(command -v busybox || true)
	[ -x /bin/busybox ] && bb=/bin/busybox
	[ -n "$bb" ] || ds01_die "busybox not found (install busybox-static)"
	if ldd "$bb" >/dev/null 2>&1; then
		ds01_log "warning: $bb is dynamically linked; install busybox-static for a working image"
	fi
	rm -rf "$rootfs"
	mkdir -p "$rootfs"/{bin,etc,tmp,root,workspace,proc,sys,dev}
	cp "$bb" "$rootfs/bin/busybox"
	for n in $("$bb" --list); do
		[ "$n" = busybox ] && continue
		ln -sf busybox "$rootfs/bin/$n"
	done
	chmod 1777 "$rootfs/tmp"
	chmod 700 "$rootfs/root"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
	echo 'root:x:0:' >"$rootfs/etc/group"
}

# build_tools NAME: the busybox image plus this host's git and OpenSSH client with the libraries
# they load (a test image: git over SSH inside, in seconds and offline).
build_tools() {
	local rootfs="$ROOT/rootfs" f
	busybox_rootfs
	for f in /usr/bin/git /usr/bin/ssh; do
		[ -x "$f" ] || ds01_die "$f not found (scripts/deps.sh installs git and openssh-client)"
	done
	mkdir -p "$rootfs/usr/bin" "$rootfs/usr/lib/git-core"
	cp /usr/bin/git /usr/bin/ssh "$rootfs/usr/bin/"
	cp /usr/bin/git "$rootfs/usr/lib/git-core/git" # git runs its builtins from its exec path
	# the dynamic loader and every library either loads, at the same paths
	for f in $({ ldd /usr/bin/git && ldd /usr/bin/ssh; } | grep -o '/[^ :]*' | sort -u); do
		mkdir -p "$rootfs$(dirname "$f")"
		cp -L "$f" "$rootfs$f"
	done
	tar -C "$rootfs" -c . | docker import --change 'ENV PATH=/usr/bin:/bin' --change 'CMD ["/bin/sh"]' \
		- "$1" >/dev/null
}

# build_base NAME [PACKAGE...]: Debian minbase with the base image's packages, and then the
# given ones, which apt installs in the new root (debootstrap's own resolver cannot place
# packages with deep dependencies, such as Jupyter's).
build_base() {
	local target=$1 rootfs="$ROOT/rootfs" mirror
	shift
	command -v debootstrap >/dev/null 2>&1 || return 1
	mirror=$(debian_mirror)
	ds01_log "debootstrap bookworm from $mirror (about 30-40 s)"
	if ! debootstrap --variant=minbase --include=bash,ca-certificates,procps,python3,python3-pip,python3-venv,git,openssh-client,tmux,less \
		bookworm "$rootfs" "$mirror" >"$ROOT/debootstrap.log" 2>&1; then
		tail -n 15 "$ROOT/debootstrap.log" >&2 || true
		[ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 15 "$rootfs/debootstrap/debootstrap.log" >&2
		return 1
	fi
	if [ $# -gt 0 ]; then
		ds01_log "installing $* in it"
		cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
		mount -t proc proc "$rootfs/proc"
		if ! chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"' \
			sh "$@" >"$ROOT/apt.log" 2>&1; then
			umount -l "$rootfs/proc"
			tail -n 15 "$ROOT/apt.log" >&2
			return 1
		fi
		umount -l "$rootfs/proc"
		: >"$rootfs/etc/resolv.conf"
	fi
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
		"$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/apt/* "$rootfs"/var/log/dpkg.log \
		"$rootfs"/var/log/bootstrap.log "$rootfs"/debootstrap
	mkdir -p "$rootfs/var/lib/apt/lists/partial" "$rootfs/workspace"
	tar -C "$rootfs" -c . | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["/bin/bash"]' - "$target" >/dev/null
}

start=$(date +%s%N)
case "$kind" in
busybox)
	build_busybox "$name"
	;;
tools)
	build_tools "$name"
	;;
jupyter)
	build_base "$name" jupyter-notebook || ds01_die "cannot build $name (debootstrap or apt failed)"
	;;
base)
	if ! build_base "$name"; then
		ds01_log "warning: debootstrap failed; building $name from busybox instead (no bash/python3)"
		build_busybox "$name"
	fi
	;;
esac
ms=$((($(date +%s%N) - start) / 1000000))
size=$(docker image inspect -f '{{.Size}}' "$name")
ds01_log "built $name ($((size / 1024 / 1024)) MB) in $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
