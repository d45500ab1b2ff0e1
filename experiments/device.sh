#!/usr/bin/env bash
# The GPU-machine side of the Table 1-3 experiments (docs/RESULTS.md), one verb per device call:
#   setup    (carry .gpu .xfer/a .snap)  install mamba-ssm + wheels into /tmp/site, stash bladder part 1
#   drive    (carry .xfer/b)       stash bladder part 2, unpack DRIVE, start the DRIVE plan in the background
#   bladder  (carry .xfer/c)       join + verify the bladder archive, start the bladder plan in the background
#   wait S                         sleep up to S seconds or until both plans end; print progress
#   collect                        results (logs, configs, eval reports) and chosen checkpoints into $OUT
# The plans run from a copy of the repository in /tmp/repo and keep running between calls (setsid) while the
# machine stays warm.
# Environment: PAR (runs side by side), ONLY (run names), PLAN (tables | round3 | round4, see experiments/round3.md
# and round4.md),
# RECIPES (rounds 3-4: comma-separated recipe ids), THREADS (CPU threads per run, default 1).
set -u
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=/tmp/repo:/tmp/site OMP_NUM_THREADS="${THREADS:-1}" MKL_NUM_THREADS="${THREADS:-1}"  # one thread per run: 16 cores, ~15 runs
export ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="${THREADS:-1}"  # SimpleITK (--normalisation clahe) ignores OMP_NUM_THREADS
X=/tmp/x; R=/tmp/runs; mkdir -p $X $R
case "$1" in
setup)
  source .gpu/device-setup.sh
  cp .xfer/a/* $X/ && rm -rf /tmp/repo && cp -r .snap /tmp/repo
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv; nproc ;;
drive)
  cp .xfer/b/bl.part2 $X/ && mkdir -p /tmp/data && tar xf .xfer/b/drive.tar -C /tmp/data && ls /tmp/data/DRIVE/training
  cd /tmp/repo && setsid nohup python3 experiments/run_plan.py --dataset drive --data-root /tmp/data/DRIVE/training \
    --out $R/drive --parallel "${PAR:-8}" --deadline "${2:-1260}" --eval-reserve 150 ${ONLY:+--only $ONLY} ${PLAN:+--plan $PLAN} ${RECIPES:+--recipes $RECIPES} --device cuda > $R/drive.log 2>&1 < /dev/null &
  sleep 5; cat $R/drive.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv ;;
bladder)
  cat $X/bl.part1 $X/bl.part2 .xfer/c/bl.part3 > $X/bladder.tar
  echo "$(cat .xfer/c/bladder.sha256)  $X/bladder.tar" | sha256sum -c || exit 3
  tar xf $X/bladder.tar -C /tmp/data && (cd /tmp/data/BladderMRI && sha256sum -c --quiet MANIFEST.sha256 && echo manifest ok)
  cd /tmp/repo && setsid nohup python3 experiments/run_plan.py --dataset bladder --data-root /tmp/data/BladderMRI \
    --out $R/bladder --parallel "${PAR:-7}" --deadline "${2:-1140}" --eval-reserve 240 ${ONLY:+--only $ONLY} ${PLAN:+--plan $PLAN} ${RECIPES:+--recipes $RECIPES} --device cuda > $R/bladder.log 2>&1 < /dev/null &
  sleep 5; cat $R/bladder.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv ;;
wait)
  end=$((SECONDS + ${2:-540}))
  while [ $SECONDS -lt $end ]; do
    if ! pgrep -f run_plan.py > /dev/null; then echo "plans finished"; break; fi; sleep 10
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
