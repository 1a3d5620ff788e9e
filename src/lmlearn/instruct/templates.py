"""Chat templates: the built-in ones as Jinja `chat_template` strings, rendering, and assistant-only labels.

A built-in template is set as the tokenizer's `chat_template` when the model is saved, so
`tokenizer.apply_chat_template` reproduces the training format anywhere. Rendered text is tokenized
without added special tokens, as `apply_chat_template` does: the templates write `bos_token` themselves.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from lmlearn.errors import LmlearnError

_BOS = "{% if bos_token %}{{ bos_token }}{% endif %}"

# ChatML (OpenAI, Qwen): every turn between <|im_start|>ROLE and <|im_end|>; <|im_end|> ends the answer.
CHATML = (
    _BOS + "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ALPACA_PREAMBLE = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.")
# Stanford Alpaca's prompt; a system message replaces its preamble, and further turns repeat the
# Instruction/Response pair. An Alpaca `input` is part of the user message (see formats.py).
ALPACA = (
    _BOS + "{% if messages and messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}\n\n"
    "{% else %}" + ALPACA_PREAMBLE + "\n\n{% endif %}"
    "{% for message in messages %}{% if message['role'] == 'user' %}### Instruction:\n{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'assistant' %}### Response:\n{{ message['content'] }}{{ eos_token }}\n\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}### Response:\n{% endif %}"
)
# KoAlpaca (Beomi): "### 질문: {instruction}\n\n### 답변: {output}<|endoftext|>" for training, and the
# prompt "### 질문: {instruction}\n\n### 답변:" for generation, so the space before the answer is the
# model's to write (it is labelled, and merges into the answer's first token as in that training).
KOALPACA = (
    _BOS + "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}### 질문: {{ message['content'] }}\n\n"
    "{% else %}### 답변: {{ message['content'] }}{{ eos_token }}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### 답변:{% endif %}"
)
BUILTIN = {"chatml": CHATML, "alpaca": ALPACA, "koalpaca": KOALPACA}
TEMPLATE_NAMES = ("auto", "model", *BUILTIN)
# Control tokens a built-in template needs as single special tokens (added to the tokenizer).
SPECIAL_TOKENS = {"chatml": ("<|im_start|>", "<|im_end|>")}
IGNORE = -100


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer carries its own chat_template."""
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_template(name: str, tokenizer: Any | None) -> str:
    """The concrete template `name` means: "auto" is the model's own chat_template if it has one, else chatml."""
    if name == "auto":
        return "model" if has_chat_template(tokenizer) else "chatml"
    if name == "model" and not has_chat_template(tokenizer):
        raise LmlearnError("--template model: the tokenizer has no chat_template; use --template "
                           f"{', '.join(BUILTIN)} (or auto)")
    if name not in TEMPLATE_NAMES:
        raise LmlearnError(f"unknown --template '{name}'; one of {', '.join(TEMPLATE_NAMES)}")
    return name


def template_text(name: str, tokenizer: Any | None = None) -> str:
    """The Jinja source of template `name` ("model" and "auto" read the tokenizer's own)."""
    name = resolve_template(name, tokenizer)
    return BUILTIN[name] if name in BUILTIN else tokenizer.get_chat_template()


def render(messages: list[dict[str, str]], template: str, tokenizer: Any | None = None,
           add_generation_prompt: bool = False) -> str:
    """The conversation as text, through the same Jinja renderer `apply_chat_template` uses."""
    from transformers.utils.chat_template_utils import render_jinja_template

    specials = tokenizer.special_tokens_map if tokenizer is not None else {}
    rendered, _ = render_jinja_template(conversations=[messages], chat_template=template_text(template, tokenizer),
                                        add_generation_prompt=add_generation_prompt, **specials)
    return rendered[0]


def render_prompt(messages: list[dict[str, str]], template: str, tokenizer: Any | None = None) -> str:
    """The text a model sees before its answer: `messages` rendered with `template` ("chatml", "alpaca",
    "koalpaca", or "model" for the tokenizer's chat_template), ending with the assistant turn's opener.
    Tokenize it with `add_special_tokens=False`: the template writes the bos token itself."""
    return render(messages, template, tokenizer, add_generation_prompt=True)


