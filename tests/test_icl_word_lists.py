"""In-context learning by task recognition: the word lists the tour's icl stage pre-trains on, the four
word_lists_* evaluation tasks, and the stage itself."""

from collections import Counter

import pytest

from lmlearn.data.builtin import load_builtin
from lmlearn.data.builtin.word_lists import ARROW, TASKS, lexicon, line
from lmlearn.data.builtin.world import make_world
from lmlearn.evaluation.prompts import fewshot_contexts
from lmlearn.evaluation.task import load_task
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour import icl


def _answers(task: str) -> dict[str, str]:
    return dict(line(task, word, kind) for word, kind in lexicon(make_world(0)))


def test_every_list_follows_one_task_that_only_its_lines_reveal():
    rows = load_builtin("word_lists", {"docs": "400", "seed": "3"})
    assert Counter(r["task"] for r in rows) == {task: 100 for task in TASKS}  # dealt evenly
    seen: dict[str, set[str]] = {}
    for row in rows:
        pairs = [text.split(f" {ARROW} ") for text in row["text"].split("\n")]
        assert 6 <= len(pairs) <= 12 and len({q for q, _ in pairs}) == len(pairs)
        answers = _answers(row["task"])
        assert all(answers[q] == a for q, a in pairs), row  # every line answers under the list's task
        for q, _ in pairs:
            seen.setdefault(q, set()).add(row["task"])
    # A word recurs across lists of both its tasks: its answers can be learned in the weights.
    assert sum(len(tasks) == 2 for tasks in seen.values()) > 0.9 * len(seen)


def test_the_paired_tasks_ask_the_same_question_with_the_same_choices():
    tasks = [load_task(name) for name in icl.TASKS]
    for a, b in ((tasks[0], tasks[1]), (tasks[2], tasks[3])):
        assert [d["en"] for d in a.test_docs] == [d["en"] for d in b.test_docs]  # one split, the same words
        assert fewshot_contexts(a, a.test_docs, 0) == fewshot_contexts(b, b.test_docs, 0)
        assert all(a.choices(d) == b.choices(d) and {a.target(d), b.target(d)} == {0, 1} for d in a.test_docs)
    test_words = {d["en"] for d in tasks[0].test_docs}
    assert not test_words & {d["en"] for d in tasks[0].fewshot_docs}  # demonstrations are other words


def test_demonstrations_are_lines_of_the_asked_task_and_fit_the_trained_positions():
    from lmlearn.data.sources import _load_builtin
    from lmlearn.tokenization import train_tokenizer

    tokenizer = train_tokenizer(_load_builtin(icl.DATA)["text"], icl.MODEL.split("-")[0], vocab_size=icl.VOCAB)
    for name in icl.TASKS:
        task = load_task(name)
        answers = _answers(name.removeprefix("word_lists_").replace("_", "-"))
        contexts = fewshot_contexts(task, task.test_docs, icl.SHOTS[-1])
        for context in contexts:
            *demos, query = context.split("\n")
            assert len(demos) == icl.SHOTS[-1] and query.endswith(ARROW)
            assert all(answers[q] == a for q, a in (d.split(f" {ARROW} ") for d in demos))
        longest = max(len(tokenizer(c + " " + choice).input_ids)
                      for c, doc in zip(contexts, task.test_docs) for choice in task.choices(doc))
        assert longest <= icl.BLOCK, (name, longest)


def test_icl_stage_pools_the_tasks_and_zero_shot_is_one_half_by_construction(tmp_path, one_thread):
    result = icl.stage(TourContext(out=tmp_path, steps=3, seed=0, progress=False))
    assert isinstance(result, StageResult) and result.name == "icl" and all(p.is_file() for p in result.plots)
    assert (tmp_path / "icl" / "model" / "config.json").is_file()
    for row, name in zip(result.rows, icl.TASKS, strict=True):
        zero, top = (result.data["results"][f"{name}/{k}"]["acc"] for k in (0, icl.SHOTS[-1]))
        assert (row["before"], row["after"], row["metric"]) == (zero, top, f"{name} accuracy")
    pooled = result.data["pooled"]
    # Whatever the model, at 0 shots it gives one answer to both tasks of a pair: right on exactly one.
    assert pooled[0] == 0.5
    one, top = result.comparisons
    assert (one["arm_b"], top["arm_b"]) == ("1-shot", f"{icl.SHOTS[-1]}-shot")
    assert (top["a"], top["b"], top["documents"]) == pytest.approx((0.5, pooled[icl.SHOTS[-1]], 4 * 34))
