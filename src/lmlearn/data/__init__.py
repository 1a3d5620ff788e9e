"""The data layer: sources -> rows -> tokenized examples."""
