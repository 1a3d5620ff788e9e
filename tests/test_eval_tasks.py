"""The shipped NSMC and KorNLI task files on the shared data, and the tour's in-context-learning stage."""

import json
from pathlib import Path

import pytest

from lmlearn import cli
from lmlearn.commands.pretrain import PretrainConfig, run as pretrain
from lmlearn.errors import LmlearnError
from lmlearn.evaluation.task import load_task
from lmlearn.tour import StageResult, TourContext
from lmlearn.tour.icl import SHOTS, stage as icl_stage

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


def test_icl_stage_reports_each_shot_count_against_zero_shot(clm_out):
    ctx = TourContext(out=clm_out.parent, steps=3, seed=0, progress=False)
    result = icl_stage(ctx)
    assert isinstance(result, StageResult) and result.name == "icl"
    zero = result.data["results"]["0"]["acc"]
    assert [r["before"] for r in result.rows] == [zero] * (len(SHOTS) - 1)
    assert [r["after"] for r in result.rows] == [result.data["results"][str(k)]["acc"] for k in SHOTS if k]
    assert all(0 <= r["after"] <= 1 and r["metric"] == "review_sentiment accuracy" for r in result.rows)
    assert "5-shot" in result.html


def test_icl_stage_without_the_clm_model_says_what_to_run(tmp_path):
    with pytest.raises(LmlearnError, match="run it after lmlearn.tour.clm:stage"):
        icl_stage(TourContext(out=tmp_path, steps=3, seed=0, progress=False))
