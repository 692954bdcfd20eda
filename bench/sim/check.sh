#!/usr/bin/env bash
# bench/sim/check.sh BENCH_SIM - the simulator's invariants on a lab week and the sample trace
# (run by `meson test`): shares within 0..1, every policy did the same work when the backlog
# drains (a full week), DS01's hourly idle checks hold GPUs idle longer than ds01's, ds01's
# queue is ordered by fair share (fairness at least FCFS's), the same seed gives the same
# answer, and a CSV trace loads.
set -euo pipefail
SIM=$1
HERE=$(dirname "$(readlink -f "$0")")
a=$("$SIM" --trace lab --days 7 --seed 3)
b=$("$SIM" --trace lab --days 7 --seed 3)
[ "$a" = "$b" ] || { echo "not deterministic for one seed"; exit 1; }
jq -e '[.policies[] | .utilisation, .idle_held_share, .fairness] | all(. >= 0 and . <= 1)' <<<"$a" >/dev/null ||
	{ echo "a share out of 0..1"; exit 1; }
jq -e '.policies.ds01.busy_gpu_h == .policies.fcfs.busy_gpu_h' <<<"$a" >/dev/null ||
	{ echo "ds01 and FCFS did different work on a week that drains"; exit 1; }
jq -e '.policies["ds01-legacy"].idle_held_share > .policies.ds01.idle_held_share' <<<"$a" >/dev/null ||
	{ echo "DS01's hourly checks did not hold GPUs idle longer"; exit 1; }
c=$("$SIM" --trace lab --days 5 --seed 1)
jq -e '.policies.ds01.fairness >= .policies.fcfs.fairness' <<<"$c" >/dev/null ||
	{ echo "fair share was less fair than FCFS"; exit 1; }
d=$("$SIM" --trace "$HERE/sample-trace.csv" --days 2)
jq -e '.sessions == 204 and .policies.ds01.idle_held_share == 0' <<<"$d" >/dev/null ||
	{ echo "the sample trace did not load as its 204 GPU jobs"; exit 1; }
echo "bench-sim: invariants hold"
