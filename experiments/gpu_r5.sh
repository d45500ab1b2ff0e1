#!/usr/bin/env bash
# Round 5 (issue 21) on the GPU machine: nnU-Net's anchor and our nnU-Net-level recipe at equal GPU time, one run
# at a time (each owns the GPU), then the all-data runs to ship. One verb per device call:
#   recv PART   (carry .xfer/PART; the first call also .gpu .nnunet)  stash a part of bladder.tar; with .gpu and
#               .nnunet present, install their wheels into /tmp/site; copy the code to /tmp/repo
#   start       join and verify bladder.tar, unpack, start the queue below in the background (setsid), return
#   wait S      sleep up to S seconds or until the queue ends; print its log; collect (below) into $OUT, so a
#               machine taken back after this call loses nothing finished
#   cudatests   the CUDA tests of the predictor (tests/infer/test_predict_cuda.py, test_cuda_graph.py), beside
#               nothing else (also after recv with CUDATESTS=1)
#   graphs      benchmarks/bench_forward_cuda.py (eager vs CUDA graphs, fp32 vs bf16) into $OUT
#   collect     logs, configs, evaluation reports and the all-data checkpoints into $OUT
# The queue (QUEUE, default "ours nnunet ship-akmamba ship-unet"), each step with BUDGET seconds of training:
#   nnunet        nnU-Net v2 2d, default plan, fold 0 of our 3 patient-level folds (experiments/nnunet_anchor.py),
#                 nnUNetTrainer_Budget (poly schedule fitted to BUDGET), its own validation, pasted and scored by
#                 `akmamba evaluate` on the fold's 5 cases
#   ours          Akmamba-Net with the round-5 recipe (R5 below), fold 0, time budget BUDGET; scored the same way
#                 with its final averaged weights (last_ema) and its selected checkpoint (best)
#   prompt        prompt-train (PROMPT_BUDGET s) from ours' fold-0 final weights, prompt-eval of it and of the
#                 region-growing baseline on fold 0's tumour slices (every 4th)
#   ship-akmamba  the same recipe on all 14 cases (SHIP_BUDGET); ship-unet: U-Net, same recipe
# Each call carries the tracked tree too (64 MiB a call): akmamba/resources/models/*bladder* and unet-drive are moved
# aside for the calls (akmamba-drive stays: the CUDA predictor tests use it).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/repo:/tmp/site
X=/tmp/x; R=/tmp/runs; D=/tmp/data/BladderMRI; mkdir -p $X $R
BUDGET=${BUDGET:-180}; SHIP_BUDGET=${SHIP_BUDGET:-180}
R5=(--dataset bladder --data-root $D --model-options '{"base_channels": 16, "akconv_levels": [1, 2, 3, 4],
 "mambaout_levels": [1, 2, 3], "deep_supervision": 2}' --batch-size 16 --patch-size 320 320 --seed 0
    --optimizer sgd --lr 0.01 --weight-decay 3e-5 --lr-schedule poly --augmentation strong
    --foreground-fraction 0.5 --oversample-class 2 --oversample-factor 2 --loss dice_ce_batch --val-metric pooled
    --ema-decay 0.995 --samples-per-epoch 1600 --num-workers 14 --device cuda)

evaluate() {  # evaluate RUN CHECKPOINT NAME: predict the fold-0 validation slices, score them
  local run=$1 ck=$2 name=$3
  python3 - "$run/$ck" > $run/val_images.txt <<'PY'
import sys
from pathlib import Path
from akmamba.io.dataset import pair_files
from akmamba.nn.checkpoint import read_metadata
from akmamba.train.engine import resolve_dataset
cases = set(read_metadata(sys.argv[1])["val_cases"])
print("\n".join(str(s.image) for s in pair_files(resolve_dataset("bladder"), Path("/tmp/data/BladderMRI"))
                if s.case_id in cases))
PY
  python3 -m akmamba.cli predict --model $run/$ck --out $run/pred-$name --device cuda $(cat $run/val_images.txt) \
    > $run/predict-$name.log 2>&1
  python3 -m akmamba.cli evaluate --pred $run/pred-$name --gt $D --dataset bladder --out $run/eval-$name.json \
    > $run/eval-$name.log 2>&1; tail -4 $run/eval-$name.log
}

