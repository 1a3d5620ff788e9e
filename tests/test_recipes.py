"""The shipped recipes are valid settings files, and their data paths point into ../shared/data."""

from pathlib import Path

import pytest

from lmlearn import config
from lmlearn.workflows.distill import DistillConfig
from lmlearn.workflows.finetune import FinetuneConfig
from lmlearn.workflows.instruct import InstructConfig
from lmlearn.workflows.pretrain import PretrainConfig

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
COMMANDS = {"nsmc": FinetuneConfig, "kornli": FinetuneConfig, "klue-ner": FinetuneConfig,
            "nsmc-pretrain-mlm": PretrainConfig, "nsmc-pretrain-electra": PretrainConfig, "lima": InstructConfig,
            "nsmc-distill": DistillConfig}

COMPARISONS = sorted(RECIPES.glob("compare-*.yaml")) + [RECIPES / "tour.yaml"]  # tour.yaml: the tour's compare stage


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_recipe_resolves_to_its_commands_settings(name):
    cfg = config.resolve(COMMANDS[name], str(RECIPES / f"{name}.yaml"))
    assert cfg.data.startswith("../shared/data/")
    if COMMANDS[name] in (FinetuneConfig, DistillConfig):
        assert cfg.task in ("classify", "pair", "tag")


def test_every_recipe_is_listed():
    multi_step = {"kolima", "flan-heldout", "rlhf", "rlhf-sentiment"}  # `lmlearn recipe run` files, checked in tests/test_recipe.py
    comparisons = {p.stem for p in COMPARISONS}  # `lmlearn compare` files, checked below
    assert {p.stem for p in RECIPES.glob("*.yaml")} <= set(COMMANDS) | multi_step | comparisons


@pytest.mark.parametrize("path", COMPARISONS, ids=lambda p: p.stem)
def test_comparison_recipes_resolve_every_arm(path, tmp_path):
    from lmlearn.compare.arms import settings
    from lmlearn.compare.spec import load_spec

    spec = load_spec(str(path))
    for arm in spec.arms:
        settings(arm, spec, tmp_path, spec.seeds[0])  # a wrong key or type names the file, line and arm
