"""Multiple-choice scoring, emma vs a plain forward pass per (context, continuation) — the way
lm-evaluation-harness's HF backend scores: whole sequence in, the full LM head at every position.

Workload: SIB-200 `eng_Latn` test items, k-shot (fixed shots from train), all 7 labels as
continuations; same model, prompts and tokenisation for both. Prints wall time, peak RSS delta
and the largest per-item difference.

Run: .venv/bin/python benchmarks/bench_loglikelihood.py [--model gemma3-270m] [--items 20] [--shots 3]
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from emma.eval.loglikelihood import encode_pair, loglikelihoods, wants_bos  # noqa: E402
from emma.models import load_model  # noqa: E402

SIB = Path(__file__).resolve().parents[2] / "shared" / "data" / "sib200" / "eng_Latn"


def rows(split: str) -> list[dict]:
    with open(SIB / f"{split}.tsv", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def plain(model, tok, context: str, continuation: str) -> float:
    ctx, cont = encode_pair(tok, context, continuation, add_bos=wants_bos(model))
    ids = torch.tensor([ctx + cont])
    with torch.inference_mode():
        lp = torch.log_softmax(model(ids).logits[0].float(), -1)
    pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1)
    return lp[pos, torch.tensor(cont)].sum().item()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--shots", type=int, default=3)
    args = ap.parse_args()
    if not SIB.is_dir():
        sys.exit(f"SIB-200 data not found at {SIB} (it lives in ../shared); nothing to measure")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    lm = load_model(args.model)
    labels = (SIB / "labels.txt").read_text(encoding="utf-8").split()
    shots = "".join(f"Text: {r['text']}\nTopic: {r['category']}\n\n" for r in rows("train")[: args.shots])
    items = rows("test")[: args.items]
    requests = [(f"{shots}Text: {r['text']}\nTopic:", f" {label}") for r in items for label in labels]

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.time()
    ours = loglikelihoods(lm.model, lm.tokenizer, requests)
    t_ours = time.time() - t
    rss_ours = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1e6
    t = time.time()
    ref = [plain(lm.model, lm.tokenizer, c, x) for c, x in requests]
    t_ref = time.time() - t
    rss_ref = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1e6
    diff = max(abs(a.logprob - b) for a, b in zip(ours, ref))

    def acc(scores) -> float:
        right = sum(labels[max(range(len(labels)), key=lambda j: scores[i * len(labels) + j])] == r["category"] for i, r in enumerate(items))
        return right / len(items)

    print(
        f"{args.model}, SIB-200 eng_Latn, {args.shots}-shot, {len(items)} items x {len(labels)} labels = {len(requests)} requests, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"emma (shared context + continuation-only head): {t_ours:.1f} s, peak RSS +{rss_ours:.2f} GB, acc {acc([o.logprob for o in ours]):.2f}")
    print(f"plain forward per request (full head):          {t_ref:.1f} s, peak RSS +{rss_ref:.2f} GB (cumulative), acc {acc(ref):.2f}")
    print(f"speed-up {t_ref / t_ours:.1f}x; max per-request log-likelihood difference {diff:.1e}")


if __name__ == "__main__":
    main()
