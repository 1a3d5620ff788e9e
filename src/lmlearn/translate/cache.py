"""A SQLite cache of translations, so an interrupted run resumes without paying for a text twice.

The key hashes everything that decides a translation (backend, model, languages, token style) with
the text as sent. Each batch is committed on its own in WAL mode: an interrupt loses at most the
batch in flight, and a reader never blocks the writer.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Iterable

from lmlearn.errors import LmlearnError

_CHUNK = 500  # keys per SELECT: SQLite limits the number of bound parameters


class TranslationCache:
    """Translations by key, committed one batch at a time."""

    def __init__(self, path: str | os.PathLike, namespace: Iterable[str]):
        self.path = Path(path)
        self.namespace = list(namespace)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS translations "
                             "(key TEXT PRIMARY KEY, source TEXT NOT NULL, translation TEXT NOT NULL)")
        except sqlite3.DatabaseError as e:
            raise LmlearnError(f"--cache {self.path}: not a usable SQLite file ({e}); "
                               "delete it or pick another") from None

    def key(self, text: str) -> str:
        """The cache key of `text` as sent, under this cache's namespace."""
        return hashlib.sha256(json.dumps([*self.namespace, text], ensure_ascii=False).encode()).hexdigest()

    def get_many(self, texts: list[str]) -> dict[str, str]:
        """{text: translation} for the texts already cached."""
        by_key = {self.key(t): t for t in texts}
        keys = list(by_key)
        found: dict[str, str] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            rows = self._db.execute(
                f"SELECT key, translation FROM translations WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update((by_key[k], v) for k, v in rows)
        return found

    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        """Store (text, translation) pairs and commit them together."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO translations VALUES (?, ?, ?)",
                                 [(self.key(s), s, t) for s, t in pairs])

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM translations").fetchone()[0]

    def close(self) -> None:
        """Close the database (WAL contents are checkpointed into the main file)."""
        self._db.close()

    def __enter__(self) -> TranslationCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
