"""The built-in task suite: one `builtin:NAME` data set per task, English and Korean, about the fact world.

Each row has the columns its `lmlearn finetune` task reads (text/label, premise/hypothesis,
tokens/tags, context/question/answers, source/target) and the fields FLAN-style instruction
tuning groups and scores by: `task`, `cluster`, `lang`, `answer`, and `options` for the tasks
whose answer is one of a few strings. See docs/builtin-data.md, "The task suite".
"""
