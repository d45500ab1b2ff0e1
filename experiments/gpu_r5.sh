#!/usr/bin/env bash
# Round 5 (issue 21) on the GPU machine: nnU-Net's anchor and our nnU-Net-level recipe at equal GPU time, one run
# at a time (each owns the GPU), then the all-data runs to ship. One verb per device call:
#   recv PART   (carry .xfer/PART; the first call also .gpu .nnunet)  stash a part of bladder.tar; with .gpu and
#               .nnunet present, install their wheels into /tmp/site; copy the code to /tmp/repo (not with KEEPREPO=1
#               while a queue runs from it)
#   start       join and verify bladder.tar, unpack, start the queue below in the background (setsid), return
#   wait S      sleep up to S seconds or until the queue ends; print its log; collect (below) into $OUT, so a
#               machine taken back after this call loses nothing finished
#   cudatests   the CUDA tests of the predictor (tests/infer/test_predict_cuda.py, test_cuda_graph.py), beside
#               nothing else (also after recv with CUDATESTS=1)
#   graphs      benchmarks/bench_forward_cuda.py (eager vs CUDA graphs, fp32 vs bf16) into $OUT
#   promptbench benchmarks/bench_prompt.py --device cuda (click to preview on the GPU) into $OUT
#   collect     logs, configs, evaluation reports and the all-data checkpoints into $OUT
# The queue (QUEUE, default "ours nnunet ship-akmamba ship-unet"), each step with BUDGET seconds of training:
#   nnunet        nnU-Net v2 2d, default plan, fold 0 of our 3 patient-level folds (experiments/nnunet_anchor.py),
#                 nnUNetTrainer_Budget (poly schedule fitted to BUDGET), its own validation, pasted and scored by
#                 `akmamba evaluate` on the fold's 5 cases
#   ours          Akmamba-Net with the round-5 recipe (R5 below), fold 0, time budget BUDGET; scored the same way
#                 with its final averaged weights (last_ema) and its selected checkpoint (best)
#   prompt:K      prompt-train (PROMPT_BUDGET s, weight average) from ours' fold-K final weights (or from an earlier
#                 lease's prompt-akmamba-fK.safetensors carried back in .xfer/back), prompt-eval of its average and
#                 of the region-growing baseline on fold K's validation tumour slices (every 4th)
#   ship-akmamba  the same recipe on all 14 cases (SHIP_BUDGET); ship-unet: U-Net, same recipe
# Each call carries the tracked tree too (64 MiB a call): akmamba/resources/models/*bladder* and unet-drive are moved
# aside for the calls (akmamba-drive stays: the CUDA predictor tests use it).
#
# DATASET=drive RECIPE=ema-long: `ours` trains the shipped DRIVE recipe instead (fitted to BUDGET s), runs named
# drive-el-*. DATASET=drive (docs/RESULTS.md, "Round 5, DRIVE: the calls"): the same verbs for DRIVE's 5 folds by image. The data
# (.xfer/drive: drive.tar + drive.sha256 of DRIVE/training, 15 MB) travels in ONE call with .gpu and .nnunet, so
# `recv drive` and `start` go in one command. The queue is "nnunet:K ours:K" for each K in FOLDS (default
# "0 1 2 3 4"): nnU-Net (Dataset502_DRIVE, RGB, experiments/nnunet_anchor.py --dataset drive) and Akmamba-Net with
# the round-5 recipe on whole 584 x 565 images (R5 below), each BUDGET seconds, scored inside the FOV. A machine
# taken back loses only the step in flight: each `wait` leaves results.tgz (every finished step) and
# resume-<run>.tgz.partNN (a consistent copy of a run still training, experiments/run_snapshot.py) in $OUT;
# carried back as .xfer/back and named in `recv`, they are unpacked before the queue, finished steps are skipped,
# our run continues with `akmamba train --resume`, and an interrupted nnU-Net fold starts again (its budget trainer
# keeps no fitted epoch count to resume from).
set -u
REPO=${REPO:-/tmp/repo}  # REPO, RUNS, XFER: other folders for the CPU tests (tests/unit/test_experiments.py)
export PYTHONUNBUFFERED=1 PYTHONPATH=$REPO:/tmp/site
DATASET=${DATASET:-bladder}
X=${XFER:-/tmp/x}; R=${RUNS:-/tmp/runs}; mkdir -p $X $R
BUDGET=${BUDGET:-180}; SHIP_BUDGET=${SHIP_BUDGET:-180}
MODEL_OPTIONS='{"base_channels": 16, "akconv_levels": [1, 2, 3, 4], "mambaout_levels": [1, 2, 3], "deep_supervision": 2}'
case $DATASET in
bladder)
  D=/tmp/data/BladderMRI; P=""; NN=Dataset501_BladderCrop; NN_ID=501; NFOLDS=3; FOLDS=${FOLDS:-0}; PREDICT=()
  QUEUE=${QUEUE:-ours nnunet ship-akmamba ship-unet}
  R5=(--dataset bladder --data-root $D --model-options "$MODEL_OPTIONS" --batch-size 16 --patch-size 320 320 --seed 0
      --optimizer sgd --lr 0.01 --weight-decay 3e-5 --lr-schedule poly --augmentation strong
      --foreground-fraction 0.5 --oversample-class 2 --oversample-factor 2 --loss dice_ce_batch --val-metric pooled
      --ema-decay 0.995 --samples-per-epoch 1600 --num-workers 14 --device cuda) ;;
