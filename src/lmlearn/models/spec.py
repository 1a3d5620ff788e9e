"""What `--model` names, resolved once: a preset, a model folder, a run folder holding `model/`, or a
Hugging Face Hub id (owner/name[@revision]) found in the local cache or downloaded."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from lmlearn.errors import LmlearnError

# owner/name, optionally @revision: the shape of a Hub model id (a local path is tried first)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
# the weights of other frameworks, which a PyTorch run never reads
_OTHER_FRAMEWORKS = ["*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "onnx/*", "coreml/*", "openvino/*"]


@dataclass(frozen=True)
class ModelSpec:
    """What a `--model` (or `--teacher`, ...) names, resolved once."""

    name: str  # as given: a preset, a folder, or a Hub id
    kind: Literal["preset", "folder", "hub"]
    family: str
    folder: Path | None = None  # the folder holding config.json (None for a preset)

    @property
    def path(self) -> str:
        """What the loaders take: the preset's name or the model folder."""
        return self.name if self.folder is None else str(self.folder)

    @property
    def pretrained(self) -> bool:
        """Whether it has trained weights (a preset is an architecture with random ones)."""
        return self.kind != "preset"

    def adapter_base(self, out: Path) -> str:
        """What an adapter trained on this model records as its base: the Hub id (it loads anywhere), the
        folder, or for a preset OUT/base, where the run saves the random weights the adapter belongs to."""
        if self.kind == "hub":
            return self.name.partition("@")[0]
        return str((out / "base" if self.kind == "preset" else self.folder).resolve())


def resolve_model(spec: str, flag: str = "--model") -> ModelSpec:
    """A preset, a model folder, a run folder holding `model/`, or a Hub id (owner/name[@revision]) from
    the local Hugging Face cache, else downloaded unless HF_HUB_OFFLINE is set; one line when none fits."""
    from lmlearn.models.factory import family_of, read_config
    from lmlearn.models.presets import parse_preset

    parsed = parse_preset(spec)
    if parsed is not None:
        return ModelSpec(spec, "preset", parsed[0])
    path = Path(spec).expanduser()
    if path.exists():
        folder = path / "model" if (path / "model" / "config.json").is_file() else path
        if not (folder / "config.json").is_file():
            raise LmlearnError(f"{flag} {spec}: no config.json there or in {path / 'model'}")
        return ModelSpec(spec, "folder", family_of(read_config(folder)), folder)
    if not HUB_ID.match(spec) or Path(spec.split("/")[0]).is_dir():  # runs/x when runs/ is here: a local typo
        import difflib

        from lmlearn.models.presets import preset_names

        close = difflib.get_close_matches(spec, preset_names(prefixed=True), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise LmlearnError(f"{flag} {spec}: neither a preset{hint} (`lmlearn models` lists them), an existing "
                           "folder, nor a Hub id (owner/name)")
    folder = hub_snapshot(spec, flag)
    return ModelSpec(spec, "hub", family_of(read_config(folder)), folder)


def hub_snapshot(spec: str, flag: str = "--model") -> Path:
    """The local folder of Hub model `spec` (owner/name[@revision]): the cached snapshot, else a download
    of its config, tokenizer and PyTorch weights (safetensors when the repository has them)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo, _, revision = spec.partition("@")
    cache = os.environ.get("HF_HUB_CACHE") or None  # read now, not at import, so a caller may point it elsewhere
    try:
        return Path(snapshot_download(repo, revision=revision or None, cache_dir=cache, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise LmlearnError(f"{flag} {spec}: not in the local Hugging Face cache ({cache or 'the default cache'}) "
                           "and HF_HUB_OFFLINE is set; download it where the Hub is reachable "
                           f"(`hf download {repo}`), or give a model folder")
    try:
        from huggingface_hub import HfApi

        files = HfApi().list_repo_files(repo, revision=revision or None)
        skip = _OTHER_FRAMEWORKS + (["*.bin", "*.pt", "*.pth"] if any(f.endswith(".safetensors") for f in files)
                                    else [])
        return Path(snapshot_download(repo, revision=revision or None, cache_dir=cache, ignore_patterns=skip))
    except Exception as err:  # no network, no such repository, a gated one: one line, whatever the cause
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise LmlearnError(f"{flag} {spec}: not a preset or a local folder, and the Hub model could not be fetched "
                           f"({type(err).__name__}: {first})") from err


def resolve_model_dir(path: str, flag: str = "--model") -> Path:
    """The folder of a model that must have trained weights: a model folder, a run folder holding
    `model/`, or a Hub id."""
    spec = resolve_model(path, flag)
    if spec.folder is None:
        raise LmlearnError(f"{flag} {path}: a preset has no trained weights; give a model folder or a Hub id")
    return spec.folder


def model_family(spec: str) -> str:
    """The family (gpt2, bert, ...) of a preset, a model folder or a Hub id."""
    return resolve_model(spec).family


def check_family(spec: str | ModelSpec, families: Iterable[str], what: str) -> str:
    """Fail early when the model family does not fit the method."""
    model = spec if isinstance(spec, ModelSpec) else resolve_model(spec)
    families = tuple(families)
    if model.family not in families:
        raise LmlearnError(f"{what} does not fit a {model.family} model ({model.name}); families it supports: "
                           f"{', '.join(families)}")
    return model.family
