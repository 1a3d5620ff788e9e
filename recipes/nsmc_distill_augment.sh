#!/bin/bash
# Task distillation where its effect should show at small scale (docs/results.md, "Distillation with TinyBERT's
# augmentation"): few labels, a teacher that knows more than they teach (pre-trained as a masked LM on 100k
# unlabelled NSMC reviews, then fine-tuned on 500 labelled ones), and a 1-layer student made of the teacher's
# layer 0 trained three ways on the same 500 labels: the labels alone, the teacher's soft targets (KD), and
# KD on the 500 plus TinyBERT's augmented copies (word replacement from the masked LM's top 15, p 0.4).
# Seeds 0, 1, 2; every arm 300 steps x 32; scored on NSMC's 2,000 test reviews.
# Then the paper's N = 20 (copies deduplicated) at 300 steps, and KD with and without it at 900 steps.
# Run from the project root:  bash recipes/nsmc_distill_augment.sh   (about 15 min on 2 CPU cores)
set -euo pipefail
R=${OUT:-runs/nsmc-kd-aug}
L=${LMLEARN:-.venv/bin/lmlearn}
PY=${PYTHON:-.venv/bin/python}
NSMC=../shared/data/nsmc
N=${AUGMENT:-8}
DATA="--data $R/train-500.txt --eval-data $NSMC/small_test.txt --text-column document --label-column label"
COMMON="--block-size 128 --batch-size 32 --max-steps 300 --warmup-steps 30 --weight-decay 0.01 --lr 1e-3 --eval-every 0 --no-progress"
mkdir -p $R
# one draw of 500 labelled reviews for every arm and seed (the teacher's rows are the students' rows)
[ -f $R/train-500.txt ] || $PY -c "import random, sys; lines = open(sys.argv[1], encoding='utf-8').read().splitlines(); \
rows = random.Random(0).sample(lines[1:], 500); open(sys.argv[2], 'w', encoding='utf-8').write('\n'.join([lines[0]] + rows) + '\n')" \
    $NSMC/small_train.txt $R/train-500.txt
[ -f $R/reviews-100k.txt ] || head -n 100000 $NSMC/corpus_reviews.txt > $R/reviews-100k.txt
[ -d $R/tok ] || $L tokenizer train --kind wordpiece --family bert --data $NSMC/small_train.txt --text-column document \
    --vocab-size 4000 --limit-alphabet 1000 --out $R/tok
# the masked LM: the teacher's start and the augmentation's word proposer
[ -f $R/mlm/summary.json ] || $L pretrain --objective mlm --model preset:bert-tiny --tokenizer $R/tok \
    --data $R/reviews-100k.txt --block-size 128 --batch-size 32 --max-steps 2000 --lr 1e-3 --warmup-steps 100 \
    --eval-every 0 --no-progress --out $R/mlm
[ -f $R/teacher/summary.json ] || $L finetune --task classify --model $R/mlm/model $DATA $COMMON --seed 0 \
    --out $R/teacher
T=$R/teacher/model
[ -d $R/student-init ] || $PY - "$T" "$R/student-init" <<'PY'
import sys
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from lmlearn.distill.student import student_from_teacher
teacher, out = sys.argv[1], sys.argv[2]
student_from_teacher(AutoModelForSequenceClassification.from_pretrained(teacher), [0]).save_pretrained(out)
AutoTokenizer.from_pretrained(teacher).save_pretrained(out)
PY
for seed in 0 1 2; do
  [ -f $R/labels-$seed/summary.json ] || $L finetune --task classify --model $R/student-init $DATA $COMMON \
      --seed $seed --out $R/labels-$seed
  [ -f $R/kd-$seed/summary.json ] || $L distill --method kd --task classify --teacher $T --student $R/student-init \
      --temperature 2 --alpha-hard 1 $DATA $COMMON --seed $seed --out $R/kd-$seed
  [ -f $R/kd-aug-$seed/summary.json ] || $L distill --method kd --task classify --teacher $T --student $R/student-init \
      --temperature 2 --alpha-hard 1 --augment $N --augment-model $R/mlm/model $DATA $COMMON --seed $seed \
      --out $R/kd-aug-$seed
done
# the paper's N (20 for SST-2), copies deduplicated, and 3x the steps for every arm but the N 8 one (the paper
# trains epochs over the augmented set: 300 steps x 32 cover the ~10k texts less than once)
LONG="${COMMON/--max-steps 300/--max-steps 900}"
for seed in 0 1 2; do
  [ -f $R/labels-900-$seed/summary.json ] || $L finetune --task classify --model $R/student-init $DATA $LONG \
      --seed $seed --out $R/labels-900-$seed
  [ -f $R/kd-aug20-$seed/summary.json ] || $L distill --method kd --task classify --teacher $T --student $R/student-init \
      --temperature 2 --alpha-hard 1 --augment 20 --augment-model $R/mlm/model $DATA $COMMON --seed $seed \
      --out $R/kd-aug20-$seed
  [ -f $R/kd-900-$seed/summary.json ] || $L distill --method kd --task classify --teacher $T --student $R/student-init \
      --temperature 2 --alpha-hard 1 $DATA $LONG --seed $seed --out $R/kd-900-$seed
  [ -f $R/kd-aug20-900-$seed/summary.json ] || $L distill --method kd --task classify --teacher $T \
      --student $R/student-init --temperature 2 --alpha-hard 1 --augment 20 --augment-model $R/mlm/model $DATA $LONG \
      --seed $seed --out $R/kd-aug20-900-$seed
done
runs() { echo $R/$1-0/predictions.jsonl,$R/$1-1/predictions.jsonl,$R/$1-2/predictions.jsonl; }
$L paired --a "$(runs labels)" --b "$(runs kd)"
$L paired --a "$(runs labels)" --b "$(runs kd-aug)"
$L paired --a "$(runs kd)" --b "$(runs kd-aug)"
$L paired --a "$(runs kd)" --b "$(runs kd-aug20)"
$L paired --a "$(runs kd-900)" --b "$(runs kd-aug20-900)"
$L paired --a "$(runs labels-900)" --b "$(runs kd-900)"
$L paired --a "$(runs labels-900)" --b "$(runs kd-aug20-900)"
