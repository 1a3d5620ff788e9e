"""DeepL's REST API v2 (`POST /v2/translate`), with XML tag handling so protection tokens stay put."""

from __future__ import annotations

import os

from lmlearn.errors import LmlearnError
from lmlearn.translate.http import HttpClient, HttpSettings

KEY_ENV = "DEEPL_AUTH_KEY"
FREE_ENDPOINT = "https://api-free.deepl.com"
PRO_ENDPOINT = "https://api.deepl.com"


class DeepL:
    """Up to 50 texts per request; the key comes from $DEEPL_AUTH_KEY."""

    name = "deepl"
    model = "deepl-v2"
    style = "xml"
    default_mode = "tokens"
    max_batch = 50  # DeepL's limit of `text` entries per request

    def __init__(self, target_lang: str, source_lang: str | None, endpoint: str | None, http: HttpSettings):
        self.key = os.environ.get(KEY_ENV, "").strip()
        if not self.key:
            raise LmlearnError(f"--backend deepl needs an API key: set {KEY_ENV} "
                               "(https://www.deepl.com/your-account/keys)")
        # Free-plan keys end in ":fx" and work only on the free host (DeepL's documented convention).
        default = FREE_ENDPOINT if self.key.endswith(":fx") else PRO_ENDPOINT
        self.url = (endpoint or default).rstrip("/") + "/v2/translate"
        self.target_lang = target_lang.upper()
        self.source_lang = source_lang.upper() if source_lang else None
        self.client = HttpClient(http, "DeepL", KEY_ENV)

    @property
    def requests(self) -> int:
        return self.client.requests

    def translate(self, texts: list[str]) -> list[str | None]:
        """Translate a batch in one request."""
        payload = {"text": texts, "target_lang": self.target_lang, "tag_handling": "xml"}
        if self.source_lang:
            payload["source_lang"] = self.source_lang
        reply = self.client.post_json(self.url, payload, {"Authorization": f"DeepL-Auth-Key {self.key}"})
        out = reply.get("translations") if isinstance(reply, dict) else None
        if not isinstance(out, list) or len(out) != len(texts):
            raise LmlearnError(f"DeepL: {self.url} answered {len(texts)} texts with something else than "
                               f"{len(texts)} translations; check --endpoint")
        return [t.get("text") if isinstance(t, dict) and isinstance(t.get("text"), str) else None for t in out]
