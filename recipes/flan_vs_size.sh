#!/usr/bin/env bash
# FLAN's held-out-cluster gain against model size (issue 18's scale ablation): the protocol of
# recipes/flan-heldout.yaml (pre-train on the built-in corpus, instruction-tune on nine clusters, score the
# held-out topic cluster zero-shot before and after) at several ladder sizes, the same tokens and SFT steps
# for each, one tokenizer. Writes OUT/gain.csv (size, N, untuned, tuned, tuned - untuned and its 95%
# paired interval over the 300 held-out documents). Wei et al. (2022, §4.2) see the gain only from 68B
# parameters up; this shows where a CPU's sizes sit. Hours on a 2-core CPU at the defaults; quicker
# settings: SIZES=preset:gpt2-0.1m,preset:gpt2-0.3m STEPS=100 SFT_STEPS=50 DOCS=2000. Killed? Finished steps are kept:
# each is skipped when its output exists.
set -euo pipefail
LMLEARN=${LMLEARN:-lmlearn}
OUT=${OUT:-runs/flan-vs-size}
SIZES=${SIZES:-preset:gpt2-0.3m,preset:gpt2-1m,preset:gpt2-3m,preset:gpt2-10m}
STEPS=${STEPS:-600}; SFT_STEPS=${SFT_STEPS:-900}; DOCS=${DOCS:-20000}
mkdir -p "$OUT/eval"
[ -d "$OUT/tokenizer" ] || $LMLEARN tokenizer train --data "builtin:corpus?docs=$DOCS" --family gpt2 --vocab-size 8000 --out "$OUT/tokenizer"
[ -f "$OUT/flan/train.jsonl" ] || $LMLEARN flan build --tasks sentiment,nli,paraphrase,topic,math,strings,closed_qa,word_translation,ner,squad \
  --hold-out-cluster topic --max-per-task 300 --eval-size 300 --template alpaca --tokenizer "$OUT/tokenizer" --out "$OUT/flan"
echo "size,non_embedding_parameters,untuned,tuned,difference,low,high" > "$OUT/gain.csv.tmp"
for size in ${SIZES//,/ }; do
  run="$OUT/${size#preset:}"
  [ -f "$run/gpt/summary.json" ] || $LMLEARN pretrain --objective clm --model "$size" --tokenizer "$OUT/tokenizer" \
    --data "builtin:corpus?docs=$DOCS" --block-size 256 --batch-size 16 --max-steps "$STEPS" --lr 1e-3 \
    --warmup-steps $((STEPS / 10)) --out "$run/gpt" --overwrite
  [ -f "$run/sft/summary.json" ] || $LMLEARN instruct --model "$run/gpt/model" --data "$OUT/flan/train.jsonl" \
    --template alpaca --packing --block-size 256 --batch-size 8 --max-steps "$SFT_STEPS" --lr 1e-3 \
    --warmup-steps $((SFT_STEPS / 18 + 1)) --out "$run/sft" --overwrite
  for stage in gpt sft; do
    for lang in en ko; do
      [ -f "$run/eval/$stage-topic.$lang.json" ] || $LMLEARN evaluate --model "$run/$stage/model" \
        --task "$OUT/flan/eval/topic.$lang.yaml" --batch-size 16 --out "$run/eval/$stage-topic.$lang.json"
    done
  done
  $LMLEARN paired --a "$run/eval/gpt-topic.en.samples.jsonl,$run/eval/gpt-topic.ko.samples.jsonl" \
    --b "$run/eval/sft-topic.en.samples.jsonl,$run/eval/sft-topic.ko.samples.jsonl" --out "$run/eval/paired.json" > /dev/null
  python3 - "$size" "$run" >> "$OUT/gain.csv.tmp" <<'PY'
import json, sys
size, run = sys.argv[1:]
p = json.load(open(f"{run}/eval/paired.json"))
n = json.load(open(f"{run}/gpt/summary.json")).get("non_embedding_parameters")
print(",".join(str(x) for x in (size, n, p["a"], p["b"], p["difference"], p["low"], p["high"])))
PY
done
mv "$OUT/gain.csv.tmp" "$OUT/gain.csv"
cat "$OUT/gain.csv"
