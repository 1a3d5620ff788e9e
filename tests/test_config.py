"""Settings: YAML + flags, with errors that name the file, line, key and type."""

from dataclasses import dataclass
from typing import Literal

import pytest
import yaml

from lmlearn import config
from lmlearn.cli import main
from lmlearn.config import option
from lmlearn.errors import LmlearnError


@dataclass
class Demo:
    max_steps: int = option(10, "steps")
    lr: float = option(1e-3, "learning rate")
    schedule: Literal["cosine", "linear"] = option("cosine", "schedule")
    name: str | None = option(None, "name")
    flag: bool = option(False, "flag")


def write(tmp_path, text):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return str(path)


def test_yaml_then_flags(tmp_path):
    cfg = config.resolve(Demo, write(tmp_path, "max_steps: 5\nlr: 1\nname: x\n"), {"max_steps": 7})
    assert cfg == Demo(max_steps=7, lr=1.0, schedule="cosine", name="x", flag=False)
    assert isinstance(cfg.lr, float)


def test_misspelled_key_names_file_line_and_suggestion(tmp_path):
    path = write(tmp_path, "lr: 0.1\nmax_step: 5\n")
    with pytest.raises(LmlearnError, match=rf"{path}:2: unknown key 'max_step'; did you mean max_steps\?"):
        config.resolve(Demo, path)


def test_wrong_type_names_key_and_type(tmp_path):
    with pytest.raises(LmlearnError, match=r"cfg.yaml:1: 'max_steps' must be int, got 'ten'"):
        config.resolve(Demo, write(tmp_path, "max_steps: ten\n"))
    with pytest.raises(LmlearnError, match=r"'flag' must be bool"):
        config.resolve(Demo, write(tmp_path, "flag: 3\n"))
    with pytest.raises(LmlearnError, match=r"'schedule' must be one of 'cosine', 'linear'"):
        config.resolve(Demo, write(tmp_path, "schedule: step\n"))


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(LmlearnError, match=r"cfg.yaml:2: not valid YAML"):
        config.resolve(Demo, write(tmp_path, "a: 1\n  b: [\n"))
    with pytest.raises(LmlearnError, match="config file not found"):
        config.resolve(Demo, str(tmp_path / "nope.yaml"))


def test_save_round_trips(tmp_path):
    cfg = Demo(max_steps=3, name="한국어")
    config.save(cfg, tmp_path / "out.yaml")
    assert yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))["name"] == "한국어"
    assert config.resolve(Demo, str(tmp_path / "out.yaml")) == cfg


def test_cli_misspelled_key_is_one_line(tmp_path, capsys):
    path = write(tmp_path, "objective: clm\nmax_stpes: 5\n")
    assert main(["pretrain", "--config", path]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "max_stpes" in err and "max_steps" in err and "Traceback" not in err


def test_cli_flag_overrides_yaml(tmp_path):
    import argparse

    from lmlearn.workflows.pretrain import PretrainConfig

    parser = argparse.ArgumentParser()
    config.add_arguments(parser, PretrainConfig)
    args = parser.parse_args(["--config", write(tmp_path, "max_steps: 5\nlr: 0.5\n"), "--max-steps", "9",
                              "--no-progress"])
    cfg = config.from_args(PretrainConfig, args)
    assert (cfg.max_steps, cfg.lr, cfg.progress, cfg.batch_size) == (9, 0.5, False, PretrainConfig().batch_size)


def test_every_declared_default_lies_in_its_range():
    """A range on an option is checked against the defaults of every command's settings."""
    import dataclasses
    import importlib

    from lmlearn.cli import COMMANDS
    from lmlearn.config import in_range

    checked = 0
    for _, module_name, _ in COMMANDS:
        for f in dataclasses.fields(importlib.import_module(module_name).Config):
            allowed = f.metadata.get("range")
            if allowed and f.default is not None and f.default is not dataclasses.MISSING:
                assert in_range(f.default, allowed), (module_name, f.name, f.default, allowed)
                checked += 1
    assert checked > 50


@pytest.mark.parametrize("argv,message", [
    (["pretrain", "--lr", "-1"], "--lr -1.0: must be > 0"),
    (["pretrain", "--batch-size", "0"], "--batch-size 0: must be at least 1"),
    (["finetune", "--task", "classify", "--grad-accum", "0"], "--grad-accum 0: must be at least 1"),
    (["pretrain", "--objective", "mlm", "--mlm-probability", "1.5"], "--mlm-probability 1.5: must be in (0, 1)"),
    (["generate", "--model", "x", "--prompt", "a", "--top-p", "0"], "--top-p 0.0: must be in (0, 1]"),
])
def test_out_of_range_numbers_are_one_line_naming_the_key_and_range(argv, message, tmp_path, capsys):
    from lmlearn import cli

    code = cli.main(argv + ["--out", str(tmp_path / "o")] if argv[0] != "generate" else argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_an_out_of_range_yaml_value_names_file_and_line(tmp_path):
    from lmlearn.config import resolve
    from lmlearn.engine.settings import TrainSettings

    path = tmp_path / "c.yaml"
    path.write_text("max_steps: 10\nadam_beta2: 1.0\n")
    with pytest.raises(LmlearnError, match=r"c.yaml:2: 'adam_beta2' must be in \[0, 1\), got 1.0"):
        resolve(TrainSettings, str(path))
