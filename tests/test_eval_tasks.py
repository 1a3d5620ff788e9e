"""The shipped NSMC and KorNLI task files on the shared data, and the tour's in-context-learning stage."""

import json
from pathlib import Path

import pytest

from lmlearn import cli
from lmlearn.workflows.pretrain import PretrainConfig, run as pretrain
from lmlearn.errors import LmlearnError
from lmlearn.evaluation.task import load_task
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.icl import SHOTS, TASKS as ICL_TASKS, stage as icl_stage

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (the shared public datasets)")


@pytest.fixture(scope="module")
def clm_out(tmp_path_factory, one_thread):
    """A run folder holding a few-step gpt2-tiny in model/, as the tour's clm stage leaves it."""
    out = tmp_path_factory.mktemp("icl") / "clm"
    pretrain(PretrainConfig(objective="clm", model="gpt2-tiny", data="builtin:corpus?docs=300", vocab_size=600,
                            block_size=32, batch_size=4, max_steps=3, eval_every=0, out=str(out), progress=False))
    return out


# Each task: its test and few-shot document counts, and its choices.
TASKS = [
    pytest.param("kornli", 5010, 2490, ["참", "중립", "거짓"], id="kornli"),
    pytest.param("nsmc", 2000, 4000, ["부정", "긍정"], id="nsmc"),
]


@needs_shared
@pytest.mark.parametrize("name, n_test, n_fewshot, choices", TASKS)
def test_shared_task_loads_and_runs(name, n_test, n_fewshot, choices, clm_out, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the task files name ../shared/data from the project root
    task = load_task(name)
    assert (len(task.test_docs), len(task.fewshot_docs), task.fewshot_is_test) == (n_test, n_fewshot, False)
    assert task.choices(task.test_docs[0]) == choices
    assert {task.target(d) for d in task.test_docs} == set(range(len(choices)))  # every label maps to a choice
    out = tmp_path / "r.json"
    code = cli.main(["evaluate", "--model", str(clm_out / "model"), "--task", name, "--shots", "0,1",
                     "--limit", "10", "--batch-size", "10", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    for res in json.loads(out.read_text())["results"].values():
        assert res["n"] == 10 and 0 <= res["acc"] <= 1


def test_icl_stage_reports_the_most_shots_against_zero_shot_per_language(clm_out):
    ctx = TourContext(out=clm_out.parent, steps=3, seed=0, progress=False)
    result = icl_stage(ctx)
    assert isinstance(result, StageResult) and result.name == "icl" and result.plots[0].is_file()
    for row, cmp, name in zip(result.rows, result.comparisons, ICL_TASKS, strict=True):
        zero, top = (result.data["results"][f"{name}/{k}"]["acc"] for k in (0, SHOTS[-1]))
        assert (row["before"], row["after"], row["metric"]) == (zero, top, f"{name} accuracy")
        assert (cmp["a"], cmp["b"]) == pytest.approx((zero, top))
    assert "8-shot" in result.html


def test_eight_demonstrations_fit_in_the_positions_the_tour_trains():
    from lmlearn.data.sources import _load_builtin
    from lmlearn.evaluation.prompts import fewshot_contexts
    from lmlearn.tokenization import train_tokenizer
    from lmlearn.tour import clm

    tokenizer = train_tokenizer(_load_builtin(clm.DATA)["text"], "gpt2", vocab_size=clm.VOCAB)
    for task_name in ICL_TASKS:
        task = load_task(task_name)
        contexts = fewshot_contexts(task, task.test_docs, SHOTS[-1])
        longest = max(len(tokenizer(c + task.target_delimiter + choice).input_ids)
                      for c, doc in zip(contexts, task.test_docs) for choice in task.choices(doc))
        assert longest <= clm.BLOCK, (task_name, longest)


def test_icl_stage_without_the_clm_model_says_what_to_run(tmp_path):
    with pytest.raises(LmlearnError, match="run it after lmlearn.tour.clm:stage"):
        icl_stage(TourContext(out=tmp_path, steps=3, seed=0, progress=False))
