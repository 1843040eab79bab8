"""The task contract, written once: what a task is (`Task`, its callables typed by protocols), the
options that change its outputs, and what every task shares (few-shot sampling, the NaN-safe mean
of per-item scores), so a task module, emma's or a user's, holds only its data, prompt and metric.

A task answers four questions: its metrics; which languages it has (`languages(data_dir)`, as
`xxx_Scrp` keys, or None when any code may be tried on the hub); how to run one language
(`run(backend, data_dir, lang, opts, progress=...)` -> per-sample records and the language's scores);
and, optionally, how to read `--langs` (`select`, e.g. MT pairs) and which language a result key
counts for in the resource-group tables (`group_key`). Tasks join the registry (`emma.eval.registry`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from emma.eval.backend import Backend, Progress

DataDir = str | Path | None
"""`--data-dir`: local files in the benchmark's upstream layout, or None for the Hugging Face hub."""

Result = tuple[list[dict], dict]
"""A language's run: per-sample records (one JSONL line each) and its scores (numbers, plus `n`
and any other information recorded beside them)."""


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


def first_n_shots(rows: list[dict], index: int, shots: int) -> list[dict]:
    """lm-eval's `first_n` sampler over the evaluated split: the first k rows other than the item."""
    return [r for j, r in enumerate(rows[: shots + 1]) if j != index][:shots]


R = TypeVar("R")


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
    "Task",
    "TaskOptions",
    "fewshot_context",
    "first_n_shots",
    "mean",
    "mean_scores",
    "sample_shots",
    "upstream_codes",
]
