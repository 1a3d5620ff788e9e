"""Data sources: local files and globs, saved `datasets` folders, hub names, and `builtin:` data.

Every source becomes a `datasets.Dataset`. Local text formats are read here, row by row, so a
malformed row is reported with its file and line; the rows then go through
`Dataset.from_generator` with a fingerprint of the files' size and time, so later steps
(tokenization, packing) hit the `datasets` cache on the next run.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal
from urllib.parse import parse_qsl

import datasets

from lmlearn.errors import LmlearnError

FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
BadRows = Literal["error", "skip"]
WHERE = "_where"  # with locate=True, each row's origin ("file:line") for errors found after reading
TxtUnit = Literal["line", "paragraph", "file"]


def extension(path: str) -> str:
    """The data format's extension of a file, looking through a .gz suffix: `a.jsonl.gz` -> `.jsonl`."""
    root, ext = os.path.splitext(path)
    if ext.lower() == ".gz":
        ext = os.path.splitext(root)[1]
    return ext.lower()


def open_text(path: str, newline: str | None = None) -> Any:
    """A text file for reading as UTF-8, decompressed on the fly when it ends in .gz."""
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8", newline=newline)
    return open(path, encoding="utf-8", newline=newline)


def _is_gzip(path: str) -> bool:
    """Whether the file is named .gz; one so named that is not gzip-compressed is an error."""
    if not path.lower().endswith(".gz"):
        return False
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            raise LmlearnError(f"{path}: named .gz but not gzip-compressed")
    return True


def check_text_file(path: str) -> None:
    """Stop, naming the file (and the line), on a data file that is empty or not UTF-8 text: the
    readers would fail later with a decoder's message that names neither."""
    opener = gzip.open if _is_gzip(path) else open
    content = False
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if b"\x00" in raw:
                raise LmlearnError(f"{path}:{lineno}: a binary file, not UTF-8 text (it holds NUL bytes)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise LmlearnError(f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column "
                                   f"{len(raw[:e.start].decode('utf-8', 'replace')) + 1}); convert it, "
                                   "e.g. iconv -f cp949 -t utf-8") from None
            content = content or bool(line.strip())
    if not content:
        raise LmlearnError(f"{path}: empty data file (no text in it)")


@dataclass
class ReadReport:
    """What reading a source skipped (filled only when rows are actually read, not on a cache hit)."""

    skipped: int = 0
    first_problems: list[str] = field(default_factory=list)

    def bad(self, message: str, on_bad_rows: BadRows) -> None:
        """Record a bad row: fail at once, or count it and keep going."""
        if on_bad_rows == "error":
            raise LmlearnError(f"{message} (use --on-bad-rows skip to skip such rows)")
        self.skipped += 1
        if len(self.first_problems) < 5:
            self.first_problems.append(message)


def _rows_txt(path: str, unit: TxtUnit, _: list[str], __: Any, ___: BadRows) -> Iterator[dict]:
    with open_text(path) as f:
        if unit == "file":
            yield path, {"text": f.read()}
            return
        paragraph: list[str] = []
        start = 0
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if unit == "line":
                if line.strip():
                    yield f"{path}:{lineno}", {"text": line}
            elif line.strip():
                start = start or lineno
                paragraph.append(line)
            elif paragraph:
                yield f"{path}:{start}", {"text": "\n".join(paragraph)}
                paragraph, start = [], 0
        if paragraph:
            yield f"{path}:{start}", {"text": "\n".join(paragraph)}


def json_records(path: str) -> Iterator[tuple[str, Any]]:
    """(file:line, record) of a JSON array file or a JSON lines file, every value as JSON typed it (no
    table schema, no required fields): for readers that take the records as they are."""
    check_text_file(path)
    with open_text(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if text.lstrip().startswith("["):
            raise LmlearnError(f"{path}:{e.lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
        data = None  # JSON lines
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]  # the {"data": [...]} layout
    if isinstance(data, list):
        yield from ((f"{path}: record {i}", row) for i, row in enumerate(data))
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield f"{path}:{lineno}", json.loads(line)
            except json.JSONDecodeError as e:
                raise LmlearnError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from None


def _check_row(row: Any, where: str, required: list[str], report: ReadReport, mode: BadRows) -> bool:
    if not isinstance(row, dict):
        report.bad(f"{where}: expected a JSON object, got {type(row).__name__}", mode)
        return False
    for col in required:
        if col not in row:
            report.bad(f"{where}: missing field '{col}' (fields: {', '.join(row) or 'none'})", mode)
            return False
        if row[col] is None or (isinstance(row[col], str) and not row[col].strip()):
            report.bad(f"{where}: field '{col}' is empty", mode)
            return False
    return True


def _rows_jsonl(path: str, _: TxtUnit, required: list[str], report: ReadReport, mode: BadRows) -> Iterator[dict]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                report.bad(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})", mode)
                continue
            if _check_row(row, f"{path}:{lineno}", required, report, mode):
                yield f"{path}:{lineno}", row


