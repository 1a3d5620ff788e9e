"""Translate instruction datasets field by field, keeping code and placeholders intact (`lmlearn translate`)."""
