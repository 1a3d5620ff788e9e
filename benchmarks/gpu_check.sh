#!/usr/bin/env bash
# The checks that need a GPU, in one short run (see docs/scale-out.md). On a lent GPU machine:
#   bash benchmarks/gpu_check.sh "$OUT"      # figures go to $OUT/*.json|txt
# Installs the lock (with the CUDA torch of the machine), then: bf16 throughput and MFU of the engine
# against a minimal loop, 1 vs 2 GPUs with DDP (if there are two), FSDP2 on 2 GPUs, QLoRA on CUDA.
set -uo pipefail
OUT=${1:-runs/gpu-check}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
python3 -m venv .venv-gpu && . .venv-gpu/bin/activate
pip install -q torch==2.13.0 && pip install -q --no-deps -r requirements.lock && pip install -q --no-deps -e .
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
python benchmarks/throughput.py --preset gpt2-small --seq 512 --batch 32 --steps 20 --only minimal,lmlearn \
    --json "$OUT/throughput_bf16.json" > "$OUT/throughput_bf16.txt" 2>&1
lmlearn pretrain --model llama-small --data "builtin:corpus?docs=4000" --block-size 512 --batch-size 32 \
    --max-steps 60 --log-every 10 --eval-every 0 --precision bf16 --out runs/gpu-bf16 --overwrite --no-progress \
    > "$OUT/pretrain_bf16.txt" 2>&1 && cp runs/gpu-bf16/metrics.jsonl "$OUT/pretrain_bf16_metrics.jsonl"
GPUS=$(nvidia-smi -L | wc -l)
if [ "$GPUS" -ge 2 ]; then
  accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 -m lmlearn pretrain \
      --model llama-small --data "builtin:corpus?docs=4000" --block-size 512 --batch-size 16 --max-steps 60 \
      --log-every 10 --eval-every 0 --out runs/gpu-ddp --overwrite --no-progress > "$OUT/ddp.txt" 2>&1
  accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 2 -m lmlearn pretrain \
      --model llama-small --data "builtin:corpus?docs=4000" --block-size 512 --batch-size 16 --max-steps 60 \
      --log-every 10 --eval-every 0 --out runs/gpu-fsdp --overwrite --no-progress > "$OUT/fsdp.txt" 2>&1
fi
python benchmarks/peft_memory.py > "$OUT/qlora_cuda.txt" 2>&1
echo "done: $(ls "$OUT")"
