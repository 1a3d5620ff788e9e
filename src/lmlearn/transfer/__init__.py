"""Ways of handing general knowledge to a task model: pre-trained weights (fine-tuning), frozen
contextual features, and static word embeddings."""
