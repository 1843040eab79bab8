"""emma: adapt a causal LM to hundreds of languages by continual pre-training, and measure it."""

__version__ = "0.1.0"
