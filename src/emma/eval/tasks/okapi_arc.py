"""ARC, machine-translated into 31 languages by Okapi (Lai et al., 2023): grade-school science
questions, 4-5 answers. Prompt as lm-eval's `arc_<xx>` (okapi/arc_multilingual):
"Question: <q>\\nAnswer:" and each answer text as a choice.

Local layout (as Okapi's m_arc files): `<data_dir>/<xx>_test.json` (and `<xx>_train.json` for
shots, seeded, as lm-eval's), a JSON list (or JSON lines) with `instruction, option_a..option_e, answer`
and `id` (else an item's id is its row index).
Hub: `alexandrainst/m_arc`.
"""

from __future__ import annotations

import re
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, row_id, sample_items, upstream_codes, with_total
from emma.eval.tasks._mc import METRICS, items_with_shots, score
from emma.io import read_json_or_jsonl

CODES = upstream_codes("ar bn ca da de es eu fr gu hi hr hu hy id it kn ml mr ne nl pt ro ru sk sr sv ta te uk vi zh".split())
LETTERS = ["A", "B", "C", "D", "E"]


def languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return sorted(CODES)
    return sorted(k for k, xx in CODES.items() if (Path(data_dir) / f"{xx}_test.json").is_file())


def clean(text: str) -> str:
    """lm-eval's preprocessing of Okapi's text: drop [bracketed] markers and doubled spaces."""
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def load(data_dir, xx: str, split: str) -> list[dict]:
    if data_dir is None:
        rows = hub_rows("alexandrainst/m_arc", xx, split, "arc_multilingual")
    else:
        path = require(Path(data_dir) / f"{xx}_{split}.json", "arc_multilingual", f"<xx>_{split}.json (Okapi's m_arc layout)")
        rows = read_json_or_jsonl(path, "arc_multilingual")
    docs = []
    for n, r in enumerate(rows, 1):
        options = [clean(r[f"option_{x}"]) for x in "abcde" if r.get(f"option_{x}")]
        if not r.get("instruction") or r.get("answer") not in LETTERS[: len(options)]:
            raise EmmaError(f"arc_multilingual: {xx} {split} row {n} needs instruction, option_a.., answer (a letter)")
        docs.append(
            {
                "id": row_id(r, n - 1, "id"),
                "query": f"Question: {clean(r['instruction'])}\nAnswer:",
                "choices": options,
                "gold": LETTERS.index(r["answer"]),
            }
        )
    return docs


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    xx = CODES[lang]
    rows = load(data_dir, xx, "test")
    chosen = sample_items(rows, opts.limit, opts.seed, "gold", mode=opts.limit_mode)
    pool = load(data_dir, xx, "train") if opts.shots else []
    items = items_with_shots(chosen, pool, opts, lambda i, r: (r["id"], r["query"], r["choices"], r["gold"]), pool_split="train")
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [Task("arc_multilingual", METRICS, languages, run, description="ARC (Okapi translations, 31 languages), lm-eval's prompt")]
