"""`lmlearn translate`: the HTTP backends against a local server that speaks DeepL's and OpenAI's formats."""

import dataclasses
import json
import re

import pytest

from conftest import loopback_json_server
from lmlearn.workflows.translate import Config, run
from lmlearn.errors import LmlearnError
from lmlearn.translate import protect
from lmlearn.translate.cache import TranslationCache
from lmlearn.translate.fields import set_path, text_slots
from lmlearn.translate.http import HttpClient, HttpSettings

pytestmark = pytest.mark.usefixtures("one_thread")

TOKEN = re.compile(r'(<x id="\d+"/>|⟦\d+⟧)')
CODE = "```python\ndef add(a, b):\n    # add   two numbers\n    return a + b\n```"
TILDE = "~~~\nSELECT *  FROM t;\n~~~"
KEPT = ["`add(a, b)`", "https://docs.python.org/3/library/functions.html", "{name}", "{{count}}", "%s", "$HOME",
        "${USER}", "<user>", "<|im_end|>", "%(total)d", "{0:.2f}", "www.example.com/a_(b)", "{% if x %}"]
ROWS = [
    {"id": 1, "instruction": f"Write a function `add(a, b)` that adds two numbers.\n\n{CODE}\n\nExplain it.",
     "input": "", "meta": {"source": "alpaca", "score": 0.5},
     "output": "See https://docs.python.org/3/library/functions.html. Hello {name}, you have {{count}} items."},
    {"id": 2, "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": f"Run this query:\n{TILDE}\nthen tell me about $HOME and ${{USER}}."},
        {"role": "assistant", "content": "Done: %s rows for <user> (www.example.com/a_(b)) {% if x %}<|im_end|>",
         "name": "bot"}]},
    {"id": 3, "conversations": [{"from": "human", "value": "Format %(total)d and {0:.2f} please; 3 < 5 & 4."},
                                {"from": "gpt", "value": "Sure."}], "tags": ["x", 2, None]},
    {"id": 4, "instruction": "Explain it.", "input": "", "output": "Sure."},
]


def fake_translation(text: str) -> str:
    """Reverse the word order and mark each word, moving tokens along with the words (as a translator does)."""
    items = []
    for i, piece in enumerate(TOKEN.split(text)):
        items += [piece] if i % 2 else [f"KO({w})" for w in piece.split()]
    return " ".join(reversed(items))


