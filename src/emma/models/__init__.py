"""Load any causal LM emma works with: a Hugging Face id, a local directory, a .gguf file, or an alias."""

from emma.models.load import ALIASES, LoadedModel, cache_dir, generate_text, load_model, resolve_model_source

__all__ = ["ALIASES", "LoadedModel", "cache_dir", "generate_text", "load_model", "resolve_model_source"]
