"""An installed copy of lmlearn, not this source tree: the wheel built from the repository, installed into a fresh
virtual environment outside it (its dependencies borrowed from the project's environment), runs a shipped task on
real-format data kept in a folder of the user's choosing (`--data-dir`), from a working folder with no
../shared/data beside it. What it guards: package data (task and template YAML files) in the wheel, and no path
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


def test_a_wheel_in_a_fresh_environment_evaluates_nsmc_from_a_data_dir(tmp_path):
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

    data = tmp_path / "my-data" / "nsmc"
    data.mkdir(parents=True)
    rows = ["id\tdocument\tlabel"] + [f"{i}\t{'최고의 영화' if i % 2 else '시간 낭비'} {i}\t{i % 2}" for i in range(8)]
    for name in ("small_test.txt", "small_train.txt"):
        (data / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    tokenizer = train_tokenizer(load_source("builtin:corpus?docs=50")["text"], family="gpt2", vocab_size=400)
    model = save_model(load_model("gpt2-tiny", "causal-lm", tokenizer, seed=0), tokenizer, tmp_path / "lm")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("LMLEARN_DATA", "PYTHONPATH")}
    done = subprocess.run([str(python), "-m", "lmlearn", "evaluate", "--task", "nsmc", "--data-dir",
                           str(tmp_path / "my-data"), "--model", str(model), "--shots", "0,1", "--bootstrap-iters", "0",
                           "--out", "e.json"], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((work / "e.json").read_text())
    assert [r["n"] for r in report["results"].values()] == [8, 8]
