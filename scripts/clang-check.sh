#!/usr/bin/env bash
# scripts/clang-check.sh [BUILD_DIR]: clang's diagnostics, syntax only, over every C file the
# build compiles (BUILD_DIR/compile_commands.json, default build/), with the project's own
# warning flags. gcc builds the project; clang refuses things gcc accepts silently, such as a
# goto that jumps over a _cleanup_ variable's initialisation (its cleanup then frees garbage).
# Prints each diagnostic and exits 1 when there is one; 2 when clang or the build is missing.
set -euo pipefail
db=${1:-build}/compile_commands.json
command -v clang >/dev/null || { echo "clang-check: clang is not installed (apt-get install clang)" >&2; exit 2; }
[ -f "$db" ] || { echo "clang-check: no $db - build first (make)" >&2; exit 2; }
# one line per file: directory TAB command; the compiler, colour and outputs dropped
jq -r '.[] | select(.file | endswith(".c")) | [.directory, .command] | @tsv' "$db" |
	sed -E 's/\t[^ ]+ /\tclang -fsyntax-only -fno-color-diagnostics /; s/ -fdiagnostics-color=[a-z]+//; s/ -MD//; s/ -M[QF] [^ ]+//g; s/ -o [^ ]+//' |
	xargs -d '\n' -P "$(nproc)" -I{} sh -c 'line=$1; cd "${line%%	*}" && eval "${line#*	}"' _ {} 2>&1 |
	{ out=$(cat); [ -z "$out" ] || { printf '%s\n' "$out"; exit 1; }; }
echo "clang-check: $(jq '[.[] | select(.file | endswith(".c"))] | length' "$db") C files compiled, no diagnostic"
