"""Intrinsic evaluation: negative log-likelihood of held-out text, per segment and per language.

Each segment is scored as a whole: total NLL in nats over all of its tokens (EMMA-500's measure;
comparable across tokenizers because it sums over the whole text, not per token), and bits per
UTF-8 byte. The first token is conditioned on the tokenizer's BOS token (EOS when there is none),
so nothing goes unscored. Texts longer than the window are scored in overlapping windows (each
token sees at least `window - stride` tokens of context), never truncated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SegmentScore:
    nll: float  # total, nats
    tokens: int
    bytes: int


@dataclass
class _Window:
    segment: int
    ids: list[int]
    first_target: int  # index within `ids` of the first token to score


def _windows(seg: int, ids: list[int], window: int, stride: int) -> list[_Window]:
    out, scored_to, begin = [], 1, 0
    while True:
        end = min(begin + window, len(ids))
        out.append(_Window(seg, ids[begin:end], scored_to - begin))
        if end == len(ids):
            return out
        scored_to, begin = end, begin + stride


def score_segments(
    model,
    tokenizer,
    texts: list[str],
    *,
    window: int = 1024,
    stride: int | None = None,
    max_batch_tokens: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[SegmentScore]:
    """Total NLL (nats), token count and byte count for each text."""
    stride = stride or window // 2
    if not 0 < stride <= window - 1:
        raise ValueError("stride must be in [1, window - 1]")
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    vocab = model.get_output_embeddings().weight.shape[0]
    device = next(model.parameters()).device
    if max_batch_tokens is None:
        # Bound a batch's fp32 logits to about 1 GiB; on a CPU, batches past ~1k tokens only add
        # memory traffic (measured: benchmarks/bench_foundation.py), so stop there.
        max_batch_tokens = (1 << 28) // vocab if device.type != "cpu" else min(1024, (1 << 28) // vocab)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    wins = [w for i, ids in enumerate(encoded) for w in _windows(i, [prefix] + ids, window, stride)]
    wins.sort(key=lambda w: -len(w.ids))
    totals = [0.0] * len(texts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    i = 0
    while i < len(wins):
        width = len(wins[i].ids)
        batch = wins[i : i + max(1, max_batch_tokens // width)]
        i += len(batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        labels = torch.full_like(ids, -100)
        for r, w in enumerate(batch):
            n = len(w.ids)
            ids[r, :n] = torch.tensor(w.ids)
            mask[r, :n] = 1
            labels[r, w.first_target : n] = ids[r, w.first_target : n]
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        losses = (
            F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                labels[:, 1:].reshape(-1).to(device),
                ignore_index=-100,
                reduction="none",
            )
            .view(len(batch), -1)
            .sum(dim=1)
        )
        for w, loss in zip(batch, losses.tolist()):
            totals[w.segment] += loss
        if progress:
            progress(sum(len(w.ids) - w.first_target for w in batch))  # tokens scored
    return [SegmentScore(totals[k], len(encoded[k]), len(texts[k].encode("utf-8"))) for k in range(len(texts))]


def summarize(scores: list[SegmentScore]) -> dict:
    """Per-language figures: mean total NLL per segment (nats), bits per byte, counts."""
    nats = sum(s.nll for s in scores)
    n_bytes = sum(s.bytes for s in scores)
    return {
        "nll": nats / len(scores),
        "bpb": nats / math.log(2) / n_bytes,
        "segments": len(scores),
        "tokens": sum(s.tokens for s in scores),
        "bytes": n_bytes,
    }
