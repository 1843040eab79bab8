"""Belebele (Bandarkar et al., 2024): reading comprehension over FLORES passages, 122 varieties,
four answers. Prompt as lm-eval's `belebele_<xxx_Scrp>`: "P: …\\nQ: …\\nA: …\\nB: …\\nC: …\\nD: …\\nAnswer:"
with choices " A".." D".

Belebele has one split (test), so shots come from the evaluated items themselves:
`--shot-pool train` (default): k items drawn with `--seed` per item (one RNG in item order), never
the item itself nor another question on its passage; `--shot-pool lm-eval`: lm-eval's `first_n`,
the first k items other than the item, the same for every item. Each item records its shots' ids.
An item's id is `<link>#<question_number>`; `--limit` samples are stratified by the right answer.

Local layout (as the Belebele release): `<data_dir>/<xxx_Scrp>.jsonl` with `flores_passage,
question, mc_answer1..4, correct_answer_num`. Hub: `facebook/belebele`.
"""

from __future__ import annotations

import random
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import (
    Backend,
    DataDir,
    Progress,
    Result,
    Task,
    TaskOptions,
    fewshot_context,
    first_n_shots,
    sample_items,
    sample_shots,
    with_total,
)
from emma.eval.tasks._mc import METRICS, score
from emma.io import read_jsonl

CHOICES = ["A", "B", "C", "D"]
_FIELDS = ("flores_passage", "question", "mc_answer1", "mc_answer2", "mc_answer3", "mc_answer4", "correct_answer_num")


def languages(data_dir: DataDir) -> list[str] | None:
    if data_dir is None:
        return None  # the hub has 122 varieties: any --langs code is tried there
    return sorted(p.stem for p in Path(data_dir).glob("*_*.jsonl"))


def load(data_dir, lang: str) -> list[dict]:
    if data_dir is None:
        return hub_rows("facebook/belebele", lang, "test", "belebele")
    path = require(Path(data_dir) / f"{lang}.jsonl", "belebele", "<xxx_Scrp>.jsonl (the Belebele layout)")
    rows = read_jsonl(path, "belebele")
    for n, r in enumerate(rows, 1):
        if any(k not in r for k in _FIELDS) or str(r["correct_answer_num"]) not in ("1", "2", "3", "4"):
            raise EmmaError(f"belebele: {path} row {n} needs {', '.join(_FIELDS)} (answer 1-4)")
    return rows


def doc_text(r: dict) -> str:
    return (
        f"P: {r['flores_passage']}\nQ: {r['question'].strip()}\nA: {r['mc_answer1']}\nB: {r['mc_answer2']}\n"
        f"C: {r['mc_answer3']}\nD: {r['mc_answer4']}\nAnswer:"
    )


def item_id(row: dict, index: int) -> str:
    return f"{row.get('link', '')}#{row.get('question_number', index)}"


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    rows = load(data_dir, lang)
    ids = [item_id(r, i) for i, r in enumerate(rows)]
    rnd = random.Random(opts.seed)
    items = []
    for i, row in sample_items(rows, opts.limit, opts.seed, lambda r: str(r["correct_answer_num"]), mode=opts.limit_mode):
        if opts.shot_pool == "lm-eval":
            shots = first_n_shots(range(len(rows)), i, opts.shots)
        else:
            others = [j for j, r in enumerate(rows) if r["flores_passage"] != row["flores_passage"]]
            shots = sample_shots(others, opts.shots, rnd)
        ctx = fewshot_context([(doc_text(rows[j]), CHOICES[int(rows[j]["correct_answer_num"]) - 1]) for j in shots], doc_text(row))
        items.append(
            {
                "id": ids[i],
                "context": ctx,
                "choices": CHOICES,
                "target": int(row["correct_answer_num"]) - 1,
                "shots": [ids[j] for j in shots],
                **({"shot_split": "test"} if shots else {}),
            }
        )
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [Task("belebele", METRICS, languages, run, description="Belebele reading comprehension (122 varieties), lm-eval's prompt")]
