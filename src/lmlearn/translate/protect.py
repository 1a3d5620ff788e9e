"""Keep code, URLs and template placeholders away from the translator, and put them back intact.

What is protected (documented in docs/translate.md):

- fenced code: a run of 3+ backticks (anywhere) up to the next run of at least as many, or a line
  starting with 3+ tildes up to a line starting with at least as many; an unclosed fence runs to the
  end of the text. Fenced blocks are split off: they are never sent, so never altered or moved.
- inline code: `x`, ``x`` (a backtick run up to an equal run on the same line).
- URLs: http://, https://, ftp://, www. up to whitespace, minus trailing .,;:!?'" and an unbalanced ).
- placeholders: {{x}} and {% x %} (Jinja, Mustache), {name} {0} {} {name:fmt} (str.format), ${VAR}
  $VAR (shell), %s %d %(name)s %.2f (printf), <name> </name> <br/> (tags without attributes),
  <|special|> (chat special tokens), and ⟦…⟧ (which would pass for a token).

Inline spans become opaque tokens that translators keep: <x id="0"/> for DeepL's XML tag handling,
⟦0⟧ for chat models. In "segments" mode the text is instead cut at the spans and only the pieces
between them are sent (for models that would mangle tokens), at the cost of sentence context.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Literal

Style = Literal["xml", "brackets"]
Mode = Literal["tokens", "segments"]

_FENCE_OPEN = re.compile(r"`{3,}|(?m:^[ \t]*~{3,})")
_INLINE = re.compile(
    r"(?<!`)(?P<tick>`+)(?!`).+?(?<!`)(?P=tick)(?!`)"  # inline code
    r"|\b(?:https?://|ftp://|www\.)[^\s<>\"'`]+"  # URLs (trailing punctuation trimmed below)
    r"|\{\{.*?\}\}|\{%.*?%\}"  # Jinja / Mustache
    r"|\$\{[^}\n]*\}|\$[A-Za-z_]\w*"  # shell
    r"|\{[\w.\[\]]*(?:![rsa])?(?::[^{}\n]*)?\}"  # str.format
    r"|%(?:\([A-Za-z_]\w*\))?[-+#0]*(?:\d+|\*)?(?:\.\d+)?[sdifeEgGxXoc](?![A-Za-z])"  # printf
    r"|<\|[^|\n<>]*\|>|</?[A-Za-z_][\w.:-]*\s*/?>"  # special tokens, bare tags
    r"|⟦[^⟧\n]*⟧"  # text that looks like a token must not be taken for one
)
_TOKEN = {"xml": re.compile(r'<x\s+id\s*=\s*"(\d+)"\s*(?:/>|></x>)'), "brackets": re.compile(r"⟦\s*(\d+)\s*⟧")}


class ProtectionError(ValueError):
    """A translation came back with a protection token missing, repeated or unknown."""


@dataclass(frozen=True)
class Unit:
    """One piece to translate: `text` as sent (tokens in, escaped for the style), `spans` behind its tokens."""

    text: str
    spans: tuple[str, ...]
    source: str  # the original piece, the safe fallback when a translation cannot be restored


Part = str | Unit  # a str is kept verbatim


def _token(i: int, style: Style) -> str:
    return f'<x id="{i}"/>' if style == "xml" else f"⟦{i}⟧"


def _encode(prose: str, style: Style) -> str:
    return html.escape(prose, quote=False) if style == "xml" else prose


def _fences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block, in order."""
    blocks, pos = [], 0
    while (m := _FENCE_OPEN.search(text, pos)) is not None:
        fence = m.group().lstrip(" \t")
        if fence[0] == "`":
            close, after = re.compile(f"`{{{len(fence)},}}"), m.end()
        else:  # tilde fences are line-based (CommonMark): the closing fence is a line of its own
            close = re.compile(f"(?m)^[ \\t]*~{{{len(fence)},}}[ \\t]*$")
            after = text.find("\n", m.end()) + 1 or len(text)
        c = close.search(text, after)
        pos = c.end() if c else len(text)
        blocks.append((m.end() - len(fence), pos))
    return blocks


def _trim_url(span: str) -> str:
    """Leave sentence punctuation and a closing bracket that the URL did not open outside the URL."""
    while span and (span[-1] in ".,;:!?'\"" or span[-1] == ")" and span.count("(") < span.count(")")):
        span = span[:-1]
    return span


def _inline_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _INLINE.finditer(text):
        span = m.group()
        if span[0] in "hfw":  # only the URL alternative starts with a letter
            span = _trim_url(span)
        if span:
            spans.append((m.start(), m.start() + len(span)))
    return spans


def _piece(prose: str, spans: list[tuple[int, int]], style: Style) -> list[Part]:
    """`prose` as a Unit with `spans` (offsets into prose) as tokens, its outer whitespace kept aside."""
    core = prose.strip()
    lead = prose[:len(prose) - len(prose.lstrip())]
    trail = prose[len(lead) + len(core):]
    spans = [(a - len(lead), b - len(lead)) for a, b in spans]
    if not any(ch.isalpha() for x, y in _gaps(len(core), spans) for ch in core[x:y]):
        return [prose] if prose else []  # nothing a translator could change: no request for it
    pieces, pos = [], 0
    for i, (a, b) in enumerate(spans):
        pieces += [_encode(core[pos:a], style), _token(i, style)]
        pos = b
    pieces.append(_encode(core[pos:], style))
    unit = Unit("".join(pieces), tuple(core[a:b] for a, b in spans), core)
    return [p for p in (lead, unit, trail) if p != ""]


def _gaps(length: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The stretches of 0..length not covered by the sorted, disjoint `spans`."""
    out, pos = [], 0
    for a, b in spans:
        out.append((pos, a))
        pos = b
    out.append((pos, length))
    return [(a, b) for a, b in out if b > a]


def split(text: str, mode: Mode, style: Style) -> list[Part]:
    """Cut `text` into kept strings and Units to translate, in order; fenced code is always kept."""
    parts: list[Part] = []
    pos = 0
    for start, end in _fences(text) + [(len(text), len(text))]:
        prose = text[pos:start]
        spans = _inline_spans(prose)
        if mode == "tokens":
            parts += _piece(prose, spans, style)
        else:
            cut = 0
            for a, b in spans + [(len(prose), len(prose))]:
                parts += _piece(prose[cut:a], [], style)
                parts.append(prose[a:b])
                cut = b
        parts.append(text[start:end])
        pos = end
    return [p for p in parts if p != ""]


def check(sent: str, translated: str, style: Style) -> None:
    """ProtectionError unless `translated` holds each token of `sent` exactly once, and no other."""
    expected = sorted(int(m.group(1)) for m in _TOKEN[style].finditer(sent))
    seen = sorted(int(m.group(1)) for m in _TOKEN[style].finditer(translated))
    if seen != expected:
        missing = sorted(set(expected) - set(seen))
        if missing:
            raise ProtectionError(f"protected span(s) {missing} lost in translation")
        raise ProtectionError(f"protection tokens repeated or invented ({seen} for {expected})")


def restore(unit: Unit, translated: str, style: Style) -> str:
    """Put the protected spans back into a translated Unit; ProtectionError if its tokens do not match."""
    check(unit.text, translated, style)
    out, pos = [], 0
    for m in _TOKEN[style].finditer(translated):
        out.append(_decode(translated[pos:m.start()], style))
        out.append(unit.spans[int(m.group(1))])
        pos = m.end()
    out.append(_decode(translated[pos:], style))
    return "".join(out)


def _decode(text: str, style: Style) -> str:
    return html.unescape(text) if style == "xml" else text
