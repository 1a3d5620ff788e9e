"""`lmlearn compare`: one task through several learning frameworks, every arm an ordinary run of an existing
command on the same documents; spec.py reads the file, arms.py runs and reads the arms, report.py scores and
draws them. The workflow is lmlearn.workflows.compare."""