step_nnunet() {
  source .nnunet/setup.sh
  python3 experiments/nnunet_anchor.py raw --data $D --out $nnUNet_raw/Dataset501_BladderCrop
  python3 -m nnunetv2.experiment_planning.plan_and_preprocess_entrypoints -d 501 -c 2d -np 16 > $R/nn-plan.log 2>&1
  python3 experiments/nnunet_anchor.py splits --raw $nnUNet_raw/Dataset501_BladderCrop \
    --pre $nnUNet_preprocessed/Dataset501_BladderCrop --folds 3 --seed 0
  local t0=$SECONDS
  BUDGET_S=$BUDGET SKIP_FINAL_VAL=0 python3 -m nnunetv2.run.run_training 501 2d 0 -tr nnUNetTrainer_Budget \
    > $R/nn-train.log 2>&1
  echo "nnunet fold 0: training + validation $((SECONDS - t0)) s"
  local fold=$nnUNet_results/Dataset501_BladderCrop/nnUNetTrainer_Budget__nnUNetPlans__2d/fold_0
  mkdir -p $R/nnunet-f0 && cp $fold/training_log_*.txt $fold/progress.png $R/nnunet-f0/ 2>/dev/null
  python3 experiments/nnunet_anchor.py paste --pred $fold/validation --data $D --out $R/nnunet-f0/pred
  python3 -m akmamba.cli evaluate --pred $R/nnunet-f0/pred --gt $D --dataset bladder \
    --out $R/nnunet-f0/eval-final.json > $R/nnunet-f0/eval-final.log 2>&1; tail -4 $R/nnunet-f0/eval-final.log
}

step_ours() {
  python3 -m akmamba.cli train "${R5[@]}" --model akmamba --folds 3 --fold 0 --val-every 5 --time-budget $BUDGET \
    --out $R/r5-akmamba-f0 > $R/r5-akmamba-f0.log 2>&1
  tail -c 600 $R/r5-akmamba-f0.log
  evaluate $R/r5-akmamba-f0 last_ema.safetensors final
  evaluate $R/r5-akmamba-f0 best.safetensors best
}

step_prompt() {  # the prompt-aware Akmamba-Net from ours' fold-0 weights (no leakage), then prompt-eval on fold 0
  local init=$R/r5-akmamba-f0/last_ema.safetensors out=$R/prompt-akmamba-f0
  [ -f $init ] || { echo "prompt: no $init (run ours first)"; return; }
  python3 -m akmamba.cli prompt-train --init $init --dataset bladder --data-root $D --folds 3 --fold 0 \
    --device cuda --augmentation strong --batch-size 16 --patch-size 320 --num-workers 14 --lr 2e-4 \
    --max-steps 100000 --save-every 100 --time-limit-s ${PROMPT_BUDGET:-180} --resume --out $out > $out.log 2>&1
  tail -c 400 $out.log
  local sel=(--images $D/Images --gt $D/Labels --dataset bladder --cases 19,20,21,25,5 --with-label tumor --every 4
             --max-clicks 20 --target 0.85 --device cuda)
  python3 -m akmamba.cli prompt-eval --model $out/last.safetensors "${sel[@]}" --out $out/eval-prompt.json \
    > $out/eval-prompt.log 2>&1; tail -3 $out/eval-prompt.log
  python3 -m akmamba.cli prompt-eval --model $init --baseline region-grow "${sel[@]}" \
    --out $out/eval-regiongrow.json > $out/eval-regiongrow.log 2>&1; tail -3 $out/eval-regiongrow.log
}

