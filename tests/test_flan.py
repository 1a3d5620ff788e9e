"""FLAN-style instruction data: template files, the OPTIONS suffix, mixing, held-out clusters and their evaluation."""

import importlib.util
import json
import random
import re
from pathlib import Path

import pytest

from lmlearn import cli
from lmlearn.errors import LmlearnError
from lmlearn.flan.render import OPTIONS_HEADER, options_suffix, render
from lmlearn.flan.rows import bio_entities, bio_spans, load_examples
from lmlearn.flan.spec import load_spec, placeholders, shipped_files

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL = ("nsmc", "kornli", "klue_ner")
BUILTIN = sorted(set(shipped_files()) - set(REAL))
HANGUL = re.compile(r"[\uac00-\ud7a3]")
HAVE_INSTRUCT = importlib.util.find_spec("lmlearn.instruct") is not None and \
    importlib.util.find_spec("lmlearn.instruct.templates") is not None
needs_instruct = pytest.mark.skipif(not HAVE_INSTRUCT, reason="lmlearn.instruct.templates (render_prompt) is not "
                                                               "there yet; evaluation prompts are rendered with it")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (the shared public datasets)")


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    """The shipped built-in task files with 240 rows each instead of 2,000, so a build takes a fraction of a second."""
    folder = tmp_path_factory.mktemp("suite")
    for name in BUILTIN:
        text = shipped_files()[name].read_text(encoding="utf-8")
        (folder / f"{name}.yaml").write_text(text.replace("?n=2000", "?n=240"), encoding="utf-8")
    return folder


def build(out: Path, suite: Path, *flags: str, tasks: list[str] | None = None) -> dict:
    files = ",".join(str(suite / f"{t}.yaml") for t in (tasks or BUILTIN))
    code = cli.main(["flan", "build", "--out", str(out), "--tasks", files, *flags])
    assert code == 0
    return json.loads((out / "manifest.json").read_text())


def train_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]


# --- template files ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(shipped_files()))
def test_every_task_file_has_ten_templates_per_language_some_inverted_in_the_rows_language(name):
    spec = load_spec(shipped_files()[name])
    assert spec.task == name
    for lang, templates in spec.templates.items():
        assert len(templates) >= 10 and any(t.inverted for t in templates) and not all(t.inverted for t in templates)
        for t in templates:
            assert t.fields <= set(spec.fields)
            words = re.sub(r"\{\w+\}", "", t.instruction)  # a bare "{question}" is in the row's language already
            assert not words.strip() or bool(HANGUL.search(words)) == (lang == "ko"), t.instruction
    assert set(placeholders(spec.input)) <= set(spec.fields)


def test_the_builtin_suite_is_bilingual_with_at_least_eight_clusters():
    specs = [load_spec(shipped_files()[name]) for name in BUILTIN]
    assert len({s.cluster for s in specs}) >= 8 and all(set(s.templates) == {"en", "ko"} for s in specs)
    real = {load_spec(shipped_files()[name]).cluster for name in REAL}
    assert real == {"sentiment", "nli", "ner"}


@pytest.mark.parametrize("name", BUILTIN)
def test_options_suffix_is_on_exactly_the_classification_templates_and_lists_the_rows_options(name, suite):
    spec = load_spec(suite / f"{name}.yaml")
    for example in load_examples(spec)[:40]:
        header = OPTIONS_HEADER[example.lang]
        for template in spec.templates[example.lang]:
            if any(not example.values[f].strip() for f in template.fields):
                continue
            text = render(example, "instruction", template).user
            if spec.classification and not template.inverted:
                listed = text.rsplit(f"\n\n{header}\n", 1)[1].split("\n")
                assert listed == [f"- {option}" for option in example.options]
                assert example.answer in example.options
            else:
                assert "OPTIONS:" not in text and "선택지:" not in text
        for mode in ("none", "task-name"):  # the ablations keep the answer list too
            text = render(example, mode).user
            if spec.classification:
                assert text.endswith(options_suffix(example.options, example.lang))
            else:
                assert header not in text


def test_bio_spans_on_a_hand_tagged_sentence():
    units = ["John", "Smith", "lives", "in", "New", "York", "with", "Mary"]
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O", "I-PER"]  # a stray I- opens an entity
    assert bio_spans(units, tags) == ["John Smith", "New York", "Mary"]
    assert bio_spans(units, tags, "PER") == ["John Smith", "Mary"]
    assert bio_entities(["서", "울", " ", "간", "다"], ["B-LC", "I-LC", "O", "O", "O"], "") == ["서울 [LC]"]


