"""Translation of instruction data field by field (DeepL, an OpenAI-compatible
endpoint, or a local seq2seq model), keeping code, URLs and placeholders intact and caching every
translation so an interrupted run resumes where it stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class Config:
    """Settings of `lmlearn translate`."""

    data: str = option("", "dataset to translate: .jsonl/.json/.csv/... file, folder or builtin: source")
    to: str = option("ko", "target language code (ko, en-us, ja, ...)")
    source_lang: str | None = option(None, "source language code (unset: the backend detects it)")
    backend: Literal["deepl", "openai", "local"] = option("deepl", "deepl (REST API, key in $DEEPL_AUTH_KEY), "
                                                          "openai (any OpenAI-compatible chat endpoint, key in "
                                                          "$OPENAI_API_KEY) or local (a seq2seq model folder)")
    endpoint: str | None = option(None, "base URL of the API (unset: DeepL's host for the key, or api.openai.com)")
    model: str | None = option(None, "openai: the chat model's name; local: the model folder")
    fields: str | None = option(None, "comma-separated fields to translate (default: instruction, input, output, "
                                      "system, prompt, response, question, answer, text, messages, conversations, "
                                      "chosen, rejected where present)")
    out: str = option("", "output JSON lines file (same rows, chosen fields translated)")
    cache: str | None = option(None, "SQLite translation cache (unset: OUT's name with .cache.sqlite, beside it)")
    protect: Literal["auto", "tokens", "segments"] = option(
        "auto", "tokens: send code/URLs/placeholders as opaque tokens; segments: send only the text between them "
                "(auto: tokens for deepl and openai, segments for local)")
    batch_size: int = option(20, "texts per request (DeepL takes at most 50)", range=">=1")
    max_batch_chars: int = option(20000, "characters per request at most (a longer single text goes alone)",
                                  range=">=1")
    max_retries: int = option(5, "retries of a request answered 429 or 5xx, or not answered", range=">=0")
    backoff: float = option(1.0, "seconds before the first retry, doubled for each further one (a server's "
                                 "Retry-After wins)", range=">=0")
    rate_limit: float = option(0.0, "requests per second at most (0: no limit)", range=">=0")
    timeout: float = option(120.0, "seconds to wait for one reply", range=">0")
    prefix: str = option("", "local: text put before every input (T5 'translate English to Korean: ', "
                             "Marian '>>kor<< ')")
    forced_bos_token: str | None = option(None, "local: the token that starts each output (NLLB kor_Hang, mBART ko_KR)")
    max_new_tokens: int = option(512, "local: tokens generated per text at most (a longer output counts as failed)",
                                 range=">=1")
    device: str = option("auto", "local: torch device (auto: cuda if available)")
    limit: int = option(0, "translate only the first N rows (0: all); handy to check cost and quality first",
                        range=">=0")
    overwrite: bool = option(False, "replace --out if it exists")


def _check(cfg: Config) -> None:
    if not cfg.data:
        raise LmlearnError("--data is required: the dataset to translate")
    if not cfg.out:
        raise LmlearnError("--out is required: the JSON lines file to write")
    for name in ("batch_size", "max_batch_chars", "max_new_tokens"):
        if getattr(cfg, name) < 1:
            raise LmlearnError(f"--{name.replace('_', '-')} {getattr(cfg, name)}: must be at least 1")
    for name in ("max_retries", "limit", "backoff", "rate_limit"):
        if getattr(cfg, name) < 0:
            raise LmlearnError(f"--{name.replace('_', '-')} {getattr(cfg, name)}: must not be negative")
    if cfg.backend == "deepl" and cfg.batch_size > 50:
        raise LmlearnError(f"--batch-size {cfg.batch_size}: DeepL takes at most 50 texts per request")
    if cfg.backend == "local" and cfg.endpoint:
        raise LmlearnError("--endpoint is for --backend deepl or openai; the local backend reads --model")


def run(cfg: Config, on_batch: Callable[[Any, int], None] | None = None) -> Any:
    """Translate cfg.data into cfg.out; returns the run's Stats."""
    from lmlearn.translate.backends import make_backend
    from lmlearn.translate.driver import translate_file
    from lmlearn.translate.fields import parse_fields
    from lmlearn.translate.http import HttpSettings

    _check(cfg)
    http = HttpSettings(max_retries=cfg.max_retries, backoff=cfg.backoff, rate_limit=cfg.rate_limit,
                        timeout=cfg.timeout)
    backend = make_backend(cfg.backend, target_lang=cfg.to, source_lang=cfg.source_lang, endpoint=cfg.endpoint,
                           model=cfg.model, http=http, prefix=cfg.prefix, forced_bos_token=cfg.forced_bos_token,
                           max_new_tokens=cfg.max_new_tokens, device=cfg.device)
    return translate_file(cfg.data, cfg.out, backend, target_lang=cfg.to, source_lang=cfg.source_lang,
                          cache_path=cfg.cache, fields=parse_fields(cfg.fields), mode=cfg.protect,
                          batch_size=cfg.batch_size, max_batch_chars=cfg.max_batch_chars, limit=cfg.limit,
                          overwrite=cfg.overwrite, on_batch=on_batch)
