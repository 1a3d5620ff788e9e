"""`lmlearn generate --chat`: turns rendered with the model's own chat template, the history kept, replies ended
at the template's end-of-turn token; a model without a chat template is refused."""

import io
import sys

import pytest

from lmlearn import cli
from lmlearn.data.sources import load_source
from lmlearn.errors import LmlearnError
from lmlearn.instruct import templates
from lmlearn.models.factory import load_model, save_model
from lmlearn.tokenization import train_tokenizer
from lmlearn.workflows.generate import Config, chat


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    tokenizer = train_tokenizer(load_source("builtin:corpus?docs=50")["text"], family="gpt2", vocab_size=400)
    plain = save_model(load_model("gpt2-tiny", "causal-lm", tokenizer, seed=0), tokenizer, root / "plain")
    templates.add_template_tokens("chatml", tokenizer)  # as `instruct` saves a chat model
    tokenizer.chat_template = templates.BUILTIN["chatml"]
    model = load_model("gpt2-tiny", "causal-lm", tokenizer, seed=0)
    return {"plain": plain, "chat": save_model(model, tokenizer, root / "chat")}


def test_each_turn_sees_the_whole_conversation_in_the_models_template(models, monkeypatch):
    seen = []
    real = templates.render_prompt

    def spy(messages, template, tokenizer=None):
        seen.append([dict(m) for m in messages])
        return real(messages, template, tokenizer)

    monkeypatch.setattr(templates, "render_prompt", spy)
    cfg = Config(model=str(models["chat"]), max_new_tokens=12, do_sample=True)  # an untrained model's greedy
    replies = list(chat(cfg, ["hello there", "and then?", "", "never read"]))  # reply is an immediate end of turn
    assert len(replies) == 2 and replies[0]  # the empty turn ends the conversation
    assert seen[1] == [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": replies[0]},
                       {"role": "user", "content": "and then?"}]
    monkeypatch.setattr(templates, "render_prompt", real)
    from transformers import AutoTokenizer

    text = real(seen[1], "model", AutoTokenizer.from_pretrained(models["chat"]))
    assert text.startswith("<|endoftext|><|im_start|>user\nhello there<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    assert list(chat(cfg, ["hello there", "and then?"])) == replies  # seeded: the same conversation again


def test_a_model_without_a_chat_template_is_refused(models):
    with pytest.raises(LmlearnError, match="--chat: .* has no chat template"):
        list(chat(Config(model=str(models["plain"])), ["hi"]))


def test_the_command_reads_turns_from_standard_input(models, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("second turn\n\nignored\n"))
    assert cli.main(["generate", "--chat", "--model", str(models["chat"]), "-p", "first turn",
                     "--max-new-tokens", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "> first turn" and len(out) == 3  # the echoed first turn, then one reply per turn
