#!/usr/bin/env bash
# Shared datasets (ds01.yaml `datasets:`, container-deploy --data NAME), as users meet them:
#  - A (group researcher) deploys with --data imagenet --data coco: both are at /data/NAME,
#    readable and read-only (a write fails), and check-limits lists them;
#  - B (group student) gets coco but not imagenet (exit 5, naming the group) and an unknown name
#    or a path instead of a name is a usage error that lists B's datasets (exit 2);
#  - a declared dataset whose path a user could swap (a symlink on the way, a directory of A's,
#    a directory under one of A's) is refused (exit 1) with nothing left behind;
#  - on an existing container --data is refused, saying how to get it (exit 2).
# ds01-test: kind=security budget=11
. "$(dirname "$0")/lib.sh"
ds01_setup

A=$(ds01_user "it$$a") || fail "cannot create user"
B=$(ds01_user "it$$b") || fail "cannot create user"

D=$T/data
mkdir -p "$D/imagenet" "$D/coco" "$D/real" "$D/mine" "$D/under"
echo "imagenet-readme" >"$D/imagenet/README"
echo "coco-readme" >"$D/coco/README"
chmod -R go-w "$D"
ln -s "$D/real" "$D/link"
chown "$A" "$D/mine"
mkdir -p "$D/under/x" && chown "$A" "$D/under" # root's x below a directory A owns
chmod 755 "$T"

DS01_CONFIG_EXTRA="datasets:
  imagenet: { path: $D/imagenet, groups: [researcher] }
  coco: { path: $D/coco }
  linked: { path: $D/link }
  mine: { path: $D/mine }
  under: { path: $D/under/x }"
ds01_write_config
ds01_write_limits_with "  researcher:
    max_cpus: 1
    memory: 256m
    memory_swap: 256m
    members: [$A]"
ds01_start_daemon

# --- A, a researcher ------------------------------------------------------------------------------
capture as_user "$A" container-deploy d1 --cpu-only --data imagenet --data coco
assert_eq 0 "$RC" "A: deploy d1 --data imagenet --data coco"
assert_contains "$OUT" "/data/imagenet (read-only)" "the deploy says where imagenet is"
capture as_user "$A" container-attach d1 -- cat /data/imagenet/README /data/coco/README
assert_eq "imagenet-readme
coco-readme" "$OUT" "both datasets are readable inside"
capture as_user "$A" container-attach d1 -- sh -c 'echo x > /data/imagenet/new'
assert_ne 0 "$RC" "writing into /data/imagenet fails"
assert_contains "$ERR" "Read-only file system" "because the mount is read-only"
[ -e "$D/imagenet/new" ] && not_ok "nothing was written to the dataset" || ok "nothing was written to the dataset"
assert_eq "imagenet,coco" "$(docker inspect -f '{{index .Config.Labels "ds01.data"}}' "d1._.$A")" \
	"the container records its datasets (label ds01.data), for a recreation"
capture as_user "$A" check-limits --json
assert_eq '["coco","imagenet","linked","mine","under"]' "$(jq -c '[.datasets[].name] | sort' <<<"$OUT")" "check-limits lists A's datasets"

# --- B, a student ----------------------------------------------------------------------------------
capture as_user "$B" container-deploy e1 --cpu-only --data imagenet
assert_eq 5 "$RC" "B: --data imagenet -> exit 5"
assert_contains "$ERR" "not for your group ('student')" "the error names B's group"
assert_no_container "e1._.$B" "nothing was made for B's refused deploy"
for bad in nope "$D/imagenet" ../imagenet; do
	capture as_user "$B" container-deploy e2 --cpu-only --data "$bad"
	assert_eq 2 "$RC" "B: --data '$bad' (not a declared name) -> exit 2"
	assert_contains "$ERR" "the ones you may use are coco, linked, mine, under" "and the error lists B's datasets"
done
assert_exit 0 -m "B: --data coco works" as_user "$B" container-deploy e3 --cpu-only --data coco
capture as_user "$B" check-limits
assert_contains "$OUT" "coco" "B's check-limits lists coco"
assert_not_contains "$OUT" "imagenet" "and not imagenet"

# --- paths a user could swap ----------------------------------------------------------------------
for ds in linked mine under; do
	capture as_user "$A" container-deploy "s-$ds" --cpu-only --data "$ds"
	assert_eq 1 "$RC" "dataset '$ds' (a path a user could swap) is refused"
	assert_no_container "s-$ds._.$A" "nothing was made for '$ds'"
done
capture as_user "$A" container-deploy s-linked --cpu-only --data linked
assert_contains "$ERR" "symlink" "a symlink in the path is named as such"
capture as_user "$A" container-deploy s-mine --cpu-only --data mine
assert_contains "$ERR" "not root's" "a directory of a user's is named as such"

# --- an existing container --------------------------------------------------------------------------
capture as_user "$A" container-deploy d1 --cpu-only --data coco
assert_eq 2 "$RC" "--data on an existing container -> exit 2"
assert_contains "$ERR" "container-retire d1" "the error says how to get the dataset"
ds01_done
