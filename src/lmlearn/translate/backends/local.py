"""A local seq2seq translation model (Marian, NLLB, mBART, T5...) run with `generate`.

Such models do not keep unknown tokens reliably, so this backend defaults to "segments" mode: it is
only ever sent the prose between protected spans. Multilingual models need to be told the target:
--prefix for Marian's ">>kor<< " or T5's "translate English to Korean: ", --forced-bos-token for
NLLB's "kor_Hang" or mBART's "ko_KR".
"""

from __future__ import annotations

from pathlib import Path

from lmlearn.errors import LmlearnError


class LocalSeq2Seq:
    """Greedy decoding of a batch at a time."""

    name = "local"
    style = "brackets"
    default_mode = "segments"
    max_batch = None

    def __init__(self, model: str | None, prefix: str, forced_bos_token: str | None, max_new_tokens: int,
                 device: str):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from lmlearn.models.factory import read_config

        if not model:
            raise LmlearnError("--backend local needs --model: a folder holding a seq2seq model and its tokenizer")
        folder = Path(model).expanduser()
        if not (folder / "config.json").is_file():
            raise LmlearnError(f"--model {model}: no config.json there; give a folder saved with save_pretrained")
        if not getattr(read_config(folder), "is_encoder_decoder", False):
            raise LmlearnError(f"--model {model}: not an encoder-decoder model; serve a decoder-only model behind an "
                               "OpenAI-compatible server and use --backend openai")
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.net = AutoModelForSeq2SeqLM.from_pretrained(folder).to(self.device).eval()
        self.prefix = prefix
        self.max_new_tokens = max_new_tokens
        self.generate_args: dict = {}
        if forced_bos_token:
            token_id = self.tokenizer.convert_tokens_to_ids(forced_bos_token)
            if token_id is None or token_id == self.tokenizer.unk_token_id:
                raise LmlearnError(f"--forced-bos-token {forced_bos_token}: not in the tokenizer of {model}")
            self.generate_args["forced_bos_token_id"] = token_id
        config = self.net.config
        limits = [n for n in (self.tokenizer.model_max_length, getattr(config, "max_position_embeddings", None))
                  if isinstance(n, int) and n < 1_000_000]
        self.max_input = min(limits) if limits else None
        eos = self.net.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        self.model = f"{folder.resolve()}|{prefix}|{forced_bos_token or ''}|{max_new_tokens}"
        self.requests = 0

    def translate(self, texts: list[str]) -> list[str | None]:
        """Translate a batch with one `generate` call; None for inputs too long and outputs cut off or empty."""
        import torch

        sources = [self.prefix + t for t in texts]
        # Truncating an input would translate part of it silently, so texts that do not fit are refused.
        fits = [self.max_input is None or len(ids) <= self.max_input for ids in self.tokenizer(sources)["input_ids"]]
        todo = [s for s, ok in zip(sources, fits) if ok]
        results: list[str | None] = []
        if todo:
            inputs = self.tokenizer(todo, return_tensors="pt", padding=True).to(self.device)
            self.requests += 1
            with torch.no_grad():
                out = self.net.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                        **self.generate_args)
            for row, text in zip(out.tolist(), self.tokenizer.batch_decode(out, skip_special_tokens=True)):
                finished = not self.eos_ids or any(t in self.eos_ids for t in row[1:])  # row[0] starts the decoder
                results.append(text.strip() if finished and text.strip() else None)
        done = iter(results)
        return [next(done) if ok else None for ok in fits]
