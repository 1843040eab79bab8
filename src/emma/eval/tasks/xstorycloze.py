"""XStoryCloze (Lin et al., 2022): pick the right ending of a four-sentence story, 11 languages.
Prompt as lm-eval's `xstorycloze_<xx>`: the four sentences joined by spaces; each ending a choice.

Local layout (as the released XStoryCloze files): `<data_dir>/spring2016.val.<xx>.tsv.split_20_80_{eval,train}.tsv`
with the original columns (InputSentence1-4, RandomFifthSentenceQuiz1-2, AnswerRightEnding); shots
come from `train` (seeded, as lm-eval's); an item's id is its InputStoryid. Hub: `juletxara/xstory_cloze`.
"""

from __future__ import annotations

from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, row_id, sample_items, upstream_codes, with_total
from emma.eval.tasks._mc import METRICS, items_with_shots, score
from emma.io import read_tsv

CODES = upstream_codes(["ar", "en", "es", "eu", "hi", "id", "my", "ru", "sw", "te", "zh"])
_COLUMNS = {
    "InputStoryid": "story_id",
    "InputSentence1": "input_sentence_1",
    "InputSentence2": "input_sentence_2",
    "InputSentence3": "input_sentence_3",
    "InputSentence4": "input_sentence_4",
    "RandomFifthSentenceQuiz1": "sentence_quiz1",
    "RandomFifthSentenceQuiz2": "sentence_quiz2",
    "AnswerRightEnding": "answer_right_ending",
}


def _file(data_dir, xx: str, split: str) -> Path:
    return Path(data_dir) / f"spring2016.val.{xx}.tsv.split_20_80_{split}.tsv"


def languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return sorted(CODES)
    return sorted(k for k, xx in CODES.items() if _file(data_dir, xx, "eval").is_file())


def load(data_dir, xx: str, split: str) -> list[dict]:
    if data_dir is None:
        return hub_rows("juletxara/xstory_cloze", xx, split, "xstorycloze")
    path = require(_file(data_dir, xx, split), "xstorycloze", f"spring2016.val.<xx>.tsv.split_20_80_{split}.tsv")
    rows = [{_COLUMNS.get(k, k): v for k, v in r.items()} for r in read_tsv(path, "xstorycloze", required=tuple(_COLUMNS)[1:])]
    for n, r in enumerate(rows, 2):
        if r["answer_right_ending"] not in ("1", "2"):
            raise EmmaError(f"xstorycloze: {path}:{n}: AnswerRightEnding must be 1 or 2")
    return rows


def doc_text(row: dict) -> str:
    return " ".join(row[f"input_sentence_{i}"] for i in range(1, 5))


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    xx = CODES[lang]
    rows = load(data_dir, xx, "eval")
    chosen = sample_items(rows, opts.limit, opts.seed, "answer_right_ending", mode=opts.limit_mode)
    pool = load(data_dir, xx, "train") if opts.shots else []
    items = items_with_shots(
        chosen,
        pool,
        opts,
        lambda i, r: (row_id(r, i, "story_id"), doc_text(r), [r["sentence_quiz1"], r["sentence_quiz2"]], int(r["answer_right_ending"]) - 1),
        pool_split="train",
    )
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [Task("xstorycloze", METRICS, languages, run, description="XStoryCloze story endings (11 languages), lm-eval's prompt")]
