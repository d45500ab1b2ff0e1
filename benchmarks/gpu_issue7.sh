#!/usr/bin/env bash
# Issue 7 (fused four-direction Triton scan) on the GPU machine, in one device call of about 5-6 minutes:
#
#     source .gpu/device-setup.sh && bash benchmarks/gpu_issue7.sh
#
# (the script puts the checkout first on PYTHONPATH itself, keeping the /tmp/site entry device-setup.sh added)
#
# (carry .gpu). Writes at most 5 files under $OUT (default /tmp/issue7):
#   issue7_summary.txt   environment, test summary, exit codes, timings: read this first
#   pytest_cuda.txt      the CUDA tests of the new op, SS2D and the model backends (full pytest output)
#   mambaout_cuda.md     benchmarks/bench_mambaout.py tables (rewritten after every row, so a killed run keeps rows)
#   bench_stderr.txt     the benchmark's progress lines and any traceback
#   triton_cache_kb.txt  size of the Triton compile cache afterwards (compile work done)
# Each stage has a hard time limit, so the script finishes within about 6 minutes even if a stage hangs.
set -u
OUT=${OUT:-/tmp/issue7}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
summary=$OUT/issue7_summary.txt
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }

{
  echo "== issue 7 GPU run, $(date -Is)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  python3 - <<'PY' 2>&1
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())
for mod in ("triton", "mamba_ssm"):
    try:
        print(mod, __import__(mod).__version__)
    except Exception as exc:
        print(mod, "unavailable:", type(exc).__name__, exc)
from akmamba.ops import available_backends
from akmamba.ops.selective_scan.triton_cross import fused_cross_scan_available
for b in available_backends("cuda"):
    print(f"  backend {b.name}: {b.available} ({b.reason})")
print("  fused_triton:", fused_cross_scan_available("cuda"))
PY
} > "$summary"

# 1. CUDA tests: the fused op (tiny odd shapes vs the reference loop, realistic shapes vs mamba_ssm), SS2D / Mamba-out
#    fused vs unfused, Akmamba-Net logits per backend ('triton' is now the fused path). At most 210 s.
timeout 210 python3 -m pytest -q -p no:cacheprovider -m cuda --durations=8 \
  tests/ops/test_cross_selective_scan.py tests/nn/test_ss2d_fused.py tests/nn/test_model_backends.py \
  > "$OUT/pytest_cuda.txt" 2>&1
rc_test=$?
{
  echo "== pytest (rc $rc_test; 124 = hit the 210 s limit) after $(elapsed) s"
  grep -E "passed|failed|error|FAILED|ERROR" "$OUT/pytest_cuda.txt" | tail -25
} >> "$summary"

# 2. Benchmark: whatever time is left of ~345 s, minus the model rows (about 40 s), for the block/op rows.
left=$(( 345 - $(elapsed) ))
[ "$left" -lt 60 ] && left=60
budget=$(( left - 70 ))
[ "$budget" -lt 20 ] && budget=20
timeout "$left" python3 benchmarks/bench_mambaout.py --device cuda --budget-s "$budget" \
  --out "$OUT/mambaout_cuda.md" > /dev/null 2> "$OUT/bench_stderr.txt"
rc_bench=$?
{
  echo "== bench_mambaout (rc $rc_bench; 124 = hit the ${left} s limit, the .md keeps the rows done) after $(elapsed) s"
  grep -A4 "Suggested constants" "$OUT/mambaout_cuda.md" 2>/dev/null | tail -4
  grep -c "^| " "$OUT/mambaout_cuda.md" 2>/dev/null | sed 's/^/table lines: /'
  grep -iE "error|failed" "$OUT/bench_stderr.txt" | head -5
} >> "$summary"
du -sk ~/.triton/cache 2>/dev/null > "$OUT/triton_cache_kb.txt"
echo "== done after $(elapsed) s" >> "$summary"
cat "$summary"
