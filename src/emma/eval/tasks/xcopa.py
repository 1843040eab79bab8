"""XCOPA (Ponti et al., 2020): causal commonsense, 11 languages, choose the more plausible cause
or effect. Prompt as lm-eval's `xcopa_<xx>`: the premise without its final period, the language's
connector ("because"/"therefore"), then each choice with its first letter lower-cased.

Local layout (as github.com/cambridgeltl/xcopa `data/`): `<data_dir>/<xx>/{test,val}.<xx>.jsonl`
with `premise, choice1, choice2, question, label` (and `idx`, the item's id); shots come from `val`
(seeded, as lm-eval's), `--limit` samples stratified by label. Hub: `cambridgeltl/xcopa`.
"""

from __future__ import annotations

from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, row_id, sample_items, upstream_codes, with_total
from emma.eval.tasks._mc import METRICS, items_with_shots, score
from emma.io import read_jsonl

# The connector words lm-eval uses for each language: (cause, effect).
CONNECTORS = {
    "et": ("sest", "seetõttu"),
    "ht": ("poukisa", "donk sa"),
    "id": ("karena", "maka"),
    "it": ("perché", "quindi"),
    "qu": ("imataq", "chaymi"),
    "sw": ("kwa sababu", "kwa hiyo"),
    "ta": ("காரணமாக", "எனவே"),
    "th": ("เพราะ", "ดังนั้น"),
    "tr": ("çünkü", "bu yüzden"),
    "vi": ("bởi vì", "vì vậy"),
    "zh": ("因为", "所以"),
}
CODES = upstream_codes(CONNECTORS)


def languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return sorted(CODES)
    return sorted(k for k, xx in CODES.items() if (Path(data_dir) / xx / f"test.{xx}.jsonl").is_file())


def load(data_dir, xx: str, split: str) -> list[dict]:
    if data_dir is None:
        return hub_rows("cambridgeltl/xcopa", xx, {"val": "validation"}.get(split, split), "xcopa")
    path = require(Path(data_dir) / xx / f"{split}.{xx}.jsonl", "xcopa", f"<xx>/{split}.<xx>.jsonl (the cambridgeltl/xcopa layout)")
    rows = read_jsonl(path, "xcopa")
    for n, r in enumerate(rows, 1):
        if (
            not all(r.get(k) for k in ("premise", "choice1", "choice2"))
            or r.get("question") not in ("cause", "effect")
            or str(r.get("label")) not in ("0", "1")
        ):
            raise EmmaError(f"xcopa: {path} row {n} needs premise, choice1, choice2, question (cause|effect), label (0|1)")
    return rows


def doc_text(row: dict, xx: str) -> str:
    cause, effect = CONNECTORS[xx]
    return row["premise"].strip()[:-1] + " " + (cause if row["question"] == "cause" else effect)


def doc_choices(row: dict) -> list[str]:
    return [c[0].lower() + c[1:] for c in (row["choice1"], row["choice2"])]


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    xx = CODES[lang]
    rows = load(data_dir, xx, "test")
    chosen = sample_items(rows, opts.limit, opts.seed, lambda r: str(r["label"]), mode=opts.limit_mode)
    pool = load(data_dir, xx, "val") if opts.shots else []
    items = items_with_shots(
        chosen, pool, opts, lambda i, r: (row_id(r, i, "idx"), doc_text(r, xx), doc_choices(r), int(r["label"])), pool_split="val"
    )
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [Task("xcopa", METRICS, languages, run, description="XCOPA causal commonsense (11 languages), lm-eval's prompt")]
