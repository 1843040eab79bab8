"""Topic classification: SIB-200 (Adelani et al., 2024; 7 topics over FLORES-200 sentences, 205
varieties) and Taxi-1500 (Ma et al., 2023; 6 topics over Bible verses, 1,500+ languages).

The prompt follows lm-evaluation-harness's SIB-200 style: k shots written as "<prompt> <label>" and
joined by blank lines, then the item's prompt; every label is scored by the log-likelihood of its
full continuation " <label>". `acc` takes the best total, `acc_norm` the best total per character of
the label. `--first-token` scores only each label's first token, as EMMA-500's own script did.

Shots (`TaskOptions.shot_pool`, the CLI's `--shot-pool`):
- `train` (default): k shots per item drawn with `--seed` from the training split (as EMMA-500
  does; `dev` where a language has no `train.tsv`, the test split itself, the item left out, where it
  has neither), one RNG in item order (lm-eval's default sampler), a shot with the item's own
  `index_id` never shown;
- `lm-eval`: lm-eval's `first_n` over the test split: the first k test rows other than the item, the
  same for every item. The test file is sorted by topic, so these are k science/technology rows
  from the very set being scored: kept only for parity with lm-eval (benchmarks/bench_lm_eval.py).
Each item records its shots' `index_id`s (`shots`) and their split (`shot_split`).
`--limit N` takes a seeded sample stratified by topic (`--limit-mode first`: the first N rows,
which in this sorted file are one topic).

Local layout (as the hub dataset `Davlan/sib200`; Taxi-1500 uses the same):
`<data_dir>/<xxx_Scrp>/{train,dev,test}.tsv` with header `index_id	category	text`.
Taxi-1500 is not on the hub (Bible licences): it needs --data-dir.
"""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, first_n_shots, sample_items, sample_shots, with_total
from emma.eval.tasks._mc import METRICS, score
from emma.io import read_tsv

SIB200_LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]
TAXI1500_LABELS = ["Recommendation", "Faith", "Description", "Sin", "Grace", "Violence"]
LABELS = SIB200_LABELS  # kept for callers of the first version


def prompt(text: str, labels=SIB200_LABELS) -> str:
    return f"Topic Classification: {', '.join(labels)}.\n\nThe label of [{text.strip()}] is"


def available_languages(data_dir: DataDir, *, name: str = "sib200") -> list[str] | None:
    if data_dir is None:
        return None  # on the hub: any --langs code is tried there
    root = Path(data_dir)
    if not root.is_dir():
        raise EmmaError(f"{name}: --data-dir {root} is not a folder")
    return sorted(p.name for p in root.iterdir() if (p / "test.tsv").is_file())


def load_split(data_dir, lang: str, split: str, *, name: str = "sib200", labels=SIB200_LABELS, hub: str | None = "Davlan/sib200") -> list[dict]:
    if data_dir is None:
        if hub is None:
            raise EmmaError(f"{name} is not on the Hugging Face hub; give --data-dir with <xxx_Scrp>/{split}.tsv folders")
        rows = hub_rows(hub, lang, split, name)
    else:
        path = require(Path(data_dir) / lang / f"{split}.tsv", name, f"<xxx_Scrp>/{split}.tsv (the Davlan/sib200 layout)")
        rows = read_tsv(path, name, required=("index_id", "category", "text"))
    for i, r in enumerate(rows, 2):
        if r.get("category") not in labels:
            raise EmmaError(f"{name}: {lang}/{split}.tsv row {i}: category {r.get('category')!r} is not one of {labels}")
    return rows


def build_requests(
    rows: list[dict],
    shots: int,
    labels=SIB200_LABELS,
    *,
    chosen: list[tuple[int, dict]] | None = None,
    pool: list[dict] | None = None,
    pool_split: str = "train",
    seed: int = 1234,
) -> list[dict]:
    """One entry per item of `chosen` (default: every row): its context, target and shot ids.
    Shots: `pool` None: lm-eval's first_n from `rows` (the evaluated split); else k drawn from
    `pool` with `seed`, in item order, leaving out a pool row with the item's own `index_id`."""
    rnd = random.Random(seed)
    by_id = {r["index_id"]: r for r in pool or []}
    items = []
    for i, row in chosen if chosen is not None else enumerate(rows):
        shown = first_n_shots(rows, i, shots) if pool is None else sample_shots(pool, shots, rnd, exclude=by_id.get(row["index_id"]))
        context = "".join(f"{prompt(r['text'], labels)} {r['category']}\n\n" for r in shown) + prompt(row["text"], labels)
        items.append(
            {
                "id": row["index_id"],
                "context": context,
                "choices": labels,
                "target": labels.index(row["category"]),
                "shots": [r["index_id"] for r in shown],
                **({"shot_split": "test" if pool is None else pool_split} if shown else {}),
            }
        )
    return items


def shot_pool(data_dir: DataDir, lang: str, *, name: str, labels: list[str], hub: str | None) -> tuple[str, list[dict]] | None:
    """The split `--shot-pool train` draws from: train, else dev (local files); None: neither exists."""
    if data_dir is None:
        return "train", load_split(data_dir, lang, "train", name=name, labels=labels, hub=hub)
    for split in ("train", "dev"):
        if (Path(data_dir) / lang / f"{split}.tsv").is_file():
            return split, load_split(data_dir, lang, split, name=name, labels=labels, hub=hub)
    return None


def run(
    backend: Backend,
    data_dir: DataDir,
    lang: str,
    opts: TaskOptions,
    progress: Progress = None,
    *,
    name: str = "sib200",
    labels: list[str] = SIB200_LABELS,
    hub: str | None = "Davlan/sib200",
) -> Result:
    rows = load_split(data_dir, lang, "test", name=name, labels=labels, hub=hub)
    chosen = sample_items(rows, opts.limit, opts.seed, "category", mode=opts.limit_mode)
    pool, pool_split = None, "test"
    if opts.shots and opts.shot_pool == "train":
        found = shot_pool(data_dir, lang, name=name, labels=labels, hub=hub)
        pool_split, pool = found if found is not None else ("test", rows)
    items = build_requests(rows, opts.shots, labels, chosen=chosen, pool=pool, pool_split=pool_split, seed=opts.seed)
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [
    Task(
        "sib200",
        METRICS,
        partial(available_languages, name="sib200"),
        run,
        description="SIB-200 topic classification (205 varieties), k-shot, log-likelihood of each label",
    ),
    Task(
        "taxi1500",
        METRICS,
        partial(available_languages, name="taxi1500"),
        partial(run, name="taxi1500", labels=TAXI1500_LABELS, hub=None),
        description="Taxi-1500 topic classification (Bible verses), same layout as SIB-200; local data only",
    ),
]
