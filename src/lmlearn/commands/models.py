"""`lmlearn models`: the model presets, with their sizes."""

from __future__ import annotations

from dataclasses import dataclass

from lmlearn.config import option


@dataclass
class Config:
    """Settings of `lmlearn models`."""

    family: str | None = option(None, "show only this family")


def main(cfg: Config) -> int:
    """Print one line per preset."""
    from lmlearn.models.factory import describe_presets

    rows = [r for r in describe_presets() if cfg.family in (None, r["family"])]
    print(f"{'preset':<20} {'hidden':>6} {'layers':>6} {'heads':>5} {'params (vocab 8000)':>20}")
    for r in rows:
        layers = f"{r['layers']}+{r['decoder_layers']}" if r["decoder_layers"] else str(r["layers"])
        print(f"{r['name']:<20} {r['hidden']:>6} {layers:>6} {r['heads']:>5} {r['parameters']:>20,}")
    print("Any local Hugging Face model folder works too: --model PATH")
    return 0
