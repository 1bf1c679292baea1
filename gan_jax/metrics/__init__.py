"""Evaluation metrics for generative models (mode coverage, sample quality)."""
