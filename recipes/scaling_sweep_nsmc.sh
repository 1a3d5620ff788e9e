#!/usr/bin/env bash
# Issue 18's measured sweep: six gpt2 ladder sizes (25k to 3.1M non-embedding parameters) x three token
# budgets (0.5M, 1M, 2M) on NSMC's unlabelled reviews, then the fit. About an hour on a 2-core CPU.
# The first 200,000 reviews train (about 5M tokens: no point sees a review twice); the last 3,000 are the
# one held-out set. Killed? Run it again: finished points are skipped, a cut-off one resumes.
set -euo pipefail
DATA=${LMLEARN_DATA:-../shared/data}/nsmc/corpus_reviews.txt
OUT=${OUT:-runs/sweep-nsmc}
[ -f "$DATA" ] || { echo "$DATA: missing (NSMC's corpus_reviews.txt; set LMLEARN_DATA)"; exit 1; }
mkdir -p "$OUT/data"
head -n 200000 "$DATA" > "$OUT/data/train.txt"
tail -n 3000 "$DATA" > "$OUT/data/heldout.txt"
LMLEARN=${LMLEARN:-lmlearn}
$LMLEARN scaling sweep --models preset:gpt2-0.02m,preset:gpt2-0.05m,preset:gpt2-0.1m,preset:gpt2-0.3m,preset:gpt2-1m,preset:gpt2-3m \
  --tokens 5e5,1e6,2e6 --data "$OUT/data/train.txt" --eval-data "$OUT/data/heldout.txt" \
  --eval-batches 30 --block-size 128 --batch-size 16 --vocab-size 4000 --out "$OUT"
for form in nd n d; do
  $LMLEARN scaling fit --points "$OUT/points.csv" --form $form --bootstrap 200 \
    $([ $form = nd ] && echo "--compute 1e15,1e18 --plot $OUT/fit.png --report $OUT/report.html") --out "$OUT/fit-$form.json"
done