drive)
  # whole images (584 x 565: every patch is the whole image, shifted, turned and scaled by the strong augmentation
  # inside a padded context); batch 8; 160 images an epoch (20 steps, a checkpoint to resume from every few
  # seconds); per-image validation Dice (DRIVE's figure) every 5 epochs; no class to oversample (one foreground
  # class); predictions on whole images (--roi-size 1024, as the round-3/4 DRIVE evaluations).
  D=/tmp/data/DRIVE/training; P=drive-; NN=Dataset502_DRIVE; NN_ID=502; NFOLDS=5; FOLDS=${FOLDS:-0 1 2 3 4}
  PREDICT=(--roi-size 1024)
  if [ -z "${QUEUE:-}" ]; then QUEUE=""; for k in $FOLDS; do QUEUE="$QUEUE nnunet:$k ours:$k"; done; fi
  R5=(--dataset drive --data-root $D --model-options "$MODEL_OPTIONS" --batch-size 8 --patch-size 584 565 --seed 0
      --optimizer sgd --lr 0.01 --weight-decay 3e-5 --lr-schedule poly --augmentation strong
      --foreground-fraction 0.5 --loss dice_ce_batch --val-metric per_image
      --ema-decay 0.995 --samples-per-epoch 160 --num-workers 14 --device cuda)
  if [ "${RECIPE:-r5}" = ema-long ]; then  # the shipped DRIVE recipe (round 3-4 `ema-long`: Adam 5e-4, 256 x 256
    # patches half centred on a vessel, basic augmentation, DiceCE, EMA 0.995, cosine) fitted to BUDGET seconds,
    # beside nnU-Net at the same BUDGET; its runs and nnU-Net's are named drive-el-* (the 120 s rows stay apart)
    P=drive-el-
    R5=(--dataset drive --data-root $D --model-options '{"base_channels": 16, "akconv_levels": [1, 2, 3, 4], "mambaout_levels": [1, 2, 3]}'
        --batch-size 8 --patch-size 256 256 --seed 0 --lr 0.0005 --weight-decay 0.0001 --lr-schedule cosine
        --foreground-fraction 0.5 --ema-decay 0.995 --samples-per-epoch 160 --num-workers 14 --device cuda)
  elif [ "${RECIPE:-r5}" != r5 ]; then echo "RECIPE must be r5 or ema-long; got '$RECIPE'" >&2; exit 2; fi ;;
*) echo "DATASET must be bladder or drive; got '$DATASET'" >&2; exit 2 ;;
esac

val_cases() {  # val_cases CHECKPOINT: the validation cases its metadata records, comma-separated
  python3 -c "import sys; from akmamba.nn.checkpoint import read_metadata
print(','.join(str(c) for c in read_metadata(sys.argv[1])['val_cases']))" "$1"
}

evaluate() {  # evaluate RUN CHECKPOINT NAME: predict the run's validation images (its fold), score them
  local run=$1 ck=$2 name=$3
  python3 - "$(val_cases $run/$ck)" "$DATASET" "$D" > $run/val_images.txt <<'PY'
import sys
from pathlib import Path
from akmamba.io.dataset import pair_files
from akmamba.train.engine import resolve_dataset
cases = set(sys.argv[1].split(","))
print("\n".join(str(s.image) for s in pair_files(resolve_dataset(sys.argv[2]), Path(sys.argv[3]))
                if s.case_id in cases))
PY
  rm -rf $run/pred-$name
  python3 -m akmamba.cli predict --model $run/$ck --out $run/pred-$name --device cuda ${PREDICT[@]+"${PREDICT[@]}"} \
    $(cat $run/val_images.txt) > $run/predict-$name.log 2>&1
  python3 -m akmamba.cli evaluate --pred $run/pred-$name --gt $D --dataset $DATASET --out $run/eval-$name.json \
    --overwrite > $run/eval-$name.log 2>&1; tail -4 $run/eval-$name.log
}

