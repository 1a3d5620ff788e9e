"""Alignment: preference data, the reward model, DPO and its relatives, PPO, each by its defining property."""

import copy
import gzip
import json
import math
import os
import random

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from lmlearn.align.common import collate_pairs
from lmlearn.align.dpo import DPO
from lmlearn.align.ppo import PPO, PolicyWithValue, PPOSettings, gae, kl_per_token
from lmlearn.align.preferences import TokenizedPair, read_pairs
from lmlearn.align.reward import RewardModeling
from lmlearn.align.rollout import sample
from lmlearn.engine.method import Models
from lmlearn.engine.settings import TrainSettings
from lmlearn.errors import LmlearnError

pytestmark = pytest.mark.usefixtures("one_thread")
HH = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "hh-rlhf", "harmless-base-test.jsonl.gz")
WORDS = "red blue green sky sea tree cat dog sun moon rain snow".split()


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=64, n_embd=16, n_layer=1, n_head=2, resid_pdrop=0.0,
                                      embd_pdrop=0.0, attn_pdrop=0.0, eos_token_id=1, bos_token_id=1, pad_token_id=0))


def random_pairs(n=8, seed=0):
    """Pairs of very different lengths: a prompt, then a chosen and a rejected answer."""
    g = random.Random(seed)
    pairs = []
    for _ in range(n):
        prompt = [g.randrange(2, 64) for _ in range(g.randrange(1, 6))]
        sides = []
        for _ in range(2):
            answer = [g.randrange(2, 64) for _ in range(g.randrange(1, 9))]
            sides += [prompt + answer, [-100] * len(prompt) + answer]
        pairs.append(TokenizedPair(*sides, margin=0.0))
    return pairs


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def repeat_rows(n, seed, chat):
    """The chosen answer repeats the prompt's three words; the rejected one is three other words."""
    g = random.Random(seed)
    rows = []
    for _ in range(n):
        words, other = (" ".join(g.choice(WORDS) for _ in range(3)) for _ in range(2))
        if chat:
            rows.append({"prompt": [{"role": "user", "content": f"Repeat: {words}"}], "chosen": words, "rejected": other})
        else:
            rows.append({"prompt": f"Repeat: {words} ->", "chosen": " " + words, "rejected": " " + other})
    return rows


def taste_rows(n, seed):
    """Chat pairs whose chosen answer draws from the first half of WORDS and the rejected one from the second:
    a preference a tiny reward model learns from 60 steps at any seed, where copying the prompt needs luck."""
    g = random.Random(seed)
    rows = []
    for _ in range(n):
        words = " ".join(g.choice(WORDS) for _ in range(3))
        good, bad = (" ".join(g.choice(half) for _ in range(3)) for half in (WORDS[:6], WORDS[6:]))
        rows.append({"prompt": [{"role": "user", "content": f"Name three things: {words}"}], "chosen": good, "rejected": bad})
    return rows


# --- preference data -------------------------------------------------------------------------------


def test_the_layouts_read_into_one_pair_form(tmp_path):
    explicit = write_jsonl(tmp_path / "e.jsonl", [{"prompt": "Say hi", "chosen": "hi", "rejected": "no", "margin": 2}])
    chat = write_jsonl(tmp_path / "c.jsonl", [{"prompt": [{"role": "user", "content": "Say hi"}],
                                               "chosen": [{"role": "assistant", "content": "hi"}], "rejected": "no"}])
    hh = write_jsonl(tmp_path / "h.jsonl", [{"chosen": "\n\nHuman: Say hi\n\nAssistant: hi",
                                             "rejected": "\n\nHuman: Say hi\n\nAssistant: no"}])
    messages = write_jsonl(tmp_path / "m.jsonl", [{
        "chosen": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}],
        "rejected": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "no"}]}])
    [p] = read_pairs(explicit)
    assert (p.prompt, p.chosen, p.rejected, p.margin) == ("Say hi", "hi", "no", 2.0)
    for spec in (chat, hh, messages):
        [p] = read_pairs(spec)
        assert (p.prompt, p.chosen, p.rejected) == ([{"role": "user", "content": "Say hi"}], "hi", "no"), spec


