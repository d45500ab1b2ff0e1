#!/usr/bin/env bash
# One device call of at most ~9 minutes (carry .gpu without the 40 MB mamba-ssm wheel, which does not fit beside
# the shipped models): the fused kernel's CUDA tests against the reference, then benchmarks/sweep_cross_scan.py.
# BUILD=1 also builds mamba-ssm from the sdist in the background meanwhile, then runs the mamba_ssm comparison tests
# and gives the sweep its mamba_ssm column.       BUILD=1 bash benchmarks/gpu_sweep.sh      (writes under $OUT)
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
if [ "${BUILD:-0}" = 1 ]; then
  setsid bash -c 'source .gpu/device-setup.sh' > "$OUT/setup.txt" 2>&1 < /dev/null &
  setup_pid=$!
  sleep 15  # the small wheels (monai, nibabel) install first
else
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
el "tests vs the reference (mamba_ssm tests skip until it is built)"
timeout ${TEST_S:-200} python3 -m pytest -q -p no:cacheprovider -m cuda --tb=short -rfE \
  tests/ops/test_cross_selective_scan.py tests/nn/test_ss2d_fused.py tests/nn/test_model_backends.py \
  > "$OUT/pytest_ref.txt" 2>&1
el "pytest rc $?"; tail -15 "$OUT/pytest_ref.txt"
mamba=--no-mamba
if [ "${BUILD:-0}" = 1 ]; then
  wait $setup_pid; el "setup done"; tail -3 "$OUT/setup.txt"; mamba=
  timeout 120 python3 -m pytest -q -p no:cacheprovider -m cuda --tb=short -rfE -k "mamba" \
    tests/ops/test_cross_selective_scan.py > "$OUT/pytest_mamba.txt" 2>&1
  el "pytest mamba rc $?"; tail -8 "$OUT/pytest_mamba.txt"
fi
left=$(( ${TOTAL_S:-560} - ($(date +%s) - t0) - 20 ))
timeout $left python3 benchmarks/sweep_cross_scan.py $mamba --budget-s $(( left - 40 )) ${VARIANTS:+--variants "$VARIANTS"} \
  --out "$OUT/sweep.md" 2> "$OUT/sweep_err.txt" > /dev/null
el "sweep rc $?"; cat "$OUT/sweep.md"; grep -iE "error|Traceback" -A3 "$OUT/sweep_err.txt" | head -20