step_ship() {  # step_ship MODEL
  python3 -m akmamba.cli train "${R5[@]}" --model $1 --folds 0 --time-budget $SHIP_BUDGET \
    --out $R/r5-$1-all > $R/r5-$1-all.log 2>&1
  tail -c 400 $R/r5-$1-all.log
}

case "$1" in
recv)
  cp .xfer/$2/* $X/
  if [ -d .gpu ]; then python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl; fi
  if [ -d .nnunet ]; then mkdir -p /tmp/nnunet && cp -r .nnunet/. /tmp/nnunet/; fi
  rm -rf /tmp/repo && mkdir -p /tmp/repo && cp -r akmamba app experiments tests benchmarks pyproject.toml /tmp/repo/
  ls -la $X; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv; nproc
  if [ -n "${CUDATESTS:-}" ]; then bash experiments/gpu_r5.sh cudatests; fi ;;
start)
  cat $(ls $X/bl.part* | sort) > $X/bladder.tar
  echo "$(cat $X/bladder.sha256)  $X/bladder.tar" | sha256sum -c || exit 3
  mkdir -p /tmp/data && tar xf $X/bladder.tar -C /tmp/data && (cd $D && sha256sum -c --quiet MANIFEST.sha256 && echo manifest ok)
  cd /tmp/repo || exit 4
  mkdir -p .nnunet && cp -r /tmp/nnunet/. .nnunet/
  cat > /tmp/queue.sh <<EOF
cd /tmp/repo; source experiments/gpu_r5.sh queue-env
for s in ${QUEUE:-ours nnunet ship-akmamba ship-unet}; do
  echo "== \$s \$(date +%T)"
  case \$s in nnunet) step_nnunet;; ours) step_ours;; prompt) step_prompt;; ship-akmamba) step_ship akmamba;; ship-unet) step_ship unet;; esac
done
echo "== queue done \$(date +%T)"
EOF
  setsid nohup bash /tmp/queue.sh > $R/queue.log 2>&1 < /dev/null &
  sleep 20; cat $R/queue.log ;;
queue-env) ;;  # sourced by the queue for the step functions
wait)
  end=$((SECONDS + ${2:-540}))
  while [ $SECONDS -lt $end ]; do
    grep -q "queue done" $R/queue.log && break; sleep 10
  done
  cat $R/queue.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  for f in $R/*/events.jsonl; do echo "$(basename $(dirname $f)) $(tail -c 400 $f | tail -1 | cut -c1-240)"; done
  tail -3 $R/nn-train.log 2>/dev/null
  (bash /tmp/repo/experiments/gpu_r5.sh collect > /dev/null 2>&1)  # every call leaves what is done in $OUT
  ;;
cudatests)
  cd /tmp/repo && python3 -m pytest -q -p no:cacheprovider -rs -m cuda tests/infer/test_predict_cuda.py \
    tests/infer/test_cuda_graph.py tests/prompt/test_prompt_train_cuda.py 2>&1 | tail -15 ;;
graphs)  # the forward benchmark, eager vs CUDA graphs (MODELS: the shipped models present in this call's tree)
  cd /tmp/repo && python3 benchmarks/bench_forward_cuda.py --repeats 50 --models ${MODELS:-akmamba-drive} \
    --out $OUT/forward_cuda_graphs.md ;;
collect)
  cd $R && tar czf $OUT/results.tgz --exclude='*/pred*' --exclude='*.safetensors' --exclude='last_optim*' . && ls -la $OUT
  [ -f prompt-akmamba-f0/last.safetensors ] && cp prompt-akmamba-f0/last.safetensors $OUT/prompt-akmamba-f0.safetensors
  for n in r5-akmamba-all r5-unet-all r5-akmamba-f0; do
    [ -f $n/last_ema.safetensors ] && cp $n/last_ema.safetensors $OUT/$n.safetensors
  done; ls -la $OUT ;;
esac
