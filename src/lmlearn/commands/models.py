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
    from lmlearn.models.presets import PREFIX

    rows = [r for r in describe_presets() if cfg.family in (None, r["family"])]
    # N (non-embedding parameters) and training FLOPs per token are what scaling laws are stated in
    print(f"{'preset':<25} {'hidden':>6} {'layers':>6} {'heads':>5} {'params (vocab 8000)':>20} "
          f"{'non-embedding N':>16} {'train FLOP/token':>17}")
    for r in rows:
        layers = f"{r['layers']}+{r['decoder_layers']}" if r["decoder_layers"] else str(r["layers"])
        print(f"{PREFIX + r['name']:<25} {r['hidden']:>6} {layers:>6} {r['heads']:>5} {r['parameters']:>20,} "
              f"{r['non_embedding_parameters']:>16,} {r['train_flops_per_token']:>17.3g}")
    print("train FLOP/token = 6N + 6 * layers * 512 * hidden (Kaplan et al. 2020; attention over a 512-token context)")
    print("Give one as --model preset:NAME; any local Hugging Face model folder (--model PATH) or Hub id "
          "(--model owner/name) works too")
    return 0
