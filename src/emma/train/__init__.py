"""Continual pre-training."""
