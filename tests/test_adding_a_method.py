"""docs/adding-a-method.md's worked example, run as written: one file and one registry line make a
new objective that trains, logs its named metric and evaluates."""

import re
import sys
import types
from pathlib import Path

import pytest
import torch

from lmlearn.engine.loop import train
from lmlearn.engine.metrics import read_metrics
from test_loop import quiet, tiny_gpt

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-method.md"


@pytest.fixture
def registered(tmp_path, monkeypatch):
    text = DOC.read_text(encoding="utf-8").split("## A worked example", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    source, registry_line = blocks[0], blocks[1].strip()
    (tmp_path / "smooth_clm.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    name, spec = re.fullmatch(r'"(\w+)": "lmlearn\.objectives\.smooth_clm:(\w+)",', registry_line).groups()
    from lmlearn import objectives

    monkeypatch.setitem(objectives.OBJECTIVES, name, f"smooth_clm:{spec}")
    yield objectives.get_objective(name)
    sys.modules.pop("smooth_clm", None)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_worked_example_trains_and_logs_its_metric(registered, smoothing, tmp_path):
    data = (torch.randint(0, 64, (48, 1)) + torch.arange(16)) % 64  # counting: a learnable next token
    objective = registered(types.SimpleNamespace(smoothing=smoothing), None)
    train(tiny_gpt(), objective, data[:40], data[40:], quiet(max_steps=30, batch_size=4, log_every=5, eval_every=15,
                                                             lr=1e-2), tmp_path / "run")
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert all("nll" in r for r in rows) and any("eval_nll" in r for r in rows)
    for r in rows:
        if smoothing == 0:
            assert r["loss"] == pytest.approx(r["nll"], rel=1e-5)
    assert rows[-1]["nll"] < rows[0]["nll"] - 0.5
    if smoothing:  # once the model is confident, the smoothed target costs more than the plain one
        assert rows[-1]["loss"] > rows[-1]["nll"] + 0.05
