"""--peft end to end: `lmlearn pretrain` trains and saves an adapter (and resumes exactly on a 4-bit
base), `lmlearn merge` folds LoRA and IA3 into the weights, and a method peft cannot apply fails first."""

import json

import pytest
import torch

from lmlearn.cli import main
from lmlearn.workflows.pretrain import PretrainConfig, run
from lmlearn.errors import LmlearnError
from lmlearn.engine.metrics import read_metrics

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(data="builtin:corpus?docs=300", vocab_size=1000, block_size=32, batch_size=8, lr=1e-2,
            warmup_steps=2, eval_every=0, eval_batches=4, log_every=1)


def flags(**kw):
    return [arg for k, v in kw.items() for arg in ("--" + k.replace("_", "-"), str(v))]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lora") / "run"
    args = flags(model="llama-tiny", max_steps=40, peft="lora", out=out, **TINY)
    assert main(["pretrain", "--no-progress", *args]) == 0
    return out


def test_pretrain_with_lora_saves_only_an_adapter_that_lowers_the_loss(lora_run):
    from safetensors.torch import load_file

    summary = json.loads((lora_run / "summary.json").read_text())
    assert summary["peft"] == "lora" and summary["eval_loss"] < summary["initial_eval_loss"]
    assert (lora_run / "adapter" / "adapter_config.json").is_file() and not (lora_run / "model").exists()
    saved = load_file(lora_run / "adapter" / "adapter_model.safetensors")
    assert summary["trainable_parameters"] == sum(t.numel() for t in saved.values())
    assert summary["trainable_percent"] == pytest.approx(100 * summary["trainable_parameters"] / summary["parameters"],
                                                         abs=1e-3)


def test_pretrained_adapter_reloads_on_the_saved_preset_base(lora_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = json.loads((lora_run / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str((lora_run / "base").resolve())
    base = AutoModelForCausalLM.from_pretrained(lora_run / "base")
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        before = base(input_ids=ids).logits
        after = PeftModel.from_pretrained(base, lora_run / "adapter").eval()(input_ids=ids).logits
    assert not torch.allclose(before, after, atol=1e-3)  # the adapter learned something


def unmerged_and_merged(adapter, merged):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = json.loads((adapter / "adapter_config.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(config["base_model_name_or_path"])
    ids = torch.tensor([[5, 17, 42, 99, 7, 3, 64]])
    with torch.no_grad():
        return (PeftModel.from_pretrained(base, adapter).eval()(input_ids=ids).logits,
                AutoModelForCausalLM.from_pretrained(merged)(input_ids=ids).logits)


def test_merged_lora_gives_the_outputs_of_the_unmerged_one(lora_run, tmp_path):
    assert main(["merge", "--adapter", str(lora_run / "adapter"), "--out", str(tmp_path / "merged")]) == 0
    unmerged, merged = unmerged_and_merged(lora_run / "adapter", tmp_path / "merged")
    assert torch.allclose(merged, unmerged, atol=1e-5, rtol=0)
    assert main(["merge", "--adapter", str(lora_run / "adapter"), "--out", str(tmp_path / "merged")]) == 2


def small_adapter(method, root, steps=5):
    """An adapter of `method` on a gpt2 preset, trained a few steps so it is not the identity."""
    from lmlearn.adapters.apply import apply_peft, save_adapter
    from lmlearn.adapters.settings import PeftSettings
    from lmlearn.data.sources import load_source
    from lmlearn.models.factory import load_model
    from lmlearn.tokenization import train_tokenizer

    tok = train_tokenizer(load_source("builtin:corpus?docs=100")["text"], family="gpt2", vocab_size=300)
    base = load_model("gpt2-tiny", "causal-lm", tok, seed=0)
    base.save_pretrained(root / "base")
    model = apply_peft(base, PeftSettings(peft=method, num_virtual_tokens=4), "gpt2", "causal-lm", tok)
    ids = tok(list(load_source("builtin:corpus?docs=8")["text"]), truncation=True, max_length=16, padding="max_length",
              return_tensors="pt")["input_ids"]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-1)
    for _ in range(steps):
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    save_adapter(model, tok, root / "adapter", base=root / "base")
    return root / "adapter"


def test_merged_ia3_gives_the_outputs_of_the_unmerged_one(tmp_path):
    adapter = small_adapter("ia3", tmp_path)
    assert main(["merge", "--adapter", str(adapter), "--out", str(tmp_path / "merged")]) == 0
    unmerged, merged = unmerged_and_merged(adapter, tmp_path / "merged")
    assert torch.allclose(merged, unmerged, atol=1e-5, rtol=0)


def test_merge_refuses_an_adapter_that_does_not_fold_into_the_weights(tmp_path, capsys):
    adapter = small_adapter("prompt", tmp_path, steps=0)
    assert main(["merge", "--adapter", str(adapter), "--out", str(tmp_path / "merged")]) == 2
    assert "PROMPT_TUNING adapter; only LoRA" in capsys.readouterr().err
    assert not (tmp_path / "merged").exists()


def test_qlora_pretrain_on_a_4bit_base_resumes_exactly(tmp_path):
    import shutil

    from transformers import AutoModelForCausalLM

    settings = PretrainConfig(model="gpt2-tiny", max_steps=6, save_every=3, keep_last=5, peft="qlora",
                              out=str(tmp_path / "run"), progress=False, **TINY)
    first = run(settings)
    losses = [r["loss"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-00000006")
    settings.resume = True
    second = run(settings)
    assert [r["loss"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == losses
    assert second["eval_loss"] == first["eval_loss"]
    # the frozen part is the whole preset, its 4-bit weights counted as the parameters they hold
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "base")
    assert first["parameters"] - first["trainable_parameters"] == sum(p.numel() for p in base.parameters())


@pytest.mark.parametrize("method,model,objective,message", [
    ("llama-adapter", "bert-tiny", "mlm", "--peft llama-adapter does not fit a bert model for masked-lm"),
    ("prompt", "bert-tiny", "mlm", "--peft prompt does not fit a bert model for masked-lm"),
    ("prefix", "xlnet-tiny", "plm", "--peft prefix does not fit a xlnet model for causal-lm"),
])
def test_a_method_peft_cannot_apply_fails_before_any_work(tmp_path, capsys, method, model, objective, message):
    args = ["pretrain", *flags(model=model, objective=objective, peft=method, out=tmp_path / "run")]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_check_names_the_families_that_fit():
    from lmlearn.adapters.apply import check_peft

    with pytest.raises(LmlearnError, match="families it supports for sequence-classification: gpt2, llama"):
        check_peft("prefix", "distilbert", "sequence-classification")


def test_peft_on_an_objective_that_trains_two_models_is_refused(tmp_path):
    settings = PretrainConfig(model="electra-tiny", objective="electra", peft="lora", max_steps=1,
                              out=str(tmp_path / "run"), progress=False, **TINY)
    with pytest.raises(LmlearnError, match="objective 'electra' trains a GeneratorDiscriminator"):
        run(settings)
