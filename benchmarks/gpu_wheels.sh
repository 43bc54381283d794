#!/usr/bin/env bash
# Wheels of archprof's light dependencies for the device machine, which reaches no package
# index: benchmarks/gpu_check.sh installs them from .gpu-wheels (carried, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
pip download -q --no-deps -d .gpu-wheels filelock tqdm
ls .gpu-wheels