class FakeAPI:
    """What the server will do, and what it saw."""

    def __init__(self):
        self.script: list[int] = []  # statuses to answer before the next success
        self.retry_after: str | None = "0"
        self.fail_after: int | None = None  # successful replies before it answers 503 for good
        self.drop_token = False  # lose the first protection token of each text
        self.bad_json = False  # answer batched chat requests with prose instead of JSON
        self.requests = 0
        self.sent: list[list[str]] = []  # texts of each successful request
        self.bodies: list[dict] = []
        self.headers: list[dict] = []

    def translate(self, text: str) -> str:
        out = fake_translation(text)
        return TOKEN.sub("", out, count=1) if self.drop_token else out

    def reply(self, path: str, body: dict, headers: dict) -> tuple[int, dict]:
        self.requests += 1
        if self.script:
            return self.script.pop(0), {"message": "slow down"}
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            return 503, {"message": "down"}
        self.bodies.append(body)
        self.headers.append(headers)
        if path == "/v2/translate":
            if headers.get("Authorization") != "DeepL-Auth-Key test-key:fx":
                return 403, {"message": "Wrong key"}
            self.sent.append(body["text"])
            return 200, {"translations": [{"detected_source_language": "EN", "text": self.translate(t)}
                                          for t in body["text"]]}
        if path == "/v1/chat/completions":
            if headers.get("Authorization") != "Bearer sk-test":
                return 401, {"error": "bad key"}
            system, user = body["messages"][0]["content"], body["messages"][1]["content"]
            if "JSON object" in system:
                texts = json.loads(user)
                self.sent.append(list(texts.values()))
                content = "not JSON, sorry" if self.bad_json else json.dumps(
                    {k: self.translate(v) for k, v in texts.items()}, ensure_ascii=False)
            else:
                self.sent.append([user])
                content = self.translate(user)
            return 200, {"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
        return 404, {"message": "no such path"}


@pytest.fixture
def api():
    state = FakeAPI()

    def answer(path, body, headers):
        status, reply = state.reply(path, body, headers)
        retry = (status == 429 or status >= 500) and state.retry_after is not None
        return status, reply, {"Retry-After": state.retry_after} if retry else {}

    with loopback_json_server(answer) as url:
        state.url = url
        yield state


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPL_AUTH_KEY", "test-key:fx")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    path = tmp_path / "alpaca.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    return path


def cfg(api, data, out, **kw):
    settings = dict(data=str(data), out=str(out), backend="deepl", endpoint=api.url, backoff=0.0, batch_size=3)
    return Config(**{**settings, **kw})


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def skeleton(row):
    """The row with every translated string blanked: what translation must leave alone."""
    row = json.loads(json.dumps(row))
    for path, _ in text_slots(row, None):
        set_path(row, path, "")
    return row


def assert_translated_with_spans_intact(out):
    assert [skeleton(r) for r in out] == [skeleton(r) for r in ROWS]  # ids, roles, meta, tags, empty input
    for src, dst in zip(ROWS, out):
        for (path, before), (_, after) in zip(text_slots(src, None), text_slots(dst, None)):
            assert "KO(" in after and after != before, path
            for span in [CODE, TILDE] + KEPT:
                assert after.count(span) == before.count(span), (path, span)


def all_pieces():
    return {p.text for row in ROWS for _, text in text_slots(row, None)
            for p in protect.split(text, "tokens", "xml") if isinstance(p, protect.Unit)}


def test_protect_splits_off_code_and_restores_exactly():
    text = ROWS[0]["instruction"] + " " + ROWS[0]["output"] + "\n" + ROWS[1]["messages"][1]["content"]
    for mode in ("tokens", "segments"):
        for style in ("xml", "brackets"):
            parts = protect.split(text, mode, style)
            kept = "".join(p if isinstance(p, str) else "".join(p.spans) for p in parts)
            assert CODE in kept and TILDE in kept and all(s in kept for s in KEPT if s in text)
            assert not any(CODE in p.text or "add(a, b)" in p.text for p in parts if isinstance(p, protect.Unit))
            assert "".join(p if isinstance(p, str) else protect.restore(p, p.text, style) for p in parts) == text
    unit = next(p for p in protect.split(ROWS[0]["output"], "tokens", "brackets") if isinstance(p, protect.Unit))
    with pytest.raises(protect.ProtectionError, match="lost"):
        protect.restore(unit, unit.text.replace("⟦1⟧", ""), "brackets")
    with pytest.raises(protect.ProtectionError, match="repeated"):
        protect.restore(unit, unit.text + " ⟦0⟧", "brackets")


def test_deepl_translates_fields_and_keeps_structure_and_spans(api, data, tmp_path):
    stats = run(cfg(api, data, tmp_path / "ko.jsonl"))
    out = read(tmp_path / "ko.jsonl")
    assert_translated_with_spans_intact(out)
    assert "KO(&) KO(5) KO(<)" in out[2]["conversations"][0]["value"]  # XML escaping undone
    body, headers = api.bodies[0], api.headers[0]
    assert body["target_lang"] == "KO" and body["tag_handling"] == "xml" and headers["Authorization"].startswith("DeepL")
    sent = [t for batch in api.sent for t in batch]
    assert len(sent) == len(set(sent)) == stats.pieces == len(all_pieces())  # "Explain it." and "Sure." sent once
    assert all(len(batch) <= 3 for batch in api.sent) and stats.requests == len(api.sent)
    assert stats.characters == sum(map(len, sent)) and not (tmp_path / "ko.problems.jsonl").exists()


def test_a_cache_hit_costs_no_request(api, data, tmp_path):
    first = run(cfg(api, data, tmp_path / "ko.jsonl"))
    before = (tmp_path / "ko.jsonl").read_text(encoding="utf-8")
    again = run(cfg(api, data, tmp_path / "ko.jsonl", overwrite=True))
    assert first.requests > 0 and again.requests == 0 and api.requests == first.requests
    assert again.cached == again.pieces == first.translated
    assert (tmp_path / "ko.jsonl").read_text(encoding="utf-8") == before
    with pytest.raises(LmlearnError, match="--overwrite"):
        run(cfg(api, data, tmp_path / "ko.jsonl"))


def test_a_429_is_retried_and_succeeds(api, data, tmp_path):
    api.script = [429, 429, 500]
    stats = run(cfg(api, data, tmp_path / "ko.jsonl"))
    assert api.requests == len(api.sent) + 3 and stats.failed == 0
    assert stats.translated == len(all_pieces())


def test_http_backoff_follows_retry_after_doubles_and_rate_limits(api):
    now, waits = [0.0], []

    def sleep(seconds):  # a clock that moves only when the client waits
        waits.append(seconds)
        now[0] += seconds

    client = HttpClient(HttpSettings(max_retries=3, backoff=1.0, rate_limit=4.0), "DeepL", "DEEPL_AUTH_KEY",
                        sleep=sleep, clock=lambda: now[0])
    url, auth = api.url + "/v2/translate", {"Authorization": "DeepL-Auth-Key test-key:fx"}
    api.script, api.retry_after = [429], "7"
    client.post_json(url, {"text": ["a"], "target_lang": "KO"}, auth)
    assert waits == [7.0]  # the server's Retry-After; the rate limit's 1/4 s passed meanwhile
    api.script, api.retry_after = [503, 503, 503], None
    client.post_json(url, {"text": ["a"], "target_lang": "KO"}, auth)
    assert waits[1] == pytest.approx(0.25)  # 4 requests per second: a quarter second after the last one
    assert len(waits) == 5  # then backoff with jitter: 1 s, 2 s, 4 s, each times 0.5 to 1
    assert [lo <= w <= hi for w, (lo, hi) in zip(waits[2:], [(0.5, 1), (1, 2), (2, 4)])] == [True] * 3
    assert api.requests == 6


def test_exhausted_retries_fail_clearly_and_the_cache_keeps_what_was_done(api, data, tmp_path):
    api.fail_after = 2
    with pytest.raises(LmlearnError, match=r"HTTP 503.*after 2 retries.*saved in .*ko\.cache\.sqlite.*rerun"):
        run(cfg(api, data, tmp_path / "ko.jsonl", max_retries=2))
    assert not (tmp_path / "ko.jsonl").exists() and api.requests == 2 + 3
    with TranslationCache(tmp_path / "ko.cache.sqlite", []) as cache:
        assert len(cache) == sum(map(len, api.sent)) == 6


def test_an_interrupted_run_resumes_from_its_cache(api, data, tmp_path):
    (tmp_path / "ko.jsonl").write_text("an earlier, complete output\n", encoding="utf-8")
    api.fail_after = 2
    with pytest.raises(LmlearnError, match="rerun"):
        run(cfg(api, data, tmp_path / "ko.jsonl", max_retries=0, overwrite=True))
    assert (tmp_path / "ko.jsonl").read_text(encoding="utf-8") == "an earlier, complete output\n"  # atomic
    before = {t for batch in api.sent for t in batch}
    api.fail_after, api.sent = None, []
    resumed = run(cfg(api, data, tmp_path / "ko.jsonl", overwrite=True))
    after = [t for batch in api.sent for t in batch]
    assert not before & set(after) and len(after) == len(set(after)) and before | set(after) == all_pieces()
    assert resumed.cached == len(before) and resumed.translated == len(after)

    def stop(stats, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after the first batch: no output, that batch cached
        run(cfg(api, data, tmp_path / "other.jsonl", cache=str(tmp_path / "x.sqlite")), on_batch=stop)
    assert not (tmp_path / "other.jsonl").exists()
    with TranslationCache(tmp_path / "x.sqlite", []) as cache:
        assert len(cache) == 3
    run(cfg(api, data, tmp_path / "fresh.jsonl"))  # its own fresh cache: an uninterrupted run
    assert read(tmp_path / "ko.jsonl") == read(tmp_path / "fresh.jsonl")


def test_openai_batches_numbered_json_and_keeps_spans(api, data, tmp_path):
    stats = run(cfg(api, data, tmp_path / "ko.jsonl", backend="openai", model="m", endpoint=api.url + "/v1"))
    assert api.bodies[0]["model"] == "m" and stats.requests == len(api.sent) == -(-len(all_pieces()) // 3)
    assert_translated_with_spans_intact(read(tmp_path / "ko.jsonl"))


def test_openai_unusable_batched_reply_falls_back_to_one_text_per_request(api, data, tmp_path):
    api.bad_json = True
    stats = run(cfg(api, data, tmp_path / "ko.jsonl", backend="openai", model="m", batch_size=4))
    sizes = [4] * (stats.pieces // 4) + [stats.pieces % 4] * (stats.pieces % 4 > 0)
    # each batched request fails, then its texts go one by one (a batch of one is sent alone at once)
    assert stats.requests == sum(n + (n > 1) for n in sizes) and stats.translated == stats.pieces and not stats.problems


def test_a_lost_token_keeps_the_source_text_and_is_recorded(api, data, tmp_path):
    api.drop_token = True
    stats = run(cfg(api, data, tmp_path / "ko.jsonl"))
    out = read(tmp_path / "ko.jsonl")
    problems = read(tmp_path / "ko.problems.jsonl")
    assert len(problems) == stats.failed > 0 and all("lost" in p["problem"] for p in problems)
    texts = [t for row in out for _, t in text_slots(row, None)]
    assert all(any(p["source"] in t for t in texts) for p in problems)
    assert out[0]["output"] == ROWS[0]["output"]  # every piece of it held a span: all kept as they were
    assert out[1]["messages"][0]["content"] != ROWS[1]["messages"][0]["content"]  # no span there: translated
    api.drop_token, api.sent = False, []
    again = run(cfg(api, data, tmp_path / "ko.jsonl", overwrite=True))  # failures were not cached: asked again
    assert again.translated == stats.failed and not again.problems and not (tmp_path / "ko.problems.jsonl").exists()


def test_a_wrong_key_is_named_and_not_retried(api, data, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPL_AUTH_KEY", "wrong:fx")
    with pytest.raises(LmlearnError, match="HTTP 403.*check DEEPL_AUTH_KEY"):
        run(cfg(api, data, tmp_path / "ko.jsonl"))
    assert api.requests == 1


def test_cli_prints_counts(api, data, tmp_path, capsys):
    from lmlearn.cli import main

    assert main(["translate", "--data", str(data), "--to", "ko", "--backend", "deepl", "--endpoint", api.url,
                 "--out", str(tmp_path / "ko.jsonl"), "--fields", "instruction"]) == 0
    printed = capsys.readouterr().out
    assert f"{len(ROWS)} rows" in printed and "characters billed" in printed
    out = read(tmp_path / "ko.jsonl")
    assert out[0]["output"] == ROWS[0]["output"] and out[0]["instruction"] != ROWS[0]["instruction"]


def test_local_seq2seq_backend_plumbing(data, tmp_path):
    import torch

    from lmlearn.models.factory import load_model
    from lmlearn.models.factory import save_model
    from lmlearn.tokenization import train_tokenizer

    tok = train_tokenizer([r.get("instruction", "") + " Hello there." for r in ROWS] * 10, family="bart",
                          vocab_size=400, min_frequency=1)
    model = load_model("bart-tiny", "seq2seq-lm", tok, seed=0)
    with torch.no_grad():  # an untrained model: make it say one forced word, then stop
        model.final_logits_bias[0, tok.eos_token_id] = 1e4
    save_model(model, tok, tmp_path / "bart")
    word = tok.convert_ids_to_tokens(tok("Hello")["input_ids"])[1]
    said = tok.decode(tok.convert_tokens_to_ids(word)).strip()
    settings = Config(data=str(data), out=str(tmp_path / "ko.jsonl"), backend="local", model=str(tmp_path / "bart"),
                      forced_bos_token=word, max_new_tokens=8, batch_size=4)
    stats = run(settings)
    out = read(tmp_path / "ko.jsonl")
    assert [skeleton(r) for r in out] == [skeleton(r) for r in ROWS]
    for src, dst in zip(ROWS, out):  # segments mode: each stretch of prose became the forced word, the rest stayed
        for (_, before), (_, after) in zip(text_slots(src, None), text_slots(dst, None)):
            parts = protect.split(before, "segments", "brackets")
            assert after == "".join(said if isinstance(p, protect.Unit) else p for p in parts)
    assert stats.translated == stats.pieces > 0 and stats.requests == -(-stats.pieces // 4)
    again = run(dataclasses.replace(settings, overwrite=True))
    assert again.requests == 0 and again.cached == stats.pieces and read(tmp_path / "ko.jsonl") == out


def test_csv_goes_through_load_source(api, data, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('instruction,input,output\n"Say hi to {name}.",,Hi!\n', encoding="utf-8")
    run(cfg(api, path, tmp_path / "ko.jsonl"))
    assert read(tmp_path / "ko.jsonl") == [{"instruction": "KO(.) {name} KO(to) KO(hi) KO(Say)",
                                            "input": "", "output": "KO(Hi!)"}]
