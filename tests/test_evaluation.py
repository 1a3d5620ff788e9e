"""`lmlearn evaluate`: agreement with lm-evaluation-harness, task-file checks, metrics, end to end."""

import dataclasses
import inspect
import json
import math
import os
import random
import types
import warnings

import pytest
import torch

from lmlearn import cli
from lmlearn.workflows import evaluate as evaluate_cmd
from lmlearn.workflows.pretrain import PretrainConfig, run as pretrain
from lmlearn.evaluation import harness, lm as lm_mod, metrics as M
from lmlearn.errors import LmlearnError
from lmlearn.evaluation.task import load_task

CHOICES = ["bad", "good movie", "terrible"]  # lengths differ, so acc_norm can differ from acc


def _train(objective: str, preset: str, out, steps: int) -> str:
    pretrain(PretrainConfig(objective=objective, model=preset, data="builtin:corpus?docs=400", vocab_size=1000,
                            block_size=64, batch_size=8, max_steps=steps, eval_every=0, out=str(out), progress=False))
    return str(out / "model")


@pytest.fixture(scope="module")
def models(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("eval-models")
    return {"gpt2": _train("clm", "gpt2-tiny", root / "gpt2", 30), "t5": _train("t5", "t5-tiny", root / "t5", 10)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny review task's train and test JSONL files."""
    root = tmp_path_factory.mktemp("eval-data")
    rng = random.Random(0)
    for name, n in (("train", 8), ("test", 12)):
        rows = []
        for _ in range(n):
            label = rng.randint(0, 1)
            word = rng.choice(["great", "lovely", "wonderful"] if label else ["awful", "boring", "terrible"])
            rows.append({"text": f"The film was {word} and the cast {rng.choice(['sang', 'danced'])}.", "label": label})
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


# The context ends in a space and the delimiter is empty, so lm-eval's whitespace move is exercised.
TASK_BODY = """output_type: multiple_choice
doc_to_text: "Review: {{text}}\\nAnswer: "
doc_to_target: label
doc_to_choice: ["bad", "good movie", "terrible"]
target_delimiter: ""
"""


def _lmlearn_task(data, body=TASK_BODY, name="tiny_sent") -> str:
    path = data / f"{name}.yaml"
    path.write_text(f"task: {name}\ntest_data: test.jsonl\nfewshot_data: train.jsonl\n" + body)
    return str(path)


def _lm_eval(model_dir: str, data, shots: int) -> dict:
    import lm_eval
    from lm_eval.tasks import TaskManager

    folder = data / "lm_eval_tasks"
    folder.mkdir(exist_ok=True)
    (folder / "tiny_sent_ref.yaml").write_text(
        "task: tiny_sent_ref\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    train: {data / 'train.jsonl'}\n    test: {data / 'test.jsonl'}\n"
        "test_split: test\nfewshot_split: train\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n"
        "  - metric: acc_mutual_info\n" + TASK_BODY)
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    return lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32",
                                   tasks=["tiny_sent_ref"], num_fewshot=shots, batch_size=4, device="cpu",
                                   task_manager=manager, bootstrap_iters=0, log_samples=True)


@pytest.mark.parametrize("shots", [0, 2])
def test_agrees_with_lm_evaluation_harness(models, data, tmp_path, monkeypatch, shots):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref = _lm_eval(models["gpt2"], data, shots)
    out = tmp_path / "r.json"
    task = _lmlearn_task(data, TASK_BODY + "metric_list: [acc, acc_norm, acc_mutual_info]\n")
    report = evaluate_cmd.run(evaluate_cmd.Config(model=models["gpt2"], task=task, shots=str(shots),
                                                  batch_size=5, out=str(out)))
    ours = report["results"][str(shots)]
    theirs = ref["results"]["tiny_sent_ref"]
    assert ours["acc"] == pytest.approx(theirs["acc,none"], abs=1e-6)
    assert ours["acc_norm"] == pytest.approx(theirs["acc_norm,none"], abs=1e-6)
    assert ours["acc_mutual_info"] == pytest.approx(theirs["acc_mutual_info,none"], abs=1e-6)
    samples = [json.loads(line) for line in evaluate_cmd.samples_path(out).read_text().splitlines()]
    for ref_sample in ref["samples"]["tiny_sent_ref"]:
        mine = samples[ref_sample["doc_id"]]
        assert mine["prompt"] == ref_sample["arguments"][0][0]  # same few-shot draw, same prompt
        theirs_lls = [r[0] for r in ref_sample["filtered_resps"]]  # conditional, then unconditional
        assert mine["logliks"] + mine["logliks_unconditional"] == pytest.approx(theirs_lls, abs=1e-4)


@pytest.fixture
def no_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the task file was checked")

    monkeypatch.setattr(lm_mod, "load_model", refuse)


@pytest.mark.parametrize("body, expected", [
    (TASK_BODY.replace("doc_to_text:", "doc_to_txt:"), [":5: unknown key 'doc_to_txt'", "did you mean doc_to_text"]),
    (TASK_BODY.replace("{{text}}", "{{ txt }}"), [":5: doc_to_text uses 'txt'", "did you mean 'text'"]),
    (TASK_BODY.replace("doc_to_target: label", "doc_to_target: lable"), [":6: doc_to_target: no column 'lable'"]),
    (TASK_BODY.replace("doc_to_choice:", "#"), ["missing required key 'doc_to_choice'"]),
])
def test_task_file_mistakes_fail_before_the_model_loads(models, data, no_model, capsys, body, expected):
    path = _lmlearn_task(data, body, name="broken")
    code = cli.main(["evaluate", "--model", models["gpt2"], "--task", path])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and path in err
    for part in expected:
        assert part in err


def test_metrics_on_known_values():
    assert M.multiple_choice([-10.0, -12.0], ["a", "bbbbbb"], 1) == {"acc": 0.0, "acc_norm": 1.0}
    # a choice likely anywhere loses its head start: -10 - (-2) < -12 - (-9)
    assert M.multiple_choice([-10.0, -12.0], ["a", "b"], 1, [-2.0, -9.0])["acc_mutual_info"] == 1.0
    assert M.exact_match("The Cat!", "cat") == 1.0 and M.exact_match("dog", "cat") == 0.0
    assert M.token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert M.extract_answer("so the answer is 42.", r"answer is (\d+)") == "42"
    assert M.extract_answer("no number", r"answer is (\d+)") == M.INVALID
    assert M.rouge_l("the cat sat", "the cat sat") == 1.0 and M.rouge_l("고양이가 앉았다", "고양이가 잤다") == 0.5
    assert M.bits_per_byte([(-8 * math.log(2), 2), (-8 * math.log(2), 6)]) == pytest.approx(2.0)
    assert M.word_perplexity([(-2 * math.log(3), 2)]) == pytest.approx(3.0)
    half = [0.0, 1.0] * 200
    assert M.bootstrap_stderr(M.mean, half, 1000, seed=0) == pytest.approx(0.025, abs=0.003)  # sqrt(.25 / 400)
    assert M.bootstrap_stderr(M.mean, half, 1000, seed=0) == M.bootstrap_stderr(M.mean, half, 1000, seed=0)


def test_rolling_windows_predict_every_token_once(models):
    lm = dataclasses.replace(lm_mod.load_model(models["gpt2"]), max_length=8)
    text = "The film was great and the cast sang. " * 4
    windows = lm_mod.rolling_windows(lm, text)
    assert [t for _, pred in windows for t in pred] == lm_mod.encode(lm, text)
    assert all(len(ctx) + len(pred) <= lm.max_length + 1 for ctx, pred in windows)


def test_generation_and_perplexity_tasks_run(models, data):
    lm = lm_mod.load_model(models["gpt2"])
    gen = load_task(_lmlearn_task(data, "output_type: generate_until\ndoc_to_text: 'Review: {{text}}\\nLabel:'\n"
                                        "doc_to_target: '{{label}}'\ngeneration_kwargs: {until: ['\\n'], max_new_tokens: 4}\n"
                                        "answer_regex: '(\\d)'\n", name="gen"))
    results, samples = harness.evaluate(gen, lm, 1, limit=3, batch_size=2)
    assert set(results) >= {"exact_match", "f1", "rouge"} and all("\n" not in s["generation"] for s in samples)
    ppl = load_task(_lmlearn_task(data, "output_type: loglikelihood_rolling\ndoc_to_text: text\n", name="ppl"))
    results, _ = harness.evaluate(ppl, lm, 0, limit=3, batch_size=2)
    assert results["word_perplexity"] > 1 and results["bits_per_byte"] > 0 and results["token_perplexity"] > 1


def test_evaluate_command_on_the_builtin_task(models, tmp_path, capsys):
    out = tmp_path / "results.json"
    code = cli.main(["evaluate", "--model", models["gpt2"], "--task", "review_sentiment", "--shots", "0,1",
                     "--limit", "20", "--batch-size", "8", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"0", "1"} and report["task_config"]["task"] == "review_sentiment"
    for res in report["results"].values():
        assert res["n"] == 20 and 0 <= res["acc"] <= 1 and res["acc_stderr"] is not None
    samples = [json.loads(line) for line in (tmp_path / "results.samples.jsonl").read_text().splitlines()]
    assert len(samples) == 40 and {"prompt", "choices", "logliks", "prediction", "target"} <= set(samples[0])
    assert any(s["choices"] == ["부정", "긍정"] for s in samples)
    assert "acc_norm" in capsys.readouterr().out
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_seq2seq_model_scores_multiple_choice(models, data):
    lm = lm_mod.load_model(models["t5"])
    assert lm.is_seq2seq
    task = load_task(_lmlearn_task(data))
    results, samples = harness.evaluate(task, lm, 1, limit=6, batch_size=4)
    assert 0 <= results["acc"] <= 1
    assert all(math.isfinite(ll) and ll < 0 for s in samples for ll in s["logliks"])


def test_choices_share_one_pass_over_their_context(models):
    """A causal model runs each context once for all its choices, and scores them as one row per choice would."""
    lm = lm_mod.load_model(models["gpt2"])
    contexts = ["Review: The film was great.\nAnswer:", "Review: boring.\nAnswer: ",
                "The cast sang and danced all night?\nA:"]
    choices = [" bad", " good movie", " terrible and boring to watch", "x"]
    groups = [lm_mod.encode_choices(lm, ctx, choices) for ctx in contexts]
    assert groups == [[lm_mod.encode_pair(lm, ctx, c) for c in choices] for ctx in contexts]
    short = dataclasses.replace(lm, max_length=len(groups[0][0][0]))  # every choice of the first group is cut
    shapes = []
    embeddings = lm.model.get_input_embeddings()
    hook = embeddings.register_forward_hook(lambda module, args, out: shapes.append(tuple(args[0].shape)))
    try:
        shared = lm_mod.loglikelihoods(lm, groups, batch_size=16)
        truncated = lm_mod.loglikelihoods(short, groups[:1], batch_size=16)
    finally:
        hook.remove()
    longest_context = max(len(g[0][0]) for g in groups)
    longest_choice = max(len(cont) for g in groups for _, cont in g)
    # one row per context, then one row per choice holding only its continuation; truncation falls back to rows
    assert shapes[:2] == [(len(contexts), longest_context), (len(contexts) * len(choices), longest_choice - 1)]
    assert shapes[2:] == [(len(choices), short.max_length)]
    for ours, reference in zip(shared + truncated, [lm_mod.score_tokens(lm, g) for g in groups]
                               + [lm_mod.score_tokens(short, groups[0])]):
        assert [s for s, _ in ours] == pytest.approx([s for s, _ in reference], abs=1e-5)
        assert [g for _, g in ours] == [g for _, g in reference]


class _Spelled(torch.nn.Module):
    """A causal LM as another transformers release spells it: the cache keyword and the output field
    are `past_key_values` up to 5.23 and `cache` from 5.24."""

    name = ""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.config = inner, inner.config
        self.inner_name = lm_mod.cache_argument(inner)

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()

    def _run(self, cached, **kwargs):
        out = self.inner(**kwargs, **({self.inner_name: cached} if cached is not None else {}))
        return types.SimpleNamespace(logits=out.logits, **{self.name: getattr(out, self.inner_name)})


class _As523(_Spelled):
    name = "past_key_values"

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, use_cache=None):
        return self._run(past_key_values, input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=position_ids, use_cache=use_cache)


class _As524(_Spelled):
    name = "cache"

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, use_cache=None):
        return self._run(cache, input_ids=input_ids, attention_mask=attention_mask,
                         position_ids=position_ids, use_cache=use_cache)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("spelling", [_As523, _As524])
