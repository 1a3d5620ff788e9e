"""`lmlearn compare`: three arms (0-shot prompting, full fine-tuning, LoRA) of one tiny causal LM on built-in
data: every arm scored on the same documents, the table's intervals those of `lmlearn paired` on the arms' own
files, and a rerun that trains nothing."""

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from lmlearn.commands.paired import Config as PairedConfig, compare as paired
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.models.factory import load_model, save_model
from lmlearn.tokenization import train_tokenizer
from lmlearn.workflows.compare import Config, run

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    tokenizer = train_tokenizer(load_source("builtin:corpus?docs=200")["text"], family="gpt2", vocab_size=600)
    base = save_model(load_model("gpt2-tiny", "causal-lm", tokenizer, seed=0), tokenizer, folder / "lm")
    train = dict(model=str(base), max_steps=12, batch_size=8, lr=3e-3, warmup_steps=0, eval_every=0)
    spec = {
        "task": {"data": "builtin:sentiment?n=48&seed=1&lang=en", "test_data": "builtin:sentiment?n=24&seed=2&lang=en",
                 "prompt": {"doc_to_text": "{{ text }}\nSentiment:", "doc_to_choice": ["negative", "positive"]}},
        "seeds": [0],
        "reference": "full",
        "arms": {"zero-shot": {"command": "evaluate", "model": str(base), "shots": 0},
                 "full": {"command": "finetune", **train},
                 "lora": {"command": "finetune", **train, "peft": "lora"}},
    }
    path = folder / "compare.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_three_arms_on_the_same_documents_with_paired_intervals_and_a_rerun_trains_nothing(spec_file, tmp_path):
    out = tmp_path / "cmp"
    first = run(Config(file=str(spec_file), out=str(out)))
    assert sorted(first["ran"]) == ["full/0", "lora/0", "zero-shot"]
    rows = {r["arm"]: r for r in first["arms"]}
    files = {"full": out / "arms/full/seed-0/predictions.jsonl", "lora": out / "arms/lora/seed-0/predictions.jsonl",
             "zero-shot": out / "arms/zero-shot/run/eval.samples.jsonl"}
    ids = {name: [json.loads(line)["id"] for line in f.read_text().splitlines()] for name, f in files.items()}
    assert ids["full"] == ids["lora"] == ids["zero-shot"] and len(ids["full"]) == 24 == rows["full"]["documents"]
    for name in ("zero-shot", "lora"):  # the table's interval is `lmlearn paired` on the two arms' files
        direct = paired(PairedConfig(a=str(files["full"]), b=str(files[name]), iters=10000, seed=0))
        assert (rows[name]["difference"], rows[name]["low"], rows[name]["high"]) == \
            (direct["difference"], direct["low"], direct["high"])
        assert rows[name]["acc"] == direct["b"] and rows["full"]["acc"] == direct["a"]
    # costs: LoRA trains a sliver of the weights, prompting none; each run's peak memory is its own process's
    assert 0 < rows["lora"]["trainable_parameters"] < rows["full"]["trainable_parameters"] / 5
    assert rows["zero-shot"]["trainable_parameters"] == 0 and rows["zero-shot"]["train_flops"] == 0
    assert all(r["peak_rss_mb"] > 50 and r["predict_sec_per_doc"] > 0 for r in rows.values())
    report = json.loads((out / "comparison.json").read_text())
    assert report["versions"]["torch"] and len(report["data_sha256"]["test"]) == 64
    # the report parses as HTML and its images exist
    page = (out / "report.html").read_text()
    images = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                images.append(dict(attrs)["src"])

    Images().feed(page)
    assert len(images) == 3 and all((out / src).stat().st_size > 1000 for src in images)
    assert "| lora | 1 |" in (out / "comparison.md").read_text()

    mtimes = {f: f.stat().st_mtime_ns for f in files.values()}
    again = run(Config(file=str(spec_file), out=str(out)))
    assert again["ran"] == [] and again["arms"] == first["arms"]
    assert {f: f.stat().st_mtime_ns for f in files.values()} == mtimes


def test_an_arm_setting_the_comparison_owns_or_a_wrong_key_is_named(spec_file, tmp_path):
    spec = yaml.safe_load(spec_file.read_text())
    spec["arms"]["full"]["eval_data"] = "other.jsonl"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(LmlearnError, match=r"bad.yaml:\d+: arm 'full' sets eval_data, which the comparison sets"):
        run(Config(file=str(bad), out=str(tmp_path / "o")))
    del spec["arms"]["full"]["eval_data"]
    spec["arms"]["lora"]["lora_rank"] = 4
    bad.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(LmlearnError, match=r"bad.yaml:\d+ \(arm 'lora'\): unknown key 'lora_rank'"):
        run(Config(file=str(bad), out=str(tmp_path / "o")))


