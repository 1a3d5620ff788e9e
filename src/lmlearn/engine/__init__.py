"""The one training loop every learning framework reuses (`lmlearn.engine.loop.train`).

Kept free of imports so that reading settings (`lmlearn.engine.settings`) stays cheap.
"""