# --- bad files -----------------------------------------------------------------------------------

GOOD = """task: tiny
cluster: sentiment
data: builtin:sentiment?n=20
fields:
  text: text
  answer: answer
options: options
input: "{text}"
templates:
  en:
    - instruction: "{text} Positive or negative?"
    - instruction: "Write a {answer} review."
      target: "{text}"
      inverted: true
  ko:
    - instruction: "{text} 긍정인가요?"
"""


@pytest.mark.parametrize("old, new, line, message", [
    ("templates:", "templatess:", 9, "unknown key 'templatess'; did you mean templates"),
    ("{text} Positive", "{txt} Positive", 11, "{txt} is not a field of the task; did you mean text"),
    ("{text} Positive", "{text Positive", 11, "instruction"),
    ("{text} 긍정인가요?\"", "{text} 긍정인가요?\"\n      target: \"{text}\"", 17, "its target is {answer}"),
    ("      target: \"{text}\"\n      inverted: true", "      inverted: true", 12, "needs a target"),
    ("    - instruction: \"Write", "    - instructoin: \"Write", 12, "unknown key 'instructoin'"),
    ("  answer: answer\n", "", 4, "must define 'answer'"),
    ("inverted: true", "inverted: maybe", 14, "'inverted' must be bool"),
    ("cluster: sentiment", "cluster: a: b", 2, "not valid YAML"),
])
def test_a_bad_template_file_names_its_file_and_line(tmp_path, capsys, old, new, line, message):
    path = tmp_path / "bad.yaml"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new), encoding="utf-8")
    with pytest.raises(LmlearnError, match=re.escape(f"{path}:{line}")) as err:
        load_spec(path)
    assert message in str(err.value)
    # the command stops on it with one line, before reading any data
    assert cli.main(["flan", "build", "--out", str(tmp_path / "out"), "--tasks", str(path)]) == 2
    assert f"{path}:{line}" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_field_naming_a_missing_column_fails_at_its_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("  text: text", "  text: review"), encoding="utf-8")
    with pytest.raises(LmlearnError, match=re.escape(f"{path}:5") + r".*no column 'review'"):
        load_examples(load_spec(path))


# --- mixing --------------------------------------------------------------------------------------

def test_held_out_cluster_never_reaches_training(tmp_path, suite):
    manifest = build(tmp_path / "out", suite, "--hold-out-cluster", "nli", "--eval-size", "0")
    rows = train_rows(tmp_path / "out")
    assert {r["cluster"] for r in rows} == set(manifest["training_clusters"]) and "nli" not in manifest["training_clusters"]
    assert {r["task"] for r in rows} == set(BUILTIN) - {"nli"}
    assert all(r["input"] == "" and r["instruction"] and r["output"] for r in rows)


def test_the_per_task_cap_takes_min_of_size_and_cap(tmp_path, suite):
    small = tmp_path / "small.yaml"  # a task smaller than the cap contributes all its rows
    small.write_text((suite / "topic.yaml").read_text().replace("?n=240", "?n=30"), encoding="utf-8")
    files = f"{suite / 'math.yaml'},{suite / 'nli.yaml'},{small}"
    assert cli.main(["flan", "build", "--out", str(tmp_path / "out"), "--tasks", files, "--max-per-task", "50",
                     "--eval-size", "0"]) == 0
    counts = {}
    for row in train_rows(tmp_path / "out"):
        counts[row["task"]] = counts.get(row["task"], 0) + 1
    assert counts == {"math": 50, "nli": 50, "topic": 30}


def test_num_clusters_trains_on_k_nested_clusters_never_the_held_out_one(tmp_path, suite):
    seen = []
    for k in (1, 2, 4):
        manifest = build(tmp_path / f"k{k}", suite, "--hold-out-cluster", "nli", "--num-clusters", str(k),
                         "--eval-size", "0")
        clusters = {r["cluster"] for r in train_rows(tmp_path / f"k{k}")}
        assert len(clusters) == k and clusters == set(manifest["training_clusters"]) and "nli" not in clusters
        seen.append(clusters)
    assert seen[0] < seen[1] < seen[2]