def test_bad_preference_rows_name_their_file_and_line(tmp_path):
    spec = write_jsonl(tmp_path / "bad.jsonl", [
        {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"},
        {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: OTHER\n\nAssistant: c"}])
    with pytest.raises(LmlearnError, match=r"bad.jsonl:2: .*differ before their last assistant turn"):
        read_pairs(spec)
    assert len(read_pairs(spec, on_bad_rows="skip")) == 1


@pytest.mark.skipif(not os.path.exists(HH), reason="../shared/data/hh-rlhf is not here")
def test_hh_pairs_split_at_the_last_assistant_turn():
    from lmlearn.data.sources import ReadReport

    report = ReadReport()
    pairs = read_pairs(HH, on_bad_rows="skip", report=report)
    assert len(pairs) + report.skipped == 2312 and report.skipped <= 10
    with gzip.open(HH, "rt", encoding="utf-8") as f:
        first = json.loads(f.readline())
    assert first["chosen"].endswith(pairs[0].chosen) and first["rejected"].endswith(pairs[0].rejected)
    assert pairs[0].prompt[-1]["role"] == "user"


def test_only_the_compared_answer_is_labelled_in_a_multi_turn_prompt(tmp_path):
    from lmlearn.align.preferences import tokenize_pairs
    from lmlearn.instruct.templates import IGNORE, add_template_tokens
    from lmlearn.tokenization import train_tokenizer

    tok = train_tokenizer([f"first answer {i} and the last answer, a question" for i in range(40)], family="gpt2",
                          vocab_size=300)
    add_template_tokens("chatml", tok)
    spec = write_jsonl(tmp_path / "hh.jsonl", [{
        "chosen": "\n\nHuman: a question\n\nAssistant: first answer\n\nHuman: a question\n\nAssistant: the last answer",
        "rejected": "\n\nHuman: a question\n\nAssistant: first answer\n\nHuman: a question\n\nAssistant: no"}])
    [pair], _ = tokenize_pairs(read_pairs(spec), "chatml", tok, 256)
    labelled = [t for t in pair.chosen_labels if t != IGNORE]
    assert tok.decode(labelled).strip() == "the last answer<|im_end|>"  # not "first answer" of the prompt
    first = next(i for i, t in enumerate(pair.chosen_labels) if t != IGNORE)
    assert pair.chosen_ids[:first] == pair.rejected_ids[:first]  # the shared prompt, token for token


def test_prompts_come_from_prompt_rows_preference_rows_and_builtin_openings(tmp_path):
    from lmlearn.align.prompts import read_prompts

    hh = write_jsonl(tmp_path / "hh.jsonl", [{"chosen": "\n\nHuman: hi\n\nAssistant: yes",
                                              "rejected": "\n\nHuman: hi\n\nAssistant: no"}])
    assert read_prompts(hh) == [[{"role": "user", "content": "hi"}]]
    openings = read_prompts("builtin:review_openings?n=6")
    assert len(openings) == 6 and all(isinstance(p, str) and p.endswith(".") for p in openings)
    with pytest.raises(LmlearnError, match=r"p.jsonl:1: no 'question' field"):
        read_prompts(write_jsonl(tmp_path / "p.jsonl", [{"prompt": "x"}]), column="question")


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_the_shared_prompt_pass_gives_the_full_rows_log_probabilities_and_gradients(family):
    from transformers import LlamaConfig, LlamaForCausalLM

    from lmlearn.align.common import answer_logps, both_sides, shared_prompt_logps

    torch.manual_seed(0)
    model = tiny_gpt() if family == "gpt2" else LlamaForCausalLM(LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0))
    batch = collate_pairs(random_pairs(8), 0)
    full, count = answer_logps(model, *both_sides(batch, 0))
    grads_full = torch.autograd.grad(full.sum(), list(model.parameters()))
    shared, shared_count = shared_prompt_logps(model, batch, 0)
    grads_shared = torch.autograd.grad(shared.sum(), list(model.parameters()))
    assert torch.equal(count, shared_count) and torch.allclose(full, shared, atol=1e-4)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads_full, grads_shared))
    # a pair whose two prompts differ takes the full rows
    pairs = random_pairs(2)
    pairs[1].rejected_ids = [63] + pairs[1].rejected_ids[1:]
    assert shared_prompt_logps(model, collate_pairs(pairs, 0), 0) is None


def test_the_alignment_recipes_resolve_before_anything_runs():
    from pathlib import Path

    from lmlearn.commands.recipe import load_steps

    recipes = Path(__file__).resolve().parent.parent / "recipes"
    steps = load_steps(str(recipes / "rlhf-sentiment.yaml"))
    assert [s[0] for s in steps] == ["pretrain", "finetune", "ppo", "pairs", "dpo", "rollout"]
    steps = load_steps(str(recipes / "rlhf.yaml"))
    assert [s[0] for s in steps] == ["instruct", "reward", "ppo", "rollout"]


# --- the engine's accumulation over pairs ----------------------------------------------------------


def _sgd(model, settings):
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=settings.lr)


