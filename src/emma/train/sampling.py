"""The language mix `emma train` samples by: temperature sampling p(l) ∝ n_l^α over token counts
n_l (α = 1 follows the data, α → 0 is uniform), so low-resource languages get more weight than
their share, and a plan of which block is seen when, fixed by the seed."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sized

import torch

from emma.errors import EmmaError


def language_weights(token_counts: dict[str, int], alpha: float) -> dict[str, float]:
    """Temperature sampling: p(l) ∝ n_l^α."""
    if not token_counts:
        raise EmmaError("no training text: every language is empty")
    if alpha < 0:
        raise EmmaError(f"alpha must be >= 0, got {alpha}")
    raw = {lang: n**alpha for lang, n in token_counts.items() if n > 0}
    z = sum(raw.values())
    return {lang: w / z for lang, w in raw.items()}


def sample_plan(blocks: Mapping[str, Sized], weights: dict[str, float], n: int, seed: int) -> list[tuple[str, int]]:
    """`n` (language, block index) picks: language by weight, then that language's blocks in
    a shuffled order, reshuffled at every pass (epoch)."""
    rng = random.Random(seed)
    langs = sorted(weights)
    orders: dict[str, list[int]] = {}
    plan = []
    for lang in rng.choices(langs, weights=[weights[lang] for lang in langs], k=n):
        if not orders.get(lang):
            orders[lang] = rng.sample(range(len(blocks[lang])), len(blocks[lang]))
        plan.append((lang, orders[lang].pop()))
    return plan


class PlanDataset(torch.utils.data.Dataset):
    def __init__(self, blocks, plan):
        self.blocks, self.plan = blocks, plan

    def __len__(self):
        return len(self.plan)

    def __getitem__(self, i):
        lang, b = self.plan[i]
        return {"input_ids": self.blocks[lang][b]}


def collate_blocks(pad_id: int):
    """Pad a batch of blocks on the right; padding is masked and ignored by the loss."""

    def collate(rows):
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = labels[i, :n] = torch.tensor(r["input_ids"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate
