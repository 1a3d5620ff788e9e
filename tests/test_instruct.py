"""Instruction tuning: data layouts, templates, assistant-only labels, packing without leaks, residual
dropout, and `lmlearn instruct` end to end."""

import json

import pytest
import torch

from lmlearn.errors import LmlearnError
from lmlearn.instruct.formats import read_conversations
from lmlearn.instruct.packing import pack, packed_batch, padded_batch
from lmlearn.instruct.sft import SFT
from lmlearn.instruct.templates import (BUILTIN, IGNORE, add_template_tokens, end_of_turn, render, render_prompt,
                                        tokenize_conversation)

pytestmark = pytest.mark.usefixtures("one_thread")

# A Llama-3-style template, standing in for a model's own chat_template.
MODEL_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
MODEL_TOKENS = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
CHAT = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "Name a colour of the sky."},
    {"role": "assistant", "content": "Blue, on a clear day."},
    {"role": "user", "content": "하늘은 무슨 색이에요?"},
    {"role": "assistant", "content": "파란색이에요."},
]
TEXTS = [f"the sky is blue on day {i}, and the grass is green. 하늘은 파란색이고 풀은 초록색이에요."
         for i in range(50)]


def make_tokenizer(family):
    from lmlearn.tokenization import train_tokenizer

    tok = train_tokenizer(TEXTS, family=family, vocab_size=500)
    add_template_tokens("chatml", tok)
    tok.add_tokens(MODEL_TOKENS, special_tokens=True)
    tok.chat_template = MODEL_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def tokenizers():
    return {family: make_tokenizer(family) for family in ("gpt2", "llama", "gpt-neox")}


def labelled_runs(ids, labels):
    """The contiguous runs of labelled token ids."""
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label != IGNORE:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


# --- data layouts --------------------------------------------------------------------------------

def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_alpaca_messages_and_sharegpt_rows_read_into_the_same_conversations(tmp_path):
    alpaca = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Add 2 and 3.", "output": "5"},
                                                {"instruction": "Translate.", "input": "cat", "output": "고양이"}])
    messages = write_jsonl(tmp_path / "m.jsonl", [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Add 2 and 3."}]},
                      {"role": "assistant", "content": "5"}]},
        {"messages": [{"role": "user", "content": "Translate.\n\ncat"},
                      {"role": "assistant", "content": "고양이"}]}])
    sharegpt = write_jsonl(tmp_path / "s.jsonl", [
        {"conversations": [{"from": "human", "value": "Add 2 and 3."}, {"from": "gpt", "value": "5"}]},
        {"conversations": [{"from": "human", "value": "Translate.\n\ncat"}, {"from": "gpt", "value": "고양이"}]}])
    hh = write_jsonl(tmp_path / "hh.jsonl", [
        {"chosen": "\n\nHuman: Add 2 and 3.\n\nAssistant: 5", "rejected": "\n\nHuman: Add 2 and 3.\n\nAssistant: 6"},
        {"chosen": "\n\nHuman: Translate.\n\ncat\n\nAssistant: 고양이", "rejected": "x"}])
    seed = write_jsonl(tmp_path / "seed.jsonl", [
        {"id": "t0", "instruction": "Add 2 and 3.", "instances": [{"input": "", "output": "5"}]},
        {"id": "t1", "instruction": "Translate.", "instances": [{"input": "cat", "output": "고양이"}]}])

    def chats(spec, fmt="auto"):
        return [chat for _, convs in read_conversations(spec, fmt) for chat in convs]

    (tmp_path / "a.csv").write_text("instruction,input,output\nAdd 2 and 3.,,5\nTranslate.,cat,고양이\n",
                                    encoding="utf-8")  # read through load_source
    expected = chats(messages)
    assert expected[1][0]["content"] == "Translate.\n\ncat"  # the input a later row adds is kept
    assert chats(alpaca) == chats(sharegpt) == chats(seed) == chats(alpaca, "alpaca") == expected
    assert chats(hh) == chats(hh, "hh") == expected  # "\n\n" inside a turn is not a turn marker
    multi = write_jsonl(tmp_path / "hh2.jsonl", [{"chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: "
                                                            "bye\n\nAssistant: see you"}])
    assert [m["role"] for m in chats(multi)[0]] == ["user", "assistant", "user", "assistant"]
    assert chats(str(tmp_path / "a.csv")) == expected
    two = write_jsonl(tmp_path / "two.jsonl", [{"instruction": "Say hi.", "instances": [
        {"input": "", "output": "hi"}, {"input": "loudly", "output": "HI"}]}])
    assert [c[1]["content"] for c in chats(two)] == ["hi", "HI"]