def _one_step_change(method, model, pairs, tmp_path, monkeypatch, frozen=None, **kw):
    from lmlearn.engine.loop import train

    monkeypatch.setattr("lmlearn.engine.loop.make_optimizer", _sgd)
    before = copy.deepcopy(model)
    settings = TrainSettings(max_steps=1, max_grad_norm=0.0, eval_every=0, save_every=1000, progress=False,
                             warmup_steps=0, schedule="constant", lr=1.0, **kw)
    train(model, method, pairs, None, settings, tmp_path, frozen=frozen)
    return [(b - a).detach() for a, b in zip(model.parameters(), before.parameters())]


@pytest.mark.parametrize("kind", ["dpo", "reward"])
def test_batch_1_times_accumulation_8_equals_batch_8(kind, tmp_path, monkeypatch):
    pairs = random_pairs(8)

    def change(path, **kw):
        if kind == "dpo":
            model = tiny_gpt()
            return _one_step_change(DPO(0), model, pairs, path, monkeypatch,
                                    frozen={"reference": tiny_gpt(seed=1)}, **kw)
        from transformers import GPT2ForSequenceClassification

        torch.manual_seed(0)
        model = GPT2ForSequenceClassification(GPT2Config(vocab_size=64, n_positions=64, n_embd=16, n_layer=1, n_head=2,
                                                         num_labels=1, pad_token_id=0, resid_pdrop=0.0,
                                                         embd_pdrop=0.0, attn_pdrop=0.0))
        return _one_step_change(RewardModeling(0), model, pairs, path, monkeypatch, **kw)

    whole = change(tmp_path / "whole", batch_size=8)
    accumulated = change(tmp_path / "acc", batch_size=1, grad_accum=8)
    assert max(float(a.abs().max()) for a in whole) > 1e-4
    assert all(torch.allclose(a, b, atol=1e-5, rtol=0) for a, b in zip(whole, accumulated))


# --- the reward model ------------------------------------------------------------------------------


def test_reward_scores_read_the_last_real_token_whatever_the_padding():
    from transformers import GPT2ForSequenceClassification

    from lmlearn.align.common import sequence_scores

    torch.manual_seed(0)
    model = GPT2ForSequenceClassification(GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, num_labels=1,
                                                     pad_token_id=0)).eval()
    ids = torch.tensor([[5, 6, 7, 1], [5, 6, 1, 0]])  # eos = 1 ends both; the second is padded
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    alone = sequence_scores(model, ids[1:, :3], mask[1:, :3])
    scores = sequence_scores(model, ids, mask)
    assert torch.allclose(scores[1], alone[0], atol=1e-5)
    assert torch.allclose(scores, model(input_ids=ids, attention_mask=mask).logits[:, 0], atol=1e-5)


