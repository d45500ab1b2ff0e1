#!/usr/bin/env bash
# Issue 7 (fused four-direction Triton scan) on the GPU machine, one device call of at most ~9.5 minutes:
#
#     UNFUSED=1 OUT=$OUT bash benchmarks/gpu_issue7.sh                                             (carry .gpu)
#
# Carry .gpu *with* the prebuilt mamba-ssm wheel (40 MB; cp ../shared/gpu/*.whl .gpu/): it installs in seconds.
# Without it device-setup.sh builds mamba-ssm from the sdist, which took about 2.5 minutes once and did not finish
# in 400 s on 2026-12-06. The tree travels too (64 MiB a call in all): move akmamba/resources/models aside for the call.
#
# 1. installs mamba-ssm in the background (.gpu/device-setup.sh; from the sdist when the wheel is absent) while the fused
#    kernel's CUDA tests run against the reference; then the mamba_ssm comparison tests;
# 2. benchmarks/bench_mambaout.py (block, op and model tables) -> $OUT/mambaout_cuda.md;
# 3. with PROFILE=1, benchmarks/profile_mambaout_cuda.py (kernel time, launches, GPU busy share) -> profile_cuda.md;
# 4. with the time left, benchmarks/sweep_cross_scan.py (launch variants) -> $OUT/sweep.md.
# TESTS=0 skips step 1's tests (setup still runs), BENCH_S=0 skips step 2, TOTAL_S (default 570) bounds the call.
# AMP=bf16 times step 2 under bf16 autocast (as `akmamba train` runs on CUDA) instead of float32.
# UNFUSED=1 also times SS2D's unfused path with both projection forms (benchmarks/bench_unfused_proj.py).
# PROBE=1 runs benchmarks/probe_fused_bf16.py (why the fused op is slower with bf16 inputs) -> probe_bf16.md.
# Writes issue7_summary.txt (read first), pytest_*.txt, mambaout_cuda.md, sweep.md, bench_stderr.txt under $OUT.
set -u
OUT=${OUT:-/tmp/issue7}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
setsid bash -c 'source .gpu/device-setup.sh' > "$OUT/setup.txt" 2>&1 < /dev/null &
setup_pid=$!
sleep 15  # the small wheels (monai, nibabel) install first
export PYTHONPATH=/tmp/site:$PWD
{
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
if [ "${TESTS:-1}" != 0 ]; then
el "tests vs the reference (the mamba_ssm tests skip until it is built)"
timeout ${TEST_S:-200} python3 -m pytest -q -p no:cacheprovider -m cuda --tb=short -rfE \
  tests/ops/test_cross_selective_scan.py tests/nn/test_ss2d_fused.py tests/nn/test_model_backends.py \
  > "$OUT/pytest_ref.txt" 2>&1
el "pytest rc $?"; tail -6 "$OUT/pytest_ref.txt"
wait $setup_pid; el "setup done"; tail -2 "$OUT/setup.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider -m cuda --tb=short -rfE -k "mamba" \
  tests/ops/test_cross_selective_scan.py tests/nn/test_ss2d_fused.py tests/nn/test_model_backends.py \
  > "$OUT/pytest_mamba.txt" 2>&1
el "pytest mamba rc $?"; tail -6 "$OUT/pytest_mamba.txt"
else wait $setup_pid; el "setup done (TESTS=0: no tests)"; tail -2 "$OUT/setup.txt"; fi
if [ "${BENCH_S:-300}" != 0 ]; then
timeout ${BENCH_S:-300} python3 benchmarks/bench_mambaout.py --device cuda --budget-s $(( ${BENCH_S:-300} - 70 )) \
  ${AMP:+--amp $AMP} --out "$OUT/mambaout_cuda.md" > /dev/null 2> "$OUT/bench_stderr.txt"
el "bench rc $?"; grep -A4 "Suggested constants" "$OUT/mambaout_cuda.md" | tail -3
fi
if [ -n "${PROFILE:-}" ]; then  # where the block's GPU time goes, fused vs mamba_ssm (about a minute)
  timeout 150 python3 benchmarks/profile_mambaout_cuda.py --out "$OUT/profile_cuda.md" > /dev/null 2> "$OUT/profile_err.txt"
  el "profile rc $?"
fi
if [ -n "${PROBE:-}" ]; then  # the fused op with float32, bf16 and mixed inputs; compiled kernels; kernel profile
  timeout 300 python3 benchmarks/probe_fused_bf16.py --out "$OUT/probe_bf16.md" > /dev/null 2> "$OUT/probe_err.txt"
  el "bf16 probe rc $?"
fi
if [ -n "${UNFUSED:-}" ]; then  # SS2D's unfused path (mamba_ssm's kernel) with its two projection forms (~1-2 min)
  timeout 240 python3 benchmarks/bench_unfused_proj.py --device cuda --backend mamba_ssm --bases 16,32 --batches 1,8 \
    --out "$OUT/unfused_proj_cuda.md" > /dev/null 2> "$OUT/unfused_err.txt"
  el "unfused projections rc $?"
fi
left=$(( ${TOTAL_S:-570} - ($(date +%s) - t0) ))
if [ $left -gt 60 ]; then
  timeout $left python3 benchmarks/sweep_cross_scan.py --no-mamba --budget-s $(( left - 30 )) \
    ${VARIANTS:+--variants "$VARIANTS"} --out "$OUT/sweep.md" 2> "$OUT/sweep_err.txt" > /dev/null
  el "sweep rc $?"
fi
} > "$OUT/issue7_summary.txt" 2>&1
cat "$OUT/issue7_summary.txt"; cat "$OUT/mambaout_cuda.md"; cat "$OUT/profile_cuda.md" "$OUT/probe_bf16.md" "$OUT/unfused_proj_cuda.md" "$OUT/sweep.md" 2>/dev/null
