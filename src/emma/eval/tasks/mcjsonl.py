"""`mc`: multiple choice on your own data, scored like every other multiple-choice task.

Layout: `<data_dir>/<code>.jsonl` (any code form: `sw`, `swh`, `swh_Latn`), one item a line:
`{"question" or "context": str, "choices": [str, ...], "answer": index or the right choice's text}`,
optional `"id"` (else an item's id is its 0-based line index). The context and each choice are
joined by a space. Shots come from `<code>.dev.jsonl` when present, else from the items themselves
(the item left out): drawn with `--seed` per item (`--shot-pool train`, the default), or the first k
(`--shot-pool lm-eval`, this task's first version). Each item records its shots' ids; `--limit`
samples are stratified by the right answer's position.
"""

from __future__ import annotations

import random
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import require
from emma.eval.task import (
    Backend,
    DataDir,
    Progress,
    Result,
    Task,
    TaskOptions,
    fewshot_context,
    first_n_shots,
    row_id,
    sample_items,
    sample_shots,
    with_total,
)
from emma.eval.tasks._mc import METRICS, score
from emma.io import read_jsonl


def _files(data_dir: DataDir) -> dict[str, Path]:
    from emma.languages import normalize

    if data_dir is None:
        raise EmmaError("mc needs --data-dir: a folder of <code>.jsonl files")
    root = Path(data_dir)
    if not root.is_dir():
        raise EmmaError(f"mc: --data-dir {root} is not a folder")
    out = {}
    for path in sorted(root.glob("*.jsonl")):
        if path.stem.endswith(".dev"):
            continue
        try:
            out[normalize(path.stem)] = path
        except EmmaError as exc:
            raise EmmaError(f"mc: file {path.name}: {exc}; name files by language code") from None
    return out


def languages(data_dir: DataDir) -> list[str]:
    return sorted(_files(data_dir))


def _items(path: Path) -> list[dict]:
    items = []
    for n, r in enumerate(read_jsonl(path, "mc"), 1):
        text, choices, answer = r.get("question", r.get("context")), r.get("choices"), r.get("answer")
        if isinstance(answer, str) and isinstance(choices, list) and answer in choices:
            answer = choices.index(answer)
        if (
            not isinstance(text, str)
            or not isinstance(choices, list)
            or len(choices) < 2
            or not all(isinstance(c, str) and c for c in choices)
            or not isinstance(answer, int)
            or not 0 <= answer < len(choices)
        ):
            raise EmmaError(f"mc: {path} line {n} needs question (or context), choices (2+ strings) and answer (index or choice text)")
        items.append({"id": row_id(r, n - 1, "id"), "text": text, "choices": choices, "target": answer})
    return items


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    path = _files(data_dir)[lang]
    rows = _items(require(path, "mc", "<code>.jsonl"))
    dev = path.with_name(path.stem + ".dev.jsonl")
    pool = _items(dev) if dev.is_file() else None
    rnd = random.Random(opts.seed)
    items = []
    for i, row in sample_items(rows, opts.limit, opts.seed, "target", mode=opts.limit_mode):
        if opts.shot_pool == "lm-eval":
            shots = pool[: opts.shots] if pool is not None else first_n_shots(rows, i, opts.shots)
        else:
            shots = sample_shots(pool, opts.shots, rnd) if pool is not None else sample_shots(rows, opts.shots, rnd, exclude=row)
        ctx = fewshot_context([(s["text"], s["choices"][s["target"]]) for s in shots], row["text"])
        items.append(
            {
                "id": row["id"],
                "context": ctx,
                "choices": row["choices"],
                "target": row["target"],
                "shots": [s["id"] for s in shots],
                **({"shot_split": "dev" if pool is not None else "test"} if shots else {}),
            }
        )
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [Task("mc", METRICS, languages, run, description="your own multiple-choice JSONL, one file per language")]
