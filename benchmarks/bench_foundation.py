"""Foundation figures, each side by side with the plain Hugging Face way on the same input.

1. Model load: `transformers` reading the GGUF file (de-quantising every time) vs emma's cached
   safetensors checkpoint of the same weights.
2. Held-out NLL: emma's batched, length-sorted scorer vs one plain forward pass per segment
   (what a hand-written loop does), on the demo's UDHR held-out articles; totals must agree.

Run: .venv/bin/python benchmarks/bench_foundation.py [--udhr PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from emma.eval.nll import score_segments  # noqa: E402
from emma.models import load_model  # noqa: E402
from emma.models.load import _alias_gguf  # noqa: E402
from emma.recipes.demo import DEMO_LANGUAGES  # noqa: E402
from emma.sources.udhr import find_tarball, one_per_language, read_udhr, split_declaration  # noqa: E402


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def plain_nll(model, tok, text: str) -> float:
    ids = torch.tensor([[tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        logits = model(ids).logits
    return F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--udhr", default=None)
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")

    gguf = _alias_gguf("smollm2-135m")
    t = time.time()
    AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    t_gguf = time.time() - t
    load_model("smollm2-135m")  # make sure the cache exists
    t = time.time()
    lm = load_model("smollm2-135m")
    t_cached = time.time() - t
    print(f"\n1. load SmolLM2-135M: transformers from GGUF {t_gguf:.1f} s | emma cached {t_cached:.2f} s | ratio {t_gguf / t_cached:.0f}x")

    decls = one_per_language(read_udhr(find_tarball(args.udhr)))
    texts = [s.text for code in DEMO_LANGUAGES for s in split_declaration(decls[code])[1]]
    n_tok = sum(len(lm.tokenizer(x, add_special_tokens=False)["input_ids"]) + 1 for x in texts)
    score_segments(lm.model, lm.tokenizer, texts[:2])  # warm-up
    t = time.time()
    ours = score_segments(lm.model, lm.tokenizer, texts, window=2048)
    t_ours = time.time() - t
    t = time.time()
    ref = [plain_nll(lm.model, lm.tokenizer, x) for x in texts]
    t_ref = time.time() - t
    worst = max(abs(a.nll - b) / b for a, b in zip(ours, ref))
    print(f"2. held-out NLL, {len(texts)} UDHR segments in {len(DEMO_LANGUAGES)} languages, {n_tok} tokens:")
    print(
        f"   emma batched {t_ours:.1f} s ({n_tok / t_ours:.0f} tok/s) | plain per-segment forward {t_ref:.1f} s "
        f"({n_tok / t_ref:.0f} tok/s) | ratio {t_ref / t_ours:.2f}x | max relative NLL difference {worst:.1e}"
    )
    print(f"peak RSS {rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
