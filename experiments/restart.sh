#!/usr/bin/env bash
# Restart both plans with one thread per process (the first launch oversubscribed the 16 cores).
pkill -f run_plan.py; pkill -f akmamba.cli; sleep 4
cd /tmp/repo && sed -i 's/"epochs": 100,/"epochs": 75,/; s/"epochs": 40,/"epochs": 25,/; s/^    if dataset == "drive":$/    if False:/' experiments/plan.py && grep -n '"epochs"\|if False' experiments/plan.py
rm -rf /tmp/runs/*
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/repo:/tmp/site NCCL_NVLS_ENABLE=0
R=/tmp/runs; mkdir -p $R/drive $R/bladder
setsid nohup python3 experiments/run_plan.py --dataset drive --data-root /tmp/data/DRIVE/training --out $R/drive --parallel 8 --deadline 880 --eval-reserve 150 --device cuda > $R/drive.log 2>&1 < /dev/null &
setsid nohup python3 experiments/run_plan.py --dataset bladder --data-root /tmp/data/BladderMRI --out $R/bladder --parallel 7 --deadline 880 --eval-reserve 230 --device cuda > $R/bladder.log 2>&1 < /dev/null &
sleep 75; uptime; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
for f in $R/*/*/events.jsonl; do echo "$(basename $(dirname $f)) $(tail -1 $f | cut -c1-110)"; done
