#!/usr/bin/env bash
# The Docker spec of deployed containers (docker inspect): user, workdir, labels, GPU env,
# no privileges, limits from the group, init as PID 1; GPU, --gpus 2, aliases and CPU-only.
# ds01-test: kind=functional budget=32
. "$(dirname "$0")/lib.sh"
ds01_setup
ds01_start_daemon

A=$(ds01_user "it$$a") || fail "cannot create user"
UA=$(user_uid "$A")
GA=$(user_gid "$A")
HA=$(user_home "$A")

# check_spec PROJECT EXPECTED_NGPUS: inspects PROJECT._.A and checks everything.
check_spec() {
	local p=$1 n=$2 c="$1._.$A" j lj luuids env
	note "--- spec of $c ($n GPUs) ---"
	if ! docker_exists "$c"; then
		not_ok "$c exists in Docker"
		return
	fi
	j=$(docker_json "$c")
	assert_jq "$c: Config.User is uid:gid ($UA:$GA)" ".Config.User == \"$UA:$GA\"" "$j"
	assert_jq "$c: WorkingDir /workspace" '.Config.WorkingDir == "/workspace"' "$j"
	assert_jq "$c: label ds01.managed=true" '.Config.Labels["ds01.managed"] == "true"' "$j"
	assert_jq "$c: label ds01.instance" ".Config.Labels[\"ds01.instance\"] == \"$INSTANCE\"" "$j"
	assert_jq "$c: label ds01.user" ".Config.Labels[\"ds01.user\"] == \"$A\"" "$j"
	assert_jq "$c: label ds01.uid" ".Config.Labels[\"ds01.uid\"] == \"$UA\"" "$j"
	assert_jq "$c: label ds01.project" ".Config.Labels[\"ds01.project\"] == \"$p\"" "$j"
	assert_jq "$c: not privileged" '.HostConfig.Privileged == false' "$j"
	assert_jq "$c: no added capabilities" '(.HostConfig.CapAdd // []) | length == 0' "$j"
	assert_jq "$c: every capability dropped (CapDrop is [\"ALL\"])" '.HostConfig.CapDrop == ["ALL"]' "$j"
	assert_jq "$c: security opt no-new-privileges" \
		'(.HostConfig.SecurityOpt // []) | any(startswith("no-new-privileges") and (endswith(":false") | not))' "$j"
	assert_jq "$c: network mode is not host" '.HostConfig.NetworkMode != "host"' "$j"
	assert_jq "$c: not in the host pid/ipc namespace" \
		'.HostConfig.PidMode != "host" and .HostConfig.IpcMode != "host"' "$j"
	assert_jq "$c: Memory 256m" '.HostConfig.Memory == 268435456' "$j"
	assert_jq "$c: MemorySwap 256m (no swap)" '.HostConfig.MemorySwap == 268435456' "$j"
	assert_jq "$c: PidsLimit 256" '.HostConfig.PidsLimit == 256' "$j"
	assert_jq "$c: NanoCpus 1e9" '.HostConfig.NanoCpus == 1000000000' "$j"
	assert_jq "$c: ShmSize 64m" '.HostConfig.ShmSize == 67108864' "$j"
	assert_jq "$c: Entrypoint is /.ds01/init" '(.Config.Entrypoint // [])[0] == "/.ds01/init"' "$j"
	# Docker gets the container's pin, never the user's path (workspace.h); the label says which
	# workspace is pinned there at each start.
	assert_jq "$c: /workspace is a bind of its pin, for ~/workspace/$p (label ds01.workspace)" \
		"any(.Mounts[]?; .Destination == \"/workspace\" and .Source == \"$T/state/workspaces/$c\" and .RW == true)
		 and .Config.Labels[\"ds01.workspace\"] == \"$HA/workspace/$p\"" "$j"
	assert_jq "$c: the init is mounted read-only" \
		'any(.Mounts[]?; (.Destination | startswith("/.ds01")) and .RW == false)' "$j"
	assert_jq "$c: docker socket not mounted" \
		'all(.Mounts[]?; (.Source | test("docker\\.sock")) | not)' "$j"
	assert_jq "$c: CUDA_DEVICE_ORDER=PCI_BUS_ID" 'any(.Config.Env[]; . == "CUDA_DEVICE_ORDER=PCI_BUS_ID")' "$j"

	lj=$(container_entry "$A" "$p")
	luuids=$(printf '%s' "$lj" | jq -r '[.gpus[]? | if type == "object" then .uuid else . end] | join(",")')
	assert_eq "$n" "$(printf '%s' "$lj" | jq '.gpus | length')" "$c: container-list shows $n GPU(s)"
	assert_eq "$luuids" "$(printf '%s' "$j" | jq -r '.Config.Labels["ds01.gpu.uuids"] // ""')" \
		"$c: label ds01.gpu.uuids matches container-list"
	env=$(printf '%s' "$j" | jq -r '.Config.Env[]')
	if [ "$n" -gt 0 ]; then
		assert_eq "$luuids" "$(sed -n 's/^NVIDIA_VISIBLE_DEVICES=//p' <<<"$env")" "$c: NVIDIA_VISIBLE_DEVICES = leased uuids"
		assert_eq "$luuids" "$(sed -n 's/^CUDA_VISIBLE_DEVICES=//p' <<<"$env")" "$c: CUDA_VISIBLE_DEVICES = leased uuids"
		local distinct
		distinct=$(tr ',' '\n' <<<"$luuids" | grep . | sort -u | grep -c .)
		assert_eq "$n" "$distinct" "$c: $n distinct GPU uuids"
	else
		local nv
		nv=$(sed -n 's/^NVIDIA_VISIBLE_DEVICES=//p' <<<"$env")
		if [ -z "$nv" ] || [ "$nv" = void ] || [ "$nv" = none ]; then
			ok "$c: CPU-only: NVIDIA_VISIBLE_DEVICES void/absent ('$nv')"
		else
			not_ok "$c: CPU-only: NVIDIA_VISIBLE_DEVICES void/absent" "got '$nv'"
		fi
		assert_eq "" "$(sed -n 's/^CUDA_VISIBLE_DEVICES=//p' <<<"$env" | grep -E 'GPU-|MIG-')" "$c: CPU-only: no GPU uuid in CUDA_VISIBLE_DEVICES"
		assert_eq "" "$luuids" "$c: CPU-only: no GPU uuids in container-list"
		assert_jq "$c: CPU-only: no device requests" '(.HostConfig.DeviceRequests // []) | length == 0' "$j"
	fi

	# From inside: PID 1 and the environment.
	capture as_user "$A" container-run "$p" -- sh -c 'tr "\0" " " </proc/1/cmdline; echo; echo "cvd=$CUDA_VISIBLE_DEVICES"'
	assert_eq 0 "$RC" "$c: container-run works"
	assert_match "$(sed -n 1p <<<"$OUT")" '^/\.ds01/init( |$)' "$c: PID 1 is /.ds01/init"
	assert_eq "cvd=$( [ "$n" -gt 0 ] && echo "$luuids")" "$(sed -n 2p <<<"$OUT" | sed 's/^\(cvd=\)void$/\1/')" \
		"$c: CUDA_VISIBLE_DEVICES inside the container"

	# The capability sets as the kernel holds them, for PID 1 and for a process container-run
	# starts: all empty, the bounding set too (a non-root process has no effective capabilities
	# anyway; only an empty bounding set shows that nothing can ever be gained), and
	# no_new_privs set.
	local caps
	caps="CapInh:	0000000000000000
CapPrm:	0000000000000000
CapEff:	0000000000000000
CapBnd:	0000000000000000
CapAmb:	0000000000000000"
	assert_exit 0 -m "$c: container-run reads /proc/1/status and /proc/self/status" \
		as_user "$A" container-run "$p" -- sh -c 'grep -E "^(Cap|NoNewPrivs)" /proc/1/status; echo --; grep -E "^(Cap|NoNewPrivs)" /proc/self/status'
	assert_eq "$caps
NoNewPrivs:	1" "$(sed -n '1,/^--$/p' <<<"$OUT" | grep -v '^--$')" "$c: PID 1 has no capabilities in any set (CapBnd 0) and no_new_privs"
	assert_eq "$caps
NoNewPrivs:	1" "$(sed -n '/^--$/,$p' <<<"$OUT" | grep -v '^--$')" "$c: a container-run process has no capabilities in any set (CapBnd 0) and no_new_privs"
}

assert_exit 0 -m "deploy spec1 (default: 1 GPU)" as_user "$A" container-deploy spec1 --json
D1=$OUT
assert_jq "deploy --json: container/state/image/gpus" \
	".container == \"spec1._.$A\" and .existed == false and .image == \"$DS01_IMAGE\" and (.gpus | length) == 1" "$D1"
check_spec spec1 1
assert_eq "$(jqr '.gpus | map(if type == "object" then .uuid else . end) | join(",")' "$D1")" \
	"$(container_gpus "$A" spec1)" "deploy --json gpus match container-list"

assert_exit 0 -m "deploy spec0 --cpu-only" as_user "$A" container-deploy spec0 --cpu-only --json
assert_jq "deploy --cpu-only --json: no gpus" '(.gpus | length) == 0' "$OUT"
check_spec spec0 0

assert_exit 0 -m "retire spec1" as_user "$A" container-retire spec1
assert_exit 0 -m "deploy spec2 --gpus 2" as_user "$A" container-deploy spec2 --gpus 2
check_spec spec2 2
assert_exit 0 -m "retire spec2" as_user "$A" container-retire spec2

assert_exit 0 -m "deploy spec3 --gpu 1 (alias)" as_user "$A" container-deploy spec3 --gpu 1
assert_eq 1 "$(container_entry "$A" spec3 | jq '.gpus | length')" "--gpu 1 leases one GPU"
assert_exit 0 -m "deploy spec4 --num-gpus 1 (alias)" as_user "$A" container-deploy spec4 --num-gpus 1
assert_eq 1 "$(container_entry "$A" spec4 | jq '.gpus | length')" "--num-gpus 1 leases one GPU"
G3=$(container_gpus "$A" spec3)
G4=$(container_gpus "$A" spec4)
assert_ne "$G3" "$G4" "two containers never share a GPU ($G3 vs $G4)"

for p in spec0 spec3 spec4; do
	assert_exit 0 -m "retire $p" as_user "$A" container-retire "$p"
done
assert_instance_empty "nothing left in Docker"
ds01_done
