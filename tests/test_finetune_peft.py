"""`lmlearn finetune --peft`: an adapter trains on a frozen base, and the saved adapter reproduces
the reported predictions in plain peft."""

import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from lmlearn.workflows.finetune import FinetuneConfig, run
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.models.factory import load_model
from lmlearn.models.factory import save_model
from lmlearn.tokenization import train_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peft-ft")
    texts = load_source("builtin:corpus?docs=300")["text"]
    tokenizer = train_tokenizer(texts, family="bert", vocab_size=1000)
    base = str(save_model(load_model("bert-tiny", "masked-lm", tokenizer, seed=3), tokenizer, folder / "base"))
    rows = [{"text": r["text"], "label": ["negative", "positive"][r["label"]]}
            for r in load_source("builtin:corpus?docs=2400&seed=1") if r["genre"] == "review"]
    for name, part in (("train", rows[:300]), ("test", rows[300:360])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part),
                                              encoding="utf-8")
    return base, str(folder / "train.jsonl"), str(folder / "test.jsonl")


def _cfg(tmp_path, setup, **kw):
    base, train, test = setup
    settings = dict(task="classify", model=base, data=train, eval_data=test, max_steps=60, batch_size=16, lr=3e-3,
                    warmup_steps=5, eval_every=0, eval_batches=2, out=str(tmp_path / "run"), progress=False)
    return FinetuneConfig(**{**settings, **kw})


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_adapter_trains_alone_and_reloads_in_plain_peft(tmp_path, setup, method):
    summary = run(_cfg(tmp_path, setup, peft=method))
    assert summary["peft"] == method and 0 < summary["trainable_parameters"] < summary["parameters"] / 5
    adapter = tmp_path / "run" / "adapter"
    assert (adapter / "adapter_config.json").is_file() and not (tmp_path / "run" / "model").exists()

    labels = json.loads((adapter / "head_config.json").read_text())
    base = AutoModelForSequenceClassification.from_pretrained(setup[0], num_labels=2, id2label=labels["id2label"],
                                                              label2id=labels["label2id"])
    before = {k: v.clone() for k, v in base.bert.state_dict().items()}
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    rows = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    batch = tokenizer([r["text"] for r in rows], padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        ids = model(**batch).logits.argmax(-1).tolist()
    assert [labels["id2label"][str(i)] for i in ids] == [r["prediction"] for r in rows]
    # the adapter moved from its identity start (LoRA's B = 0, IA3's scales = 1) ...
    start = 0.0 if method == "lora" else 1.0
    adapted = [p for n, p in model.named_parameters() if ("lora_B" in n or "ia3_l" in n)]
    assert adapted and any(not torch.all(p == start) for p in adapted)
    # ... and the checkpoint's base weights are untouched: the saved adapter holds everything that trained
    assert all(torch.equal(before[k], v) for k, v in model.get_base_model().bert.state_dict().items()
               if k in before and "lora" not in k and "ia3" not in k and "base_layer" not in k)


def test_qlora_fine_tunes_a_4bit_base(tmp_path, setup):
    import bitsandbytes as bnb

    from lmlearn.adapters.qlora import load_quantized

    summary = run(_cfg(tmp_path, setup, peft="qlora", max_steps=30))
    assert summary["peft"] == "qlora" and summary["test_examples"] == 60
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
    # the base it read from the folder is 4-bit NF4 (what finetune loads with --peft qlora)
    base = load_quantized(setup[0], "sequence-classification", num_labels=2)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in base.modules())


def test_peft_that_does_not_fit_is_refused_before_reading_data(tmp_path, setup):
    with pytest.raises(LmlearnError, match="--peft llama-adapter does not fit a bert model"):
        run(_cfg(tmp_path, setup, peft="llama-adapter", data="missing.jsonl"))
    with pytest.raises(LmlearnError, match="--freeze and --peft"):
        run(_cfg(tmp_path, setup, peft="lora", freeze=True))
