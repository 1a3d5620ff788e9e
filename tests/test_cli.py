"""The CLI commands around pre-training: tokenizer training, generation, presets (the tour: test_installed.py)."""

import json

import pytest

from lmlearn.cli import main
from lmlearn.workflows.generate import Config as GenerateConfig, generate
from lmlearn.workflows.pretrain import PretrainConfig, run


def test_tokenizer_train_saves_an_autotokenizer_folder(tmp_path, capsys):
    from transformers import AutoTokenizer

    out = tmp_path / "tok"
    assert main(["tokenizer", "train", "--kind", "wordpiece", "--family", "bert", "--data",
                 "builtin:corpus?docs=300", "--vocab-size", "1500", "--out", str(out)]) == 0
    tok = AutoTokenizer.from_pretrained(out)
    text = "민준은 서울에 산다. Minjun lives in Seoul."
    ids = tok(text)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[0] == "[CLS]" and tok.convert_ids_to_tokens(ids)[-1] == "[SEP]"
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert len(tok) <= 1500 and "1500" not in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpt")
    run(PretrainConfig(model="gpt2-tiny", data="builtin:corpus?docs=400", vocab_size=800, block_size=64, batch_size=8,
                       max_steps=40, lr=3e-3, warmup_steps=4, eval_every=0, out=str(out), progress=False))
    return out


def test_generate_greedy_is_deterministic_and_sampling_follows_the_seed(trained):
    greedy = [generate(GenerateConfig(model=str(trained), prompt="Minjun", max_new_tokens=10))[0] for _ in range(2)]
    assert greedy[0] == greedy[1]
    sample = lambda seed: generate(GenerateConfig(model=str(trained), prompt="민준은", max_new_tokens=10,  # noqa: E731
                                                  do_sample=True, temperature=1.5, top_k=50, top_p=0.95,
                                                  num_return_sequences=4, seed=seed))
    assert sample(1) == sample(1)
    assert len(set(sample(1) + sample(2))) > 1


def test_generate_top_k_one_is_greedy(trained):
    greedy = generate(GenerateConfig(model=str(trained), prompt="The film", max_new_tokens=8))
    top1 = generate(GenerateConfig(model=str(trained), prompt="The film", max_new_tokens=8, do_sample=True, top_k=1))
    assert greedy == top1


def test_generate_cli_prints_the_continuation(trained, capsys):
    assert main(["generate", "--model", str(trained / "model"), "--prompt", "Minjun", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.startswith("Minjun")
    assert main(["generate", "--model", str(trained / "nothing")]) == 2
    assert f"--model {trained / 'nothing'}: neither a preset" in capsys.readouterr().err
    (trained / "empty").mkdir()
    assert main(["generate", "--model", str(trained / "empty")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_continued_pretraining_from_a_folder(trained, tmp_path):
    before = json.loads((trained / "summary.json").read_text())
    summary = run(PretrainConfig(model=str(trained / "model"), data="builtin:corpus?docs=400", block_size=64,
                                 batch_size=8, max_steps=2, eval_every=0, out=str(tmp_path / "more"), progress=False))
    assert summary["family"] == "gpt2" and summary["parameters"] == before["parameters"]
    assert not (tmp_path / "more" / "tokenizer").exists()  # the folder's own tokenizer was used
    # same weights, same held-out split: it starts exactly where the first run ended
    assert summary["initial_eval_loss"] == pytest.approx(before["eval_loss"], abs=1e-5)
    assert summary["initial_eval_loss"] < before["initial_eval_loss"] - 0.5


def test_models_lists_every_family(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ["gpt2-tiny", "llama-small", "gpt-neox-tiny", "bert-small", "t5-tiny", "deberta-v2-small"]:
        assert f"\npreset:{name} " in out  # listed under the name that cannot shadow a Hub id


def test_a_preset_is_named_with_its_prefix_and_a_bare_name_gets_one_note(tmp_path, capsys, monkeypatch):
    from lmlearn import cli
    from lmlearn.models.spec import HUB_ID, resolve_model

    prefixed, bare = resolve_model("preset:t5-small"), resolve_model("t5-small")
    assert (prefixed.kind, prefixed.family) == (bare.kind, bare.family) == ("preset", "t5")
    assert not HUB_ID.match("preset:t5-small") and HUB_ID.match("google-t5/t5-small")
    monkeypatch.setattr(cli, "_noted", set())
    args = ["pretrain", "--data", "builtin:corpus?docs=60", "--block-size", "32", "--batch-size", "4",
            "--max-steps", "1", "--eval-every", "0", "--no-progress", "--overwrite"]
    assert main([*args, "--model", "preset:gpt2-tiny", "--out", str(tmp_path / "a")]) == 0
    assert "deprecated" not in capsys.readouterr().err
    for out in ("b", "c"):
        assert main([*args, "--model", "gpt2-tiny", "--out", str(tmp_path / out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "deprecated" in line]
    assert notes == ["lmlearn: note: --model gpt2-tiny: bare preset names are deprecated and will mean a Hub model "
                     "in the next release; write preset:gpt2-tiny"]  # once per name, not per run
    assert main(["pretrain", "--model", "preset:gpt2-tinyy", "--out", str(tmp_path / "d")]) != 0
    assert "did you mean preset:gpt2-tiny" in capsys.readouterr().err


def test_top_level_help_imports_no_command_module():
    import subprocess
    import sys

    code = ("import sys, lmlearn.cli as cli; cli.build_parser(['--help']); "
            "print(sorted(m for m in ('torch', 'transformers', 'lmlearn.commands.pretrain') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _bad_inputs(root):
    (root / "empty.jsonl").write_text("")
    (root / "blank.txt").write_text("\n  \n")
    (root / "cp949.txt").write_bytes("좋은 영화\n".encode() + "나쁜 영화\n".encode("cp949"))
    (root / "image.jsonl").write_bytes(b'{"text": "a"}\n\x89PNG\x00\x00\x01')
    (root / "untyped").mkdir()
    (root / "untyped" / "config.json").write_text('{"hidden_size": 64}')
    return root


@pytest.mark.parametrize("argv,message", [
    (["pretrain", "--data", "{d}/empty.jsonl"], "{d}/empty.jsonl: empty data file"),
    (["pretrain", "--data", "{d}/blank.txt"], "{d}/blank.txt: empty data file"),
    (["pretrain", "--data", "{d}/cp949.txt"], "{d}/cp949.txt:2: not UTF-8 text (byte 0xb3 at column 1)"),
    (["finetune", "--task", "classify", "--data", "{d}/image.jsonl"], "{d}/image.jsonl:2: a binary file"),
    (["pretrain", "--model", "{d}/untyped", "--data", "builtin:corpus"],
     "{d}/untyped/config.json: no 'model_type' key"),
    (["evaluate", "--model", "{d}/untyped", "--task", "review_sentiment"], "{d}/untyped/config.json: no 'model_type'"),
])
def test_bad_inputs_are_one_line_naming_the_culprit(argv, message, tmp_path, capsys):
    root = _bad_inputs(tmp_path)
    argv = [a.format(d=root) for a in argv] + ([] if argv[0] == "evaluate" else ["--out", str(tmp_path / "out")])
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message.format(d=root) in err[0], err
    assert not (tmp_path / "out" / "model").exists()
