"""Shared scoring for multiple-choice tasks (lm-eval's `multiple_choice` output type): every choice
is a continuation of the item's context, scored by its summed log-likelihood. `acc` picks the
highest total; `acc_norm` the highest total per character of the choice (lm-eval's definition)."""

from __future__ import annotations

import random

from emma.eval.backend import Backend, Progress
from emma.eval.task import Result, TaskOptions, fewshot_context, mean_scores, sample_shots

METRICS = ["acc", "acc_norm"]
summarize = mean_scores  # the name of the first version
__all__ = ["METRICS", "fewshot_context", "items_with_shots", "sample_shots", "score", "summarize"]


def items_with_shots(chosen: list[tuple[int, dict]], pool: list[dict], opts: TaskOptions, doc, *, pool_split: str) -> list[dict]:
    """Items for the chosen (row index, row) pairs, their shots drawn from another split (`pool`,
    named `pool_split`): `doc(index, row)` -> (id, text, choices, target), `index` the row's place in
    its own split; each shot is written as its text and its right choice (lm-eval's layout and
    sampler: k rows drawn with `opts.seed`, one RNG in item order). Each item records its shots' ids."""
    rnd = random.Random(opts.seed)
    indexed = list(enumerate(pool))
    items = []
    for index, row in chosen:
        shots = [doc(j, s) for j, s in sample_shots(indexed, opts.shots, rnd)]
        ident, text, choices, target = doc(index, row)
        items.append(
            {
                "id": ident,
                "context": fewshot_context([(t, c[g]) for _, t, c, g in shots], text),
                "choices": choices,
                "target": target,
                "shots": [k for k, _, _, _ in shots],
                **({"shot_split": pool_split} if shots else {}),
            }
        )
    return items


def score(backend: Backend, items: list[dict], opts: TaskOptions, progress: Progress = None) -> Result:
    """`items`: dicts with `context`, `choices` (without the delimiter) and `target` (index);
    optional `delimiter` (default " "). Returns per-sample records and the language's scores."""
    requests = [(it["context"], it.get("delimiter", " ") + c) for it in items for c in it["choices"]]
    lls = backend.loglikelihood(requests, first_token_only=opts.first_token, progress=progress)
    samples, k = [], 0
    for it in items:
        n = len(it["choices"])
        lp = [lls[k + j].logprob for j in range(n)]
        k += n
        pred = max(range(n), key=lambda j: lp[j])
        pred_norm = max(range(n), key=lambda j: lp[j] / max(1, len(it["choices"][j])))
        samples.append(
            {
                **it,
                "loglikelihoods": lp,
                "prediction": pred,
                "prediction_norm": pred_norm,
                "acc": float(pred == it["target"]),
                "acc_norm": float(pred_norm == it["target"]),
            }
        )
    return samples, mean_scores(samples, METRICS)