@pytest.mark.parametrize("row, problem", [
    ({"instruction": "x"}, "missing field 'output'"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "bot", "content": "y"}]}, "role 'bot'"),
    ({"messages": [{"role": "user", "content": "x"}]}, "no assistant turn"),
    ({"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": 3}]}, "must be a string"),
    ({"chosen": "Human: x Assistant: y"}, "must start with"),
    ({"chosen": "\n\nHuman: x\n\nAssistant: "}, "'chosen' Assistant turn 2 is empty"),
])
def test_bad_rows_name_their_file_and_line(tmp_path, row, problem):
    from lmlearn.data.sources import ReadReport

    good = {"instruction": "a", "output": "b"} if "instruction" in row else (
        {"chosen": "\n\nHuman: a\n\nAssistant: b"} if "chosen" in row else
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]} if "messages" in row
        else {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]})
    path = write_jsonl(tmp_path / "d.jsonl", [good, row, good])
    with pytest.raises(LmlearnError, match=f"{path}:2: .*{problem}"):
        read_conversations(path)
    report = ReadReport()
    assert len(read_conversations(path, on_bad_rows="skip", report=report)) == 2 and report.skipped == 1


# --- templates and labels ------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("template", ["chatml", "alpaca", "koalpaca", "model"])
def test_labels_are_exactly_the_assistant_turns(tokenizers, family, template):
    tok = tokenizers[family]
    eot = {"chatml": "<|im_end|>", "model": "<|eot_id|>"}.get(template, tok.eos_token)
    assert end_of_turn(template, tok) == eot
    ids, labels = tokenize_conversation(CHAT, template, tok)
    answers = [m["content"] for m in CHAT if m["role"] == "assistant"]
    # KoAlpaca's prompt ends at "### 답변:", so the answer's leading space is the model's to write
    lead = " " if template == "koalpaca" else ""
    assert [tok.decode(run) for run in labelled_runs(ids, labels)] == [lead + a + eot for a in answers]
    assert tok.decode(ids) == render(CHAT, template, tok)  # nothing dropped or added around the answers
    unlabelled = tok.decode([t for t, lab in zip(ids, labels) if lab == IGNORE])
    assert all(m["content"] in unlabelled for m in CHAT if m["role"] != "assistant")
    for turn in (2, 4):  # the prompt trained on is token for token the prompt generation starts from
        prompt = tok(render_prompt(CHAT[:turn], template, tok), add_special_tokens=False)["input_ids"]
        assert ids[:len(prompt)] == prompt and labels[len(prompt)] != IGNORE and labels[len(prompt) - 1] == IGNORE


def test_builtin_templates_work_through_apply_chat_template(tokenizers):
    tok = tokenizers["llama"]
    for name, text in BUILTIN.items():
        via_hf = tok.apply_chat_template(CHAT[:2], chat_template=text, add_generation_prompt=True, tokenize=False)
        assert via_hf == render_prompt(CHAT[:2], name, tok)
    assert render_prompt(CHAT[:2], "model", tok) == tok.apply_chat_template(CHAT[:2], add_generation_prompt=True,
                                                                          tokenize=False)


# --- packing -------------------------------------------------------------------------------------

def test_pack_is_best_fit_longest_first():
    # by hand: 5 opens row 0 (3 free), 4 opens row 1 (4 free), 3 fits row 0 best, 3 and 1 go to row 1
    assert pack([5, 4, 3, 3, 1], 8) == [[0, 2], [1, 3, 4]]
    lengths = [7, 1, 9, 4, 4, 2, 8, 3, 6, 5]
    rows = pack(lengths, 10)
    assert sorted(i for row in rows for i in row) == list(range(10))
    assert all(sum(lengths[i] for i in row) <= 10 for row in rows)


def examples_for(tok, n=5):
    chats = [[{"role": "user", "content": "word " * (i + 1)}, {"role": "assistant", "content": "sky " * (2 * i + 1)}]
             for i in range(n)]
    return [tokenize_conversation(c, "chatml", tok) for c in chats]


def tiny_model(preset, tok, attn):
    from lmlearn.models.factory import load_model

    model = load_model(preset, "causal-lm", tok, seed=0)
    model.set_attn_implementation(attn)
    return model.eval()


