#!/usr/bin/env bash
# DS01's io_read_bps, io_write_bps and ulimit_nofile (issue 18, item 4): a container gets
# Docker's per-device read and write limits on the disk that holds Docker's data (and the
# workspaces), and the open-files limit: docker inspect shows them, the kernel's blkio (or io)
# controller inside the container has them, `ulimit -n` inside says so, and check-limits shows
# them to the user.
# ds01-test: kind=functional budget=9
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_write_lifecycle_limits "$(printf 'io_read_bps: 10m\nio_write_bps: 5m\nulimit_nofile: 4096')"
ds01_start_daemon
U=$(ds01_user "it$$u") || fail "cannot create user U"

SRC=$(df --output=source "$(docker info --format "{{.DockerRootDir}}")" | tail -n 1)
[ -b "$SRC" ] || fail "Docker's data is not on a block device here ($SRC): nothing to limit"
PARENT=$(lsblk -no PKNAME "$SRC" | head -n 1)
DISK=/dev/${PARENT:-$(basename "$SRC")}
MAJMIN=$(lsblk -dno MAJ:MIN "$DISK" | tr -d ' ')
note "Docker's data is on $SRC, disk $DISK ($MAJMIN)"

capture as_user "$U" check-limits --json
assert_jq "check-limits shows the three limits" \
	'.limits.io_read_bps == 10485760 and .limits.io_write_bps == 5242880 and .limits.ulimit_nofile == 4096' "$OUT"
assert_exit 0 -m "U: deploy io" as_user "$U" container-deploy io --cpu-only
H=$(docker_json "io._.$U" | jq -c '.HostConfig')
assert_jq "docker inspect: the read limit on $DISK" \
	"[.BlkioDeviceReadBps[] | select(.Path == \"$DISK\" and .Rate == 10485760)] | length == 1" "$H"
assert_jq "docker inspect: the write limit on $DISK" \
	"[.BlkioDeviceWriteBps[] | select(.Path == \"$DISK\" and .Rate == 5242880)] | length == 1" "$H"
assert_jq "docker inspect: nofile 4096" '.Ulimits == [{"Name": "nofile", "Soft": 4096, "Hard": 4096}]' "$H"
capture as_user "$U" container-run io -- sh -c 'ulimit -n'
assert_eq 4096 "$OUT" "ulimit -n inside the container"
capture as_user "$U" container-run io -- sh -c 'cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device 2>/dev/null || cat /sys/fs/cgroup/io.max'
assert_contains "$OUT" "$MAJMIN" "the kernel's I/O controller has the limit on $DISK ($OUT)"
assert_contains "$OUT" "10485760" "... at 10 MiB/s"
ds01_done