def test_templates_ablation_changes_the_phrasing_and_nothing_else(tmp_path, suite):
    runs = {}
    for mode in ("instruction", "task-name", "none"):
        build(tmp_path / mode, suite, "--templates", mode, "--eval-size", "0", "--max-per-task", "40")
        runs[mode] = train_rows(tmp_path / mode)
    none, named, instructed = runs["none"], runs["task-name"], runs["instruction"]
    assert len(none) == len(named) == len(instructed)
    for a, b, c in zip(none, named, instructed):
        assert (a["task"], a["lang"]) == (b["task"], b["lang"]) == (c["task"], c["lang"])
        assert b["instruction"] == f"{a['task']}: {a['instruction']}" and a["output"] == b["output"]
        assert (a["template_id"], b["template_id"]) == ("none", "task-name")
        assert re.fullmatch(r"(en|ko)/\d+", c["template_id"])
    # the none rows hold only the bare input; templates wrap it in an instruction
    assert sum(c["instruction"] != a["instruction"] for a, c in zip(none, instructed)) > 0.9 * len(none)
    ids = {(r["task"], r["template_id"]) for r in instructed}
    assert len(ids) > 5 * len(BUILTIN)  # many templates of each task are used


def test_same_seed_same_rows_other_seed_other_rows(tmp_path, suite):
    texts = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        build(tmp_path / name, suite, "--seed", seed, "--eval-size", "0", "--max-per-task", "30")
        texts.append((tmp_path / name / "train.jsonl").read_text())
    assert texts[0] == texts[1] and texts[0] != texts[2]


