#!/usr/bin/env bash
# The GPU-machine side of the Table 1-3 experiments (docs/RESULTS.md), one verb per device call:
#   setup    (carry .gpu .xfer/a)  install the small wheels (monai, nibabel) into /tmp/site, stash what .xfer/a
#                                  holds (bladder part 1, and drive.tar when it travels), copy the code to
#                                  /tmp/repo. MAMBA=1 also builds mamba-ssm, in the background: the build did not
#                                  finish in 400 s on 2026-12-06, so by default the scan runs on akmamba's fused
#                                  Triton kernel (what `auto` picks on CUDA without mamba_ssm)
#   sitk     (carry .xfer/sitk)    install the SimpleITK wheel (53 MB, for --normalisation clahe) into /tmp/site
#   drive    (carry .xfer/b or d)  stash what it holds (drive.tar), unpack DRIVE, start the DRIVE plan in the
#                                  background
#   bladder  (carry .xfer/b or c)  join the stashed and carried bl.part* in name order, verify against the carried
#                                  bladder.sha256, unpack, start the bladder plan in the background
# Each call carries the tracked tree too (64 MiB a call in all): with akmamba/resources/models moved aside for the calls
# (about 4 MB left), bladder part 1 (55 MB) travels beside .gpu without the mamba wheel, part 2 (45 MB) alone.
#   wait S                         sleep up to S seconds or until both plans end; print progress
#   collect                        results (logs, configs, eval reports) and chosen checkpoints into $OUT
# The plans run from a copy of the repository in /tmp/repo and keep running between calls (setsid) while the
# machine stays warm.
# Environment: PAR (runs side by side), ONLY (run names), PLAN (tables | round3 | round4, see experiments/round3.md
# and round4.md), MODELS (rounds 3-4, default akmamba), RECIPES (rounds 3-4: comma-separated recipe ids),
# ALL (round 4: recipes also trained on all the data), THREADS (CPU threads per run, default 1).
set -u
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=/tmp/repo:/tmp/site OMP_NUM_THREADS="${THREADS:-1}" MKL_NUM_THREADS="${THREADS:-1}"  # one thread per run: 16 cores, ~15 runs
export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="${THREADS:-1}"  # SimpleITK (--normalisation clahe) ignores OMP_NUM_THREADS
X=/tmp/x; R=/tmp/runs; mkdir -p $X $R
case "$1" in
setup)
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl
  if [ -n "${MAMBA:-}" ]; then (setsid nohup bash -c "source .gpu/device-setup.sh" > $X/mamba-build.log 2>&1 < /dev/null &); fi
  cp .xfer/a/* $X/ && rm -rf /tmp/repo && mkdir -p /tmp/repo && cp -r akmamba experiments pyproject.toml /tmp/repo/
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv; nproc ;;
sitk)
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .xfer/sitk/*.whl
  python3 -c "import SimpleITK as s; print('SimpleITK', s.Version_VersionString())" ;;
drive)
  for d in .xfer/b .xfer/d; do [ -d $d ] && cp $d/* $X/; done; mkdir -p /tmp/data && tar xf $X/drive.tar -C /tmp/data && ls /tmp/data/DRIVE/training
  cd /tmp/repo || exit 4  # not `cd && setsid ... &`: that backgrounds a subshell holding the call's stdout, and
  # a call piped into `| tail` then waits for the plan to end
  setsid nohup python3 experiments/run_plan.py --dataset drive --data-root /tmp/data/DRIVE/training \
    --out $R/drive --parallel "${PAR:-8}" --deadline "${2:-1260}" --eval-reserve 150 ${ONLY:+--only $ONLY} ${PLAN:+--plan $PLAN} ${MODELS:+--models $MODELS} ${RECIPES:+--recipes $RECIPES} ${ALL:+--all-data $ALL} --device cuda > $R/drive.log 2>&1 < /dev/null &
  sleep 5; cat $R/drive.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv ;;
bladder)
  for d in .xfer/b .xfer/c; do [ -d $d ] && cp $d/* $X/; done
  cat $(ls $X/bl.part* | sort) > $X/bladder.tar
  echo "$(cat $X/bladder.sha256)  $X/bladder.tar" | sha256sum -c || exit 3
  mkdir -p /tmp/data && tar xf $X/bladder.tar -C /tmp/data && (cd /tmp/data/BladderMRI && sha256sum -c --quiet MANIFEST.sha256 && echo manifest ok)
  cd /tmp/repo || exit 4  # not `cd && setsid ... &`: that backgrounds a subshell holding the call's stdout, and
  # a call piped into `| tail` then waits for the plan to end
  setsid nohup python3 experiments/run_plan.py --dataset bladder --data-root /tmp/data/BladderMRI \
    --out $R/bladder --parallel "${PAR:-7}" --deadline "${2:-1140}" --eval-reserve 240 ${ONLY:+--only $ONLY} ${PLAN:+--plan $PLAN} ${MODELS:+--models $MODELS} ${RECIPES:+--recipes $RECIPES} ${ALL:+--all-data $ALL} --device cuda > $R/bladder.log 2>&1 < /dev/null &
  sleep 5; cat $R/bladder.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv ;;
wait)
  end=$((SECONDS + ${2:-540}))
  while [ $SECONDS -lt $end ]; do
    # anchored: an unanchored pattern also matches the device call's own shell when its command names run_plan.py
    if ! pgrep -f '^[^ ]*python3 experiments/run_plan\.py' > /dev/null; then echo "plans finished"; break; fi; sleep 10
  done
  tail -n 40 $R/drive.log $R/bladder.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  for f in $R/*/*/events.jsonl; do echo "$(basename $(dirname $f)) $(tail -c 300 $f | tail -1 | cut -c1-160)"; done ;;
collect)
  cd $R && tar czf /tmp/results.tgz --exclude='*/pred' --exclude='*.safetensors' --exclude='last_optim*' .
  split -b 12000000 /tmp/results.tgz $OUT/results.tgz.part
  for n in ${CKPTS:-drive/drive-akmamba-all drive/drive-unet-all bladder/bladder-akmamba-all bladder/bladder-unet-all}; do
    [ -f $n/best.safetensors ] && cp $n/best.safetensors $OUT/$(basename $n).safetensors
  done; ls -la $OUT ;;
esac
