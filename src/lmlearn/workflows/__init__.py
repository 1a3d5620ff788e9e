"""Workflows: one function per way of teaching a model, each `run(Config) -> summary`.

A workflow wires one kind of method (a pre-training objective, a task, SFT, a reward model, DPO, PPO,
distillation) to the driver (`lmlearn.driver`: model, data, tokenizer, PEFT, saving) and the engine
(`lmlearn.engine`: the training loop). The command line (`lmlearn.commands`), the tour and recipes
call these functions; nothing here prints a result table or parses flags.
"""
