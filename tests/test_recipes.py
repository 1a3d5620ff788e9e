"""The shipped recipes are valid settings files, and their data paths point into ../shared/data."""

from pathlib import Path

import pytest

from lmlearn import config
from lmlearn.commands.distill import DistillConfig
from lmlearn.commands.finetune import FinetuneConfig
from lmlearn.commands.instruct import InstructConfig
from lmlearn.commands.pretrain import PretrainConfig

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
COMMANDS = {"nsmc": FinetuneConfig, "kornli": FinetuneConfig, "klue-ner": FinetuneConfig,
            "nsmc-pretrain-mlm": PretrainConfig, "nsmc-pretrain-electra": PretrainConfig, "lima": InstructConfig,
            "nsmc-distill": DistillConfig}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_recipe_resolves_to_its_commands_settings(name):
    cfg = config.resolve(COMMANDS[name], str(RECIPES / f"{name}.yaml"))
    assert cfg.data.startswith("../shared/data/")
    if COMMANDS[name] in (FinetuneConfig, DistillConfig):
        assert cfg.task in ("classify", "pair", "tag")


def test_every_recipe_is_listed():
    multi_step = {"kolima", "flan-heldout", "rlhf", "rlhf-sentiment"}  # `lmlearn recipe run` files, checked in tests/test_recipe.py
    assert {p.stem for p in RECIPES.glob("*.yaml")} <= set(COMMANDS) | multi_step
