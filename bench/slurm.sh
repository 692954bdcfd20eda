#!/bin/bash
# Deploy-to-shell time through Slurm (cluster mode) against a single-server deploy, on this
# machine, as a real user.
#
#   bench/slurm.sh [--rounds N]       (as root, after `make`; default 9 rounds each)
#
# It runs on the integration tests' fixtures (tests/integration/lib.sh): a ds01d instance of its
# own on the fake NVML (2 GPUs), a Unix user of its own, and the Slurm fixture (its own munged,
# slurmctld and slurmd on loopback, gres over fake device files); everything it made is removed
# at exit. Each round times, from the user's command to a command run in the container:
#   single:  container-deploy bN --gpus 1 ; container-run bN -- true      (ds01d's own GPUs)
#   slurm:   the same two commands with ds01.yaml's cluster key: the deploy is an sbatch, the
#            job's step deploys on the job's GPU, the CLI waits for it (docs/cluster-design.md)
# then retires the container (not timed) and waits until its GPU is free again (in Slurm: until
# the job has ended). The single-server rounds come first, then ds01d restarts in the cluster.
# Writes bench/results/slurm.json and prints one line: the medians and their ratio.
set -uo pipefail
ROUNDS=9
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) ROUNDS=$2; shift 2 ;;
	--rounds=*) ROUNDS=${1#*=}; shift ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--rounds N]" >&2; exit 2 ;;
	esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "slurm.sh: --rounds needs a positive integer" >&2; exit 2; }
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$REPO" || exit 1
export DS01_BUILD=${DS01_BUILD:-$REPO/build} DS01_PASS=plain
RESULTS=$REPO/bench/results/slurm.json
[ "$(id -u)" -eq 0 ] || { echo "slurm.sh: run as root (it makes a Unix user and starts Slurm)" >&2; exit 1; }

DS01_GPUS=2
# shellcheck source=tests/integration/lib.sh
. "$REPO/tests/integration/lib.sh"
export PATH=$PATH:/usr/sbin
for tool in slurmctld slurmd sbatch squeue scancel munged; do
	command -v "$tool" >/dev/null 2>&1 || { echo "slurm.sh: $tool missing (scripts/deps.sh)" >&2; exit 1; }
done
ds01_setup
U=$(ds01_user "bs$$") || fail "cannot create the bench user"
trap_extra() { slurm_teardown "$U"; }

NODE=ds01b$$
slurm_setup ds01bench
slurm_one_node "$NODE" 2

fake_nvml_use
fake_nvml_write "$(fake_nvml_inventory 2)"
fake_nvml_config
ds01_start_daemon

free_gpus() { [ "$(gpus_leased_count)" = 0 ] && [ -z "$(squeue -h -u "$U" 2>/dev/null)" ]; }
# rounds MODE: one line per round, the ms from the deploy's start to `true` run in the container
rounds() {
	local i t0 name
	for ((i = 1; i <= ROUNDS; i++)); do
		name=b$i
		t0=$(now_ms)
		as_user "$U" container-deploy "$name" --gpus 1 >/dev/null 2>"$T/err" ||
			fail "$1: container-deploy $name: $(cat "$T/err")"
		as_user "$U" container-run "$name" -- true 2>"$T/err" || fail "$1: container-run $name: $(cat "$T/err")"
		echo $(($(now_ms) - t0))
		as_user "$U" container-retire "$name" >/dev/null 2>&1 || fail "$1: container-retire $name"
		wait_for 30 free_gpus || fail "$1: the GPU is not free after the retire of $name"
	done
}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

SINGLE=$(rounds single) || exit 1
ds01_stop_daemon "ds01d stops (to start in the cluster)"
printf 'cluster:\n  backend: slurm\n  name: ds01bench\n  slurm_conf: %s\n  slurm_bin: %s\n  node: %s\n  accounts: false\n' \
	"$SL/slurm.conf" "$(dirname "$(command -v sbatch)")" "$NODE" >>"$DS01_CONFIG"
ds01_start_daemon
SLURM=$(rounds slurm) || exit 1

MS=$(median <<<"$SINGLE")
ML=$(median <<<"$SLURM")
RATIO=$(awk -v a="$ML" -v b="$MS" 'BEGIN {printf "%.2f", a / b}')
mkdir -p "$(dirname "$RESULTS")"
jq -n --arg date "$(date -u +%FT%TZ)" --argjson rounds "$ROUNDS" --argjson ms "$MS" --argjson ml "$ML" \
	--argjson ratio "$RATIO" --arg single "$SINGLE" --arg slurm "$SLURM" \
	'{date: $date, rounds: $rounds, single_ms: ($single | split("\n") | map(tonumber)),
	  slurm_ms: ($slurm | split("\n") | map(tonumber)), single_median_ms: $ms,
	  slurm_median_ms: $ml, ratio: $ratio}' >"$RESULTS"
echo "deploy-to-shell, median of $ROUNDS: single server $MS ms, through Slurm $ML ms: ratio $RATIO (bench/results/slurm.json)"
ds01_done