def test_data_missing_leaves_a_shipped_task_out_only_under_all(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ../shared/data is not beside tmp_path
    assert cli.main(["flan", "build", "--out", "out", "--clusters", "topic", "--hold-out-cluster", "sentiment",
                     "--eval-size", "0", "--max-per-task", "5"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest["left_out"]) == set(REAL) and manifest["counts"] == {"topic": 5}
    assert cli.main(["flan", "build", "--out", "out2", "--tasks", "nsmc"]) == 2


def test_an_earlier_build_is_replaced_only_with_overwrite_and_other_folders_never(tmp_path, suite):
    args = ["--tasks", str(suite / "topic.yaml"), "--eval-size", "0", "--max-per-task", "5"]
    build(tmp_path / "out", suite, *args[2:], tasks=["topic"])
    assert cli.main(["flan", "build", "--out", str(tmp_path / "out"), *args]) == 2
    assert cli.main(["flan", "build", "--out", str(tmp_path / "out"), *args, "--overwrite"]) == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert cli.main(["flan", "build", "--out", str(tmp_path / "mine"), *args, "--overwrite"]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# --- evaluation ----------------------------------------------------------------------------------

@needs_instruct
def test_eval_inputs_never_occur_in_training(tmp_path, suite):
    """Without a held-out cluster eval/ tests the trained tasks; in none mode a training row is its bare input."""
    manifest = build(tmp_path / "out", suite, "--templates", "none", "--eval-templates", "none", "--eval-size", "30")
    assert manifest["eval_kind"] == "seen" and {e["task"] for e in manifest["eval"]} == set(BUILTIN)
    trained = {(r["task"], r["instruction"].split("\n\nOPTIONS:")[0].split("\n\n선택지:")[0])
               for r in train_rows(tmp_path / "out")}
    for entry in manifest["eval"]:
        docs = [json.loads(line) for line in (tmp_path / "out" / entry["file"]).with_suffix(".jsonl").open()]
        assert docs and not {(entry["task"], d["input"]) for d in docs} & trained


# template: the user turn inside its prompt, and the space a choice follows the prompt with
USER_TURN = {"alpaca": (r"### Instruction:\n(.*)\n\n### Response:\n$", ""), "koalpaca": (r"### 질문: (.*)\n\n### 답변:$", " ")}


@needs_instruct
@pytest.mark.parametrize("template", sorted(USER_TURN))
def test_held_out_eval_tasks_load_with_the_harness_and_match_their_documents(tmp_path, suite, template):
    from lmlearn.evaluation.task import load_task
    from lmlearn.instruct.templates import render_prompt

    manifest = build(tmp_path / "out", suite, "--hold-out-cluster", "nli", "--eval-size", "30", "--template", template)
    pattern, delimiter = USER_TURN[template]
    assert {(e["task"], e["lang"]) for e in manifest["eval"]} == {("nli", "en"), ("nli", "ko")}
    assert sum(e["docs"] for e in manifest["eval"]) == 30  # every NLI template fits every row: none dropped
    for entry in manifest["eval"]:
        task = load_task(str(tmp_path / "out" / entry["file"]))
        assert task.output_type == "multiple_choice" and len(task.test_docs) == entry["docs"]
        assert task.target_delimiter == delimiter
        for doc in task.test_docs:
            assert task.choices(doc) == doc["options"] and task.target_text(doc) == doc["target"]
            assert doc["target"] in doc["options"] and not doc["template_id"].startswith("none")
            # the prompt is render_prompt of the user turn: the instruction with its OPTIONS suffix
            user = re.search(pattern, doc["prompt"], re.S).group(1)
            assert doc["prompt"] == render_prompt([{"role": "user", "content": user}], template)
            assert user.endswith(options_suffix(doc["options"], doc["lang"]))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained gpt2-tiny with a small byte-level tokenizer, saved as a folder."""
    from lmlearn.data.builtin import load_builtin
    from lmlearn.models.factory import load_model
    from lmlearn.models.factory import save_model
    from lmlearn.tokenization import train_tokenizer

    texts = [r["text"] for r in load_builtin("corpus", {"docs": "60"})]
    tok = train_tokenizer(texts, family="gpt2", vocab_size=400)
    return save_model(load_model("gpt2-tiny", "causal-lm", tok, seed=0), tok, tmp_path_factory.mktemp("m") / "gpt2")


@needs_instruct
@pytest.mark.parametrize("cluster, metric", [("nli", "acc"), ("arithmetic", "exact_match")])
def test_held_out_cluster_runs_zero_shot_through_lmlearn_evaluate(tmp_path, suite, tiny_model, cluster, metric):
    build(tmp_path / "out", suite, "--hold-out-cluster", cluster, "--eval-size", "10", "--max-per-task", "5",
          "--tokenizer", str(tiny_model))
    for task_file in sorted((tmp_path / "out" / "eval").glob("*.yaml")):
        out = tmp_path / f"{task_file.stem}.json"
        assert cli.main(["evaluate", "--model", str(tiny_model), "--task", str(task_file), "--limit", "3",
                         "--batch-size", "3", "--bootstrap-iters", "10", "--out", str(out)]) == 0
        result = json.loads(out.read_text())["results"]["0"]
        assert result["n"] == 3 and 0 <= result[metric] <= 1
        samples = [json.loads(line) for line in out.with_suffix(".samples.jsonl").open()]
        assert all(s["prompt"].startswith("<|endoftext|><|im_start|>user\n") for s in samples)  # bos from --tokenizer


# --- the real Korean data ------------------------------------------------------------------------

@needs_shared
def test_real_data_templates_load_and_klue_entities_match_the_files_own_annotation(monkeypatch):
    monkeypatch.chdir(ROOT)  # the task files name ../shared/data from the project root
    sizes = {}
    for name in REAL:
        examples = load_examples(load_spec(shipped_files()[name]))
        sizes[name] = len(examples)
        assert all(e.lang == "ko" and e.answer.strip() for e in examples)
    assert sizes == {"nsmc": 4000, "kornli": 2490, "klue_ner": 5000}
    # KLUE writes each sentence's entities as <surface:TYPE> in its "## id<TAB>text" line: an independent record
    annotated = [re.findall(r"<([^<>]+?):([A-Z]{2})>", line.split("\t", 1)[1])
                 for line in (SHARED / "klue-ner" / "klue-ner-v1.1_dev.tsv").read_text(encoding="utf-8").splitlines()
                 if line.startswith("## klue-ner")]
    examples = load_examples(load_spec(shipped_files()["klue_ner"]))
    rng = random.Random(0)
    for i in rng.sample(range(len(examples)), 500):
        expected = ", ".join(f"{s} [{k}]" for s, k in annotated[i]) or "없음"
        assert examples[i].answer == expected
        persons = ", ".join(s for s, k in annotated[i] if k == "PS") or "없음"
        assert examples[i].values["persons"] == persons


def test_a_field_reaching_outside_the_sandbox_is_refused_and_runs_nothing(tmp_path):
    """Template files are data: Jinja's sandbox refuses `cycler.__init__.__globals__.os`."""
    marker = tmp_path / "payload-ran"
    payload = "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}"
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("  text: text", f"  text: \"{payload}\""), encoding="utf-8")
    with pytest.raises(LmlearnError, match=re.escape(f"{path}:5") + r".*SecurityError"):
        load_examples(load_spec(path))
    assert not marker.exists()
