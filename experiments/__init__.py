"""Experiment configs: one ml_collections config a file, each with get_config(arg)."""
