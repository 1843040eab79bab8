"""Training stage: `emma train CONFIG.yaml --out DIR`, continual pre-training through the Hugging
Face `Trainer`. Reads documents (text folders, documents JSONL, the UDHR) or packed shards; writes
a run folder whose `checkpoint/` is a plain Hugging Face model."""

from emma.train.config import DataConfig, LoraSettings, TrainConfig, VocabSettings, load_config
from emma.train.run import auto_mixed_precision, train

__all__ = ["DataConfig", "LoraSettings", "TrainConfig", "VocabSettings", "auto_mixed_precision", "load_config", "train"]
