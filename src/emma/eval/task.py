"""The task contract, written once: what a task is (`Task`, its callables typed by protocols), the
options that change its outputs, and what every task shares (which items `--limit` takes, few-shot
sampling, item ids, the NaN-safe mean of per-item scores), so a task module, emma's or a user's,
holds only its data, prompt and metric.

A task answers four questions: its metrics; which languages it has (`languages(data_dir)`, as
`xxx_Scrp` keys, or None when any code may be tried on the hub); how to run one language
(`run(backend, data_dir, lang, opts, progress=...)` -> per-sample records and the language's scores;
every record has a stable `id`: the dataset's own id where it has one, else the item's row index in
the full split, so results of different models, limits and runs line up item by item); and,
optionally, how to read `--langs` (`select`, e.g. MT pairs) and which language a result key
counts for in the resource-group tables (`group_key`). Tasks join the registry (`emma.eval.registry`).
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from emma.errors import EmmaError
from emma.eval.backend import Backend, Progress

DataDir = str | Path | None
"""`--data-dir`: local files in the benchmark's upstream layout, or None for the Hugging Face hub."""

Result = tuple[list[dict], dict]
"""A language's run: per-sample records (one JSONL line each) and its scores (numbers, plus `n`
and any other information recorded beside them)."""

R = TypeVar("R")

LIMIT_MODES = ("sample", "first")
SHOT_POOLS = ("train", "lm-eval")


@dataclass(frozen=True)
class TaskOptions:
    """Settings that change a task's outputs; recorded next to every result, so a rerun with other
    settings is never mistaken for a finished one."""

    shots: int = 0
    limit: int | None = None
    seed: int = 1234  # few-shot sampling and sampled generation (lm-eval's default seed)
    first_token: bool = False  # score only a label's first token (EMMA-500's SIB-200 script)
    prompt: str = "lm-eval"  # or "emma500" where EMMA-500's prompt differs
    max_new_tokens: int | None = None  # None: the task's default
    lid_model: str | None = None  # fastText LID model for polywrite's language check
    # `limit` items: "sample" a seeded, label-stratified sample spread over the whole split (the same
    # ids for every model: it depends on the data and `seed` alone), or the "first" N rows (lm-eval's --limit)
    limit_mode: str = "sample"
    # few-shot pool: "train": k shots per item drawn with `seed` from the task's training split (dev where
    # it has none; the evaluated split, the item left out, only where the benchmark has no other split);
    # "lm-eval": the pool and sampler lm-eval's own task config uses (SIB-200, Belebele: the first k rows
    # of the evaluated split), for item-for-item parity. Each item records its shots' ids (`shots`).
    shot_pool: str = "train"
    # "emma500": EMMA-500's own evaluation (prompts, shots, decoding, scoring) where a task has it; see emma.eval.presets
    preset: str = "default"
    temperature: float | None = None  # sampled generation (None: the task's or preset's default; 0 = greedy)
    top_p: float | None = None
    # BERTScore's model under --preset emma500 (summarisation): a hub id or local folder, `:N` for layer N;
    # None: EMMA-500's bert-base-multilingual-cased (layer 9). See emma.eval.metrics.bertscore_f1
    bertscore_model: str | None = None
    n_samples: int | None = None  # completions per problem for pass@k (code tasks; None: the task's default, 1)

    def __post_init__(self) -> None:
        if self.preset not in ("default", "emma500"):
            raise EmmaError(f"unknown preset {self.preset!r}; use default or emma500")
        if self.temperature is not None and self.temperature < 0:
            raise EmmaError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise EmmaError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.n_samples is not None and self.n_samples < 1:
            raise EmmaError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.limit_mode not in LIMIT_MODES:
            raise EmmaError(f"unknown limit mode {self.limit_mode!r}; use one of {', '.join(LIMIT_MODES)}")
        if self.shot_pool not in SHOT_POOLS:
            raise EmmaError(f"unknown shot pool {self.shot_pool!r}; use one of {', '.join(SHOT_POOLS)}")


class Languages(Protocol):
    """The languages `data_dir` holds, as `xxx_Scrp` keys (None: open, taken from `--langs`)."""

    def __call__(self, data_dir: DataDir, /) -> list[str] | None: ...


class Run(Protocol):
    """Run one language (or result key, e.g. an MT pair) and score it."""

    def __call__(self, backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, /, progress: Progress = None) -> Result: ...


class Select(Protocol):
    """The result keys `--langs` asks for, given the available languages and the resource groups."""

    def __call__(self, data_dir: DataDir, langs: str | None, available: list[str] | None, groups: dict[str, str], /) -> list[str]: ...


class GroupKey(Protocol):
    """The language a result key counts for in the resource-group tables (`fra_Latn-eng_Latn` -> `fra_Latn`)."""

    def __call__(self, key: str, /) -> str: ...


@dataclass(frozen=True)
class Task:
    name: str
    metrics: list[str]
    languages: Languages
    run: Run
    select: Select | None = None
    group_key: GroupKey | None = None
    description: str = ""


