"""Topic classification: SIB-200 (Adelani et al., 2024; 7 topics over FLORES-200 sentences, 205
varieties) and Taxi-1500 (Ma et al., 2023; 6 topics over Bible verses, 1,500+ languages).

Prompt and few-shot choice follow lm-evaluation-harness's SIB-200 style: the context is the first k
test items (skipping the item itself) written as "<prompt> <label>" and joined by blank lines, then
the item's prompt; every label is scored by the log-likelihood of its full continuation " <label>".
`acc` takes the best total, `acc_norm` the best total per character of the label. `--first-token`
scores only each label's first token, as EMMA-500's own script did, to reproduce its numbers.

Local layout (as the hub dataset `Davlan/sib200`; Taxi-1500 uses the same):
`<data_dir>/<xxx_Scrp>/{train,dev,test}.tsv` with header `index_id	category	text`.
Taxi-1500 is not on the hub (Bible licences): it needs --data-dir.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, first_n_shots
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


def build_requests(rows: list[dict], shots: int, labels=SIB200_LABELS) -> list[dict]:
    """One entry per item: its context (k-shot, lm-eval's first_n from the same split) and target."""
    items = []
    for i, row in enumerate(rows):
        pool = first_n_shots(rows, i, shots)
        context = "".join(f"{prompt(r['text'], labels)} {r['category']}\n\n" for r in pool) + prompt(row["text"], labels)
        items.append(
            {
                "id": row["index_id"],
                "context": context,
                "choices": labels,
                "target": labels.index(row["category"]),
                "shots": [r["index_id"] for r in pool],
            }
        )
    return items


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
    items = build_requests(rows, opts.shots, labels)[: opts.limit]
    return score(backend, items, opts, progress)


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