done_event() { grep -Eq '"event": ?"done"' "$1/events.jsonl" 2>/dev/null; }  # done_event RUN: training finished

step_nnunet() {  # step_nnunet FOLD: nnU-Net 2d on our fold FOLD at BUDGET s, its validation pasted and scored
  local k=${1:-0} out=$R/${P}nnunet-f$k
  [ -f $out/eval-final.json ] && { echo "$(basename $out): done in an earlier call"; return; }
  source .nnunet/setup.sh
  local raw=$nnUNet_raw/$NN pre=$nnUNet_preprocessed/$NN data=()
  [ $DATASET = drive ] && data=(--data $D)
  if [ ! -f $pre/nnUNetPlans.json ]; then  # once per machine
    python3 experiments/nnunet_anchor.py raw --dataset $DATASET --data $D --out $raw
    python3 -m nnunetv2.experiment_planning.plan_and_preprocess_entrypoints -d $NN_ID -c 2d -np 16 \
      --verify_dataset_integrity \
      > $R/${P}nn-plan.log 2>&1
  fi
  python3 experiments/nnunet_anchor.py splits --dataset $DATASET ${data[@]+"${data[@]}"} --raw $raw --pre $pre \
    --folds $NFOLDS --seed 0
  local fold=$nnUNet_results/$NN/nnUNetTrainer_Budget__nnUNetPlans__2d/fold_$k t0=$SECONDS
  rm -rf $fold  # a fold interrupted on this machine starts again
  BUDGET_S=$BUDGET SKIP_FINAL_VAL=0 python3 -m nnunetv2.run.run_training $NN_ID 2d $k -tr nnUNetTrainer_Budget \
    > $R/${P}nn-train-f$k.log 2>&1
  echo "nnunet fold $k: training + validation $((SECONDS - t0)) s"
  mkdir -p $out && cp $fold/training_log_*.txt $fold/progress.png $fold/debug.json $out/ 2>/dev/null
  cp $pre/nnUNetPlans.json $pre/splits_final.json $out/ 2>/dev/null
  python3 experiments/nnunet_anchor.py paste --dataset $DATASET --pred $fold/validation --data $D --out $out/pred
  python3 -m akmamba.cli evaluate --pred $out/pred --gt $D --dataset $DATASET \
    --out $out/eval-final.json --overwrite > $out/eval-final.log 2>&1; tail -4 $out/eval-final.log
}

step_ours() {  # step_ours FOLD: Akmamba-Net, round-5 recipe, BUDGET s; resumed if an earlier call left it unfinished
  local k=${1:-0} run=$R/${P}r5-akmamba-f$k
  if [ -f $run/eval-final.json ] && [ -f $run/eval-best.json ]; then
    echo "$(basename $run): done in an earlier call"; return
  fi
  if [ -f $run/config.json ] && ! done_event $run && [ ! -f $run/last.safetensors ]; then
    mv $run $run.lost-$(date +%s)  # no completed epoch came back: start afresh, keep what there was aside
  fi
  if [ -f $run/config.json ] && ! done_event $run; then
    python3 -m akmamba.cli train --resume $run --device cuda --num-workers 14 >> $run.log 2>&1
  elif [ ! -f $run/config.json ]; then
    python3 -m akmamba.cli train "${R5[@]}" --model akmamba --folds $NFOLDS --fold $k --val-every 5 \
      --time-budget $BUDGET --out $run > $run.log 2>&1
  fi
  tail -c 600 $run.log
  evaluate $run last_ema.safetensors final
  evaluate $run best.safetensors best
}

