"""metrics.jsonl (one line per logged step), with optional TensorBoard beside it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lmlearn.io import atomic_write_text


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All lines of a metrics.jsonl file (a torn last line from a kill is ignored)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no nan/inf
    return value


class MetricsLog:
    """Appends metric lines; on resume, drops lines past the checkpoint so none are doubled."""

    def __init__(self, out_dir: str | Path, resume_step: int | None, tensorboard: bool = False, enabled: bool = True):
        self.path = Path(out_dir) / "metrics.jsonl"
        self._file, self._tb = None, None
        if not enabled:  # processes other than the main one in a distributed run
            return
        if resume_step is None:
            atomic_write_text(self.path, "")
        else:
            kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
            atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
        self._file = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            from lmlearn.extras import require

            require("tensorboard", "--tensorboard")
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(out_dir) / "tensorboard"))

    def log(self, record: dict[str, Any]) -> None:
        """Write one line now (flushed, so a kill loses at most the line being written)."""
        if self._file is None:
            return
        self._file.write(json.dumps({k: _clean(v) for k, v in record.items()}, ensure_ascii=False) + "\n")
        self._file.flush()
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        """Flush and close the files."""
        if self._file is not None:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
