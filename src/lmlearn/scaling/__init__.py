"""Scaling laws: fitting loss against parameters and training tokens (Kaplan et al. 2020; Hoffmann et al. 2022)."""
