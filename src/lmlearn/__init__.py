"""lmlearn: teach a language model in any of the ways NLP has invented."""
__version__ = "0.1.0"
