"""Grow instruction data from seed tasks with a model: the Self-Instruct loop (Wang et al. 2022) or Alpaca's
variant, through an OpenAI-compatible server or a local causal LM, filtered, cached and resumable."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from lmlearn.config import option
from lmlearn.errors import LmlearnError

# Each method's published sampling (temperature, top-p, tokens, presence penalty): Self-Instruct (GPT-3 davinci)
# 0.7 / 0.5 / 1024 / 2 for instructions (instances greedy with penalty 1.5), Alpaca (text-davinci-003) 1 / 1 / 3072.
SAMPLING = {"self-instruct": (0.7, 0.5, 1024, 2.0), "alpaca": (1.0, 1.0, 3072, 0.0)}
INSTANCE_PRESENCE_PENALTY = 1.5


@dataclass
class Config:
    """Settings of `lmlearn self-instruct`."""

    seed_tasks: str = option("data:alpaca-seed/seed_tasks.jsonl",
                             "seed tasks, JSON lines: instruction + instances (Self-Instruct) or instruction, input, "
                             "output (Alpaca); data:REL reads under --data-dir")
    out: str = option("", "output JSON lines file of generated tasks (the seed tasks' layout; `instruct` reads it)")
    method: Literal["self-instruct", "alpaca"] = option(
        "self-instruct", "self-instruct: new instructions after 6 human + 2 generated ones, then a classification "
                         "check and instances (output first for classification); alpaca: whole tasks, 20 to a "
                         "request, after 3 seed tasks")
    num_tasks: int = option(100, "stop once this many generated tasks have instances", range=">=1")
    max_requests: int = option(0, "stop after this many requests, cached ones included (0: no bound)", range=">=0")
    requests_per_round: int = option(5, "instruction requests per round (the pool grows between rounds)",
                                     range=">=1")
    backend: Literal["openai", "local"] = option("openai", "openai (any OpenAI-compatible server, key in "
                                                           "$OPENAI_API_KEY) or local (a causal LM folder)")
    endpoint: str | None = option(None, "base URL of the server (unset: api.openai.com)")
    model: str | None = option(None, "openai: the model's name on the server; local: the model folder")
    api: Literal["completions", "chat"] = option("chat", "openai: chat (/v1/chat/completions, the prompt as the "
                                                         "user's turn) or completions (/v1/completions, a base "
                                                         "model continues the prompt, as the papers did)")
    temperature: float | None = option(None, "sampling temperature (unset: 0.7 for self-instruct, 1.0 for alpaca)",
                                       range=">=0")
    top_p: float | None = option(None, "nucleus sampling (unset: 0.5 for self-instruct, 1.0 for alpaca)",
                                 range="(0, 1]")
    max_tokens: int | None = option(None, "tokens per reply at most (unset: 1024, alpaca 3072)", range=">=1")
    presence_penalty: float | None = option(None, "openai: presence penalty of every request (unset: "
                                                  "self-instruct's 2 for instructions and 1.5 for instances, "
                                                  "alpaca 0; the local backend has none)", range="[-2, 2]")
    language: str = option("en", "language of the tasks (en keeps Self-Instruct's ASCII-first-character filter; "
                                 "other codes ask for tasks in that language)")
    similarity: float = option(0.7, "drop an instruction whose ROUGE-L F with one in the pool is above this",
                               range="[0, 1]")
    min_words: int = option(4, "drop instructions of fewer words (Self-Instruct: more than 3)", range=">=1")
    max_words: int = option(150, "drop instructions of more words", range=">=1")
    blacklist: str | None = option(None, "comma-separated words that drop an instruction (unset: Alpaca's list, "
                                         "image, graph, file, draw...; with --language ko, Korean nouns too)")
    seed: int = option(0, "seeds the demonstrations' draw and the sampling")
    cache: str | None = option(None, "SQLite cache of replies (unset: OUT's name with .cache.sqlite, beside it)")
    max_retries: int = option(5, "retries of a request answered 429 or 5xx, or not answered", range=">=0")
    backoff: float = option(1.0, "seconds before the first retry, doubled for each further one", range=">=0")
    rate_limit: float = option(0.0, "requests per second at most (0: no limit)", range=">=0")
    timeout: float = option(120.0, "seconds to wait for one reply", range=">0")
    device: str = option("auto", "local: torch device (auto: cuda if available)")
    data_dir: str = option("", "the folder data: paths are read from (default: $LMLEARN_DATA, else ../shared/data)")
    overwrite: bool = option(False, "replace --out if it exists and is not an earlier self-instruct run's output")


def settings_of(cfg: Config) -> Any:
    """The loop's Settings from the command's flags."""
    from lmlearn.selfinstruct.filters import BLACKLIST, InstructionFilter
    from lmlearn.selfinstruct.generators import Sampling
    from lmlearn.selfinstruct.loop import Settings

    temperature, top_p, max_tokens, presence = SAMPLING[cfg.method]
    if cfg.blacklist is not None:
        words = tuple(w.strip() for w in cfg.blacklist.split(",") if w.strip())
    else:
        words = BLACKLIST["en"] + (BLACKLIST.get(cfg.language, ()) if cfg.language != "en" else ())
    if cfg.min_words > cfg.max_words:
        raise LmlearnError(f"--min-words {cfg.min_words} is above --max-words {cfg.max_words}")
    return Settings(method=cfg.method, num_tasks=cfg.num_tasks, max_requests=cfg.max_requests,
                    requests_per_round=cfg.requests_per_round, similarity=cfg.similarity, language=cfg.language,
                    seed=cfg.seed,
                    sampling=Sampling(cfg.temperature if cfg.temperature is not None else temperature,
                                      cfg.top_p if cfg.top_p is not None else top_p, cfg.max_tokens or max_tokens,
                                      presence if cfg.presence_penalty is None else cfg.presence_penalty),
                    instance_presence_penalty=INSTANCE_PRESENCE_PENALTY if cfg.presence_penalty is None
                    else cfg.presence_penalty,
                    instruction_filter=InstructionFilter(cfg.min_words, cfg.max_words, words,
                                                         english=cfg.language == "en"))


def run(cfg: Config, on_round: Callable[[Any], None] | None = None) -> Any:
    """Grow tasks from cfg.seed_tasks into cfg.out; returns the run's Counts."""
    from lmlearn.data.locations import resolve_source, set_data_dir
    from lmlearn.selfinstruct.generators import LocalCausalLM, OpenAICompatible
    from lmlearn.selfinstruct.loop import CACHE_VERSION, Growth, read_seed_tasks, write_outputs
    from lmlearn.translate.cache import TranslationCache
    from lmlearn.translate.driver import default_side_file
    from lmlearn.translate.http import HttpSettings

    if not cfg.out:
        raise LmlearnError("--out is required: the JSON lines file of generated tasks")
    out = Path(cfg.out)
    if out.exists() and not default_side_file(out, ".stats.json").exists() and not cfg.overwrite:
        raise LmlearnError(f"--out {out} exists and is not a self-instruct run's output; pass --overwrite to "
                           "replace it")
    if cfg.backend == "local" and cfg.endpoint:
        raise LmlearnError("--endpoint is for --backend openai; the local backend reads --model")
    set_data_dir(cfg.data_dir)
    seeds = read_seed_tasks(resolve_source(cfg.seed_tasks))
    settings = settings_of(cfg)
    if cfg.backend == "openai":
        http = HttpSettings(max_retries=cfg.max_retries, backoff=cfg.backoff, rate_limit=cfg.rate_limit,
                            timeout=cfg.timeout)
        generator = OpenAICompatible(cfg.endpoint, cfg.model, cfg.api, http)
    else:
        generator = LocalCausalLM(cfg.model, cfg.device)
    sampling = settings.sampling
    namespace = [CACHE_VERSION, settings.method, generator.name, generator.model, str(sampling.temperature),
                 str(sampling.top_p), str(sampling.max_tokens), str(sampling.presence_penalty),
                 str(settings.instance_presence_penalty), settings.language, str(settings.seed)]
    cache_path = Path(cfg.cache) if cfg.cache else default_side_file(out, ".cache.sqlite")
    recorded = {k: v for k, v in asdict(cfg).items() if k not in ("overwrite",)}
    with TranslationCache(cache_path, namespace) as cache:
        growth = Growth(seeds, generator, cache, settings)

        def each_round(counts: Any) -> None:
            write_outputs(out, growth, recorded)
            if on_round:
                on_round(counts)
        try:
            counts = growth.run(each_round)
        except LmlearnError as e:
            raise LmlearnError(f"{e} ({growth.counts.sent} replies of this run are saved in {cache_path}: rerun the "
                               "same command to go on from there)") from None
        write_outputs(out, growth, recorded)
    return counts