def test_shared_context_path_is_taken_under_both_cache_names(family, spelling):
    """The one-pass-per-context path is taken (no fallback, no warning) whichever name transformers uses."""
    from lmlearn.models.factory import build_model
    from lmlearn.models.presets import build_config

    tokenizer = _SizedTokenizer(vocab=50)
    model = build_model(build_config(f"{family}-tiny", tokenizer), "causal-lm", seed=0).eval()
    model = spelling(model)
    lm = lm_mod.LanguageModel(model, tokenizer, is_seq2seq=False, max_length=64, device=torch.device("cpu"))
    assert lm_mod.shared_context_problem(lm) is None
    rng = random.Random(0)
    groups = [[([rng.randrange(3, 50) for _ in range(n)], [rng.randrange(3, 50) for _ in range(k)])
               for k in (1, 3, 2)] for n in (5, 9)]
    for group in groups:
        for pair in group[1:]:
            pair[0][:] = group[0][0]
    shapes = []
    hook = model.get_input_embeddings().register_forward_hook(lambda m, args, out: shapes.append(tuple(args[0].shape)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            shared = lm_mod.loglikelihoods(lm, groups, batch_size=16)
    finally:
        hook.remove()
    assert shapes == [(2, 9), (6, 2)]  # the contexts once, then only the continuations
    for ours, group in zip(shared, groups):
        reference = lm_mod.score_tokens(lm, group)
        assert [s for s, _ in ours] == pytest.approx([s for s, _ in reference], abs=1e-5)


class _SizedTokenizer:
    """What build_config reads of a tokenizer: its size and special ids."""

    def __init__(self, vocab: int):
        self.vocab, self.pad_token_id, self.bos_token_id, self.eos_token_id = vocab, 0, 1, 2
        self.cls_token_id = self.sep_token_id = None

    def __len__(self) -> int:
        return self.vocab


def test_fallback_from_shared_context_says_why_once(models):
    """A model whose forward takes no cache falls back to one row per choice, and says so once."""
    lm = lm_mod.load_model(models["gpt2"])

    class NoCache(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

        def forward(self, input_ids=None, attention_mask=None, position_ids=None):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)

    lm = dataclasses.replace(lm, model=NoCache(lm.model))
    groups = [lm_mod.encode_choices(lm, ctx, CHOICES) for ctx in ("Review: fine.\nAnswer:", "Review: dull.\nAnswer:")]
    lm_mod._warned.clear()
    with pytest.warns(UserWarning, match="NoCache.forward takes no attention cache") as caught:
        lm_mod.loglikelihoods(lm, groups, batch_size=16)
        lm_mod.loglikelihoods(lm, groups, batch_size=16)
    assert len([w for w in caught if "one row per choice" in str(w.message)]) == 1


def test_a_task_template_reaching_outside_the_sandbox_is_refused_and_runs_nothing(data, tmp_path, capsys):
    """Task files are data: Jinja's sandbox refuses `cycler.__init__.__globals__.os`."""
    marker = tmp_path / "payload-ran"
    body = TASK_BODY.replace('doc_to_text: "Review: {{text}}\\nAnswer: "',
                             "doc_to_text: \"{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}\"")
    assert body != TASK_BODY
    path = _lmlearn_task(data, body, name="hostile")
    with pytest.raises(LmlearnError) as err:
        load_task(path)
    assert f"{path}:" in str(err.value) and "SecurityError" in str(err.value) and not marker.exists()
