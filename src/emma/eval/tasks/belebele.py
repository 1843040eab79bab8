"""Belebele (Bandarkar et al., 2024): reading comprehension over FLORES passages, 122 varieties,
four answers. Prompt as lm-eval's `belebele_<xxx_Scrp>`: "P: …\\nQ: …\\nA: …\\nB: …\\nC: …\\nD: …\\nAnswer:"
with choices " A".." D"; shots are the first k items (lm-eval's first_n).

Local layout (as the Belebele release): `<data_dir>/<xxx_Scrp>.jsonl` with `flores_passage,
question, mc_answer1..4, correct_answer_num`. Hub: `facebook/belebele`.
"""

from __future__ import annotations

from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, fewshot_context, first_n_shots
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


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    rows = load(data_dir, lang)
    items = []
    for i, row in enumerate(rows[: opts.limit]):
        shots = first_n_shots(rows, i, opts.shots)
        ctx = fewshot_context([(doc_text(s), CHOICES[int(s["correct_answer_num"]) - 1]) for s in shots], doc_text(row))
        items.append(
            {
                "id": f"{row.get('link', '')}#{row.get('question_number', i)}",
                "context": ctx,
                "choices": CHOICES,
                "target": int(row["correct_answer_num"]) - 1,
            }
        )
    return score(backend, items, opts, progress)


TASKS = [Task("belebele", METRICS, languages, run, description="Belebele reading comprehension (122 varieties), lm-eval's prompt")]
