"""The PEFT table of docs/results.md: full fine-tuning and each --peft method on one real task.

Each method runs `lmlearn finetune` in its own process under /usr/bin/time, so peak memory (max
RSS) is that run's alone; accuracy, parameter counts and wall time come from its summary.json, the
size on disk from its saved folder. Runs are sequential: this is a results table, not a speed race
(wall times on a shared machine are indicative only).

    python benchmarks/peft_table.py --model runs/nsmc-mlm/model --config recipes/nsmc.yaml --out runs/peft-table
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

# Learning rates per method: adapters with few parameters take larger steps (LoRA paper: 2e-4 to
# 5e-4 on RoBERTa; prompt tuning: 0.3; IA3: 3e-3).
METHODS = {"full": 1e-4, "lora": 1e-3, "qlora": 1e-3, "ia3": 3e-3, "prefix": 1e-2, "prompt": 3e-2, "ptuning": 1e-2}


def run_one(method: str, lr: float, args: argparse.Namespace) -> dict:
    """Fine-tune with one method; return its row."""
    out = Path(args.out) / method
    cmd = [str(Path(sys.executable).parent / "lmlearn"), "finetune", "--config", args.config, "--model", args.model,
           "--max-steps", str(args.steps), "--lr", str(lr), "--out", str(out), "--overwrite", "--no-progress"]
    if method != "full":
        cmd += ["--peft", method]
    timed = ["/usr/bin/time", "-f", "%M %e", "-o", str(Path(args.out) / f"{method}.time")] + cmd
    subprocess.run(timed, check=True, stdout=subprocess.DEVNULL)
    peak_kib, _ = (Path(args.out) / f"{method}.time").read_text().split()[-2:]
    summary = json.loads((out / "summary.json").read_text())
    saved = out / ("model" if method == "full" else "adapter")
    size = sum(p.stat().st_size for p in saved.rglob("*") if p.is_file() and not p.name.startswith("tokenizer")
               and p.name not in ("special_tokens_map.json", "vocab.txt"))
    return {"method": method, "lr": lr, "accuracy": summary["accuracy"],
            "trainable": summary["trainable_parameters"], "percent": summary["trainable_percent"],
            "peak_mib": int(peak_kib) / 1024, "wall_sec": summary["wall_time_sec"], "disk_mib": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="pre-trained model folder")
    parser.add_argument("--config", default="recipes/nsmc.yaml")
    parser.add_argument("--steps", type=int, default=375)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default="runs/peft-table")
    args = parser.parse_args()
    if shutil.which("time") is None and not Path("/usr/bin/time").exists():
        sys.exit("needs /usr/bin/time (GNU time) to measure peak memory")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    rows = []
    for method in args.methods.split(","):
        rows.append(run_one(method, METHODS[method], args))
        print(json.dumps(rows[-1]), flush=True)
    (Path(args.out) / "table.json").write_text(json.dumps(rows, indent=2))
    print("| method | lr | accuracy | trainable parameters | peak memory (MiB) | wall time (s) | saved size (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['lr']:g} | {r['accuracy']:.4f} | {r['trainable']:,} ({r['percent']:.3g}%) | "
              f"{r['peak_mib']:.0f} | {r['wall_sec']:.0f} | {r['disk_mib']:.2f} |")


if __name__ == "__main__":
    main()
