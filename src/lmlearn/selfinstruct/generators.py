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
    """How to sample: Alpaca used temperature 1.0, top-p 1.0; Self-Instruct 0.7 and 0.5 with a presence
    penalty of 2 for instructions, greedy with 1.5 for instances. Temperature 0 is greedy decoding."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 1024
    presence_penalty: float = 0.0  # OpenAI-compatible servers only; transformers' generate has no such penalty


class Generator(Protocol):
    name: str
    model: str  # what the cache key records of the model (and of the server)
    chat: bool  # the prompt goes in as a user's turn, and the reply is an assistant's, not a continuation
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
        self.chat = api == "chat"
        self.model = f"{model}|{api}|{self.url}"
        self.served_model = model
        self.client = HttpClient(http, "OpenAI-compatible endpoint", KEY_ENV if self.key else None)

    @property
    def requests(self) -> int:
        return self.client.requests

    def complete(self, prompt: str, stop: list[str], sampling: Sampling, seed: int) -> Reply:
        payload = {"model": self.served_model, "temperature": sampling.temperature, "top_p": sampling.top_p,
                   "max_tokens": sampling.max_tokens, "stop": stop[:4], "seed": seed}
        if sampling.presence_penalty:
            payload["presence_penalty"] = sampling.presence_penalty
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
    """A causal LM folder (saved with save_pretrained), sampled with `generate` (greedy at temperature 0); stop
    strings end generation and cut the text. A prompt continues as text: no chat template is applied."""

    name = "local"
    chat = False

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
        self.context = getattr(self.net.config, "max_position_embeddings", None) or getattr(
            self.net.config, "n_positions", None)
        self.requests = 0

    def complete(self, prompt: str, stop: list[str], sampling: Sampling, seed: int) -> Reply:
        import torch

        inputs = self.tokenizer(prompt, return_tensors="pt").to(self.device)
        length = inputs["input_ids"].shape[1]
        new_tokens = sampling.max_tokens
        if self.context:
            new_tokens = min(new_tokens, self.context - length)
            if new_tokens < 1:
                raise LmlearnError(f"--model {self.model}: a prompt of {length} tokens fills its context of "
                                   f"{self.context} positions; use a model with a longer context")
        torch.manual_seed(seed)
        self.requests += 1
        sample = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0} \
            if sampling.temperature > 0 else {"do_sample": False}
        with torch.no_grad():
            out = self.net.generate(**inputs, **sample, max_new_tokens=new_tokens, stop_strings=stop or None,
                                    tokenizer=self.tokenizer,
                                    pad_token_id=self.tokenizer.eos_token_id if self.tokenizer.pad_token_id is None
                                    else self.tokenizer.pad_token_id)
        new = out[0, inputs["input_ids"].shape[1]:]
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
        ended = self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id in new.tolist()
        # generation that ended before its limit stopped on its own (a stop string that straddles the prompt's
        # end stops it too, leaving no stop in the new text)
        return Reply(text[:min(cuts)] if cuts else text, bool(cuts) or ended or len(new) < new_tokens)


def request_seed(key: str) -> int:
    """A sampling seed from a request's cache key, so a rerun asks the same question the same way."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
