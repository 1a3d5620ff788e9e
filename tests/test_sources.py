"""Data sources: every format loads; bad rows name their file and line."""

import json
import os

import datasets
import pytest

from lmlearn.data.sources import ReadReport, load_source
from lmlearn.errors import LmlearnError


def texts(ds):
    return list(ds["text"])


def test_formats_load_the_same_rows(tmp_path):
    rows = [{"text": "첫째 문장", "label": 1}, {"text": "second line", "label": 0}]
    (tmp_path / "a.txt").write_text("첫째 문장\n\nsecond line\n", encoding="utf-8")
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "a.csv").write_text('text,label\n첫째 문장,1\n"second line",0\n', encoding="utf-8")
    (tmp_path / "a.tsv").write_text('text\tlabel\n첫째 문장\t1\nsecond line\t0\n', encoding="utf-8")
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "a.parquet"))
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    for name in ["a.txt", "a.jsonl", "a.json", "a.csv", "a.tsv", "a.parquet", "saved"]:
        assert texts(load_source(str(tmp_path / name))) == ["첫째 문장", "second line"], name


def test_gzipped_files_read_like_plain_ones_and_a_fake_gz_is_named(tmp_path):
    import gzip

    rows = [{"text": "첫째 문장"}, {"text": "second line"}]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "{broken\n")
    with pytest.raises(LmlearnError, match=r"a.jsonl.gz:3: malformed JSON"):
        load_source(str(tmp_path / "a.jsonl.gz"))
    assert texts(load_source(str(tmp_path / "a.jsonl.gz"), on_bad_rows="skip")) == ["첫째 문장", "second line"]
    with gzip.open(tmp_path / "b.tsv.gz", "wt", encoding="utf-8") as f:
        f.write("text\tlabel\n첫째 문장\t1\n")
    assert texts(load_source(str(tmp_path / "b.tsv.gz"))) == ["첫째 문장"]
    (tmp_path / "c.jsonl.gz").write_text('{"text": "plain"}\n')
    with pytest.raises(LmlearnError, match="c.jsonl.gz: named .gz but not gzip-compressed"):
        load_source(str(tmp_path / "c.jsonl.gz"))


def test_txt_units(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n\nthree\n", encoding="utf-8")
    assert texts(load_source(str(tmp_path / "a.txt"), txt_unit="paragraph")) == ["one\ntwo", "three"]
    assert texts(load_source(str(tmp_path / "a.txt"), txt_unit="file")) == ["one\ntwo\n\nthree\n"]


def test_glob_and_folder(tmp_path):
    for i in range(3):
        (tmp_path / f"part{i}.txt").write_text(f"line {i}\n")
    assert texts(load_source(str(tmp_path / "part*.txt"))) == ["line 0", "line 1", "line 2"]
    assert len(load_source(str(tmp_path))) == 3
    with pytest.raises(LmlearnError, match="no files match"):
        load_source(str(tmp_path / "nothing*.txt"))


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "fine"}\n{"text": broken}\n{"text": "after"}\n')
    with pytest.raises(LmlearnError, match=rf"{path}:3: malformed JSON"):
        load_source(str(path))
    report = ReadReport()
    ds = load_source(str(path), on_bad_rows="skip", report=report)
    assert texts(ds) == ["ok", "fine", "after"] and report.skipped == 1


def test_missing_field_and_column(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(LmlearnError, match=rf"{path}:2: missing field 'text'"):
        load_source(str(path))
    tsv = tmp_path / "a.tsv"
    tsv.write_text("document\tlabel\nx\t1\n")
    with pytest.raises(LmlearnError, match=r"a.tsv:1: no column 'text' \(columns: document, label\)"):
        load_source(str(tsv))
    assert texts(load_source(str(tsv), required=["document"]).rename_column("document", "text")) == ["x"]
    tsv.write_text("document\tlabel\nx\t1\ny\n")
    with pytest.raises(LmlearnError, match=r"a.tsv:3: 1 fields, the header has 2"):
        load_source(str(tsv), required=["document"])


def test_cache_sees_changed_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old\n")
    assert texts(load_source(str(path))) == ["old"]
    path.write_text("new text\n")
    os.utime(path, ns=(1, 1))
    assert texts(load_source(str(path))) == ["new text"]


def test_missing_file_and_offline_hub(tmp_path):
    with pytest.raises(LmlearnError, match="data file not found: .*missing.jsonl"):
        load_source(str(tmp_path / "missing.jsonl"))
    with pytest.raises(LmlearnError, match="'someone/some-dataset' is not a local path"):
        load_source("someone/some-dataset")


def test_builtin_source():
    ds = load_source("builtin:corpus?docs=50&seed=1")
    assert len(ds) == 50 and "text" in ds.column_names
    assert texts(ds) == texts(load_source("builtin:corpus?docs=50&seed=1"))


def test_txt_that_is_a_table_reads_as_tsv(tmp_path):
    path = tmp_path / "ratings.txt"  # NSMC ships its TSV as .txt
    path.write_text("id\tdocument\tlabel\n1\t재밌다\t1\n2\t별로\t0\n", encoding="utf-8")
    ds = load_source(str(path), required=["document"])
    assert ds.column_names == ["id", "document", "label"] and list(ds["document"]) == ["재밌다", "별로"]
    prose = tmp_path / "prose.txt"
    prose.write_text("a line\twith a tab\nand one without\n", encoding="utf-8")
    assert texts(load_source(str(prose))) == ["a line\twith a tab", "and one without"]


def test_jsonl_keeps_a_key_that_first_appears_in_a_later_row(tmp_path):
    rows = [{"instruction": "a", "output": "b"}] * 3 + [{"instruction": "c", "input": "d", "output": "e"}]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ds = load_source(str(path), required=["instruction"])
    assert ds.column_names == ["instruction", "output", "input"]
    assert ds["input"] == [None, None, None, "d"]
