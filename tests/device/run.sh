#!/bin/bash
# Device check (a machine with an NVIDIA GPU and its driver; no Docker, no extra packages):
# compiles the daemon's GPU modules with the probe and runs it against the real libnvidia-ml.
# Output goes to $OUT (or ./device-out).
set -eu
cd "$(dirname "$0")/../.."
out=${OUT:-device-out}
mkdir -p "$out"
cc -std=gnu17 -O2 -D_GNU_SOURCE -Wall -Wextra -Isrc -o "$out/nvml-probe" tests/device/nvml-probe.c \
	src/daemon/gpus/slot.c src/daemon/gpus/nvml.c src/daemon/gpus/gpu.c src/daemon/gpus/pool.c src/shared/util.c src/shared/error.c \
	src/shared/strbuf.c src/shared/log.c -ldl -lpthread -lm 2>&1 | tee "$out/build.log"
nvidia-smi -L > "$out/nvidia-smi.txt" 2>&1 || true
nvidia-smi --query-gpu=uuid,name,memory.total,pci.bus_id --format=csv >> "$out/nvidia-smi.txt" 2>&1 || true
"$out/nvml-probe" | tee "$out/probe.txt"
