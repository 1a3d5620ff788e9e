"""Translate a dataset: collect the pieces to translate, skip the cached ones, send the rest in batches.

Every distinct piece is translated once (Alpaca's many identical instructions cost one request), and
each batch is committed to the cache before the next goes out, so rerunning after an interruption
sends only what is missing. The output is written once, atomically, when everything is done.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_text
from lmlearn.translate.backends import Backend
from lmlearn.translate.cache import TranslationCache
from lmlearn.translate.fields import check_fields, read_rows, set_path, text_slots
from lmlearn.translate.protect import ProtectionError, Unit, check, restore, split

CACHE_VERSION = "1"  # part of every cache key: bump when what is sent for a text changes


@dataclass
class Stats:
    """What a run did."""

    rows: int = 0
    strings: int = 0  # strings in the chosen fields
    pieces: int = 0  # distinct pieces needing a translation
    cached: int = 0  # of those, found in the cache
    translated: int = 0  # translated by the backend in this run (and cached)
    failed: int = 0  # sent, but no usable translation came back (not cached: a rerun asks again)
    characters: int = 0  # characters sent: what a per-character API bills
    requests: int = 0
    problems: list[dict] = field(default_factory=list)


def default_side_file(out: str | Path, suffix: str) -> Path:
    """ko.jsonl -> ko.cache.sqlite (for suffix '.cache.sqlite'), next to the output."""
    out = Path(out)
    return out.with_name(out.stem + suffix)


def _batches(texts: list[str], size: int, max_chars: int) -> Iterator[list[str]]:
    batch: list[str] = []
    chars = 0
    for text in texts:
        if batch and (len(batch) >= size or chars + len(text) > max_chars):
            yield batch
            batch, chars = [], 0
        batch.append(text)
        chars += len(text)
    if batch:
        yield batch


def _field_name(path: tuple) -> str:
    """('messages', 1, 'content') -> 'messages[1].content'."""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


def translate_rows(rows: list[tuple[str, dict]], backend: Backend, cache: TranslationCache, stats: Stats, *,
                   fields: list[str] | None = None, mode: str = "auto", batch_size: int = 20,
                   max_batch_chars: int = 20000, on_batch: Callable[[Stats, int], None] | None = None) -> list[dict]:
    """Translated copies of `rows` (everything outside the translated strings untouched); fills `stats`."""
    mode = backend.default_mode if mode == "auto" else mode
    size = min(batch_size, backend.max_batch or batch_size)
    plans = [(i, where, path, split(text, mode, backend.style))
             for i, (where, row) in enumerate(rows) for path, text in text_slots(row, fields)]
    wanted = list(dict.fromkeys(p.text for *_, parts in plans for p in parts if isinstance(p, Unit)))
    done = cache.get_many(wanted)
    rejected: dict[str, str] = {}
    todo = [t for t in wanted if t not in done]
    stats.rows, stats.strings, stats.pieces, stats.cached = len(rows), len(plans), len(wanted), len(done)
    for batch in _batches(todo, size, max_batch_chars):
        results = backend.translate(batch)
        good = []
        for sent, result in zip(batch, results, strict=True):
            try:
                if result is None:
                    raise ProtectionError("no usable translation came back (empty, cut off or unparsable)")
                check(sent, result, backend.style)
                good.append((sent, result))
            except ProtectionError as e:
                rejected[sent] = str(e)
        cache.put_many(good)
        done.update(good)
        stats.translated += len(good)
        stats.failed += len(batch) - len(good)
        stats.characters += sum(map(len, batch))
        stats.requests = backend.requests
        if on_batch:
            on_batch(stats, len(todo))
    stats.requests = backend.requests

    out = [copy.deepcopy(row) for _, row in rows]
    for i, where, path, parts in plans:
        pieces = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(part)
            elif part.text in done:
                pieces.append(restore(part, done[part.text], backend.style))
            else:  # kept in the source language rather than risk a corrupted span
                pieces.append(part.source)
                stats.problems.append({"where": where, "field": _field_name(path), "problem": rejected[part.text],
                                       "source": part.source})
        set_path(out[i], path, "".join(pieces))
    return out


def translate_file(data: str, out: str | Path, backend: Backend, *, target_lang: str, source_lang: str | None = None,
                   cache_path: str | Path | None = None, fields: list[str] | None = None, mode: str = "auto",
                   batch_size: int = 20, max_batch_chars: int = 20000, limit: int = 0, overwrite: bool = False,
                   on_batch: Callable[[Stats, int], None] | None = None) -> Stats:
    """Translate dataset `data` into JSON lines at `out`; problems go to OUT.problems.jsonl."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise LmlearnError(f"--out {out} exists; pass --overwrite to replace it")
    rows = read_rows(data)
    rows = rows[:limit] if limit else rows
    check_fields(rows, fields)
    cache_path = Path(cache_path) if cache_path else default_side_file(out, ".cache.sqlite")
    namespace = [CACHE_VERSION, backend.name, backend.model, backend.style, source_lang or "auto", target_lang]
    stats = Stats()
    with TranslationCache(cache_path, namespace) as cache:
        try:
            translated = translate_rows(rows, backend, cache, stats, fields=fields, mode=mode, batch_size=batch_size,
                                        max_batch_chars=max_batch_chars, on_batch=on_batch)
        except LmlearnError as e:
            raise LmlearnError(f"{e} ({stats.translated} translations of this run are saved in {cache_path}: "
                               "rerun the same command to go on from there)") from None
    atomic_write_text(out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in translated))
    problems = default_side_file(out, ".problems.jsonl")
    if stats.problems:
        atomic_write_text(problems, "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in stats.problems))
    else:
        problems.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    return stats