step_prompt() {  # step_prompt FOLD: the prompt-aware Akmamba-Net from ours' fold-FOLD weights (no leakage), then
  # prompt-eval of it and of region growing from the plain model on that fold's validation tumour slices (every 4th)
  local k=${1:-0} init out start cases
  init=$R/r5-akmamba-f$k/last_ema.safetensors out=$R/prompt-akmamba-f$k
  [ -f $init ] || { echo "prompt: no $init (run ours:$k first)"; return; }
  start=$init  # an earlier lease's prompt-aware average, carried back (.xfer/back), is trained on from where it was
  if [ -f $X/prompt-akmamba-f$k.safetensors ] && [ ! -f $out/last.safetensors ]; then
    start=$X/prompt-akmamba-f$k.safetensors; echo "prompt: continuing from the carried prompt-akmamba-f$k"
  fi
  # a folder restored from an earlier lease's results.tgz holds that run's reports and config but no weights: a
  # new run folder (resuming it was refused in the sixth lease: other settings)
  [ -d $out ] && [ ! -f $out/last.safetensors ] && mv $out $out.before-$(date +%s)
  python3 -m akmamba.cli prompt-train --init $start --dataset bladder --data-root $D --folds 3 --fold $k \
    --device cuda --augmentation strong --batch-size 16 --patch-size 320 --num-workers 14 --lr 2e-4 \
    --max-steps 100000 --save-every 100 --time-limit-s ${PROMPT_BUDGET:-180} --ema-decay 0.995 --p-seed 0.5 --resume \
    --out $out > $out.log 2>&1
  tail -c 400 $out.log
  cases=$(val_cases $init)
  local sel=(--images $D/Images --gt $D/Labels --dataset bladder --cases $cases --with-label tumor --every 4
             --max-clicks 20 --target 0.85 --device cuda)
  python3 -m akmamba.cli prompt-eval --model $out/last_ema.safetensors "${sel[@]}" --out $out/eval-prompt.json \
    > $out/eval-prompt.log 2>&1; tail -3 $out/eval-prompt.log
  python3 -m akmamba.cli prompt-eval --model $init --baseline region-grow "${sel[@]}" \
    --out $out/eval-regiongrow.json > $out/eval-regiongrow.log 2>&1; tail -3 $out/eval-regiongrow.log
}

step_ship() {  # step_ship MODEL
  python3 -m akmamba.cli train "${R5[@]}" --model $1 --folds 0 --time-budget $SHIP_BUDGET \
    --out $R/${P}r5-$1-all > $R/${P}r5-$1-all.log 2>&1
  tail -c 400 $R/${P}r5-$1-all.log
}

