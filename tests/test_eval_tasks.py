"""The shipped NSMC and KorNLI task files on the shared data."""

import json
from pathlib import Path

import pytest

from lmlearn import cli
from lmlearn.workflows.pretrain import PretrainConfig, run as pretrain
from lmlearn.evaluation.task import load_task

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
