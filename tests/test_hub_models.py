"""`--model owner/name`: a Hugging Face Hub id, resolved once by the driver from the local Hub cache (the
layout `hf download` writes), so a Hub checkpoint trains like a folder and the outputs name it."""

import json

import pytest
import yaml

from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.models.factory import load_model, save_model
from lmlearn.models.spec import resolve_model
from lmlearn.tokenization import train_tokenizer
from lmlearn.workflows.finetune import FinetuneConfig, run

pytestmark = pytest.mark.usefixtures("one_thread")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """A cache holding acme/tiny-gpt2 at COMMIT, its main branch pointing there, as huggingface_hub lays it out."""
    cache = tmp_path_factory.mktemp("hub")
    repo = cache / "models--acme--tiny-gpt2"
    tokenizer = train_tokenizer(load_source("builtin:corpus?docs=200")["text"], family="gpt2", vocab_size=600)
    save_model(load_model("gpt2-tiny", "causal-lm", tokenizer, seed=0), tokenizer, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return cache


@pytest.fixture
def hub(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub_cache


def test_a_hub_id_resolves_to_its_cached_snapshot(hub):
    spec = resolve_model("acme/tiny-gpt2")
    assert (spec.kind, spec.family, spec.pretrained) == ("hub", "gpt2", True)
    assert spec.folder == hub / "models--acme--tiny-gpt2" / "snapshots" / COMMIT
    assert resolve_model(f"acme/tiny-gpt2@{COMMIT}").folder == spec.folder  # a pinned revision
    assert spec.adapter_base(hub) == "acme/tiny-gpt2"  # an adapter names the Hub id, which loads anywhere


def test_a_missing_hub_id_offline_is_one_line_naming_the_flag(hub):
    with pytest.raises(LmlearnError, match=r"--model acme/absent: not in the local Hugging Face cache .*HF_HUB_OFFLINE"):
        resolve_model("acme/absent")


def test_a_mistyped_local_path_is_not_sent_to_the_hub(hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(LmlearnError, match=r"--model runs/pretrian: neither a preset.*an existing folder"):
        resolve_model("runs/pretrian")


@pytest.mark.parametrize("peft", [None, "lora"])
def test_finetune_from_a_hub_id(hub, tmp_path, peft):
    out = tmp_path / "run"
    summary = run(FinetuneConfig(task="classify", model="acme/tiny-gpt2", data="builtin:sentiment?n=40&seed=1",
                                 eval_data="builtin:sentiment?n=16&seed=2", max_steps=2, batch_size=8, eval_every=0,
                                 peft=peft, out=str(out), progress=False))
    # pre-trained weights (init auto reads a Hub id as a folder), and every output names the Hub id
    assert (summary["model"], summary["model_source"], summary["init"]) == ("acme/tiny-gpt2", "hub", "pretrained")
    assert yaml.safe_load((out / "config.yaml").read_text())["model"] == "acme/tiny-gpt2"
    if peft:
        adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
        assert adapter["base_model_name_or_path"] == "acme/tiny-gpt2"
    else:
        assert "base_model: acme/tiny-gpt2" in (out / "model" / "README.md").read_text()