def test_reward_command_ranks_pairs_it_learned_and_saves_an_auto_class_folder(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lmlearn.align.preferences import read_pairs, tokenize_pairs
    from lmlearn.workflows.reward import RewardConfig, run

    # held-out pairs: the copy task of repeat_rows rose on them at one seed of three with one thread (CI)
    data = write_jsonl(tmp_path / "train.jsonl", taste_rows(200, 0))
    test = write_jsonl(tmp_path / "test.jsonl", taste_rows(40, 5))
    summary = run(RewardConfig(model="gpt2-tiny", data=data, eval_fraction=0.1, vocab_size=300, block_size=64,
                               test_data=test,
                               batch_size=16, max_steps=60, lr=3e-3, warmup_steps=10, eval_every=0,
                               save_every=1000, out=str(tmp_path / "rm"), progress=False))
    assert summary["initial_eval_loss"] == pytest.approx(math.log(2), abs=0.05)
    assert summary["eval_loss"] < summary["initial_eval_loss"]
    predictions = [json.loads(x) for x in (tmp_path / "rm" / "test_predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == summary["test_pairs"] == 40 and predictions[0]["id"].endswith("test.jsonl:1")
    assert summary["test_accuracy"] == pytest.approx(sum(p["acc"] for p in predictions) / 40)
    folder = tmp_path / "rm" / "model"
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    assert model.config.num_labels == 1 and tok.chat_template
    [pair], _ = tokenize_pairs(read_pairs(data)[:1], "chatml", tok, 64)
    with torch.no_grad():
        chosen = model(input_ids=torch.tensor([pair.chosen_ids])).logits[0, 0]
        rejected = model(input_ids=torch.tensor([pair.rejected_ids])).logits[0, 0]
    assert chosen > rejected  # a training pair, ranked by the plain transformers class


# --- DPO -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss,first", [("sigmoid", math.log(2)), ("ipo", (1 / (2 * 0.1)) ** 2), ("hinge", 1.0)])
def test_dpo_first_loss_when_the_policy_is_the_reference(loss, first):
    pairs = random_pairs(6)
    method = DPO(0, beta=0.1, loss=loss)
    policy = tiny_gpt()
    out = method.step(Models(policy, {"reference": copy.deepcopy(policy)}), collate_pairs(pairs, 0))
    assert out.loss.item() == pytest.approx(first, abs=1e-5)
    assert float(out.metrics["reward_margin"]) == pytest.approx(0.0, abs=1e-6)


def test_precomputed_reference_equals_the_live_one():
    pairs, policy = random_pairs(6), tiny_gpt()
    reference = tiny_gpt(seed=3)
    live = DPO(0).step(Models(policy, {"reference": reference}), collate_pairs(pairs, 0))
    method = DPO(0)
    method.precompute(reference, pairs, batch_size=4, device="cpu")
    stored = method.step(Models(policy), collate_pairs(pairs, 0))
    assert method.reference == "precomputed" and float(stored.loss) == pytest.approx(float(live.loss), abs=1e-5)


def test_auto_shares_the_prompt_only_when_prompts_outweigh_answers():
    long_prompts = collate_pairs([TokenizedPair([5] * 20 + [6, 7], [-100] * 20 + [6, 7], [5] * 20 + [8],
                                                [-100] * 20 + [8])], 0)
    short_prompts = collate_pairs([TokenizedPair([5, 6, 7, 8], [-100, 6, 7, 8], [5, 9, 9], [-100, 9, 9])], 0)
    method = DPO(0)
    assert method._share(long_prompts) and not method._share(short_prompts)
    assert DPO(0, share_prompt="always")._share(short_prompts) and not DPO(0, share_prompt="never")._share(long_prompts)
    with pytest.raises(LmlearnError, match="--share-prompt True"):
        DPO(0, share_prompt=True)  # what YAML makes of `on`


def test_simpo_needs_no_reference_and_uses_mean_log_probabilities():
    from lmlearn.align.common import answer_logps, both_sides

    pairs = random_pairs(4)
    batch = collate_pairs(pairs, 0)
    policy = tiny_gpt()
    out = DPO(0, beta=2.0, loss="simpo", simpo_gamma=0.5).step(Models(policy), batch)  # no reference slot
    total, count = answer_logps(policy, *both_sides(batch, 0))
    mean = total / count
    c, r = mean.chunk(2)
    assert float(out.loss) == pytest.approx(float(-torch.nn.functional.logsigmoid(2.0 * (c - r) - 0.5).mean()), abs=1e-5)


def _dpo_settings(tmp_path, **kw):
    from lmlearn.workflows.dpo import DPOConfig

    base = dict(model="llama-tiny", data=write_jsonl(tmp_path / "train.jsonl", repeat_rows(240, 0, chat=False)),
                eval_data=write_jsonl(tmp_path / "eval.jsonl", repeat_rows(32, 1, chat=False)), vocab_size=300,
                block_size=64, batch_size=16, max_steps=40, lr=3e-3, warmup_steps=4, eval_every=20, eval_batches=2,
                save_every=1000, out=str(tmp_path / "dpo"), progress=False)
    return DPOConfig(**{**base, **kw})


def test_dpo_command_learns_the_preference_and_starts_at_ln2(tmp_path):
    from transformers import AutoModelForCausalLM

    from lmlearn.workflows.dpo import run

    summary = run(_dpo_settings(tmp_path, share_prompt="always"))
    assert summary["initial_eval_loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert summary["shared_prompt_forwards"] > 0  # the fast path was taken
    assert summary["eval_reward_accuracy"] > 0.8 and summary["eval_loss"] < 0.6
    AutoModelForCausalLM.from_pretrained(tmp_path / "dpo" / "model")


def test_dpo_with_lora_starts_at_ln2_with_the_base_as_reference(tmp_path):
    from lmlearn.workflows.dpo import run

    summary = run(_dpo_settings(tmp_path, peft="lora", max_steps=10, eval_every=0))
    assert summary["reference"] == "adapters-off" and summary["initial_eval_loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert (tmp_path / "dpo" / "adapter" / "adapter_config.json").is_file()


def _lora(model):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.0))


def _base_weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


@pytest.mark.parametrize("kind", ["dpo", "ppo"])
def test_under_lora_the_base_weights_stay_bit_identical_and_only_the_adapter_learns(kind, tmp_path):
    from lmlearn.engine.loop import train

    policy = _lora(tiny_gpt())
    before = _base_weights(policy)
    lora = {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_B" in n}
    settings = TrainSettings(max_steps=6, batch_size=4, lr=1e-2, warmup_steps=0, schedule="constant", eval_every=0,
                             save_every=1000, progress=False, weight_decay=0.1)
    if kind == "dpo":
        train(policy, DPO(0, reference="adapters-off"), random_pairs(24), None, settings, tmp_path)
    else:
        model = PolicyWithValue(policy)
        method = _ppo(None, lambda prompts, samples: samples.answer_mask.sum(1).float(), reference="adapters-off")
        train(model, method, None, None, settings, tmp_path)
        assert method.buffer_index >= 1
    after = _base_weights(policy)
    assert before.keys() == after.keys() and all(torch.equal(before[n], after[n]) for n in before), "base moved"
    assert any(not torch.equal(lora[n], p) for n, p in policy.named_parameters() if "lora_B" in n), "adapter idle"


# --- PPO -------------------------------------------------------------------------------------------


def test_gae_matches_a_hand_computed_case():
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.4, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the last position is past the answer's end
    gamma, lam = 0.9, 0.8
    d2 = 1.0 + 0 - 0.4
    d1 = 0.0 + gamma * 0.4 - 0.2
    d0 = 0.0 + gamma * 0.2 - 0.5
    a2 = d2
    a1 = d1 + gamma * lam * a2
    a0 = d0 + gamma * lam * a1
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    assert torch.allclose(advantages, torch.tensor([[a0, a1, a2, 0.0]]), atol=1e-6)
    assert torch.allclose(returns[:, :3], advantages[:, :3] + values[:, :3], atol=1e-6)


def test_kl_estimators_vanish_at_the_reference_and_k3_is_never_negative():
    logp = torch.randn(100)
    ref = logp + torch.randn(100)
    assert torch.equal(kl_per_token(logp, logp, "k1"), torch.zeros(100))
    assert torch.equal(kl_per_token(logp, logp, "k3"), torch.zeros(100))
    assert (kl_per_token(logp, ref, "k3") >= 0).all() and (kl_per_token(logp, ref, "k1") < 0).any()


def test_sampling_through_the_kv_cache_draws_what_the_full_recompute_draws():
    from lmlearn.evaluation.lm import cache_argument

    model = tiny_gpt().eval()
    prompts = [[5, 6, 7], [9], [3, 4]]
    assert cache_argument(model) is not None  # the fast path is taken for this model
    fast = sample(model, prompts, 10, 0, [1], torch.Generator().manual_seed(4))
    slow = sample(model, prompts, 10, 0, [1], torch.Generator().manual_seed(4), use_cache=False)
    assert torch.equal(fast.input_ids, slow.input_ids) and torch.equal(fast.answer_mask, slow.answer_mask)
    # left padding changes nothing: the second prompt alone draws the same answer tokens
    assert fast.input_ids.shape[1] == 3 + fast.answer_mask[:, 3:].shape[1]


def _ppo(policy, reward, rows=4, reference="model", **kw):
    settings = PPOSettings(rollout_batch=8, ppo_epochs=2, max_new_tokens=6, **kw)
    prompts = [[random.Random(i).randrange(2, 64) for _ in range(3)] for i in range(16)]
    return PPO([str(p) for p in prompts], prompts, reward, settings, rows=rows, seed=0, pad_id=0, stop_ids=[1],
               reference=reference)


def test_ppo_first_epoch_has_ratio_one_and_zero_kl():
    policy = tiny_gpt()
    model = PolicyWithValue(policy)
    method = _ppo(policy, lambda prompts, samples: torch.ones(len(prompts)))
    models = Models(model, {"reference": copy.deepcopy(policy)})
    batch = method.produce(models, 0, torch.Generator().manual_seed(0))
    out = method.step(models, batch)
    assert float(out.metrics["ratio"]) == pytest.approx(1.0, abs=1e-5)
    assert float(out.metrics["approx_kl"]) == pytest.approx(0.0, abs=1e-8)
    assert float(out.metrics["kl"]) == pytest.approx(0.0, abs=1e-5)
    assert float(out.metrics["clip_fraction"]) == 0.0
    # micro-batches 0 and 1 replay rollout 0 (no new sampling); micro-batch 4 starts rollout 1
    first = method.buffer["input_ids"]
    method.produce(models, 1, torch.Generator().manual_seed(1))
    assert method.buffer["input_ids"] is first and method.buffer_index == 0
    method.produce(models, 4, torch.Generator().manual_seed(4))
    assert method.buffer_index == 1


def test_ppo_raises_a_programmatic_reward_and_resumes_exactly(tmp_path):
    from lmlearn.engine.loop import train

    def reward(prompts, samples):  # the share of answer tokens from the bottom quarter of the vocabulary
        answers = samples.input_ids[:, samples.prompt_width:]
        low = ((answers >= 2) & (answers < 16)).float() * samples.answer_mask[:, samples.prompt_width:]
        return low.sum(1) / 6

    def run(out, max_steps, resume=False, model=None):
        model = model or PolicyWithValue(tiny_gpt())
        settings = TrainSettings(max_steps=max_steps, batch_size=4, lr=1e-2, warmup_steps=0, schedule="constant",
                                 eval_every=0, save_every=3, progress=False, resume=resume, log_every=3)
        method = _ppo(None, reward, kl_coef=0.01, target_kl=1.0, kl_horizon=100)
        train(model, method, None, None, settings, out, run_config={}, frozen={"reference": tiny_gpt()})
        return model, method

    model, method = run(tmp_path / "a", 48)
    scores = [json.loads(line)["score"] for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert sum(scores[-4:]) > sum(scores[:4]) + 0.4  # more low tokens than at the start
    assert method.kl_coef != 0.01  # the adaptive controller moved
    part, _ = run(tmp_path / "b", 9)
    resumed, resumed_method = run(tmp_path / "b", 48, resume=True, model=PolicyWithValue(tiny_gpt()))
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    assert resumed_method.kl_coef == pytest.approx(method.kl_coef)


def test_ppo_command_with_lora_keeps_the_base_and_reports_reward_and_kl(tmp_path):
    from lmlearn.workflows.dpo import run as dpo
    from lmlearn.workflows.ppo import PPOConfig, run

    dpo(_dpo_settings(tmp_path, max_steps=5, eval_every=0))  # a small policy folder to start from
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": r["prompt"]} for r in repeat_rows(40, 2, False)])
    module = tmp_path / "my_reward.py"
    module.write_text("def blue(prompts, answers):\n    return [float(a.count('blue')) for a in answers]\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        summary = run(PPOConfig(model=str(tmp_path / "dpo"), data=prompts, eval_fraction=0.2, reward="my_reward:blue",
                                peft="lora", rollout_batch=8, batch_size=4, ppo_epochs=1, max_new_tokens=6,
                                max_steps=4, lr=1e-3, out=str(tmp_path / "ppo"), progress=False))
    finally:
        sys.path.remove(str(tmp_path))
    assert summary["rollouts"] == 2 and summary["eval_prompts"] == 8
    assert summary["eval_kl"] > -1e-3 and math.isfinite(summary["eval_score"])
    rows = [json.loads(x) for x in (tmp_path / "ppo" / "eval_samples.jsonl").read_text().splitlines()]
    start = [json.loads(x) for x in (tmp_path / "ppo" / "start_samples.jsonl").read_text().splitlines()]
    assert [r["doc_id"] for r in rows] == [r["doc_id"] for r in start] == list(range(8))
    assert all(r["kl"] == pytest.approx(0.0, abs=1e-5) for r in start)
    with pytest.raises(LmlearnError, match="give one reward"):
        run(PPOConfig(model=str(tmp_path / "dpo"), data=prompts, out=str(tmp_path / "none"), progress=False))
    with pytest.raises(LmlearnError, match="prompt-learning adapter"):
        run(PPOConfig(model=str(tmp_path / "dpo"), data=prompts, reward="x:y", peft="prompt",
                      out=str(tmp_path / "prompt"), progress=False))


def test_pairs_ranks_two_samples_by_the_reward_and_rollout_measures_kl(tmp_path):
    from lmlearn.workflows.dpo import run as dpo
    from lmlearn.workflows.pairs import PairsConfig, run as pairs
    from lmlearn.workflows.rollout import RolloutConfig, run as rollout

    dpo(_dpo_settings(tmp_path, max_steps=5, eval_every=0))
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": r["prompt"]} for r in repeat_rows(24, 3, False)])
    (tmp_path / "len_reward.py").write_text("def length(prompts, answers):\n    return [float(len(a)) for a in answers]\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        made = pairs(PairsConfig(model=str(tmp_path / "dpo"), data=prompts, reward="len_reward:length",
                                 max_new_tokens=8, out=str(tmp_path / "pairs.jsonl")))
        rows = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
        assert made["pairs"] == len(rows) > 0 and made["pairs"] + made["dropped"] == 24
        assert all(r["score_chosen"] > r["score_rejected"] and len(r["chosen"]) > len(r["rejected"]) for r in rows)
        assert read_pairs(str(tmp_path / "pairs.jsonl"))  # what pairs writes, dpo reads
        same = rollout(RolloutConfig(model=str(tmp_path / "dpo"), data=prompts, reward="len_reward:length",
                                     max_new_tokens=8, out=str(tmp_path / "self.jsonl")))
        other = rollout(RolloutConfig(model=str(tmp_path / "dpo"), reference=str(tmp_path / "dpo"), data=prompts,
                                      reward="len_reward:length", max_new_tokens=8, out=str(tmp_path / "ref.jsonl")))
    finally:
        sys.path.remove(str(tmp_path))
    assert same["kl"] == pytest.approx(0.0, abs=1e-6) and other["kl"] == pytest.approx(0.0, abs=1e-5)
    assert same["score"] == other["score"]  # the same seed draws the same answers


def test_an_encoder_reward_model_reads_cls_and_learns(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from lmlearn.workflows.reward import RewardConfig, run

    data = write_jsonl(tmp_path / "train.jsonl", repeat_rows(160, 0, chat=False))
    summary = run(RewardConfig(model="bert-tiny", data=data, eval_fraction=0.2, vocab_size=300, block_size=64,
                               batch_size=16, max_steps=60, lr=3e-3, warmup_steps=6, eval_every=0, save_every=1000,
                               out=str(tmp_path / "rm"), progress=False))
    assert summary["family"] == "bert" and summary["eval_loss"] < summary["initial_eval_loss"]
    tok = AutoTokenizer.from_pretrained(tmp_path / "rm" / "model")
    from lmlearn.align.preferences import read_pairs, tokenize_pairs

    [pair], _ = tokenize_pairs(read_pairs(data)[:1], "none", tok, 64)
    assert pair.chosen_ids[0] == tok.cls_token_id and pair.chosen_ids[-1] == tok.sep_token_id
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm" / "model").config.num_labels == 1


def test_lora_dropout_is_off_so_the_first_ppo_epoch_has_ratio_one():
    from peft import LoraConfig, get_peft_model

    from lmlearn.align.common import disable_dropout

    policy = get_peft_model(tiny_gpt(), LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], lora_dropout=0.3))
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # an adapter that has learned something, so its dropout would show
    model = PolicyWithValue(policy)
    disable_dropout(model)
    method = _ppo(None, lambda prompts, samples: torch.ones(len(prompts)), reference="adapters-off")
    models = Models(model.train())
    out = method.step(models, method.produce(models, 0, torch.Generator().manual_seed(0)))
    assert float(out.metrics["ratio"]) == pytest.approx(1.0, abs=1e-5) and float(out.metrics["kl"]) > 0.01


def test_dpo_under_gradient_checkpointing_takes_the_full_rows(tmp_path, monkeypatch):
    model = tiny_gpt()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    method = DPO(0)
    out = method.step(Models(model.train(), {"reference": tiny_gpt()}), collate_pairs(random_pairs(4), 0))
    out.loss.backward()
    assert method.shared_forwards == 0 and math.isfinite(out.loss.item())


def test_encoder_rows_get_the_tokenizers_own_frame():
    from lmlearn.align.preferences import Pair, special_frame, tokenize_pairs
    from lmlearn.tokenization import train_tokenizer

    tok = train_tokenizer([f"a prompt and an answer {i}" for i in range(40)], family="roberta", vocab_size=400)
    head, tail = special_frame(tok)
    assert head == [tok.cls_token_id] and tail == [tok.sep_token_id]
    [pair], _ = tokenize_pairs([Pair("x", "a prompt " * 30, "an answer", "answer")], "none", tok, 16)
    assert pair.chosen_ids[0] == tok.cls_token_id and len(pair.chosen_ids) <= 16  # kept through the cut
    first = next(i for i, t in enumerate(pair.chosen_labels) if t != -100)
    assert pair.chosen_ids[:first] == pair.rejected_ids[:first]  # one cut: the same prompt on both sides
