"""Translation backends: DeepL's REST API, OpenAI-compatible chat endpoints, local seq2seq models."""

from __future__ import annotations

from typing import Literal, Protocol

from lmlearn.translate.http import HttpSettings
from lmlearn.translate.protect import Mode, Style

BackendName = Literal["deepl", "openai", "local"]


class Backend(Protocol):
    """What the driver needs of a backend."""

    name: str
    model: str  # what the cache key records of the model
    style: Style  # how protection tokens look to this backend
    default_mode: Mode
    max_batch: int | None  # most texts one request may carry
    requests: int  # requests (or generate calls) made so far

    def translate(self, texts: list[str]) -> list[str | None]:
        """The translations of `texts`, in order; None where no usable translation came back."""


def make_backend(name: BackendName, *, target_lang: str, source_lang: str | None = None, endpoint: str | None = None,
                 model: str | None = None, http: HttpSettings | None = None, prefix: str = "",
                 forced_bos_token: str | None = None, max_new_tokens: int = 512, device: str = "auto") -> Backend:
    """The backend called `name`, ready to translate into `target_lang`."""
    http = http or HttpSettings()
    if name == "deepl":
        from lmlearn.translate.backends.deepl import DeepL

        return DeepL(target_lang, source_lang, endpoint, http)
    if name == "openai":
        from lmlearn.translate.backends.openai import OpenAIChat

        return OpenAIChat(target_lang, source_lang, endpoint, model, http)
    from lmlearn.translate.backends.local import LocalSeq2Seq

    return LocalSeq2Seq(model, prefix, forced_bos_token, max_new_tokens, device)