def test_token_budget_keeps_a_seeded_sample_that_fits(tokenizers):
    from lmlearn.instruct.sft import prepare

    tok = tokenizers["gpt2"]
    chats = [(f"d.jsonl:{i}", [[{"role": "user", "content": "word " * (i % 7 + 1) + str(i)},
                                {"role": "assistant", "content": "sky " * (i % 5 + 1)}]]) for i in range(40)]
    whole = prepare(chats, "chatml", tok, 128)
    budget = whole.tokens // 3
    kept = [prepare(chats, "chatml", tok, 128, token_budget=budget, seed=s) for s in (0, 0, 1)]
    assert all(budget - 30 < k.tokens <= budget for k in kept)  # filled up to the last example that fits
    assert kept[0].rows == kept[1].rows and kept[0].rows != kept[2].rows  # seeded
    firsts = [whole.rows.index(row) for row in kept[0].rows]
    assert firsts == sorted(firsts)  # a subset in the data's own order
    with pytest.raises(LmlearnError, match="smaller than every example"):
        prepare(chats, "chatml", tok, 128, token_budget=3)
    cut_all = prepare(chats, "chatml", tok, 24)
    cut_some = prepare(chats, "chatml", tok, 24, token_budget=cut_all.tokens // 3)
    assert 0 < cut_some.truncated <= cut_some.examples and cut_some.truncated < cut_all.truncated  # counts kept ones


@pytest.mark.parametrize("preset", ["llama-tiny", "gpt2-tiny", "gpt-neox-tiny"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_and_unpacked_per_example_losses_agree(tokenizers, preset, attn):
    tok = tokenizers[preset.rsplit("-", 1)[0]]
    model, examples = tiny_model(preset, tok, attn), examples_for(tok)
    sft = SFT(tok.pad_token_id)
    rows = [[examples[i] for i in row] for row in pack([len(e[0]) for e in examples], 96)]
    assert len(rows) < len(examples)  # several examples do share a row
    batch = packed_batch(rows, tok.pad_token_id)
    with torch.no_grad():
        losses = sft.token_losses(model, batch)
        packed = {}
        for b, row in enumerate(rows):
            at = 0
            for ids, labels in row:
                mask = torch.tensor(labels[1:]) != IGNORE  # targets of this segment's own positions
                packed[tuple(ids)] = losses[b, at:at + len(ids) - 1][mask].mean().item()
                at += len(ids)
        alone = {tuple(e[0]): sft.loss(model, padded_batch([e], tok.pad_token_id)).item() for e in examples}
        together = padded_batch(examples, tok.pad_token_id)
        per_token, scored = sft.token_losses(model, together), together["labels"][:, 1:] != IGNORE
        padded = {tuple(e[0]): per_token[i][scored[i]].mean().item() for i, e in enumerate(examples)}
    assert packed.keys() == alone.keys()
    for key in alone:
        assert abs(packed[key] - alone[key]) < 1e-5 and abs(padded[key] - alone[key]) < 1e-5


@pytest.mark.parametrize("preset", ["llama-tiny", "gpt2-tiny", "gpt-neox-tiny"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_examples_do_not_see_each_other(tokenizers, preset, attn):
    tok = tokenizers[preset.rsplit("-", 1)[0]]
    model, (a, b, *_) = tiny_model(preset, tok, attn), examples_for(tok)
    other_a = [(t * 7 + 3) % len(tok) for t in a[0] + a[0][:3]]  # other tokens, and more of them
    batch = packed_batch([[a, b], [(other_a, [IGNORE] * len(other_a)), b]], tok.pad_token_id)
    n, m, k = len(a[0]), len(other_a), len(b[0])
    assert batch["position_ids"][0, :n + k].tolist() == list(range(n)) + list(range(k))
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits
        leaky = model(input_ids=batch["input_ids"], use_cache=False).logits  # one long sequence instead
    assert torch.allclose(logits[0, n:n + k], logits[1, m:m + k], atol=1e-5)
    assert not torch.allclose(leaky[0, n:n + k], leaky[1, m:m + k], atol=1e-3)  # the check can fail


# --- residual dropout ----------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["llama", "gpt2", "gpt-neox"])
def test_residual_dropout_rises_through_the_layers_and_stops_in_eval(tokenizers, family):
    from lmlearn.instruct.residual_dropout import apply_residual_dropout, decoder_layers
    from lmlearn.models.factory import build_model
    from lmlearn.models.presets import build_config

    tok = tokenizers[family]
    cfg = build_config(f"{family}-tiny", tok)
    cfg.update({"n_layer": 4} if family == "gpt2" else {"num_hidden_layers": 4})
    model = build_model(cfg, "causal-lm", seed=0)
    ids = torch.randint(len(tok), (4, 32))
    with torch.no_grad():
        reference = model.eval()(input_ids=ids).logits
    rates = apply_residual_dropout(model, family, 0.3)
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    zeros = {}

    def watch(i):  # runs after the dropout (registered later): the fraction of branch outputs zeroed
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            zeros.setdefault(i, []).append((out == 0).float().mean().item())
        return hook

    for i, layer in enumerate(decoder_layers(model, family)):
        branches = {"llama": ("self_attn", "mlp"), "gpt2": ("attn", "mlp")}.get(family)
        if branches:
            for name in branches:
                layer.get_submodule(name).register_forward_hook(watch(i))
        else:  # GPT-NeoX adds its branches inside the layer: watch its dropout modules
            for name in ("post_attention_dropout", "post_mlp_dropout"):
                layer.get_submodule(name).register_forward_hook(watch(i))
    with torch.no_grad():
        model.train()(input_ids=ids)
        assert [sum(z) / len(z) for _, z in sorted(zeros.items())] == pytest.approx(rates, abs=0.03)
        zeros.clear()
        assert torch.equal(model.eval()(input_ids=ids).logits, reference)
    # no dropout in eval mode (an exact zero can still occur now and then, e.g. a flushed denormal)
    assert all(z < 0.01 for zs in zeros.values() for z in zs)


# --- lmlearn instruct end to end -----------------------------------------------------------------

WORDS = "red blue green sky sea tree cat dog sun moon rain snow".split()


def repeat_rows(n, seed):
    """Chats where the answer repeats the user's words; every fourth has a second turn."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        words = [" ".join(WORDS[j] for j in torch.randint(len(WORDS), (3,), generator=g).tolist()) for _ in range(2)]
        messages = [{"role": "user", "content": f"Repeat: {words[0]}"}, {"role": "assistant", "content": words[0]}]
        if i % 4 == 0:
            messages += [{"role": "user", "content": f"Repeat: {words[1]}"}, {"role": "assistant", "content": words[1]}]
        rows.append({"messages": messages})
    return rows


def settings(tmp_path, **kw):
    from lmlearn.workflows.instruct import InstructConfig

    base = dict(model="llama-tiny", data=write_jsonl(tmp_path / "train.jsonl", repeat_rows(160, 0)),
                eval_data=write_jsonl(tmp_path / "eval.jsonl", repeat_rows(24, 1)), vocab_size=300, block_size=96,
                batch_size=8, max_steps=40, lr=3e-3, warmup_steps=4, eval_every=0, eval_batches=3, save_every=1000,
                log_every=10, out=str(tmp_path / "run"), progress=False)
    return InstructConfig(**{**base, **kw})


def test_instruct_learns_and_saves_a_folder_that_chats_with_plain_transformers(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lmlearn.workflows.instruct import run

    summary = run(settings(tmp_path, packing=True, residual_dropout=0.1))
    assert summary["eval_loss"] < summary["initial_eval_loss"] - 1.0
    assert summary["train_sequences"] < summary["train_examples"] == 160 and summary["packing_efficiency"] > 0.8
    assert summary["residual_dropout_rates"] == [0.0, 0.1]
    folder = tmp_path / "run" / "model"
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder)
    assert tok.chat_template == BUILTIN["chatml"] and len(tok.tokenize("<|im_start|><|im_end|>")) == 2
    chat = [{"role": "user", "content": "Repeat: sun sea cat"}]
    enc = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")
    prompt = tok(render_prompt(chat, "chatml", tok), add_special_tokens=False)["input_ids"]
    assert enc["input_ids"][0].tolist() == prompt
    out = model.generate(**enc, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]
    assert tok.convert_tokens_to_ids("<|im_end|>") in model.generation_config.eos_token_id


def test_t5_trains_unpacked_and_refuses_packing(tmp_path):
    from transformers import AutoModelForSeq2SeqLM

    from lmlearn.cli import main
    from lmlearn.workflows.instruct import run

    summary = run(settings(tmp_path, model="t5-tiny", template="alpaca", vocab_size=500, max_steps=20))
    assert summary["train_examples"] == 200  # one (prompt, answer) example per assistant turn
    assert summary["eval_loss"] < summary["initial_eval_loss"]
    AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "run" / "model")
    code = main(["instruct", "--model", "t5-tiny", "--data", str(tmp_path / "train.jsonl"), "--packing",
                 "--out", str(tmp_path / "other")])
    assert code == 2


def test_lora_saves_an_adapter_and_its_base(tmp_path):
    from lmlearn.workflows.instruct import run

    summary = run(settings(tmp_path, peft="lora", max_steps=5, packing=True))
    assert summary["trainable_parameters"] < summary["parameters"]
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "run" / "base" / "config.json").exists()
    with pytest.raises(LmlearnError, match="--packing with --peft prompt"):
        run(settings(tmp_path, peft="prompt", packing=True, out=str(tmp_path / "other")))
