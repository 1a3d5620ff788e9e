"""The one training loop every learning framework reuses (`lmlearn.train.loop.train`).

Kept free of imports so that reading settings (`lmlearn.train.settings`) stays cheap.
"""