restore() {  # unpack what an earlier machine's `wait` calls brought back (carried as .xfer/back, then `recv back`)
  [ -f $X/results.tgz ] && tar xzf $X/results.tgz -C $R && echo "restored results.tgz: $(ls $R | tr '\n' ' ')"
  for first in $X/resume-*.tgz.part00; do
    [ -f "$first" ] || continue
    local base=${first%.part00}
    cat $base.part* | tar xzf - -C $R && echo "restored $(basename $base) for --resume"
  done
  for w in $X/*r5-*.safetensors; do  # a finished run's averaged weights (collect's RUN.safetensors): the prompt
    [ -f "$w" ] || continue          # step starts from r5-akmamba-f0's
    local name=$(basename $w .safetensors)
    [ -f $R/$name/last_ema.safetensors ] && continue  # (carried without results.tgz: the folder is made here)
    mkdir -p $R/$name && cp $w $R/$name/last_ema.safetensors && echo "restored $name/last_ema.safetensors"
  done
}

case "$1" in
recv)
  for part in "${@:2}"; do cp .xfer/$part/* $X/; done
  if [ -d .gpu ]; then python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl; fi
  if [ -d .nnunet ]; then mkdir -p /tmp/nnunet && cp -r .nnunet/. /tmp/nnunet/; fi
  # KEEPREPO=1: a call that only brings data while a queue runs from $REPO leaves the code it runs alone
  [ -n "${KEEPREPO:-}" ] && [ -d $REPO ] || { rm -rf $REPO && mkdir -p $REPO && cp -r akmamba app experiments tests benchmarks pyproject.toml $REPO/; }
  ls -la $X; nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv; nproc
  if [ -n "${CUDATESTS:-}" ]; then bash experiments/gpu_r5.sh cudatests; fi ;;
start)
  if [ $DATASET = drive ]; then
    echo "$(cat $X/drive.sha256)  $X/drive.tar" | sha256sum -c || exit 3
    mkdir -p /tmp/data/DRIVE && tar xf $X/drive.tar -C /tmp/data/DRIVE && ls $D
  else
    cat $(ls $X/bl.part* | sort) > $X/bladder.tar
    echo "$(cat $X/bladder.sha256)  $X/bladder.tar" | sha256sum -c || exit 3
    mkdir -p /tmp/data && tar xf $X/bladder.tar -C /tmp/data && (cd $D && sha256sum -c --quiet MANIFEST.sha256 && echo manifest ok)
  fi
  restore
  cd $REPO || exit 4
  mkdir -p .nnunet && cp -r /tmp/nnunet/. .nnunet/
  cat > /tmp/queue.sh <<EOF
cd $REPO; export DATASET=$DATASET RECIPE=${RECIPE:-r5} FOLDS="$FOLDS" QUEUE="$QUEUE" BUDGET=$BUDGET SHIP_BUDGET=$SHIP_BUDGET
export PROMPT_BUDGET=${PROMPT_BUDGET:-180}; source experiments/gpu_r5.sh queue-env
for s in \$QUEUE; do
  echo "== \$s \$(date +%T)"
  k=\${s#*:}; [ "\$k" = "\$s" ] && k=0
  case \${s%%:*} in nnunet) step_nnunet \$k;; ours) step_ours \$k;; prompt) step_prompt \$k;;
    ship-akmamba) step_ship akmamba;; ship-unet) step_ship unet;; *) echo "unknown step \$s";; esac
done
echo "== queue done \$(date +%T)"
EOF
  setsid nohup bash /tmp/queue.sh > $R/queue.log 2>&1 < /dev/null &
  sleep 20; cat $R/queue.log ;;
queue-env) ;;  # sourced by the queue for the step functions
restore) restore ;;  # (start does this; a verb of its own for the CPU tests)
wait)
  end=$((SECONDS + ${2:-540}))
  while [ $SECONDS -lt $end ]; do
    grep -q "queue done" $R/queue.log && break; sleep 10
  done
  cat $R/queue.log; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  for f in $R/*/events.jsonl; do [ -f "$f" ] || continue; echo "$(basename "$(dirname "$f")") $(tail -c 400 $f | tail -1 | cut -c1-240)"; done
  tail -3 $(ls -t $R/*nn-train*.log 2>/dev/null | head -1) 2>/dev/null
  (bash $REPO/experiments/gpu_r5.sh collect > /dev/null 2>&1)  # every call leaves what is done in $OUT
  ;;
cudatests)
  cd /tmp/repo && python3 -m pytest -q -p no:cacheprovider -rs -m cuda tests/infer/test_predict_cuda.py \
    tests/infer/test_cuda_graph.py tests/prompt/test_prompt_train_cuda.py tests/prompt/test_window_cuda.py 2>&1 | tail -15 ;;
promptbench)  # issue 24's GPU latency per prompt (the shipped models present in this call's tree), and the
  # simulated prompts' CPU work on this machine's cores (prompt-train's sim_threads)
  cd /tmp/repo && python3 benchmarks/bench_prompt.py --device cuda --repeats 20 --models ${MODELS:-akmamba-drive} \
    --out $OUT/prompt_cuda.md
  python3 benchmarks/bench_prompt_sim.py --workers 0 4 8 16 --out $OUT/prompt_sim_gpu_machine.md ;;
graphs)  # the forward benchmark, eager vs CUDA graphs (MODELS: the shipped models present in this call's tree)
  cd /tmp/repo && python3 benchmarks/bench_forward_cuda.py --repeats 50 --models ${MODELS:-akmamba-drive} \
    --out $OUT/forward_cuda_graphs.md ;;
collect)  # at most 8 files of 16 MiB come back: results.tgz (what this machine made: files older than the data's
  # checksum, copied at the first recv, came from an earlier machine's results.tgz), the weights below unless carried
  # in already, resume parts of 15 MiB
  rm -f $OUT/results.tgz $OUT/*.safetensors $OUT/resume-*
  marker=$(ls -tr $X/*.sha256 2>/dev/null | head -1)  # the first data carried (a later dataset's is newer)
  cd $R && find . -type f ${marker:+-newer $marker} ! -path '*/pred*' ! -name '*.safetensors' \
    ! -name 'last_optim*' ! -path '*.lost-*' ! -path './.*' | sort > /tmp/collect.list
  tar czf $OUT/results.tgz -T /tmp/collect.list && ls -la $OUT
  for n in prompt-akmamba-f0 prompt-akmamba-f1 prompt-akmamba-f2 ${P}r5-akmamba-all ${P}r5-unet-all r5-akmamba-f0 \
           r5-akmamba-f1 r5-akmamba-f2; do
    [ -f $n/last_ema.safetensors ] || continue
    cmp -s $n/last_ema.safetensors $X/$n.safetensors || cp $n/last_ema.safetensors $OUT/$n.safetensors
  done
  for run in ${P}r5-*/; do  # a run still training: a consistent copy to resume from on the next machine
    run=${run%/}
    [ -f $run/config.json ] && [ -f $run/last_optim.json ] && ! done_event $run || continue
    rm -rf $R.snap && python3 $REPO/experiments/run_snapshot.py $run $R.snap \
      && (cd $R.snap && tar czf - $run | split -b 15m -d - $OUT/resume-$run.tgz.part)
  done; ls -la $OUT ;;
esac
