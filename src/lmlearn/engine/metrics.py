"""metrics.jsonl (one line per logged step), and the same lines to accelerate's trackers
(TensorBoard in OUT/tensorboard, Weights & Biases, MLflow) when asked."""

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


TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # name -> module it needs


def tracker_names(report_to: str, tensorboard: bool = False) -> list[str]:
    """The trackers of `--report-to a,b` (and `--tensorboard`), each checked to be installed."""
    import importlib.util

    from lmlearn.errors import LmlearnError
    from lmlearn.extras import EXTRAS, require

    names = [n.strip() for n in report_to.split(",") if n.strip()] + (["tensorboard"] if tensorboard else [])
    for name in names:
        if name not in TRACKERS:
            raise LmlearnError(f"--report-to {name}: not a tracker lmlearn knows; one of {', '.join(TRACKERS)}")
        if name in EXTRAS:  # an lmlearn extra: the same one-line install hint as every optional feature
            require(name, f"--report-to {name}")
        elif importlib.util.find_spec(TRACKERS[name]) is None:
            raise LmlearnError(f"--report-to {name} needs {TRACKERS[name]}, which is not installed: "
                               f"pip install {TRACKERS[name]}")
    return list(dict.fromkeys(names))


def _start_tracker(name: str, out_dir: Path, config: dict[str, Any]) -> Any:
    """One of accelerate's trackers, started, with the run's settings stored."""
    from accelerate.tracking import MLflowTracker, TensorBoardTracker, WandBTracker

    if name == "tensorboard":
        tracker = TensorBoardTracker("tensorboard", logging_dir=out_dir)
    elif name == "wandb":
        tracker = WandBTracker(out_dir.name, dir=str(out_dir))
    else:
        tracker = MLflowTracker(experiment_name=out_dir.name, logging_dir=str(out_dir / "mlruns"))
    tracker.start()
    tracker.store_init_configuration({k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))})
    return tracker


class MetricsLog:
    """Appends metric lines; on resume, drops lines past the checkpoint so none are doubled."""

    def __init__(self, out_dir: str | Path, resume_step: int | None, trackers: list[str] | None = None,
                 enabled: bool = True, config: dict[str, Any] | None = None):
        self.path = Path(out_dir) / "metrics.jsonl"
        self._file, self._trackers = None, []
        if not enabled:  # processes other than the main one in a distributed run
            return
        if resume_step is None:
            atomic_write_text(self.path, "")
        else:
            kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
            atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
        self._file = open(self.path, "a", encoding="utf-8")
        self._trackers = [_start_tracker(name, Path(out_dir), config or {}) for name in trackers or []]

    def log(self, record: dict[str, Any]) -> None:
        """Write one line now (flushed, so a kill loses at most the line being written)."""
        if self._file is None:
            return
        self._file.write(json.dumps({k: _clean(v) for k, v in record.items()}, ensure_ascii=False) + "\n")
        self._file.flush()
        scalars = {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float))
                   and math.isfinite(v)}
        for tracker in self._trackers:
            tracker.log(scalars, step=record["step"])

    def close(self) -> None:
        """Flush and close the files."""
        if self._file is not None:
            self._file.close()
        for tracker in self._trackers:
            tracker.finish()
