#!/usr/bin/env bash
# The GPU measurements of issue 13 in one run of about 6 minutes on one H100/H200 lent by the
# device tool. Everything it measures goes under $OUT (the tool brings that folder back):
#   gpu_results.csv  bench rows: Canziani's 14 networks at batch 1-64 in float32, five networks
#                    in training steps at batch 1/16/64, the 14 again in float16, then the rest
#                    of the zoo while time is left; each row has the static peak beside the
#                    measured max_memory_allocated
#   log.txt          nvidia-smi, torch/CUDA versions, what each step printed
# The device image has torch with CUDA, pandas, click, pyyaml, filelock and tqdm (bench needs
# neither fvcore nor matplotlib), so archprof runs from this tree on PYTHONPATH, no install.
# A smoke test first (build, forward and a training step on the GPU) stops the run within
# seconds if anything is off, so the device time is not spent on failing steps. Each step has
# its own time limit, so a slow one cannot eat the next one's rows, and bench writes each
# finished row at once: whatever ran is kept.  DEVICE=cpu runs the same steps here, to try it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
RESULTS="$OUT/gpu_results.csv"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
say() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }

say "machine"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'cudnn', torch.backends.cudnn.version())"; } >>"$LOG" 2>&1
say "smoke test"
python3 - "$DEVICE" >>"$LOG" 2>&1 <<'PY' || { say "smoke test failed"; tail -30 "$LOG"; exit 1; }
import sys, torch, archprof
from archprof.measure.bench import measure, measure_train, peak_matmul
dev = sys.argv[1]
print("float32 convolutions:", torch.backends.cudnn.conv.fp32_precision)
for dtype in ("float32", "float16"):
    print("matmul peak", dtype, peak_matmul(dev, dtype) / 1e12, "TMAC/s")
model = archprof.build("resnet18", device=dev)
x = torch.randn(2, 3, 224, 224, device=dev)
print("inference", measure(model.eval(), x, dev, budget_s=0.1).median_ms, "ms")
print("train", measure_train(model, x, dev, budget_s=0.1).median_ms, "ms")
PY
# bench LIMIT_S ARGS...: one step, stopped (SIGTERM keeps finished rows) past LIMIT_S seconds
bench() {
  local limit=$1; shift
  timeout "$limit" python3 -m archprof bench "$@" --device "$DEVICE" --out "$RESULTS" >>"$LOG" 2>&1
  say "step exit status $? (124: stopped by its time limit)"
}

CANZIANI="alexnet bn_alexnet bn_nin enet googlenet resnet18 resnet34 resnet50 resnet101 resnet152
          vgg16 vgg19 inception_v3 inception_v4"
say "inference float32: 14 networks x 7 batch sizes"
bench 120 $CANZIANI --batch-sizes 1,2,4,8,16,32,64 --dtype float32 --budget 0.4
say "training steps (momentum SGD), float32"
bench 130 resnet18 resnet50 vgg16 googlenet mobilenet_v2 --batch-sizes 1,16,64 --mode train \
  --optimizer momentum --budget 0.4
say "inference float16"
bench 70 $CANZIANI --batch-sizes 1,4,16,64 --dtype float16 --budget 0.3
say "the rest of the zoo at batch 1 and 32 while time is left"
bench 45 --all --batch-sizes 1,32 --dtype float32 --budget 0.2
say "done: $(($(wc -l <"$RESULTS") - 1)) rows in $RESULTS"
tail -5 "$LOG"
