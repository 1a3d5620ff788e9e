"""Grow a pool of tasks from seed tasks: the Self-Instruct loop (Wang et al. 2022) or Alpaca's variant.

A run is a pure function of its settings, the seed tasks and the replies: round r's prompts draw their
demonstrations with a generator seeded by (seed, r, slot), from a pool that only earlier replies built. Every
reply is committed to a SQLite cache (`translate`'s) under a key of its stage, round, slot and prompt, so a
rerun after an interruption replays the answered requests from the cache, rebuilds the same pool, and sends
only what was never answered. Outputs are rewritten atomically after each round.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal

from lmlearn.errors import LmlearnError
from lmlearn.io import atomic_write_json, atomic_write_text
from lmlearn.selfinstruct import filters, prompts
from lmlearn.selfinstruct.filters import InstructionFilter, SimilarityPool
from lmlearn.selfinstruct.generators import Generator, Reply, Sampling, request_seed
from lmlearn.selfinstruct.prompts import Task, sample
from lmlearn.translate.cache import TranslationCache
from lmlearn.translate.driver import default_side_file

CACHE_VERSION = "self-instruct/2"  # part of every cache key: bump when what a prompt asks changes
UNPARSABLE = "reply item that does not parse"
TRUNCATED = "item cut off by the length limit"
NO_INSTANCE = "task left without a valid instance"
STALL_ROUNDS = 10  # rounds in a row that add no task before the run gives up


@dataclass
class Settings:
    """What a run does; every field that changes a prompt or a reply is in the cache key or the prompt."""

    method: Literal["self-instruct", "alpaca"] = "self-instruct"
    num_tasks: int = 100  # stop once this many generated tasks have instances
    max_requests: int = 0  # stop after this many requests, cached ones included (0: no bound)
    requests_per_round: int = 5  # instruction requests per round; the pool grows between rounds
    human_shots: int = 6  # Self-Instruct: 8 instructions per prompt, 6 human-written...
    generated_shots: int = 2  # ...and 2 generated (fewer until the pool has them)
    alpaca_shots: int = 3  # Alpaca: 3 seed tasks per prompt...
    alpaca_tasks: int = 20  # ...in a list of 20
    classification_shots: int = 12  # demonstrations for "is it classification?", half of each answer
    instance_shots: int = 4  # seed tasks of the same kind shown before asking for instances
    similarity: float = 0.7  # ROUGE-L F above which a new instruction is too close to the pool
    language: str = "en"
    seed: int = 0
    sampling: Sampling = field(default_factory=Sampling)  # instruction (and Alpaca's task) requests
    instance_presence_penalty: float = 1.5  # Self-Instruct's instance requests: greedy, with this penalty
    instruction_filter: InstructionFilter = field(default_factory=InstructionFilter)


@dataclass
class Counts:
    """What a run did, request by request and filter by filter."""

    rounds: int = 0
    requests: int = 0  # asked in all, replies from the cache included
    sent: int = 0  # sent to the backend by this run
    cached: int = 0  # answered from the cache
    candidates: int = 0  # instructions parsed from the replies
    pooled: int = 0  # instructions that joined the pool
    tasks: int = 0  # generated tasks with at least one instance (written)
    classification: int = 0  # of those, classification tasks
    instances: int = 0
    unclear: int = 0  # "is it classification?" answered neither yes nor no: taken as no
    dropped: dict[str, int] = field(default_factory=dict)
    stopped: str = ""


class _BudgetSpent(Exception):
    pass


def read_seed_tasks(path: str) -> list[Task]:
    """Seed tasks in Self-Instruct's layout (instruction, instances, is_classification) or Alpaca's."""
    tasks = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise LmlearnError(f"--seed-tasks {path}: cannot read it ({e.strerror})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            instances = row["instances"] if "instances" in row else [{"input": row.get("input", ""),
                                                                      "output": row["output"]}]
            instances = [{"input": i.get("input") or "", "output": i["output"]} for i in instances]
            if not all(isinstance(i["input"], str) and isinstance(i["output"], str) for i in instances):
                raise ValueError("an input or output that is not a string")
            if not isinstance(row["instruction"], str) or not row["instruction"].strip() or not instances:
                raise ValueError("an empty instruction or no instances")
            tasks.append(Task(row["instruction"], instances, bool(row.get("is_classification", False))))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as e:
            problem = f"missing key {e}" if isinstance(e, KeyError) else str(e)
            raise LmlearnError(f"{path}:{number}: not a seed task ({problem}); expected instruction and instances "
                               "[{input, output}] (Self-Instruct) or instruction, input, output (Alpaca)") from None
    if not tasks:
        raise LmlearnError(f"--seed-tasks {path}: no tasks in it")
    return tasks


class Growth:
    """The pool, the generated tasks and the drops of one run."""

    def __init__(self, seeds: list[Task], generator: Generator, cache: TranslationCache, settings: Settings):
        self.seeds = seeds
        self.generator = generator
        self.cache = cache
        self.settings = settings
        self.pool = SimilarityPool([t.instruction for t in seeds], settings.similarity)
        self.generated: list[dict] = []  # every instruction that joined the pool, with its instances
        self.dropped: list[dict] = []
        self.reasons: Counter[str] = Counter()
        self.counts = Counts()

    # requests ----------------------------------------------------------------------------------------------

    def ask(self, stage: str, round_: int, slot: int, prompt: str, stop: list[str],
            sampling: Sampling | None = None) -> Reply:
        """The reply to `prompt`: from the cache when this request was answered before, else from the backend.
        The key holds the stage, whose sampling the run's settings (in the cache's namespace) fix."""
        budget = self.settings.max_requests
        if budget and self.counts.requests >= budget:
            raise _BudgetSpent
        sampling = sampling or self.settings.sampling
        request = json.dumps([stage, round_, slot, prompt, stop], ensure_ascii=False)
        self.counts.requests += 1
        found = self.cache.get_many([request])
        if request in found:
            self.counts.cached += 1
            return Reply(**json.loads(found[request]))
        reply = self.generator.complete(prompt, stop, sampling, request_seed(self.cache.key(request)))
        self.cache.put_many([(request, json.dumps(asdict(reply), ensure_ascii=False))])
        self.counts.sent += 1
        return reply

    # filters -----------------------------------------------------------------------------------------------

    def drop(self, reason: str, round_: int, **what) -> None:
        self.reasons[reason] += 1
        self.dropped.append({"round": round_, "reason": reason, **what})

    def admit(self, candidates: list[Task], round_: int) -> list[dict]:
        """The candidates that pass the instruction filters and are far enough from the pool, in order."""
        new = []
        for task in candidates:
            self.counts.candidates += 1
            reason = self.settings.instruction_filter.reason(task.instruction)
            if reason:
                self.drop(reason, round_, instruction=task.instruction)
                continue
            score, closest = self.pool.closest(task.instruction)
            if self.pool.too_similar(score):
                self.drop(filters.SIMILAR, round_, instruction=task.instruction, closest=closest,
                          rouge_l=round(score, 4))
                continue
            self.pool.add(task.instruction)
            row = {"instruction": task.instruction, "instances": task.instances,
                   "is_classification": task.is_classification, "round": round_,
                   "most_similar": {"instruction": closest, "rouge_l": round(score, 4)}}
            self.generated.append(row)
            new.append(row)
        return new

    def keep_instances(self, row: dict, instances: list[dict], round_: int) -> None:
        kept, dropped = filters.clean_instances(instances)
        for reason, inst in dropped:
            self.drop(reason, round_, instruction=row["instruction"], instance=inst)
        row["instances"] = kept
        if not kept:
            self.drop(NO_INSTANCE, round_, instruction=row["instruction"])

    # rounds ------------------------------------------------------------------------------------------------

    def _rng(self, *parts: object) -> random.Random:
        return random.Random("/".join(map(str, (self.settings.seed, *parts))))

    def self_instruct_round(self, r: int) -> None:
        s = self.settings
        chat = self.generator.chat
        # Self-Instruct decodes the classification question and the instances greedily (temperature 0)
        yes_no = Sampling(temperature=0.0, top_p=1.0, max_tokens=16)
        for_instances = Sampling(temperature=0.0, top_p=1.0, max_tokens=s.sampling.max_tokens,
                                 presence_penalty=s.instance_presence_penalty)
        human = [t.instruction for t in self.seeds]
        candidates = []
        for slot in range(s.requests_per_round):
            rng = self._rng(r, slot)
            shown = sample(rng, [g["instruction"] for g in self.generated], s.generated_shots)
            shown += sample(rng, human, s.human_shots + s.generated_shots - len(shown))
            rng.shuffle(shown)
            reply = self.ask("instructions", r, slot, prompts.instruction_prompt(shown, language=s.language),
                             prompts.instruction_stops(len(shown), chat))
            items = prompts.parse_instructions(reply.text, len(shown) + 1, chat)
            if not reply.finished and items:
                self.drop(TRUNCATED, r, instruction=items.pop())
            candidates += [Task(text, []) for text in items]
        clf_seeds = [t for t in self.seeds if t.is_classification]
        other_seeds = [t for t in self.seeds if not t.is_classification]
        for i, row in enumerate(self.admit(candidates, r)):
            rng = self._rng(r, "task", i)
            half = s.classification_shots // 2
            demos = sample(rng, clf_seeds, half) + sample(rng, other_seeds, s.classification_shots - half)
            rng.shuffle(demos)
            answer = prompts.parse_classification(
                self.ask("classification", r, i, prompts.classification_prompt(row["instruction"], demos),
                         ["\n"], yes_no).text)
            if answer is None:
                self.counts.unclear += 1
            row["is_classification"] = bool(answer)
            demos = sample(rng, (clf_seeds if answer else other_seeds) or self.seeds, s.instance_shots)
            reply = self.ask("instances", r, i, prompts.instance_prompt(row["instruction"], demos, bool(answer)),
                             prompts.instance_stops(chat), for_instances)
            instances = prompts.parse_instances(reply.text, bool(answer))
            if not reply.finished and instances:
                self.drop(TRUNCATED, r, instruction=row["instruction"], instance=instances.pop())
            self.keep_instances(row, instances, r)

    def alpaca_round(self, r: int) -> None:
        s = self.settings
        candidates = []
        for slot in range(s.requests_per_round):
            demos = sample(self._rng(r, slot), self.seeds, s.alpaca_shots)
            reply = self.ask("alpaca", r, slot, prompts.alpaca_prompt(demos, s.alpaca_tasks, s.language),
                             prompts.alpaca_stops(s.alpaca_tasks))
            tasks, bad, truncated = prompts.parse_alpaca(reply.text, len(demos) + 1, reply.finished,
                                                          self.generator.chat)
            for block in bad:
                self.drop(UNPARSABLE, r, text=block)
            if truncated:
                self.drop(TRUNCATED, r)
            candidates += tasks
        for row in self.admit(candidates, r):
            self.keep_instances(row, row["instances"], r)

    def tasks(self) -> list[dict]:
        """The generated tasks that have instances, in the seed tasks' layout, with where each came from."""
        done = [g for g in self.generated if g["instances"]]
        return [{"id": f"generated_task_{i}", **g} for i, g in enumerate(done)]

    def run(self, on_round: Callable[[Counts], None] | None = None) -> Counts:
        s = self.settings
        step = self.self_instruct_round if s.method == "self-instruct" else self.alpaca_round
        r, idle = 0, 0
        try:
            while len(self.tasks()) < s.num_tasks:
                before = len(self.tasks())
                step(r)
                r += 1
                self._tally(r)
                if on_round:
                    on_round(self.counts)
                idle = idle + 1 if len(self.tasks()) == before else 0
                if idle >= STALL_ROUNDS:
                    self.counts.stopped = f"no new task in {STALL_ROUNDS} rounds"
                    break
            else:
                self.counts.stopped = f"{s.num_tasks} tasks reached"
        except _BudgetSpent:
            self.counts.stopped = f"--max-requests {s.max_requests} spent"
            self._tally(r + 1)
        return self.counts

    def _tally(self, rounds: int) -> None:
        tasks = self.tasks()
        c = self.counts
        c.rounds, c.pooled, c.tasks = rounds, len(self.generated), len(tasks)
        c.classification = sum(t["is_classification"] for t in tasks)
        c.instances = sum(len(t["instances"]) for t in tasks)
        c.dropped = dict(self.reasons.most_common())


def write_outputs(out: Path, growth: Growth, settings: dict) -> None:
    """OUT (tasks), OUT.dropped.jsonl (each drop and its reason) and OUT.stats.json, each written atomically."""
    lines = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # noqa: E731
    atomic_write_text(out, lines(growth.tasks()))
    atomic_write_text(default_side_file(out, ".dropped.jsonl"), lines(growth.dropped))
    atomic_write_json(default_side_file(out, ".stats.json"), {"counts": asdict(growth.counts), "settings": settings})
