"""XNLI (Conneau et al., 2018): natural language inference, 15 languages. Prompt as lm-eval's
`xnli_<xx>` (after XGLM): three full sentences "<premise>, <right?> <Yes|Also|No>, <hypothesis>"
in the item's language, each scored from an empty context; the likeliest is the label.

Local layout (as the XNLI-1.0 release): `<data_dir>/xnli.test.tsv` (and `xnli.dev.tsv` for shots),
one file for all languages, columns `language, gold_label, sentence1, sentence2`. Hub: `facebook/xnli`.
Shots are drawn (seeded) from dev; `--limit` samples stratified by label; an item's id is its row index
among the language's test rows.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, sample_items, upstream_codes, with_total
from emma.eval.tasks._mc import METRICS, items_with_shots, score
from emma.io import read_tsv

# lm-eval's words per language: (question word, entailment, neutral, contradiction).
WORDS = {
    "ar": ("صحيح", "نعم", "لذا", "رقم"),
    "bg": ("правилно", "да", "така", "не"),
    "de": ("richtig", "Ja", "Auch", "Nein"),
    "el": ("σωστός", "Ναί", "Έτσι", "όχι"),
    "en": ("right", "Yes", "Also", "No"),
    "es": ("correcto", "Sí", "Asi que", "No"),
    "fr": ("correct", "Oui", "Aussi", "Non"),
    "hi": ("सही", "हाँ", "इसलिए", "नहीं"),
    "ru": ("правильно", "Да", "Так", "Нет"),
    "sw": ("sahihi", "Ndiyo", "Hivyo", "Hapana"),
    "th": ("ถูกต้อง", "ใช่", "ดังนั้น", "ไม่"),
    "tr": ("doğru", "Evet", "Böylece", "Hayır"),
    "ur": ("صحیح", "جی ہاں", "اس لئے", "نہیں"),
    "vi": ("đúng", "Vâng", "Vì vậy", "Không"),
    "zh": ("正确", "是的", "所以", "不是的"),
}
CODES = upstream_codes(WORDS)
LABELS = ["entailment", "neutral", "contradiction"]


def languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return sorted(CODES)
    path = Path(data_dir) / "xnli.test.tsv"
    present = {r["language"] for r in _read(path)} if path.is_file() else set()
    return sorted(k for k, xx in CODES.items() if xx in present)


@lru_cache(maxsize=4)
def _read(path: Path) -> tuple[dict, ...]:
    rows = read_tsv(path, "xnli", required=("language", "gold_label", "sentence1", "sentence2"))
    for n, r in enumerate(rows, 2):
        if r["gold_label"] not in LABELS:
            raise EmmaError(f"xnli: {path}:{n}: gold_label must be one of {LABELS}")
    return tuple(rows)


def load(data_dir, xx: str, split: str) -> list[dict]:
    if data_dir is None:
        return [
            {"premise": r["premise"], "hypothesis": r["hypothesis"], "label": int(r["label"])}
            for r in hub_rows("facebook/xnli", xx, {"dev": "validation"}.get(split, split), "xnli")
        ]
    path = require(Path(data_dir) / f"xnli.{split}.tsv", "xnli", f"xnli.{split}.tsv (the XNLI-1.0 layout)")
    return [
        {"premise": r["sentence1"], "hypothesis": r["sentence2"], "label": LABELS.index(r["gold_label"])} for r in _read(path) if r["language"] == xx
    ]


def sentences(row: dict, xx: str) -> list[str]:
    q, *answers = WORDS[xx]
    return [f"{row['premise']}, {q}? {a}, {row['hypothesis']}" for a in answers]


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    xx = CODES[lang]
    rows = load(data_dir, xx, "test")
    chosen = sample_items(rows, opts.limit, opts.seed, "label", mode=opts.limit_mode)
    pool = load(data_dir, xx, "dev") if opts.shots else []
    # No context of its own: each choice is a whole sentence, and a shot is its right sentence.
    # XNLI has no ids: an item's id is its row index among the language's test rows.
    items = items_with_shots(chosen, pool, opts, lambda i, r: (i, "", sentences(r, xx), r["label"]), pool_split="dev")
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [Task("xnli", METRICS, languages, run, description="XNLI inference (15 languages), lm-eval's prompt")]
