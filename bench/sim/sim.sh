#!/usr/bin/env bash
# bench/sim/sim.sh - the GPU policy on a virtual clock (bench/sim/sim.c says what it models):
# the lab week (5 working days, 8 GPUs) for seeds 1-5, and the sample job trace, for ds01's
# policy, DS01's and first-come-first-served. Writes bench/results/sim.json (seed 1 in full,
# the mean over the seeds, and the sample trace) and bench/results/sim.svg (seed 1), which the
# README shows.
#
#   bench/sim/sim.sh [BUILD_DIR]    (default build/; the plain build, `make build`)
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
REPO=$(dirname "$(dirname "$HERE")")
BUILD=${1:-$REPO/build}
SIM=$BUILD/bench/bench-sim
[ -x "$SIM" ] || { echo "sim.sh: $SIM is missing - run 'make build' first" >&2; exit 1; }
OUT=$REPO/bench/results
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
t0=$(date +%s.%N)
for seed in 1 2 3 4 5; do
	"$SIM" --trace lab --days 5 --seed "$seed" --json "$TMP/lab-$seed.json"
done
"$SIM" --trace lab --days 5 --seed 1 --svg "$OUT/sim.svg" --json "$TMP/lab-1.json"
"$SIM" --trace "$HERE/sample-trace.csv" --days 2 --json "$TMP/sample.json"
# a year of lab weeks, for the speed: simulated days per wall second
t1=$(date +%s.%N)
"$SIM" --trace lab --days 364 --json "$TMP/year.json"
t2=$(date +%s.%N)
jq -n --slurpfile s1 "$TMP/lab-1.json" --slurpfile sample "$TMP/sample.json" \
	--argjson year_s "$(echo "$t2 - $t1" | bc)" \
	'[inputs] as $seeds
	 | def mean(f): ([$seeds[] | f] | add) / ($seeds | length);
	   {lab_seed_1: $s1[0],
	    lab_mean_over_seeds: ([$seeds[0].policies | keys[]] | map({key: ., value: (. as $p | {
	      utilisation: mean(.policies[$p].utilisation),
	      idle_held_share: mean(.policies[$p].idle_held_share),
	      idle_held_gpu_h: ($seeds[0].policies[$p].idle_held_gpu_h | keys | map(. as $k |
	        {key: $k, value: mean(.policies[$p].idle_held_gpu_h[$k])}) | from_entries),
	      allocated_gpu_h: mean(.policies[$p].allocated_gpu_h),
	      fairness: mean(.policies[$p].fairness),
	      student_wait_p95_s: mean(.policies[$p].wait_p95_s.student),
	      researcher_wait_p95_s: mean(.policies[$p].wait_p95_s.researcher)})}) | from_entries),
	    seeds: ($seeds | length),
	    sample_trace: $sample[0],
	    simulated_days_per_wall_s: (364 * 3 / $year_s)}' \
	"$TMP"/lab-[1-5].json >"$OUT/sim.json"
echo "sim.sh: wrote $OUT/sim.json and $OUT/sim.svg in $(echo "$(date +%s.%N) - $t0" | bc) s"