def test_killed_mid_arm_the_rerun_resumes_it_to_the_same_table(spec_file, tmp_path):
    """SIGKILL the comparison (and the arm it is running) once the LoRA arm has a checkpoint; the rerun resumes that
    arm from it and ends with the table of an uninterrupted comparison."""
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = yaml.safe_load(spec_file.read_text())
    spec["arms"] = {"full": spec["arms"]["full"],
                    "lora": {**spec["arms"]["lora"], "max_steps": 60, "save_every": 5, "keep_last": 20}}
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    whole = run(Config(file=str(path), out=str(tmp_path / "whole")))

    out = tmp_path / "killed"
    child = subprocess.Popen([sys.executable, "-m", "lmlearn", "compare", "--file", str(path), "--out", str(out)],
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = out / "arms" / "lora" / "seed-0" / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and child.poll() is None and not any(checkpoints.glob("step-*")):
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert not (out / "arms" / "lora" / "seed-0" / "summary.json").exists(), "the arm finished before the kill"
    resumed = run(Config(file=str(path), out=str(out)))
    assert resumed["ran"] == ["lora/0"]
    keys = ("arm", "acc", "difference", "low", "high", "per_seed", "trainable_parameters")
    assert [{k: r[k] for k in keys} for r in resumed["arms"]] == [{k: r[k] for k in keys} for r in whole["arms"]]


def test_a_prompting_arm_can_phrase_the_same_documents_its_own_way(spec_file, tmp_path):
    """An instruction-tuned arm asks in its chat template: its own prompt fields over the task's, the same test
    documents and choices, so it still pairs with every other arm."""
    spec = yaml.safe_load(spec_file.read_text())
    chat = "<|user|>\n{{ text }}\nIs this review positive or negative?\n<|assistant|>\n"
    spec["arms"] = {"plain": spec["arms"]["zero-shot"],
                    "asked": {**spec["arms"]["zero-shot"], "prompt": {"doc_to_text": chat}}}
    spec["reference"] = "plain"
    path = tmp_path / "prompts.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run(Config(file=str(path), out=str(tmp_path / "cmp")))
    samples = {arm: [json.loads(line) for line in (tmp_path / "cmp/arms" / arm / "run/eval.samples.jsonl")
                     .read_text().splitlines()] for arm in ("plain", "asked")}
    assert [s["id"] for s in samples["plain"]] == [s["id"] for s in samples["asked"]]
    assert all(s["prompt"].endswith("\nSentiment:") for s in samples["plain"])
    assert all(s["prompt"].startswith("<|user|>\n") and "Is this review positive" in s["prompt"]
               for s in samples["asked"])
    assert samples["asked"][0]["choices"] == ["negative", "positive"]
    assert {r["arm"] for r in result["arms"]} == {"plain", "asked"}
    bad = tmp_path / "bad.yaml"
    spec["arms"]["asked"]["prompt"] = "just a string"
    bad.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(LmlearnError, match=r"bad.yaml:\d+: arm 'asked': prompt must be a mapping"):
        run(Config(file=str(bad), out=str(tmp_path / "o")))


def test_gpu_peak_memory_is_recorded_on_a_gpu_and_gets_a_column_only_then(monkeypatch):
    import torch

    from lmlearn.compare.report import markdown
    from lmlearn.engine.flops import gpu_peak_mb

    assert gpu_peak_mb() is None or torch.cuda.is_available()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a, **k: 3 * 2**30)
    assert gpu_peak_mb() == 3072.0
    row = {"arm": "full", "runs": 1, "acc": 0.9, "difference": 0.0, "low": None, "high": None,
           "trainable_parameters": 10, "parameters": 10, "train_sec": 1.0, "train_flops": 60, "predict_sec_per_doc": 0.001,
           "saved_bytes": 2**20, "wall_sec": 2.0, "peak_rss_mb": 500.0}
    cpu = markdown([{**row, "gpu_peak_mb": None}], "full", "acc")
    assert "GPU peak MB" not in cpu and cpu.splitlines()[1].count("|") == cpu.splitlines()[2].count("|")
    gpu = markdown([{**row, "gpu_peak_mb": 3072.0}], "full", "acc")
    lines = gpu.splitlines()
    assert lines[0].endswith("GPU peak MB |") and lines[2].endswith("| 3072 |")
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")