def _rows_json(path: str, unit: TxtUnit, required: list[str], report: ReadReport, mode: BadRows) -> Iterator[dict]:
    with open_text(path) as f:
        head = f.read(4096).lstrip()
    if not head.startswith(("[", "{")) or head.startswith("{") and "\n{" in head:
        yield from _rows_jsonl(path, unit, required, report, mode)  # JSON lines saved as .json
        return
    try:
        with open_text(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise LmlearnError(f"{path}:{e.lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]  # the {"data": [...]} layout (SQuAD-style files keep their own parser)
    if not isinstance(data, list):
        raise LmlearnError(f"{path}: expected a JSON array of records or JSON lines")
    for i, row in enumerate(data):
        if _check_row(row, f"{path}: record {i}", required, report, mode):
            yield f"{path}: record {i}", row


def _rows_delimited(path: str, delimiter: str, required: list[str], report: ReadReport, mode: BadRows) -> Iterator[dict]:
    with open_text(path, newline="") as f:
        # TSV corpora (NSMC, KorNLI) hold bare quotes inside fields, so TSV is read without quoting.
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
        header = next(reader, None)
        if not header:
            raise LmlearnError(f"{path}: empty file (a header line is needed)")
        missing = [c for c in required if c not in header]
        if missing:
            raise LmlearnError(f"{path}:1: no column '{missing[0]}' (columns: {', '.join(header)})")
        for values in reader:
            where = f"{path}:{reader.line_num}"
            if not values:
                continue
            if len(values) != len(header):
                report.bad(f"{where}: {len(values)} fields, the header has {len(header)}", mode)
                continue
            row = dict(zip(header, values))
            if _check_row(row, where, required, report, mode):
                yield where, row


def _rows_csv(path, unit, required, report, mode):
    return _rows_delimited(path, ",", required, report, mode)


def _rows_tsv(path, unit, required, report, mode):
    return _rows_delimited(path, "\t", required, report, mode)


READERS = {"txt": _rows_txt, "jsonl": _rows_jsonl, "json": _rows_json, "csv": _rows_csv, "tsv": _rows_tsv}


def _generate(files: list[str], fmt: str, unit: TxtUnit, required: list[str], on_bad_rows: BadRows,
              report: ReadReport, stamp: str, locate: bool, columns: tuple[str, ...] | None) -> Iterator[dict]:
    for path in files:
        for where, row in READERS[fmt](path, unit, required, report, on_bad_rows):
            if columns is not None:
                row = {key: row.get(key) for key in columns}
            yield {**row, WHERE: where} if locate else row


def _json_columns(files: list[str], fmt: str, unit: TxtUnit) -> tuple[str, ...]:
    """Every key of any JSON record, in order of appearance. `datasets` takes its schema from the
    first rows it writes, so a key that first appears later (an optional `input`) would be dropped."""
    keys: dict[str, None] = {}
    for path in files:
        for _, row in READERS[fmt](path, unit, [], ReadReport(), "skip"):
            keys.update(dict.fromkeys(row))
    return tuple(keys)


def _files_of(spec: str) -> list[str]:
    if any(ch in spec for ch in "*?["):
        files = sorted(glob.glob(spec, recursive=True))
        if not files:
            raise LmlearnError(f"no files match {spec}")
        return files
    return [spec]


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _is_tsv_text(path: str) -> bool:
    """A .txt file that is really a table (NSMC's ratings_*.txt): a tab in the first line, and the
    same number of tabs in each of the first lines."""
    with open_text(path) as f:
        head = [line for _, line in zip(range(10), f)]
    return bool(head) and "\t" in head[0] and len({line.count("\t") for line in head}) == 1


def _format(path: str) -> str | None:
    fmt = FORMATS.get(extension(path))
    return "tsv" if fmt == "txt" and _is_tsv_text(path) else fmt


def _load_files(files: list[str], required: list[str], unit: TxtUnit, on_bad_rows: BadRows,
                report: ReadReport, locate: bool) -> datasets.Dataset:
    for path in files:
        if FORMATS.get(extension(path)) not in (None, "parquet"):
            check_text_file(path)
    fmts = {_format(p) for p in files}
    if None in fmts:
        bad = next(p for p in files if _format(p) is None)
        raise LmlearnError(f"{bad}: unknown data format; use one of {', '.join(FORMATS)}")
    if len(fmts) > 1:
        raise LmlearnError(f"files of several formats in one source: {', '.join(sorted(fmts))}")
    fmt = fmts.pop()
    if fmt == "parquet":
        ds = datasets.load_dataset("parquet", data_files=files, split="train")
        _require_columns(ds, required, files[0])
        return _locate(ds, files[0]) if locate else ds
    stamp = _fingerprint([(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in files], fmt, unit, required,
                         on_bad_rows, locate)
    columns = _json_columns(files, fmt, unit) if fmt in ("json", "jsonl") else None
    try:
        return datasets.Dataset.from_generator(
            _generate, fingerprint=stamp,
            # tuples, not lists: datasets would shard list-valued arguments across workers
            gen_kwargs={"files": tuple(files), "fmt": fmt, "unit": unit, "required": tuple(required),
                        "on_bad_rows": on_bad_rows, "report": report, "stamp": stamp, "locate": locate,
                        "columns": columns},
        )
    except datasets.exceptions.DatasetGenerationError as e:
        if isinstance(e.__cause__, LmlearnError):
            raise e.__cause__ from None
        if type(e.__cause__).__name__ == "SchemaInferenceError":  # not one row survived
            skipped = f" ({report.skipped} bad rows skipped)" if report.skipped else ""
            raise LmlearnError(f"{', '.join(files)}: no rows to read{skipped}") from None
        raise


def _require_columns(ds: datasets.Dataset, required: list[str], where: str) -> None:
    for col in required:
        if col not in ds.column_names:
            raise LmlearnError(f"{where}: no column '{col}' (columns: {', '.join(ds.column_names)})")


def _locate(ds: datasets.Dataset, spec: str) -> datasets.Dataset:
    """Name each row of a source without line numbers by its position."""
    if WHERE in ds.column_names:
        return ds
    return ds.add_column(WHERE, [f"{spec}: row {i + 1}" for i in range(len(ds))])


def iter_texts(ds: datasets.Dataset, column: str) -> Iterator[str]:
    """The texts of one column, read a thousand rows at a time (row-by-row access is slow)."""
    for batch in ds.iter(batch_size=1000):
        yield from batch[column]


def _load_builtin(spec: str) -> datasets.Dataset:
    from lmlearn.data.builtin import load_builtin

    name, _, query = spec[len("builtin:"):].partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    rows = load_builtin(name, options)
    return datasets.Dataset.from_list(rows)


def _load_hub(spec: str) -> datasets.Dataset:
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise LmlearnError(f"'{spec}' is not a local path and the hub is switched off (HF_HUB_OFFLINE)")
    try:
        ds = datasets.load_dataset(spec, split="train")
    except Exception as e:  # the hub client raises many types for 'no network'
        raise LmlearnError(
            f"'{spec}' is not a local file or folder, and fetching it from the Hugging Face Hub failed "
            f"({type(e).__name__}); without a network, download it elsewhere and pass the local path"
        ) from None
    return ds


def load_source(spec: str, *, required: list[str] | tuple[str, ...] = ("text",), txt_unit: TxtUnit = "line",
                on_bad_rows: BadRows = "error", report: ReadReport | None = None,
                locate: bool = False) -> datasets.Dataset:
    """Load one data source into a `datasets.Dataset` that has the `required` columns.

    With `locate`, a `_where` column names each row's origin (file:line) for later error messages.
    """
    required = list(required)
    report = report if report is not None else ReadReport()
    if spec.startswith("builtin:"):
        ds = _load_builtin(spec)
    elif os.path.isdir(spec):
        if not (os.path.exists(os.path.join(spec, "dataset_info.json"))
                or os.path.exists(os.path.join(spec, "dataset_dict.json"))):
            files = sorted(p for p in glob.glob(os.path.join(spec, "**", "*"), recursive=True)
                           if extension(p) in FORMATS)
            if not files:
                raise LmlearnError(f"{spec}: folder holds neither a saved dataset nor data files")
            return _load_files(files, required, txt_unit, on_bad_rows, report, locate)
        ds = datasets.load_from_disk(spec)
        if isinstance(ds, datasets.DatasetDict):
            if "train" not in ds:
                raise LmlearnError(f"{spec}: saved DatasetDict has no 'train' split (splits: {', '.join(ds)})")
            ds = ds["train"]
    elif (any(ch in spec for ch in "*?[") or extension(spec) in FORMATS
          or os.sep in spec and os.path.exists(os.path.dirname(spec) or ".")):
        files = _files_of(spec)
        for p in files:
            if not os.path.isfile(p):
                raise LmlearnError(f"data file not found: {p}")
        return _load_files(files, required, txt_unit, on_bad_rows, report, locate)
    else:
        ds = _load_hub(spec)
    _require_columns(ds, required, spec)
    return _locate(ds, spec) if locate else ds


def hold_out(rows: list, fraction: float, seed: int, what: str) -> tuple[list, list]:
    """(kept, held out): a seeded `fraction` of `rows` held out, both in their original order; `what` names
    the data in the error when nothing would be left to train on."""
    import random

    held = max(1, round(len(rows) * fraction))
    if held >= len(rows):
        raise LmlearnError(f"{what}: {len(rows)} rows leave none to train on after holding out {fraction:g} of them; "
                           "lower --eval-fraction or pass --eval-data")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [rows[i] for i in sorted(order[held:])], [rows[i] for i in sorted(order[:held])]


def with_held_out(read: Any, data: str, eval_data: str | None, fraction: float,
                  seed: int) -> tuple[list, list | None]:
    """Training and held-out rows: `read(eval_data)` when it is given, else a seeded `fraction` of `read(data)`
    (None when the fraction is 0)."""
    rows = read(data)
    if eval_data:
        return rows, read(eval_data)
    if fraction <= 0:
        return rows, None
    return hold_out(rows, fraction, seed, data)
