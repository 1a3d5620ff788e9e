"""Where generated text comes from: an OpenAI-compatible server (its completions or chat endpoint: OpenAI, vLLM,
llama.cpp, Ollama) or a local causal LM folder, sampled. The HTTP side (retries, backoff, rate limit, one-line
errors) is `translate`'s client."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from lmlearn.errors import LmlearnError
from lmlearn.translate.http import HttpClient, HttpSettings

KEY_ENV = "OPENAI_API_KEY"
DEFAULT_ENDPOINT = "https://api.openai.com"


@dataclass
class Reply:
    """A generation, and whether it ended on its own or at a stop sequence (not cut off by the length limit)."""

    text: str
    finished: bool


@dataclass
class Sampling:
    """How to sample: Alpaca used temperature 1.0, top-p 1.0; Self-Instruct 0.7 and 0.5."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024


class Generator(Protocol):
    name: str
    model: str  # what the cache key records of the model
    requests: int

    def complete(self, prompt: str, stop: list[str], sampling: Sampling, seed: int) -> Reply:
        """A continuation of `prompt`."""


class OpenAICompatible:
    """`POST /v1/completions` (a base model continues the prompt) or `/v1/chat/completions` (the prompt is the
    user's turn)."""

    name = "openai"

    def __init__(self, endpoint: str | None, model: str | None, api: Literal["completions", "chat"],
                 http: HttpSettings):
        if not model:
            raise LmlearnError("--backend openai needs --model (e.g. gpt-4o-mini, or the name your server serves)")
        self.key = os.environ.get(KEY_ENV, "").strip()
        if not self.key and not endpoint:
            raise LmlearnError(f"--backend openai needs an API key: set {KEY_ENV}, or give --endpoint for a local "
                               "server")
        base = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        path = "/chat/completions" if api == "chat" else "/completions"
        self.url = base + (path if base.endswith("/v1") else "/v1" + path)
        self.api = api
        self.model = f"{model}|{api}"
        self.served_model = model
        self.client = HttpClient(http, "OpenAI-compatible endpoint", KEY_ENV if self.key else None)

    @property
    def requests(self) -> int:
        return self.client.requests

    def complete(self, prompt: str, stop: list[str], sampling: Sampling, seed: int) -> Reply:
        payload = {"model": self.served_model, "temperature": sampling.temperature, "top_p": sampling.top_p,
                   "max_tokens": sampling.max_tokens, "stop": stop[:4], "seed": seed}
        if self.api == "chat":
            payload["messages"] = [{"role": "user", "content": prompt}]
        else:
            payload["prompt"] = prompt
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        reply = self.client.post_json(self.url, payload, headers)
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] if self.api == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError):
            field = "message.content" if self.api == "chat" else "text"
            raise LmlearnError(f"{self.url}: the reply has no choices[0].{field}; is it a {self.api} endpoint? "
                               f"(--api chooses completions or chat)") from None
        return Reply(text if isinstance(text, str) else "", choice.get("finish_reason") != "length")


class LocalCausalLM:
    """A causal LM folder (saved with save_pretrained), sampled with `generate`; stop strings cut the text."""

    name = "local"

    def __init__(self, model: str | None, device: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not model:
            raise LmlearnError("--backend local needs --model: a folder holding a causal LM and its tokenizer")
        folder = Path(model).expanduser()
        if not (folder / "config.json").is_file():
            raise LmlearnError(f"--model {model}: no config.json there; give a folder saved with save_pretrained")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.net = AutoModelForCausalLM.from_pretrained(folder).to(self.device).eval()
        self.model = str(folder.resolve())
        self.requests = 0

    def complete(self, prompt: str, stop: list[str], sampling: Sampling, seed: int) -> Reply:
        import torch

        inputs = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        torch.manual_seed(seed)
        self.requests += 1
        with torch.no_grad():
            out = self.net.generate(**inputs, do_sample=True, temperature=sampling.temperature,
                                    top_p=sampling.top_p, max_new_tokens=sampling.max_tokens,
                                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        new = out[0, inputs["input_ids"].shape[1]:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
        ended = self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id in new.tolist()
        return Reply(text[:min(cuts)] if cuts else text, bool(cuts) or ended)


def request_seed(key: str) -> int:
    """A sampling seed from a request's cache key, so a rerun asks the same question the same way."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
