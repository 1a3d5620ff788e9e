"""Shipped tasks name real data sets as `data:NAME/FILE`: they are read under --data-dir (or LMLEARN_DATA, else
../shared/data), so an installed lmlearn finds them wherever the user keeps them; a missing file is named."""

import json

import pytest

from lmlearn.data.locations import resolve_source
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.models.factory import load_model, save_model
from lmlearn.tokenization import train_tokenizer
from lmlearn.workflows.evaluate import Config, run


def _nsmc(folder, n):
    rows = ["id\tdocument\tlabel"] + [f"{i}\t{'정말 좋은 영화' if i % 2 else '지루하고 별로'} {i}\t{i % 2}" for i in range(n)]
    (folder / "nsmc").mkdir(parents=True)
    for name in ("small_test.txt", "small_train.txt"):
        (folder / "nsmc" / name).write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_shipped_task_reads_its_data_under_the_data_dir_from_any_working_folder(tmp_path, monkeypatch):
    data = tmp_path / "elsewhere" / "datasets"
    _nsmc(data, 6)
    tokenizer = train_tokenizer(load_source("builtin:corpus?docs=50")["text"], family="gpt2", vocab_size=400)
    model = save_model(load_model("gpt2-tiny", "causal-lm", tokenizer, seed=0), tokenizer, tmp_path / "lm")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no ../shared/data from here
    monkeypatch.setenv("LMLEARN_DATA", str(tmp_path / "nowhere"))  # restored after the test; --data-dir wins
    result = run(Config(model=str(model), task="nsmc", data_dir=str(data), out=str(work / "e.json"),
                        bootstrap_iters=0))
    assert next(iter(result["results"].values()))["n"] == 6
    prompts = [json.loads(line)["prompt"] for line in (work / "e.samples.jsonl").read_text().splitlines()]
    assert prompts[1].startswith("정말 좋은 영화 1")


def test_a_missing_data_file_names_the_path_and_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLEARN_DATA", str(tmp_path))
    with pytest.raises(LmlearnError, match=r"data:nsmc/small_test.txt: .*nsmc/small_test.txt is missing; point "
                                           r"--data-dir \(or LMLEARN_DATA\) at the folder that holds nsmc/"):
        resolve_source("data:nsmc/small_test.txt")
    with pytest.raises(LmlearnError, match="--data-dir .*: no such folder"):
        run(Config(model="x", task="nsmc", data_dir=str(tmp_path / "absent")))


def test_flan_leaves_out_a_task_whose_data_is_not_in_the_data_folder(tmp_path, monkeypatch):
    from lmlearn.flan.rows import data_present
    from lmlearn.flan.spec import TEMPLATES_DIR, load_spec

    spec = load_spec(TEMPLATES_DIR / "nsmc.yaml")
    monkeypatch.setenv("LMLEARN_DATA", str(tmp_path))
    assert not data_present(spec)
    _nsmc(tmp_path, 4)
    assert data_present(spec)
