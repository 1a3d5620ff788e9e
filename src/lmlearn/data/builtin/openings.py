"""`builtin:review_openings`: the first sentence of built-in reviews, as prompts for a policy to continue
(the "write a positive review" alignment demo; docs/align.md). Drawn with their own seed, so they need not
be reviews a model pre-trained on `builtin:corpus` has read."""

from __future__ import annotations

from lmlearn.data.builtin import register_builtin
from lmlearn.data.builtin.corpus import corpus


@register_builtin("review_openings")
def review_openings(n: int = 600, seed: int = 11, lang: str = "en", world: int = 0) -> list[dict]:
    """`n` prompts {prompt, lang, label (the whole review's sentiment)}: each review's first sentence."""
    rows = corpus(docs=n, seed=seed, lang=lang, world=world, genres="review")
    return [{"prompt": r["text"].split(". ")[0].rstrip(".") + ".", "lang": r["lang"], "label": r["label"]}
            for r in rows]
