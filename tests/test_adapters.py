"""PEFT adapters at evaluation and generation time: `--adapter DIR` on top of a base model folder."""

import json

import pytest
import torch

from lmlearn.cli import main
from lmlearn.workflows.generate import Config as GenerateConfig, generate
from lmlearn.workflows.pretrain import PretrainConfig, run


@pytest.fixture(scope="module")
def base_and_adapter(tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("adapters")
    run(PretrainConfig(model="gpt2-tiny", data="builtin:corpus?docs=300", vocab_size=800, block_size=32,
                       batch_size=4, max_steps=5, eval_every=0, out=str(root / "base"), progress=False))
    base_dir = root / "base" / "model"
    torch.manual_seed(0)
    # init_lora_weights=False: a LoRA that starts non-zero, so the adapter really changes the outputs
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                                LoraConfig(r=4, target_modules=["c_attn"], init_lora_weights=False))
    peft_model.save_pretrained(root / "adapter")
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(root / "merged")
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(root / "merged")
    return base_dir, root / "adapter", root / "merged"


def _logliks(tmp_path, name, *args):
    out = tmp_path / f"{name}.json"
    assert main(["evaluate", "--task", "review_sentiment", "--limit", "12", "--out", str(out), *args]) == 0
    lines = (tmp_path / f"{name}.samples.jsonl").read_text(encoding="utf-8").splitlines()
    return torch.tensor([json.loads(line)["logliks"] for line in lines])


def test_evaluate_with_adapter_equals_the_merged_model(base_and_adapter, tmp_path):
    base, adapter, merged = base_and_adapter
    with_adapter = _logliks(tmp_path, "adapter", "--model", str(base), "--adapter", str(adapter))
    assert torch.allclose(with_adapter, _logliks(tmp_path, "merged", "--model", str(merged)), atol=1e-4)
    assert not torch.allclose(with_adapter, _logliks(tmp_path, "base", "--model", str(base)), atol=1e-3)


def test_generate_with_adapter_equals_the_merged_model(base_and_adapter):
    base, adapter, merged = base_and_adapter
    kw = dict(prompt="Minjun", max_new_tokens=8)
    assert generate(GenerateConfig(model=str(base), adapter=str(adapter), **kw)) == \
        generate(GenerateConfig(model=str(merged), **kw))


def test_missing_adapter_is_one_line(base_and_adapter, tmp_path, capsys):
    base, _, _ = base_and_adapter
    assert main(["evaluate", "--model", str(base), "--adapter", str(tmp_path / "none"), "--limit", "2"]) == 2
    assert "no adapter_config.json" in capsys.readouterr().err
