#!/usr/bin/env bash
# The test suite on a machine with CUDA, lent by the device tool: first the tests that skip
# without CUDA (CUDA builds, bench rows on the GPU, static training peaks against
# max_memory_allocated), then the whole suite (or the files SUITE names) with CUDA present,
# under a time limit.
# The device image has torch with CUDA, pandas, matplotlib, click and pyyaml but no pytest:
# WHEELS names a folder of wheels carried along (pytest and its dependencies; hypothesis,
# fvcore and torchinfo where wanted), e.g. `pip download --no-deps -d gpu-wheels pytest ...`.
# Writes $OUT/cuda_tests.txt and $OUT/suite.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
WHEELS=${WHEELS:-gpu-wheels}
SUITE_LIMIT_S=${SUITE_LIMIT_S:-330}
SUITE=${SUITE:-tests}          # or some of its files, e.g. those a time-limited run did not reach
mkdir -p "$OUT"
{ nvidia-smi -L; python3 -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__,
'cuda', torch.version.cuda, torch.cuda.get_device_name())"; } | tee "$OUT/cuda_tests.txt"
python3 -m pip install -q --no-index --find-links "$WHEELS" pytest >>"$OUT/cuda_tests.txt" 2>&1
for extra in hypothesis fvcore torchinfo; do      # missing: the files that import it fail to collect
  python3 -m pip install -q --no-index --find-links "$WHEELS" "$extra" >/dev/null 2>&1 \
    || echo "not installed: $extra" | tee -a "$OUT/cuda_tests.txt"
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -m pytest -p no:cacheprovider -rs -v -k cuda tests/test_bench.py tests/test_cli_sources.py \
  tests/test_models.py tests/test_training.py 2>&1 | tee -a "$OUT/cuda_tests.txt" | tail -15
# shellcheck disable=SC2086
timeout "$SUITE_LIMIT_S" python3 -m pytest -p no:cacheprovider -q -rfs --durations=10 $SUITE \
  >"$OUT/suite.txt" 2>&1
echo "suite exit status $? (124: stopped by its time limit)" | tee -a "$OUT/suite.txt"
tail -25 "$OUT/suite.txt"
