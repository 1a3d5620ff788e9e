"""`lmlearn self-instruct` against a loopback OpenAI-compatible server whose replies are a function of the prompt:
the pool grows from the seed tasks, every filter drops what it should, a killed run resumes without asking
a question twice."""

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from conftest import loopback_json_server
from lmlearn.errors import LmlearnError
from lmlearn.selfinstruct import filters, prompts
from lmlearn.selfinstruct.filters import InstructionFilter, SimilarityPool
from lmlearn.workflows.self_instruct import Config, run

pytestmark = pytest.mark.usefixtures("one_thread")

SEEDS_175 = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca-seed" / "seed_tasks.jsonl"
VERBS = ["Summarize", "Explain", "Rewrite", "Classify", "Translate", "Compare", "Describe", "Outline", "Critique",
         "Plan", "Suggest", "Evaluate", "Rank", "Name", "Define", "Predict", "Justify", "Contrast", "Paraphrase"]
ADJS = ["short", "formal", "playful", "detailed", "critical", "simple", "technical", "historical", "persuasive",
        "neutral", "friendly", "concise", "vivid", "balanced", "skeptical", "hopeful", "careful", "modern"]
NOUNS = ["essay", "review", "letter", "story", "report", "speech", "poem", "summary", "argument", "dialogue",
         "recipe", "headline", "tweet", "advertisement", "lesson", "riddle", "proposal", "memo", "guide", "quiz"]
TOPICS = ["volcanoes", "taxes", "gardening", "chess", "rainforests", "banking", "jazz", "vaccines", "robots",
          "marathons", "bridges", "coffee", "elections", "glaciers", "poetry", "startups", "bees", "satellites"]
AUDIENCES = ["children", "engineers", "tourists", "nurses", "farmers", "students", "retirees", "managers",
             "athletes", "voters", "chefs", "pilots"]
# One item per instruction filter, in every instruction reply.
BAD = ["Say hi now.", "Explain " + "the long and winding history of everything " * 25 + "please.",
       "Describe the picture of a cat that sits on a warm mat.", "Write a program that sorts a list of numbers.",
       "- List three fruits that are rich in vitamin C.", "Écrivez un poème sur la mer et le vent du soir."]


def _rng(prompt: str) -> random.Random:
    return random.Random(hashlib.sha256(prompt.encode()).hexdigest())


def invented(rng: random.Random) -> str:
    return (f"{rng.choice(VERBS)} a {rng.choice(ADJS)} {rng.choice(NOUNS)} about {rng.choice(TOPICS)} "
            f"for {rng.choice(AUDIENCES)}.")


def reply_to(prompt: str) -> tuple[str, str]:
    """(text, finish_reason): what a model might say, decided by the prompt alone."""
    rng = _rng(prompt)
    if prompt.startswith("Come up with a series of tasks"):
        shown = re.findall(r"^\d+\. (.*)$", prompt, flags=re.MULTILINE)
        items = [invented(rng) for _ in range(4)] + BAD + [shown[0].replace("the", "a", 1) + " too"]
        text = "".join(f" {item}\n{len(shown) + 2 + i}." for i, item in enumerate(items))[:-4]  # continues "9."
        cut = rng.random() < 0.3
        return (text + f"\n{len(shown) + 2 + len(items)}. Describe a " if cut else text), "length" if cut else "stop"
    if prompt.startswith("Can the following task"):
        task = prompt.rsplit("Task: ", 1)[1]
        return (" Yes" if task.startswith("Classify") else " No"), "stop"
    if prompt.startswith("Given the classification task"):
        topic = rng.choice(TOPICS)
        return (f"Class label: Positive\nInput: I love {topic}.\nClass label: Negative\nInput: I hate {topic}.\n"
                f"Class label: Positive\nInput: I love {topic}.\n"), "stop"
    if prompt.startswith("Come up with examples"):
        if rng.random() < 0.15:  # nothing usable
            return "Example 1\nInput: hello\nOutput: hello\n", "stop"
        a, b = rng.choice(TOPICS), rng.choice(TOPICS)
        return (f"Example 1\nInput: {a}\nOutput: A text on {a}.\nExample 2\nOutput: A text on {b}.\n"
                f"Example 3\nInput: {a}\nOutput: A text on {a}.\nExample 4\nInput: same\nOutput: same\n"
                f"Example 5\nInput: x\nOutput: \nExample 6\nInput: Fill in:\nOutput: y\n"
                f"Example 7\nInput: q\nOutput: one\nExample 8\nInput: q\nOutput: two\n"), "stop"
    if prompt.startswith("Write ") and "List of" in prompt:
        n = int(prompt.rsplit("###\n", 1)[1].split(".")[0])
        blocks = [f" {invented(rng)}\n{n}. Input:\n<noinput>\n{n}. Output:\nA fine answer.\n"]
        blocks += [f"{n + 1 + i}. Instruction: {bad}\n{n + 1 + i}. Input:\n<noinput>\n{n + 1 + i}. Output:\nok\n"
                   for i, bad in enumerate(BAD[:3])]
        blocks += ["this block lost its numbering\n", f"{n + 5}. Instruction: {invented(rng)}\n{n + 5}. Input:\n"
                   f"some input\n{n + 5}. Output:\nAn answer.\n", f"{n + 6}. Instruction: Tell a story about"]
        return "###\n".join(blocks), "length"
    return "?", "stop"


