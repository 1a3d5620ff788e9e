"""Run one task at one shot count: build the requests, score them, and compute the metrics."""

from __future__ import annotations

import math
from typing import Any

from lmlearn.errors import LmlearnError
from lmlearn.evaluation import cot
from lmlearn.evaluation import lm as lm_mod
from lmlearn.evaluation import metrics as M
from lmlearn.evaluation.prompts import fewshot_contexts
from lmlearn.evaluation.task import Task


def _multiple_choice(task: Task, lm: lm_mod.LanguageModel, docs: list[dict], contexts: list[str],
                     batch_size: int) -> tuple[dict[str, list], list[dict]]:
    choices = [task.choices(doc) for doc in docs]
    # The continuation of choice c is target_delimiter + c (lm-eval's multiple_choice requests).
    groups = [lm_mod.encode_choices(lm, ctx, [task.target_delimiter + c for c in cs])
              for ctx, cs in zip(contexts, choices)]
    scores = lm_mod.loglikelihoods(lm, groups, batch_size)
    priors = _unconditional(task, lm, choices, batch_size) if "acc_mutual_info" in task.metrics else None
    items: dict[str, list] = {"acc": [], "acc_norm": [], "acc_mutual_info": []}
    samples = []
    for doc, ctx, cs, sc in zip(docs, contexts, choices, scores):
        gold = task.target(doc)
        lls = [s for s, _ in sc]
        prior = priors[tuple(cs)] if priors else None
        result = M.multiple_choice(lls, cs, gold, prior)
        for key, value in result.items():
            items[key].append(value)
        samples.append({"prompt": ctx, "choices": cs, "logliks": lls, "is_greedy": [g for _, g in sc],
                        **({"logliks_unconditional": prior} if prior else {}),
                        "prediction": cs[max(range(len(lls)), key=lls.__getitem__)], "target": cs[gold],
                        "gold": gold, **result})
    return items, samples


def _unconditional(task: Task, lm: lm_mod.LanguageModel, choices: list[list[str]],
                   batch_size: int) -> dict[tuple, list[float]]:
    """log P(choice) after an empty context (lm-eval's acc_mutual_info requests), once per distinct choice list."""
    distinct = list(dict.fromkeys(tuple(cs) for cs in choices))
    groups = [lm_mod.encode_choices(lm, "", [task.target_delimiter + c for c in cs]) for cs in distinct]
    scores = lm_mod.loglikelihoods(lm, groups, batch_size)
    return {cs: [s for s, _ in sc] for cs, sc in zip(distinct, scores)}


def _generate(task: Task, lm: lm_mod.LanguageModel, docs: list[dict], contexts: list[str],
              batch_size: int) -> tuple[dict[str, list], list[dict]]:
    outputs = lm_mod.generate_until(lm, contexts, task.until, task.max_new_tokens, batch_size)
    items: dict[str, list] = {"exact_match": [], "f1": [], "rouge": []}
    samples = []
    for doc, ctx, out in zip(docs, contexts, outputs):
        target = task.target_text(doc)
        pred = M.extract_answer(out, task.answer_regex)
        result = {"exact_match": M.exact_match(pred, target), "f1": M.token_f1(pred, target),
                  "rouge": M.rouge_l(pred, target)}
        for key in items:
            items[key].append(result[key])
        samples.append({"prompt": ctx, "generation": out, "prediction": pred, "target": target, **result})
    return items, samples


def _rolling(task: Task, lm: lm_mod.LanguageModel, docs: list[dict], batch_size: int) -> tuple[dict[str, list], list[dict]]:
    if lm.is_seq2seq:
        raise LmlearnError(f"task {task.name}: loglikelihood_rolling needs a causal model, not an encoder-decoder")
    texts = [task.target_text(doc) if task.doc_to_target is not None else task.text(doc) for doc in docs]
    windows = [lm_mod.rolling_windows(lm, t) for t in texts]
    flat = [[w] for ws in windows for w in ws]
    scores = iter(lm_mod.loglikelihoods(lm, flat, batch_size))
    items: dict[str, list] = {"word_perplexity": [], "token_perplexity": [], "bits_per_byte": []}
    samples = []
    for text, ws in zip(texts, windows):
        ll = sum(next(scores)[0][0] for _ in ws)
        tokens = sum(len(pred) for _, pred in ws)
        items["word_perplexity"].append((ll, M.count_words(text)))
        items["token_perplexity"].append((ll, tokens))
        items["bits_per_byte"].append((ll, len(text.encode("utf-8"))))
        samples.append({"prompt": text, "loglik": ll, "tokens": tokens, "words": M.count_words(text),
                        "bytes": len(text.encode("utf-8"))})
    return items, samples


def wanted_metrics(task: Task) -> list[str]:
    """The reported metric names (perplexity expands to word and token perplexity)."""
    names = []
    for m in task.metrics:
        names += ["word_perplexity", "token_perplexity"] if m == "perplexity" else [m]
    return names


def evaluate(task: Task, lm: lm_mod.LanguageModel, shots: int, *, limit: int | None = None,
             batch_size: int = 8, seed: int = 0, bootstrap_iters: int = 1000, num_samples: int | None = None,
             temperature: float | None = None, top_p: float | None = None) -> tuple[dict[str, Any], list[dict]]:
    """Metrics (with bootstrap standard errors) and per-document samples of `task` at `shots` shots.

    num_samples, temperature and top_p override a chain-of-thought task's `cot` settings (self-consistency).
    """
    docs = task.test_docs[:limit] if limit else task.test_docs
    if task.output_type == "loglikelihood_rolling":
        items, samples = _rolling(task, lm, docs, batch_size)
    elif task.cot is not None:
        items, samples = cot.run(task, lm, docs, fewshot_contexts(task, docs, shots), batch_size, seed=seed,
                                 num_samples=num_samples, temperature=temperature, top_p=top_p)
    else:
        contexts = fewshot_contexts(task, docs, shots)
        run = _multiple_choice if task.output_type == "multiple_choice" else _generate
        items, samples = run(task, lm, docs, contexts, batch_size)
    results: dict[str, Any] = {"n": len(docs)}
    for name in wanted_metrics(task):
        value = M.AGGREGATE[name](items[name])
        stderr = M.bootstrap_stderr(M.AGGREGATE[name], items[name], bootstrap_iters, seed)
        results[name] = value if math.isfinite(value) else None
        results[f"{name}_stderr"] = stderr if math.isfinite(stderr) else None
    for i, (sample, doc) in enumerate(zip(samples, docs)):
        # a document's own id, when it has one, pairs it with other runs' lines (`lmlearn paired`, compare)
        sample.update({"doc_id": i, "shots": shots, **({"id": doc["id"]} if isinstance(doc, dict) and "id" in doc
                                                         else {})})
    return results, samples
