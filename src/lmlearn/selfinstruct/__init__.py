"""Self-Instruct and Alpaca: grow instruction data from seed tasks with a model (`lmlearn self-instruct`)."""