def _special_strings(tokenizer: Any) -> list[str]:
    added = [t.content for t in tokenizer.added_tokens_decoder.values() if t.special]
    return sorted(set(added) | set(tokenizer.all_special_tokens), key=len, reverse=True)


def _turns(messages: list[dict[str, str]], template: str, tokenizer: Any) -> tuple[str, list[tuple[int, int, int]]]:
    """The rendered conversation and, per assistant turn, (start, end of content, end): the turn starts
    where the prompt before it ends (that prompt rendered on its own, with the generation prompt) and
    ends after the special token that closes it (<|im_end|>, eos) when one follows the content."""
    text = render(messages, template, tokenizer)
    specials = _special_strings(tokenizer)
    turns = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render(messages[:i], template, tokenizer, add_generation_prompt=True)
        start = len(prompt)
        # a template may trim the content; the first match after the prompt is the answer
        found = [(text.find(c, start), c) for c in (message["content"], message["content"].strip())]
        at, content = next(((a, c) for a, c in found if a >= 0), (-1, ""))
        if not text.startswith(prompt) or at < 0 or text[start:at].strip():
            raise LmlearnError(f"template '{template}' does not render assistant turn {i + 1} right after the "
                               "prompt it gives for that turn, so its answer tokens cannot be found; use a built-in "
                               "--template")
        content_end = at + len(content)
        rest = text[content_end:]
        gap = len(rest) - len(rest.lstrip())
        closing = next((t for t in specials if rest.startswith(t, gap)), None)
        turns.append((start, content_end, content_end + gap + len(closing) if closing else content_end))
    return text, turns


def assistant_spans(messages: list[dict[str, str]], template: str, tokenizer: Any) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each assistant turn, end-of-turn token included."""
    text, turns = _turns(messages, template, tokenizer)
    return text, [(start, end) for start, _, end in turns]


def _encode(tokenizer: Any, pieces: list[str]) -> list[list[int]]:
    return tokenizer(pieces, add_special_tokens=False)["input_ids"] if pieces else []


def tokenize_conversation(messages: list[dict[str, str]], template: str, tokenizer: Any) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation and labels that are -100 everywhere except the assistant turns
    (their content and the end-of-turn token that closes each).

    The text between spans is tokenized piece by piece, so a prompt has the same tokens here as when
    `render_prompt` output is tokenized alone at generation time.
    """
    text, spans = assistant_spans(messages, template, tokenizer)
    pieces, cut = [], 0
    for start, end in spans:
        pieces += [(text[cut:start], False), (text[start:end], True)]
        cut = end
    pieces = [(piece, answer) for piece, answer in pieces + [(text[cut:], False)] if piece]
    ids, labels = [], []
    for (_, answer), piece_ids in zip(pieces, _encode(tokenizer, [p for p, _ in pieces])):
        ids += piece_ids
        labels += piece_ids if answer else [IGNORE] * len(piece_ids)
    return ids, labels


def prompt_answer_pairs(messages: list[dict[str, str]], template: str,
                        tokenizer: Any) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, answer ids) for each assistant turn: what an encoder-decoder reads and writes."""
    text, spans = assistant_spans(messages, template, tokenizer)
    encoded = _encode(tokenizer, [p for start, end in spans for p in (text[:start], text[start:end])])
    return list(zip(encoded[0::2], encoded[1::2]))


def end_of_turn(template: str, tokenizer: Any) -> str | None:
    """The special token that closes an assistant turn in `template` (a stop token for generation), if any."""
    probe = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    text, [(_, content_end, end)] = _turns(probe, template, tokenizer)
    return text[content_end:end].strip() or None


def tokenizer_texts(conversations: Iterable[list[dict[str, str]]], template: str) -> Iterator[str]:
    """What a new tokenizer learns from: each conversation rendered with `template` (chatml unless a
    built-in is named), without its control tokens, which become single special tokens."""
    name = template if template in BUILTIN else "chatml"
    for chat in conversations:
        text = render(chat, name)
        for token in SPECIAL_TOKENS.get(name, ()):
            text = text.replace(token, "\n")
        yield text


def add_template_tokens(template: str, tokenizer: Any) -> int:
    """Add the control tokens a built-in template needs and the tokenizer lacks, as special tokens."""
    missing = [t for t in SPECIAL_TOKENS.get(template, ()) if t not in tokenizer.get_vocab()]
    return tokenizer.add_tokens(missing, special_tokens=True) if missing else 0
