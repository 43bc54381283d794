#!/usr/bin/env bash
# The GPU measurements of issue 13 in one run of about 8 minutes on one H100/H200 lent by the
# device tool. Everything it measures goes under $OUT (the tool brings that folder back):
#   gpu_results.csv  bench rows: Canziani's 14 networks, batch 1-64, float32 and float16
#                    (inference), a few networks in training mode; each row has the static
#                    peak beside the measured max_memory_allocated
#   log.txt          nvidia-smi, torch/CUDA versions, what each step printed
# Prepare on the CPU machine first: `bash benchmarks/gpu_wheels.sh` (the device reaches no
# package index), then run with carry [".gpu-wheels"]:  bash benchmarks/gpu_check.sh
# Each step has its own time limit, so a slow step cannot eat the next one's rows; bench writes
# each finished row at once, so whatever ran is kept.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
DEVICE=${DEVICE:-cuda}   # DEVICE=cpu runs the same steps here, to try the script
mkdir -p "$OUT"
LOG="$OUT/log.txt"
RESULTS="$OUT/gpu_results.csv"
say() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }

say "machine"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'device', torch.cuda.get_device_name())"; } >>"$LOG" 2>&1
# archprof from this tree; its light dependencies from the carried wheels (torch, pandas,
# matplotlib, click and pyyaml are on the device; bench needs neither fvcore nor matplotlib)
pip install -q --no-index --find-links .gpu-wheels filelock tqdm >>"$LOG" 2>&1 \
  || say "no carried wheels: run benchmarks/gpu_wheels.sh and carry .gpu-wheels"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# bench LIMIT_S ARGS...: one step, killed (SIGTERM keeps finished rows) past LIMIT_S seconds
bench() {
  local limit=$1; shift
  timeout "$limit" python3 -m archprof bench "$@" --device "$DEVICE" --out "$RESULTS" >>"$LOG" 2>&1
  say "step exit status $? (124: stopped by its time limit)"
}

CANZIANI="alexnet bn_alexnet bn_nin enet googlenet resnet18 resnet34 resnet50 resnet101 resnet152
          vgg16 vgg19 inception_v3 inception_v4"
say "inference float32: 14 networks x 7 batch sizes"
bench 210 $CANZIANI --batch-sizes 1,2,4,8,16,32,64 --dtype float32 --budget 0.4
say "inference float16"
bench 120 $CANZIANI --batch-sizes 1,4,16,64 --dtype float16 --budget 0.3
say "training steps (momentum SGD), float32"
bench 100 resnet18 resnet50 vgg16 googlenet mobilenet_v2 --batch-sizes 1,16,64 --mode train --budget 0.4
say "the rest of the zoo at batch 1 and 32 while time is left"
bench 60 --all --batch-sizes 1,32 --dtype float32 --budget 0.2
say "done: $(($(wc -l <"$RESULTS") - 1)) rows in $RESULTS"
