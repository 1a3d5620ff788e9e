"""An installed copy of lmlearn, not this source tree: the wheel built from the repository, installed into a fresh
virtual environment outside it (its dependencies borrowed from the project's environment), runs a shipped task on
real-format data kept in a folder of the user's choosing (`--data-dir`), and the tour, each from a working folder
with no ../shared/data beside it. What it guards: package data (task and template YAML files) in the wheel, and no path
that only resolves inside the repository."""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from lmlearn.data.sources import load_source
from lmlearn.models.factory import load_model, save_model
from lmlearn.tokenization import train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The python of a fresh virtual environment outside the repository that has the wheel of lmlearn installed."""
    tmp_path = tmp_path_factory.mktemp("installed")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(ROOT)], check=True, cwd=tmp_path, capture_output=True)
    wheel = next(wheels.glob("lmlearn-*.whl"))
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    own_site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                              capture_output=True, text=True).stdout.strip()
    # the dependencies come from the project's environment, listed after the new one's own site-packages
    Path(own_site, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", own_site, str(wheel)],
                   check=True, capture_output=True)
    where = subprocess.run([str(python), "-c", "import lmlearn; print(lmlearn.__file__)"], check=True,
                           capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert where.startswith(own_site) and not where.startswith(str(ROOT))
    return python


def _elsewhere(tmp_path: Path) -> tuple[Path, dict]:
    """A working folder with no ../shared/data beside it, and an environment that points nowhere else."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    return work, {k: v for k, v in os.environ.items() if k not in ("LMLEARN_DATA", "PYTHONPATH")}


def test_a_wheel_in_a_fresh_environment_evaluates_nsmc_from_a_data_dir(installed, tmp_path):
    python = installed
    data = tmp_path / "my-data" / "nsmc"
    data.mkdir(parents=True)
    rows = ["id\tdocument\tlabel"] + [f"{i}\t{'최고의 영화' if i % 2 else '시간 낭비'} {i}\t{i % 2}" for i in range(8)]
    for name in ("small_test.txt", "small_train.txt"):
        (data / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    tokenizer = train_tokenizer(load_source("builtin:corpus?docs=50")["text"], family="gpt2", vocab_size=400)
    model = save_model(load_model("gpt2-tiny", "causal-lm", tokenizer, seed=0), tokenizer, tmp_path / "lm")
    work, env = _elsewhere(tmp_path)
    done = subprocess.run([str(python), "-m", "lmlearn", "evaluate", "--task", "nsmc", "--data-dir",
                           str(tmp_path / "my-data"), "--model", str(model), "--shots", "0,1", "--bootstrap-iters", "0",
                           "--out", "e.json"], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((work / "e.json").read_text())
    assert [r["n"] for r in report["results"].values()] == [8, 8]


def test_the_installed_tour_writes_the_report(installed, tmp_path):
    work, env = _elsewhere(tmp_path)
    done = subprocess.run([str(installed), "-m", "lmlearn", "tour", "--out", str(tmp_path), "--steps", "30",
                           "--no-progress"], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "held-out perplexity" in html and "data:image/png;base64," in html
    out = done.stdout
    assert "clm" in out and "replaced-token detection" in out and "masked LM" in out
    assert "from scratch" in out and "ELECTRA encoder pre-trained + fine-tuned" in out and "LoRA" in out
    assert "held-out sentiment" in out
    # each stage's defining comparison, paired on the same test documents, in summary.json and the report
    rows = json.loads((tmp_path / "summary.json").read_text())["comparisons"]
    assert {(r["stage"], r["arm_b"]) for r in rows} >= {("icl", "8-shot"), ("transfer", "causal LM pre-trained, 100 labels"),
                                                        ("peft", "LoRA (r=8)")}
    distilled = next(r for r in rows if r["stage"] == "distill")
    assert distilled["arm_b"] == "student, distilled" and 0 < distilled["size_ratio"] < 1
    aligned = {r["arm_b"]: r for r in rows if r["stage"] == "align"}
    assert set(aligned) == {"PPO (KL coefficient 0.2)", "DPO (beta 0.1)"}
    assert all(r["kl_nats"] > -0.5 and r["documents"] == 120 for r in aligned.values())
    small = next(r for r in rows if r["arm_b"] == "causal LM pre-trained, 100 labels")
    assert small["seeds"] == [0, 1, 2]  # the defining comparison repeats over seeds
    for r in rows:
        assert r["interval_low"] <= r["difference"] <= r["interval_high"]
        assert r["difference"] == pytest.approx(r["b"] - r["a"]) and r["documents"] > 50
    electra = next(r for r in rows if r["arm_b"].startswith("ELECTRA") and r["arm_a"].startswith("MLM"))
    assert {"generator_loss", "discriminator_accuracy"} <= set(electra["electra_components"])
    assert "Paired comparisons" in html
