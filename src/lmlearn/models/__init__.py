"""Model presets and the model factory."""
