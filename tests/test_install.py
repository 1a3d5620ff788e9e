"""What `make setup` installs: exactly the lock, and each optional extra named when it is missing."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lmlearn.errors import LmlearnError
from lmlearn.extras import EXTRAS, require

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


@pytest.mark.skipif(os.environ.get("LMLEARN_UPGRADE_CHECK") == "1", reason="make upgrade-check installs newer releases")
@pytest.mark.skipif(not (Path(sys.prefix) / ".installed").exists(), reason="not the venv `make setup` built")
def test_the_environment_is_exactly_the_lock():
    """Every installed distribution is pinned in requirements.lock at the installed version (torch
    aside: it comes first, from the CPU wheel), and the lock names nothing that is not installed."""
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    installed = {k: v for k, v in _pins(freeze).items() if k not in ("torch", "pip")}
    locked = _pins((ROOT / "requirements.lock").read_text().splitlines())
    assert locked and installed == locked


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_a_missing_extra_is_one_line_naming_what_installs_it(module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import now fails as if it were not installed
    with pytest.raises(LmlearnError, match=rf"^the thing needs .* pip install 'lmlearn\[{EXTRAS[module][1]}\]'$"):
        require(module, "the thing")


def test_word2vec_without_gensim_stops_before_any_work(monkeypatch, tmp_path, capsys):
    from lmlearn import cli

    monkeypatch.setitem(sys.modules, "gensim", None)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    code = cli.main(["finetune", "--task", "classify", "--data", "builtin:sentiment", "--static-embeddings",
                     "word2vec", "--max-steps", "1", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install 'lmlearn[word2vec]'" in err[0]