def as_chat(prompt: str, text: str, finish: str) -> str:
    """The same content as a chat model writes it: a preamble, its own numbering or headers, bold markup, a closing
    line, labels with a remark under them, and (for half the instance replies) no "Example N" headers at all."""
    rng = _rng("chat" + prompt)
    if prompt.startswith("Come up with a series of tasks"):
        n = len(re.findall(r"^\d+\. ", prompt, flags=re.MULTILINE)) + 1
        return f"Sure! Here are some more tasks:\n\n**{n}.**{text}" + ("" if finish == "length" else
                                                                        "\n\nI hope these help!")
    if prompt.startswith("Can the following task"):
        return f"**{text.strip()}**, because of what it asks for."
    if prompt.startswith("Given the classification task"):
        return "Here you go:\n\n" + re.sub(r"Class label: (\w+)\n", r"Class label: **\1**\n(my pick)\n", text)
    if prompt.startswith("Come up with examples"):
        bare = rng.random() < 0.5
        return "Here are some examples:\n\n" + re.sub(r"Example (\d+)\n", "" if bare else r"**Example \1:**\n", text)
    return text


class FakeServer:
    """What the server answered, and a way to make it hang after a number of replies."""

    def __init__(self):
        self.prompts: list[tuple[str, str]] = []  # (path, prompt) of every answered request
        self.bodies: list[dict] = []
        self.hang_after: int | None = None
        self.hanging = threading.Event()
        self.release = threading.Event()

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if self.hang_after is not None and len(self.prompts) >= self.hang_after:
            self.hanging.set()
            self.release.wait(30)
            return 503, {"error": "gone"}
        if path == "/v1/chat/completions":
            prompt = body["messages"][0]["content"]
        elif path == "/v1/completions":
            prompt = body["prompt"]
        else:
            return 404, {"error": "no such path"}
        assert body["model"] == "fake-model" and isinstance(body["seed"], int) and len(body["stop"]) <= 4
        text, finish = reply_to(prompt)
        if path == "/v1/chat/completions":
            text = as_chat(prompt, text, finish)
        self.prompts.append((path, prompt))
        self.bodies.append(body)
        choice = {"message": {"role": "assistant", "content": text}} if "chat" in path else {"text": text}
        return 200, {"choices": [{**choice, "index": 0, "finish_reason": finish}]}


@pytest.fixture
def server():
    state = FakeServer()
    with loopback_json_server(lambda path, body, headers: (*state.answer(path, body), {})) as url:
        state.url = url
        yield state
        state.release.set()


@pytest.fixture
def seeds(tmp_path):
    """24 seed tasks, 4 of them classification, in Self-Instruct's layout."""
    rng = random.Random(7)
    rows = [{"id": f"seed_task_{i}", "instruction": invented(rng).replace(".", f" number {i}."),
             "instances": [{"input": "" if i % 3 else "some text", "output": f"answer {i}"}],
             "is_classification": False} for i in range(20)]
    rows += [{"id": f"seed_task_{20 + i}", "instruction": f"Classify the sentiment of the sentence, case {i}.",
              "instances": [{"input": "I like it.", "output": "Positive"}], "is_classification": True}
             for i in range(4)]
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config(server, seed_path, out, **kw) -> Config:
    settings = dict(seed_tasks=str(seed_path), out=str(out), endpoint=server.url, model="fake-model", backoff=0.0,
                    max_retries=0, num_tasks=12, max_requests=150, requests_per_round=2)
    return Config(**{**settings, **kw})


