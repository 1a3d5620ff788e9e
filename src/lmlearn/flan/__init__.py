"""FLAN-style instruction data (Wei et al., 2021): many templates per task, task clusters, held-out evaluation.

A task is a YAML file in `templates/` (spec.py reads and checks it); rows.py turns its data into
examples, render.py writes an example through one template, mixture.py mixes the tasks into a
training set with a per-task cap and splits off test examples, and evalset.py writes those as
tasks for `lmlearn evaluate`. See docs/flan.md.
"""
