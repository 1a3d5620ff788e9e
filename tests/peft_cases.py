"""What the --peft tests share: tiny bases pre-trained for a few seconds (an adapter on random weights
barely moves the loss), a fixed batch to fit, a plain loop, and the base read back without lmlearn."""

import functools

import torch

from lmlearn.adapters.apply import apply_peft, save_adapter
from lmlearn.adapters.base import auto_class
from lmlearn.adapters.qlora import load_quantized
from lmlearn.adapters.settings import PeftSettings
from lmlearn.models.presets import build_config

SMALL = dict(lora_r=4, num_virtual_tokens=4, adapter_len=4)
# Vectors and soft prompts need larger steps than low-rank matrices (Lester et al. tune prompts at 0.3).
LR = {"lora": 1e-2, "qlora": 1e-2, "ia3": 1e-1, "prefix": 3e-2, "prompt": 3e-2, "ptuning": 3e-2, "llama-adapter": 1e-1}


@functools.lru_cache(maxsize=None)
def texts():
    from lmlearn.data.sources import load_source

    return list(load_source("builtin:corpus?docs=300")["text"])


@functools.lru_cache(maxsize=None)
def tokenizer(family):
    from lmlearn.tokenization import train_tokenizer

    if family == "bert":
        return train_tokenizer(texts()[:150], family="bert", vocab_size=1000)
    return train_tokenizer(texts()[:150], family="gpt2", vocab_size=400)


def make_batch(family, task_type, rows=range(8), length=20, generator=None):
    """Corpus rows as a batch: masked for the MLM, labelled by length for the classifier."""
    tok = tokenizer(family)
    chosen = [texts()[i] for i in rows]
    if task_type == "sequence-classification":  # the first 1, 2, 3, ... words: short and long texts
        chosen = [" ".join(text.split()[:1 + i]) for i, text in enumerate(chosen)]
        length = 64
    enc = tok(chosen, truncation=True, max_length=length, padding="max_length", return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    batch = {"input_ids": ids, "attention_mask": mask}
    if task_type == "causal-lm":
        batch["labels"] = ids.masked_fill(mask == 0, -100)
    elif task_type == "masked-lm":
        picked = (torch.rand(ids.shape, generator=generator or torch.Generator().manual_seed(0)) < 0.3) & (mask == 1)
        batch["input_ids"] = ids.masked_fill(picked, tok.mask_token_id)
        batch["labels"] = ids.masked_fill(~picked, -100)
    else:  # long or short: a label a frozen encoder's [CLS] state can reflect
        batch["labels"] = (torch.arange(ids.shape[0]) >= ids.shape[0] // 2).long()
    return batch


def fit(model, batches, lr):
    """Plain AdamW on the trainable parameters, one step per batch; the losses. A new task head
    (classifier, BERT's pooler) takes ordinary steps: the large rates that prompts and vectors need
    would make a fresh dense layer diverge."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    head = [p for n, p in trainable if "modules_to_save" in n]
    rest = [p for n, p in trainable if "modules_to_save" not in n]
    groups = [{"params": rest, "lr": lr}] + ([{"params": head, "lr": min(lr, 1e-2)}] if head else [])
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for batch in batches:
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


@functools.lru_cache(maxsize=None)
def pretrained(family):
    """A tiny preset of `family` trained 60 steps on the corpus (its LM head's weights)."""
    task_type = "masked-lm" if family == "bert" else "causal-lm"
    config = build_config(f"{family}-tiny", tokenizer(family))
    torch.manual_seed(0)
    model = auto_class(task_type).from_config(config)
    g = torch.Generator().manual_seed(0)
    # rows 40 on: the batch the adapters fit (rows 0-7) stays unseen
    batches = [make_batch(family, task_type, torch.randint(40, 300, (16,), generator=g).tolist(), 32, g)
               for _ in range(60)]
    fit(model, batches, 3e-3)
    return model.state_dict()


def save_base(family, task_type, folder):
    """The pre-trained base with the `task_type` head (a fresh classifier on top where needed)."""
    config = build_config(f"{family}-tiny", tokenizer(family))
    config.num_labels = 2
    torch.manual_seed(1)
    model = auto_class(task_type).from_config(config)
    model.load_state_dict(pretrained(family), strict=False)
    model.save_pretrained(folder)


def train_case(method, family, task_type, root):
    """Put `method` on the saved base, fit one fixed batch 60 steps, save the adapter."""
    save_base(family, task_type, root / "base")
    if method == "qlora":
        base = load_quantized(str(root / "base"), task_type)
    else:
        base = auto_class(task_type).from_pretrained(root / "base")
    before = {p: p.detach().clone() for p in base.parameters()}
    model = apply_peft(base, PeftSettings(peft=method, **SMALL), family, task_type, tokenizer(family))
    batch = make_batch(family, task_type)
    initial = eval_loss(model, batch)
    fit(model, [batch] * 60, LR[method])
    save_adapter(model, tokenizer(family), root / "adapter", base=root / "base")
    return dict(before=before, losses=(initial, eval_loss(model, batch)), model=model.eval(), batch=batch, root=root)


def eval_loss(model, batch):
    """The loss without dropout, so that before and after compare the model and nothing else."""
    model.eval()
    with torch.no_grad():
        return model(**batch).loss.item()


def plain_base(folder, method, task_type):
    """The saved base read back by transformers alone (in 4 bits for qlora)."""
    if method != "qlora":
        return auto_class(task_type).from_pretrained(folder)
    from transformers import BitsAndBytesConfig

    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                           bnb_4bit_compute_dtype=torch.float32)
    model = auto_class(task_type).from_pretrained(folder, quantization_config=q, dtype=torch.float32)
    for module in model.modules():  # the same bitsandbytes CPU kernel as lmlearn's (see adapters/qlora.py)
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return model


def assert_base_untouched(run):
    """Only new parameters train, and every base tensor is still the model's own and bit-identical."""
    used = {id(p) for p in run["model"].parameters()}
    trainable = {id(p) for p in run["model"].parameters() if p.requires_grad}
    assert trainable and trainable.isdisjoint(id(p) for p in run["before"])
    for p, old in run["before"].items():
        assert id(p) in used  # the base's own tensors are still the ones the model computes with
        assert torch.equal(p, old)