def read(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


# the filters, one by one ------------------------------------------------------------------------------------------

def test_each_instruction_filter_names_its_reason():
    f = InstructionFilter()
    expected = [filters.TOO_SHORT, filters.TOO_LONG, filters.BLACKLISTED, filters.BANNED_START,
                filters.PUNCTUATION_START, filters.NOT_ENGLISH]
    assert [f.reason(text) for text in BAD] == expected
    assert f.reason("Explain the rules of chess to a child.") is None
    assert f.reason("Suggest a graphic novel for teenagers to read.") is None  # 'graph' only as a whole word
    korean = InstructionFilter(blacklist=filters.BLACKLIST["ko"], english=False)
    assert korean.reason("다음 문장의 감정을 분류해 보세요.") is None  # not dropped for starting in Hangul
    assert korean.reason("이 파일을 읽고 내용을 요약해 주세요.") == filters.BLACKLISTED  # 파일 + particle 을
    assert f.reason("다음 문장의 감정을 분류해 보세요.") == filters.NOT_ENGLISH


def test_rouge_l_against_the_pool_by_hand_and_in_hangul():
    pool = SimilarityPool(["a b c d"], threshold=0.7)
    score, closest = pool.closest("a b x d")  # LCS 3 of 4 both ways: F = 0.75
    assert score == pytest.approx(0.75) and closest == "a b c d" and pool.too_similar(score)
    assert not pool.too_similar(pool.closest("a x y d")[0])  # F = 0.5
    korean = SimilarityPool(["다음 영화 리뷰의 감정을 긍정 또는 부정으로 분류하세요"])
    score, _ = korean.closest("다음 영화 리뷰의 감정을 긍정 혹은 부정으로 분류하세요")
    assert score == pytest.approx(7 / 8)  # 7 of 8 words in order; rouge-score's own tokenizer would see no tokens here and say 0
    # on English words the pool's ROUGE-L is rouge-score's, and the closest found is the best of the pool
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(3)
    sentences = [invented(rng) + " " + " ".join(rng.choices(TOPICS, k=rng.randrange(6))) for _ in range(60)]
    pool = SimilarityPool(sentences[:50])
    for query in sentences[50:]:
        expected = max(scorer.score(other, query)["rougeL"].fmeasure for other in sentences[:50])
        assert pool.closest(query)[0] == pytest.approx(expected)


def test_each_instance_filter_names_its_reason():
    kept, dropped = filters.clean_instances([
        {"input": "a", "output": "b"}, {"input": "", "output": "c"}, {"input": "x", "output": " "},
        {"input": "same", "output": "same"}, {"input": "Fill in:", "output": "y"}, {"input": "a", "output": "b"},
        {"input": "q", "output": "one"}, {"input": "q", "output": "two"}])
    assert kept == [{"input": "a", "output": "b"}, {"input": "", "output": "c"}]
    assert [r for r, _ in dropped] == [filters.EMPTY_OUTPUT, filters.OUTPUT_IS_INPUT, filters.CUT_SHORT,
                                       filters.DUPLICATE, filters.CONFLICT, filters.CONFLICT]


def test_parsers_take_continued_and_restarted_numbering_and_drop_a_cut_off_task():
    assert prompts.parse_instructions(" Do this thing well.\n10. do that other thing", 9) == [
        "Do this thing well.", "Do that other thing"]
    assert prompts.parse_instructions("1. First task here\n2. Second task here", 9) == [
        "First task here", "Second task here"]
    reply = (" Name a city.\n4. Input:\n<noinput>\n4. Output:\nParis\n###\n5. Instruction: Add 2 and 3.\n"
             "5. Input:\n2, 3\n5. Output:\n5\n###\nrubbish\n###\n7. Instruction: Tell a")
    tasks, bad, truncated = prompts.parse_alpaca(reply, 4, finished=False)
    assert [(t.instruction, t.instances) for t in tasks] == [
        ("Name a city.", [{"input": "", "output": "Paris"}]), ("Add 2 and 3.", [{"input": "2, 3", "output": "5"}])]
    assert bad == ["rubbish"] and truncated
    assert prompts.parse_instances("Class label: Yes\nInput: It rains.\nClass label: No\nInput: Sun.\nTask: x",
                                   classification=True) == [{"input": "It rains.", "output": "Yes"},
                                                            {"input": "Sun.", "output": "No"}]
    assert prompts.parse_instances("Example 1\nInput: 2+2\nOutput: 4\nExample 2\nOutput: hi\n", False) == [
        {"input": "2+2", "output": "4"}, {"input": "", "output": "hi"}]
    assert [prompts.parse_classification(t) for t in (" Yes", "no.", " maybe", "**Yes**, it is", "네.")] == [
        True, False, None, True, True]


def test_parsers_take_a_chat_models_replies():
    reply = "Sure! Here are more tasks:\n\n9. **Write a poem about rain.**\n10) Explain tides.\n\nWant more?"
    assert prompts.parse_instructions(reply, 9, chat=True) == ["Write a poem about rain.", "Explain tides."]
    assert prompts.parse_instructions(reply, 9, chat=False)[0] == "Sure! Here are more tasks:"  # a continuation
    assert prompts.parse_instructions("Write a haiku about snow.", 9, chat=True) == ["Write a haiku about snow."]
    assert "\n\n" in prompts.instruction_stops(8) and "\n\n" not in prompts.instruction_stops(8, chat=True)
    bullets = "Sure! Here are 7 more tasks:\n\n- Write a haiku.\n- Sort the list."
    assert prompts.parse_instructions(bullets, 9, chat=True) == ["Write a haiku.", "Sort the list."]
    assert prompts.parse_instructions("Write a haiku.\n10. Sort it.", 9, chat=True) == ["Write a haiku.", "Sort it."]
    # a completion keeps its own sub-lists and decimals inside an item
    assert prompts.parse_instructions(" Give 3 examples:\n1) a\n10. Sort.", 9) == ["Give 3 examples: 1) a", "Sort."]
    assert prompts.parse_instructions(" Multiply:\n3.14 times 2\n10. Sort.", 9) == ["Multiply: 3.14 times 2", "Sort."]
    assert prompts.parse_instances("1. Input: a\n   Output: b\n2. Input: c\n   Output: d", False) == [
        {"input": "a", "output": "b"}, {"input": "c", "output": "d"}]
    assert prompts.parse_instances("**Example 1: A haiku about spring**\n**Output:** Blossoms drift.", False) == [
        {"input": "", "output": "Blossoms drift."}]  # a header's title is not an input
    assert prompts.parse_instances("Task: Rate it.\nClass label: Pos\nInput: good", True) == [
        {"input": "good", "output": "Pos"}]  # a restated task line is not the end of the reply
    assert prompts.instance_stops(chat=True)[0] == "\nTask:"
    unmarked = "4. Instruction: Name a color.\n4. Input:\n<noinput>\n4. Output:\nBlue\n\n5. Instruction: Add 2 and 3." \
               "\n5. Input:\n2, 3\n5. Output:\n5"
    assert [t.instruction for t in prompts.parse_alpaca(unmarked, 4, True, chat=True)[0]] == ["Name a color.",
                                                                                              "Add 2 and 3."]
    assert [prompts.parse_classification(t) for t in ("Is it classification? Yes", "**Answer:** No")] == [True, False]
    headed = "Here are examples:\n\n**Example 1:**\nInput: 2+2\nOutput: 4\n\nExample 2.\nOutput: hi\nInput: 3\nOutput: 3!"
    assert prompts.parse_instances(headed, False) == [{"input": "2+2", "output": "4"}, {"input": "", "output": "hi"},
                                                      {"input": "3", "output": "3!"}]
    bare = "Sure!\nInput: a\nOutput: b\nOutput: c\nInput: d\nOutput: e"
    assert prompts.parse_instances(bare, False) == [{"input": "a", "output": "b"}, {"input": "", "output": "c"},
                                                    {"input": "d", "output": "e"}]
    alpaca = "Sure, 17 more:\n\n###\n**4. Instruction:** Name a city.\n4. Input:\n<noinput>\n4. Output:\nParis\n###\n"
    tasks, bad, _ = prompts.parse_alpaca(alpaca, 4, finished=True, chat=True)
    assert [(t.instruction, t.instances) for t in tasks] == [("Name a city.", [{"input": "", "output": "Paris"}])]
    assert bad == []
    labels = "Here:\n\nClass label: **Positive**\nThe happy one.\nInput: I love it.\n\nClass label: No\nInput: x"
    assert prompts.parse_instances(labels, True) == [{"input": "I love it.", "output": "Positive"},
                                                     {"input": "x", "output": "No"}]


# the loop ---------------------------------------------------------------------------------------------------------

def _check_pool(tasks, seed_instructions, threshold=0.7):
    """Every generated instruction is new, passes the filters and is no closer than the threshold to any earlier."""
    pool = SimilarityPool(seed_instructions, threshold)
    for t in tasks:
        assert InstructionFilter().reason(t["instruction"]) is None
        assert not pool.too_similar(pool.closest(t["instruction"])[0])
        pool.add(t["instruction"])
        assert t["instances"] and all(i["output"].strip() for i in t["instances"])


@pytest.mark.skipif(not SEEDS_175.exists(), reason="../shared/data/alpaca-seed (the 175 seed tasks) is not here")
def test_self_instruct_grows_a_pool_from_the_175_seed_tasks(server, tmp_path):
    seed_rows = read(SEEDS_175)
    assert len(seed_rows) == 175
    out = tmp_path / "tasks.jsonl"
    counts = run(config(server, SEEDS_175, out, num_tasks=20))
    tasks = read(out)
    assert len(tasks) == counts.tasks >= 20 and counts.requests == counts.sent == len(server.prompts) <= 150
    _check_pool(tasks, [r["instruction"] for r in seed_rows])
    # the chat replies' preambles and closing lines are not tasks, nor are outputs run into the next input
    assert not any("Here are" in t["instruction"] or "help" in t["instruction"] for t in tasks)
    assert not any("Input:" in i["output"] or "Example" in i["output"] for t in tasks for i in t["instances"])
    # instructions are sampled with Self-Instruct's settings; the yes/no question and the instances greedily
    stage = {"Come up with a series": [], "Can the following": [], "Given the classification": [],
             "Come up with examples": []}
    for (_, prompt), body in zip(server.prompts, server.bodies):
        stage[next(k for k in stage if prompt.startswith(k))].append(body)
    assert all(b["temperature"] == 0.7 and b["top_p"] == 0.5 and b["presence_penalty"] == 2.0
               and "\n\n" not in b["stop"] for b in stage["Come up with a series"])
    assert all(b["temperature"] == 0 for b in stage["Can the following"])
    assert all(b["temperature"] == 0 and b["presence_penalty"] == 1.5
               for b in stage["Given the classification"] + stage["Come up with examples"])
    # k-shot prompts: 8 instructions, 6 human-written and 2 generated once the pool has them
    first, later = server.prompts[0][1], [p for path, p in server.prompts if p.startswith("Come up with a series")]
    generated = {t["instruction"] for t in tasks}
    assert len(re.findall(r"^\d+\. ", first, flags=re.MULTILINE)) == 8
    mixed = [p for p in later if sum(line[3:] in generated for line in p.splitlines()) == 2]
    assert mixed and all(sum(line[3:] in generated for line in p.splitlines()) <= 2 for p in later)
    # classification tasks are asked output first, and kept their labels as outputs
    clf = [t for t in tasks if t["is_classification"]]
    assert clf and all(t["instruction"].startswith("Classify") for t in clf)
    assert all({i["output"] for i in t["instances"]} <= {"Positive", "Negative"} for t in clf)
    dropped = Counter(d["reason"] for d in read(tmp_path / "tasks.dropped.jsonl"))
    for reason in [filters.TOO_SHORT, filters.TOO_LONG, filters.BLACKLISTED, filters.BANNED_START,
                   filters.PUNCTUATION_START, filters.NOT_ENGLISH, filters.SIMILAR, filters.EMPTY_OUTPUT,
                   filters.OUTPUT_IS_INPUT, filters.CUT_SHORT, filters.DUPLICATE, filters.CONFLICT, "item cut off by "
                   "the length limit", "task left without a valid instance"]:
        assert dropped[reason] > 0, reason
    stats = json.loads((tmp_path / "tasks.stats.json").read_text())
    assert stats["counts"]["dropped"] == dict(dropped) and stats["counts"]["tasks"] == len(tasks)
    # the output is the seed tasks' layout, which `instruct` reads as conversations
    from lmlearn.instruct.formats import detect_format, from_self_instruct
    assert detect_format(list(tasks[0]), str(out)) == "self-instruct" and from_self_instruct(tasks[0])


def test_alpaca_variant_on_a_completions_endpoint(server, seeds, tmp_path):
    out = tmp_path / "alpaca.jsonl"
    counts = run(config(server, seeds, out, method="alpaca", api="completions", num_tasks=6))
    tasks = read(out)
    assert len(tasks) >= 6 and {path for path, _ in server.prompts} == {"/v1/completions"}
    assert all(p.count("###\n") == 4 for _, p in server.prompts)  # 3 seed tasks, then the 4th to go on from
    _check_pool(tasks, [r["instruction"] for r in read(seeds)])
    assert all(len(t["instances"]) == 1 for t in tasks)
    assert counts.dropped["reply item that does not parse"] == counts.dropped["item cut off by the length limit"] \
        == counts.requests
    assert counts.dropped[filters.TOO_SHORT] == counts.dropped[filters.BLACKLISTED] == counts.requests


def test_a_rerun_sends_nothing_and_the_request_bound_holds(server, seeds, tmp_path, capsys):
    out = tmp_path / "tasks.jsonl"
    first = run(config(server, seeds, out))
    before = out.read_text()
    again = run(config(server, seeds, out))
    assert first.sent > 0 and again.sent == 0 and again.cached == first.requests == len(server.prompts)
    assert out.read_text() == before
    from lmlearn import cli
    assert cli.main(["self-instruct", "--seed-tasks", str(seeds), "--out", str(out), "--endpoint", server.url,
                     "--model", "fake-model", "--num-tasks", "12", "--max-requests", "150",
                     "--requests-per-round", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"{first.requests} requests: 0 sent, {first.requests} from the cache" in printed
    assert f"dropped {first.dropped[filters.SIMILAR]:>5}  {filters.SIMILAR}" in printed
    bounded = run(config(server, seeds, tmp_path / "few.jsonl", max_requests=5, cache=str(tmp_path / "c.sqlite")))
    assert bounded.requests == 5 and "--max-requests 5 spent" in bounded.stopped
    (tmp_path / "mine.jsonl").write_text("precious\n")
    with pytest.raises(LmlearnError, match="not a self-instruct run's output"):
        run(config(server, seeds, tmp_path / "mine.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"instruction": "ok", "output": "fine"}) + "\n" + json.dumps({"input": "x"}) + "\n")
    with pytest.raises(LmlearnError, match=r"bad.jsonl:2: not a seed task \(missing key 'output'\)"):
        run(config(server, bad, tmp_path / "x.jsonl"))


def test_a_killed_run_resumes_without_repeating_a_request(server, seeds, tmp_path):
    whole = run(config(server, seeds, tmp_path / "whole" / "tasks.jsonl"))
    everything = Counter(server.prompts)
    server.prompts.clear()
    server.hang_after = 9  # answer 9 requests, then hang on the 10th until killed
    out = tmp_path / "killed" / "tasks.jsonl"
    argv = [sys.executable, "-m", "lmlearn", "self-instruct"]
    for key, value in vars(config(server, seeds, out)).items():
        if value not in (None, False, "") and key != "overwrite":
            argv += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "OPENAI_API_KEY": ""}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert server.hanging.wait(120), proc.stderr.read() if proc.poll() is not None else "no hang"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    answered = Counter(server.prompts)
    assert sum(answered.values()) == 9
    server.hang_after, server.prompts = None, []
    server.release.set()
    resumed = run(config(server, seeds, out))
    assert resumed.cached == 9 and Counter(server.prompts) + answered == everything  # nothing asked twice
    assert read(out) == read(tmp_path / "whole" / "tasks.jsonl") and resumed.requests == whole.requests


def test_a_local_causal_lm_backend_runs_the_loop(seeds, tmp_path):
    from lmlearn.data.builtin import load_builtin
    from lmlearn.models.factory import load_model, save_model
    from lmlearn.tokenization import train_tokenizer

    tok = train_tokenizer([r["text"] for r in load_builtin("corpus", {"docs": "60"})], family="gpt2", vocab_size=400)
    folder = save_model(load_model("preset:gpt2-tiny", "causal-lm", tok, seed=0), tok, tmp_path / "gpt2")
    counts = run(Config(seed_tasks=str(seeds), out=str(tmp_path / "local.jsonl"), backend="local", model=str(folder),
                        max_requests=3, max_tokens=16, device="cpu"))
    assert counts.sent == 3 and counts.requests == 3 and "spent" in counts.stopped
    again = run(Config(seed_tasks=str(seeds), out=str(tmp_path / "local.jsonl"), backend="local", model=str(folder),
                       max_requests=3, max_tokens=16, device="cpu"))
    assert again.sent == 0 and again.cached == 3  # the same seeds: the same samples, from the cache
