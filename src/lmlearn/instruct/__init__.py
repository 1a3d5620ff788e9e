"""Supervised instruction tuning (`lmlearn instruct`): instruction data in its common layouts, chat
templates, assistant-only labels, and packing of several conversations into one sequence."""