def test_a_prediction_line_scores_itself_whatever_the_label_column_is_called(tmp_path):
    """KorNLI's label column is gold_label: finetune's predictions carry acc, so `lmlearn paired` reads them."""
    from types import SimpleNamespace

    from lmlearn.evaluation.paired import read_scores
    from lmlearn.tasks.classify import Classify

    task = object.__new__(Classify)
    task.cfg = SimpleNamespace(label_column="gold_label")
    rows = [{"id": "a", "gold_label": "neutral"}, {"id": "b", "gold_label": "entailment"}]
    lines = [task.record(r, p) for r, p in zip(rows, ["neutral", "contradiction"])]
    assert [line["acc"] for line in lines] == [1.0, 0.0]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_scores([str(path)], "acc").scores == [1.0, 0.0]


def test_a_distilled_arm_takes_the_fine_tuned_arm_of_its_own_seed_as_teacher(spec_file, tmp_path):
    spec = yaml.safe_load(spec_file.read_text())
    spec["seeds"] = [0, 1]
    full = spec["arms"]["full"]
    spec["arms"] = {"full": full, "distilled": {
        "command": "distill", "method": "kd", "task": "classify", "teacher": "{run:full}/model", "layers": "0",
        "alpha_hard": 1.0, "max_steps": 6, "batch_size": 8, "lr": 3e-3, "warmup_steps": 0, "eval_every": 0}}
    path = tmp_path / "distil.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "cmp"
    result = run(Config(file=str(path), out=str(out)))
    assert sorted(result["ran"]) == ["distilled/0", "distilled/1", "full/0", "full/1"]
    for seed in (0, 1):
        arm = yaml.safe_load((out / f"arms/distilled/seed-{seed}/arm.yaml").read_text())
        assert arm["teacher"] == str(out / f"arms/full/seed-{seed}/model") and arm["seed"] == seed
    rows = {r["arm"]: r for r in result["arms"]}
    assert rows["distilled"]["runs"] == 2 and rows["distilled"]["parameters"] < rows["full"]["parameters"]
    # an arm can only name a trained arm that runs before it
    spec["arms"] = {"distilled": spec["arms"]["distilled"], "full": full}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(LmlearnError, match=r"arm 'distilled': teacher names \{run:full\}, which is not a trained arm "
                                           r"listed before it \(none\)"):
        run(Config(file=str(path), out=str(tmp_path / "o")))


def test_the_tour_runs_its_recipe_under_its_out_seed_and_steps(tmp_path):
    """The tour's compare stage runs recipes/tour.yaml with the tour's folder for runs/tour, its seed's labels,
    and every step count scaled by --steps; the rest of the recipe is as written."""
    from lmlearn.tour import TourContext
    from lmlearn.tour.compare import RECIPE, recipe_for

    assert (ROOT / "recipes" / "tour.yaml").resolve() == RECIPE.resolve()
    written = yaml.safe_load(RECIPE.read_text())
    ran = recipe_for(TourContext(out=tmp_path / "t", steps=60, seed=2, progress=False))
    assert ran["seeds"] == [2] and ran["task"]["data"].endswith("seed=102")
    assert ran["task"]["test_data"] == written["task"]["test_data"]
    for name, arm in written["arms"].items():
        got = ran["arms"][name]
        assert got["max_steps"] == max(round(arm["max_steps"] / 10), 1)
        if "model" in arm:
            assert got["model"] == f"{(tmp_path / 't').resolve().as_posix()}/clm/model"
        assert {k: v for k, v in got.items() if k not in ("max_steps", "warmup_steps", "model")} == \
            {k: v for k, v in arm.items() if k not in ("max_steps", "warmup_steps", "model")}


def test_an_arms_peak_memory_is_its_own_not_its_large_parents(tmp_path):
    """A child started by vfork inherits its parent's ru_maxrss across exec; the arm reports its own VmHWM, so a
    1.5 GB parent does not become every arm's peak."""
    import resource
    import sys

    import torch

    from lmlearn.compare.arms import run_child

    ballast = torch.ones(400_000_000)  # 1.6 GB of float32, every page touched
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 > 1500
    code, costs = run_child([sys.executable, "-m", "lmlearn", "--version"], tmp_path / "log.txt",
                            tmp_path / "peak.json")
    del ballast
    assert code == 0 and json.loads((tmp_path / "peak.json").read_text())["source"] == "VmHWM"
    assert 5 < costs["peak_rss_mb"] < 1000
