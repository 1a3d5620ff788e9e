"""`lmlearn recipe run`: multi-step recipes (KoLIMA's translate → instruct → evaluate)."""

import json
from pathlib import Path

import pytest
import torch

from lmlearn.cli import main
from lmlearn.commands.recipe import load_steps
from lmlearn.errors import LmlearnError

pytestmark = pytest.mark.usefixtures("one_thread")
RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def test_kolima_recipe_steps_resolve_before_anything_runs():
    steps = load_steps(str(RECIPES / "kolima.yaml"))
    assert [command for command, _, _ in steps] == ["translate", "instruct", "evaluate"]
    assert steps[0][1].backend == "deepl" and steps[1][1].template == "koalpaca" and steps[2][1].task == "nsmc"


def test_flan_heldout_recipe_evaluates_only_the_cluster_it_holds_out():
    steps = load_steps(str(RECIPES / "flan-heldout.yaml"))
    assert [c for c, _, _ in steps] == ["pretrain", "flan build"] + ["evaluate"] * 2 + ["instruct"] + \
        ["evaluate"] * 2 + ["paired"] * 2
    build, tune = steps[1][1], steps[4][1]
    held = build.hold_out_cluster
    evaluated = [s.task for c, s, _ in steps if c == "evaluate"]
    assert all(f"/eval/{held}." in t for t in evaluated)  # the topic task is the topic cluster's only one
    assert tune.template == build.template and tune.data == f"{build.out}/train.jsonl"
    assert all(s.a.count(",") == s.b.count(",") == 1 for c, s, _ in steps if c == "paired")


def test_a_bad_step_names_file_and_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("steps:\n  - instruct:\n      model: gpt2-tiny\n      max_step: 3\n", encoding="utf-8")
    with pytest.raises(LmlearnError, match=r"r\.yaml:4: unknown key 'max_step'; did you mean max_steps"):
        load_steps(str(path))
    path.write_text("steps:\n  - instruc:\n      model: gpt2-tiny\n", encoding="utf-8")
    with pytest.raises(LmlearnError, match=r"r\.yaml:2: unknown command 'instruc'; did you mean instruct"):
        load_steps(str(path))


def test_translate_instruct_evaluate_chain_runs_end_to_end(tmp_path):
    from lmlearn.models.factory import load_model
    from lmlearn.models.factory import save_model
    from lmlearn.tokenization import train_tokenizer

    tasks = [{"id": f"t{i}", "name": f"task{i}", "instruction": f"Name a colour number {i}.",
              "instances": [{"input": "", "output": f"Colour {i} is blue."}], "is_classification": False}
             for i in range(24)]
    (tmp_path / "seed.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks), encoding="utf-8")
    # a local "translator": an untrained tiny BART forced to say one word and stop
    tok = train_tokenizer([t["instruction"] + " " + t["instances"][0]["output"] for t in tasks] * 5, family="bart",
                          vocab_size=400, min_frequency=1)
    model = load_model("bart-tiny", "seq2seq-lm", tok, seed=0)
    with torch.no_grad():
        model.final_logits_bias[0, tok.eos_token_id] = 1e4
    save_model(model, tok, tmp_path / "bart")
    word = tok.convert_ids_to_tokens(tok("Colour")["input_ids"])[1]
    recipe = f"""steps:
  - translate:
      data: {tmp_path}/seed.jsonl
      fields: instruction,instances
      backend: local
      model: {tmp_path}/bart
      forced_bos_token: "{word}"
      max_new_tokens: 8
      out: {tmp_path}/seed.ko.jsonl
  - instruct:
      model: gpt-neox-tiny
      data: {tmp_path}/seed.ko.jsonl
      format: self-instruct
      template: koalpaca
      vocab_size: 300
      max_steps: 3
      batch_size: 4
      warmup_steps: 1
      eval_every: 0
      progress: false
      out: {tmp_path}/sft
  - evaluate:
      model: {tmp_path}/sft/model
      task: review_sentiment
      limit: 4
      out: {tmp_path}/eval.json
"""
    (tmp_path / "chain.yaml").write_text(recipe, encoding="utf-8")
    assert main(["recipe", "run", "--file", str(tmp_path / "chain.yaml")]) == 0
    translated = [json.loads(line) for line in (tmp_path / "seed.ko.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(translated) == 24 and translated[0]["instruction"] != tasks[0]["instruction"]
    assert json.loads((tmp_path / "sft" / "summary.json").read_text())["steps"] == 3
    assert "acc" in json.dumps(json.loads((tmp_path / "eval.json").read_text()))
    # starting at the last step runs only that step
    assert main(["recipe", "run", "--file", str(tmp_path / "chain.yaml"), "--from-step", "3"]) == 0