# --- shared by tasks ----------------------------------------------------------------------------


def upstream_codes(codes: Iterable[str]) -> dict[str, str]:
    """{xxx_Scrp: upstream code} for a benchmark's own language codes (`et`, `zh`, `swh_Latn`)."""
    from emma.languages import normalize

    return {normalize(c): c for c in codes}


def row_id(row: dict, index: int, *keys: str) -> Any:
    """An item's stable id: the first of the dataset's own id fields (`keys`) the row has, else its
    row index in the full split (never its position in a `--limit` sample)."""
    return next((row[k] for k in keys if row.get(k) not in (None, "")), index)


def sample_items(
    rows: Sequence[R], limit: int | None, seed: int, label: str | Callable[[R], Hashable] | None = None, *, mode: str = "sample"
) -> list[tuple[int, R]]:
    """The items a run scores, as (row index in the full split, row), in the split's order.

    `limit` None or >= len(rows): every row. `mode="first"`: the first `limit` rows (lm-eval's
    --limit). `mode="sample"` (default): `limit` rows drawn with `seed`, spread over the whole split
    (a split sorted by label, as SIB-200's test is, is not read from its top); with `label` (a key of
    the row dicts, or a function of a row) the sample is stratified: each label gets its share of
    `limit` in proportion to its count (largest remainder; ties to the larger label, then the label's
    name), the rows within a label drawn at random. The choice depends on the rows and `seed` alone,
    never on the model, so every model (and a rerun) scores the same ids and comparisons stay paired.
    """
    n = len(rows)
    if limit is None or limit >= n:
        return list(enumerate(rows))
    if mode not in LIMIT_MODES:
        raise EmmaError(f"unknown limit mode {mode!r}; use one of {', '.join(LIMIT_MODES)}")
    limit = max(0, limit)
    if mode == "first":
        return list(enumerate(rows[:limit]))
    rnd = random.Random(f"emma-limit-sample:{seed}")  # its own stream: not correlated with the shot sampler's Random(seed)
    if label is None:
        chosen = rnd.sample(range(n), limit)
    else:
        key: Callable[[Any], Hashable] = label if callable(label) else operator.itemgetter(label)
        groups: dict[Hashable, list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(key(row), []).append(i)
        names = sorted(groups, key=str)  # a fixed order, whatever the order of the rows
        quota = {g: limit * len(groups[g]) // n for g in names}
        by_remainder = sorted(names, key=lambda g: (-(limit * len(groups[g]) % n), -len(groups[g]), str(g)))
        for g in by_remainder[: limit - sum(quota.values())]:
            quota[g] += 1
        chosen = [i for g in names for i in rnd.sample(groups[g], quota[g])]
    return [(i, rows[i]) for i in sorted(chosen)]


def first_n_shots(rows: Sequence[R], index: int, shots: int) -> list[R]:
    """lm-eval's `first_n` sampler over the evaluated split: the first k rows other than the item."""
    return [r for j, r in enumerate(rows[: shots + 1]) if j != index][:shots]


def sample_shots(pool: Sequence[R], shots: int, rnd: random.Random, exclude: R | None = None) -> list[R]:
    """lm-eval's default sampler: k random rows of the few-shot split, drawn from one seeded RNG in
    item order (k+1 drawn, the item itself dropped, when the few-shot split is the evaluated one)."""
    if shots <= 0 or not pool:
        return []
    drawn = rnd.sample(pool, min(len(pool), shots + (exclude is not None)))
    return [r for r in drawn if r is not exclude][:shots]


def fewshot_context(shots: list[tuple[str, str]], text: str, *, delimiter: str = " ", separator: str = "\n\n") -> str:
    """lm-eval's layout: each shot as `<text><delimiter><answer>`, joined by blank lines, then the item."""
    return "".join(f"{q}{delimiter}{a}{separator}" for q, a in shots) + text


def mean(values: Iterable[float | None]) -> float:
    """The mean of the values that are numbers: None and NaN are skipped; nan when none is left."""
    kept = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(kept) / len(kept) if kept else float("nan")


def mean_scores(samples: list[dict], metrics: list[str]) -> dict:
    """A language's scores from its per-sample records: each metric's mean over the items, and `n`."""
    return {**{m: mean(s.get(m) for s in samples) for m in metrics}, "n": len(samples)}


__all__ = [
    "Backend",
    "DataDir",
    "GroupKey",
    "Languages",
    "Progress",
    "Result",
    "Run",
    "Select",
    "LIMIT_MODES",
    "SHOT_POOLS",
    "Task",
    "TaskOptions",
    "fewshot_context",
    "first_n_shots",
    "mean",
    "mean_scores",
    "row_id",
    "sample_items",
    "sample_shots",
    "upstream_codes",
]


def with_total(result: tuple[list[dict], dict], total: int) -> tuple[list[dict], dict]:
    """A task's (samples, scores) with `n_total`, how many items the language has: the harness
    marks a run that scored fewer as partial."""
    samples, scores = result
    return samples, {**scores, "n_total": total}
