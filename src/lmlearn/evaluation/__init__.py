"""The evaluation harness: YAML tasks scored the way lm-evaluation-harness scores them.

`task` reads and checks a task file, `prompts` builds few-shot prompts, `lm` scores and generates
with a model, `metrics` turns scores into numbers, `harness` ties them together for one shot count.
"""
