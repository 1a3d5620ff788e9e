"""Chain of thought: answer extraction, zero-shot CoT's two stages, self-consistency's vote, GSM8K end to end."""

import json
from pathlib import Path

import pytest

from lmlearn import cli
from lmlearn.workflows.pretrain import PretrainConfig, run as pretrain
from lmlearn.evaluation import cot, harness, lm as lm_mod, metrics as M
from lmlearn.evaluation.task import load_task

REPO = Path(__file__).resolve().parents[1]
GSM8K = REPO.parent / "shared" / "data" / "gsm8k"


@pytest.fixture(scope="module")
def model(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("cot-model")
    pretrain(PretrainConfig(objective="clm", model="gpt2-tiny", data="builtin:corpus?docs=200", vocab_size=600,
                            block_size=64, batch_size=8, max_steps=3, eval_every=0, out=str(out), progress=False))
    return str(out / "model")


@pytest.fixture(scope="module")
def lm(model):
    return lm_mod.load_model(model)


def _task(tmp_path, cot_line: str, kind: str = "generate_until") -> str:
    rows = [{"question": f"철수는 사과 {a}개와 {b}개를 샀다. 모두 몇 개인가?",
             "answer": f"{a} + {b} = {a + b}\n#### {a + b}"} for a, b in ((3, 4), (10, 20), (1, 1))]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    path = tmp_path / "arith.yaml"
    path.write_text(f"task: arith\ntest_data: q.jsonl\noutput_type: {kind}\n"
                    + 'doc_to_text: "Q: {{ question }}\\nA:"\ndoc_to_target: answer\n'
                    + ("doc_to_choice: [a, b]\n" if kind == "multiple_choice" else "")
                    + "generation_kwargs: {until: ['\\n\\n'], max_new_tokens: 8}\n"
                    + "answer_regex: '#### *(-?[0-9][0-9,.]*)'\n" + cot_line)
    return str(path)


def test_answer_extraction_in_english_and_korean():
    assert cot.extract_number("... 따라서 답은 42입니다.") == "42"
    assert cot.extract_number("She pays 3 + 4 = 7.\n#### 1,234", r"#### *(-?[0-9][0-9,.]*)") == "1234"
    assert cot.extract_number("48/2 = 24 and 48 + 24 = 72.", r"#### *(\d+)") == "72"  # no ####: the last number
    assert cot.extract_number(" 18. Because 16 - 7 = 9", take="first") == "18"  # zero-shot stage 2 cleansing
    assert cot.extract_number("The answer is $1,000.00.") == "1000" and cot.extract_number("-3.50") == "-3.5"
    assert cot.extract_number("답을 모르겠습니다.") == M.INVALID
    assert cot.extract_number("no number here", r"#### *(\d+)") == M.INVALID


def test_self_consistency_vote():
    assert cot.majority_vote(["7", "8", "7", "9"]) == ("7", {"7": 2, "8": 1, "9": 1})
    assert cot.majority_vote(["8", "7", "7", "8"])[0] == "8"  # a tie goes to the answer seen first
    assert cot.majority_vote([M.INVALID, M.INVALID, "5"]) == ("5", {"5": 1})  # invalid answers do not vote
    assert cot.majority_vote([M.INVALID, M.INVALID]) == (M.INVALID, {})


def test_zero_shot_cot_runs_both_stages_with_korean_triggers(lm, tmp_path):
    task = load_task(_task(tmp_path, "cot: {mode: zero_shot, lang: ko, answer_max_new_tokens: 4}\n"))
    results, samples = harness.evaluate(task, lm, 0, batch_size=2)
    assert results["n"] == 3 and 0 <= results["exact_match"] <= 1
    for s in samples:
        assert s["prompt"].endswith("A: 차근차근 생각해 봅시다.") and s["target"] in ("7", "30", "2")
        (path,) = s["paths"]
        assert path["answer_prompt"] == s["prompt"] + path["generation"] + " 따라서 답(아라비아 숫자)은"
        assert path["answer"] == cot.extract_number(path["answer_generation"], take="first") == s["prediction"]


def test_self_consistency_samples_seeded_paths_and_votes(lm, tmp_path):
    task = load_task(_task(tmp_path, "cot: {mode: few_shot, num_samples: 3, temperature: 1.0}\n"))
    _, first = harness.evaluate(task, lm, 0, batch_size=3, seed=7)
    _, again = harness.evaluate(task, lm, 0, batch_size=3, seed=7)
    assert [s["paths"] for s in first] == [s["paths"] for s in again]  # seeded sampling is reproducible
    for s in first:
        assert len(s["paths"]) == 3
        assert s["prediction"] == cot.majority_vote([p["answer"] for p in s["paths"]])[0]
        assert sum(s["votes"].values()) == sum(p["answer"] != M.INVALID for p in s["paths"])
    _, more = harness.evaluate(task, lm, 0, batch_size=3, num_samples=2)  # the --num-samples override
    assert all(len(s["paths"]) == 2 for s in more)


@pytest.mark.parametrize("cot_line, kind, expected", [
    ("cot: {mode: zero_shot, lnag: ko}\n", "generate_until", "cot: unknown key 'lnag'; valid: mode, lang"),
    ("cot: {mode: zeroshot}\n", "generate_until", "cot: mode 'zeroshot' must be one of few_shot, zero_shot"),
    ("cot: {mode: zero_shot, lang: fr}\n", "generate_until", "cot: lang 'fr' must be one of en, ko"),
    ("cot: {num_samples: 0}\n", "generate_until", "cot: num_samples must be a whole number >= 1"),
    ("cot: {top_p: 1.5}\n", "generate_until", "cot: top_p must be a number in (0, 1]"),
    ("cot: zero_shot\n", "generate_until", "'cot' must be a chain-of-thought mapping"),
    ("cot: {mode: few_shot}\n", "multiple_choice", "cot needs output_type generate_until"),
])
def test_bad_cot_key_fails_with_one_line(model, tmp_path, monkeypatch, capsys, cot_line, kind, expected):
    monkeypatch.setattr(lm_mod, "load_model", lambda *a, **k: pytest.fail("the model loaded before the task check"))
    path = _task(tmp_path, cot_line, kind)
    code = cli.main(["evaluate", "--model", model, "--task", path])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{path}:" in err and expected in err, err


@pytest.mark.parametrize("flags, expected", [
    (["--num-samples", "0"], "--num-samples 0: must be at least 1"),
    (["--temperature", "0"], "--temperature 0.0: must be > 0"),
    (["--top-p", "2"], "--top-p 2.0: must be in (0, 1]"),
])
def test_bad_sampling_flags_fail_with_one_line(model, capsys, flags, expected):
    assert cli.main(["evaluate", "--model", model, "--task", "review_sentiment", *flags]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and expected in err, err


@pytest.mark.skipif(not GSM8K.is_dir(), reason=f"GSM8K data not found at {GSM8K}")
def test_gsm8k_cot_end_to_end(model, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # the task's data paths are relative to the repository root
    out = tmp_path / "gsm8k.json"
    code = cli.main(["evaluate", "--model", model, "--task", "gsm8k_cot", "--shots", "1", "--limit", "3",
                     "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["results"]["1"]["n"] == 3 and 0 <= report["results"]["1"]["exact_match"] <= 1
    assert report["task_config"]["cot"]["mode"] == "few_shot"
    samples = [json.loads(line) for line in (tmp_path / "gsm8k.samples.jsonl").read_text().splitlines()]
    assert len(samples) == 3 and samples[0]["target"] == "18"  # "#### 18" of the first test question
    assert "\n#### " in samples[0]["prompt"] and "<<" not in samples[0]["prompt"]  # a worked exemplar, cleaned
    assert all("\n\n" not in s["generation"] and s["votes"] is not None for s in samples)
