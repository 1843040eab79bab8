"""MGSM (Shi et al., 2022): 250 grade-school math problems in 11 languages, answered by
generation; the number is extracted from the output. Two tasks, as lm-eval's:
- `mgsm_direct`: "<Question word> <q>\\n<Answer word>" and the answer right away;
- `mgsm_cot`: lm-eval's `mgsm_native_cot`: a step-by-step answer in the item's language.

Metrics: lm-eval's filters, then lm-eval's `exact_match` with its mgsm configs' settings
(`ignore_case`, `ignore_punctuation`; no `regexes_to_ignore`), reimplemented here (`exact_match`)
and tested against lm-eval's own function:
- `exact_match`: "flexible-extract": the last match of `(-?[$0-9.,]{2,})|(-?[0-9]+)`;
- `exact_match_strict`: direct: "remove_whitespace", the whole output with its ends stripped;
  CoT: "strict-match", the first number after the language's "The answer is".
Punctuation is removed *after* the ends are stripped and the inner spaces stay, so "$ 18",
". 18" and "18 ." do not match 18 (as in lm-eval); "18.", "$18" and "1,000" (for 1000) do.

Shots: hub (`juletxara/mgsm`): its `train` split, the 8 exemplars (with rationales for CoT), k drawn
per item with `--seed` (lm-eval's default sampler). `--data-dir` (google-research/url-nlp `mgsm/`:
`<data_dir>/mgsm_<xx>.tsv`, question TAB answer, no header) has only the test split, so direct shots
are other test items: drawn with `--seed`, the item left out (`--shot-pool train`, the default), or
the first k (`--shot-pool lm-eval`, emma's first version); CoT shots need the hub's rationales.
Each item records its shots' ids (row indices in their split) and the split. An item's id is its
row index; `--limit` takes a seeded sample.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterable
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.generation import GenRequest
from emma.eval.task import (
    Backend,
    DataDir,
    Progress,
    Result,
    Task,
    TaskOptions,
    first_n_shots,
    mean_scores,
    sample_items,
    sample_shots,
    upstream_codes,
)
from emma.io import read_tsv

# xx: (question word, direct answer word, step-by-step answer word, CoT answer regex), as lm-eval's.
WORDS = {
    "bn": ("প্রশ্ন:", "Answer:", "ধাপে ধাপে উত্তর:", r"The answer is (\-?[0-9\.\,]+)"),
    "de": ("Frage:", "Antwort:", "Schritt-für-Schritt-Antwort:", r"Die Antwort lautet (\-?[0-9\.\,]+)"),
    "en": ("Question:", "Answer:", "Step-by-Step Answer:", r"The answer is (\-?[0-9\.\,]+)"),
    "es": ("Pregunta:", "Respuesta:", "Respuesta paso a paso:", r"La respuesta es (\-?[0-9\.\,]+)"),
    "fr": ("Question :", "Réponse :", "Réponse étape par étape :", r"La réponse est (\-?[0-9\.\,]+)"),
    "ja": ("問題：", "Answer:", "ステップごとの答え:", r"答えは(\-?[0-9\.\,]+)です。"),
    "ru": ("Задача:", "Answer:", "Пошаговоерешение:", r"Ответ — (\-?[0-9\.\,]+)"),
    "sw": ("Swali:", "Answer:", "Jibu la Hatua kwa Hatua:", r"Jibu ni (\-?[0-9\.\,]+)"),
    "te": ("ప్రశ్న:", "Answer:", "దశలవారీగా సమాధానం:", r"సమాధానం (\-?[0-9\.\,]+)"),
    "th": ("โจทย์:", "Answer:", "คำตอบทีละขั้นตอน:", r"คำตอบคือ (\-?[0-9\.\,]+)"),
    "zh": ("问题：", "Answer:", "逐步解答:", r"答案是 (\-?[0-9\.\,]+)。"),
}
CODES = upstream_codes(WORDS)
METRICS = ["exact_match", "exact_match_strict"]
FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
_PUNCT = str.maketrans("", "", string.punctuation)


def languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return sorted(CODES)
    return sorted(k for k, xx in CODES.items() if (Path(data_dir) / f"mgsm_{xx}.tsv").is_file())


def load(data_dir, xx: str) -> list[dict]:
    if data_dir is None:
        return [{"question": r["question"], "answer": str(r["answer_number"])} for r in hub_rows("juletxara/mgsm", xx, "test", "mgsm")]
    path = require(Path(data_dir) / f"mgsm_{xx}.tsv", "mgsm", "mgsm_<xx>.tsv (the google-research/url-nlp layout)")
    return [
        {"question": r["question"], "answer": r["answer"].strip()}
        for r in read_tsv(path, "mgsm", fieldnames=["question", "answer"], required=("question", "answer"))
    ]


def regex_extract(text: str, pattern: str | re.Pattern, group_select: int = 0, fallback: str = "[invalid]") -> str:
    """lm-eval's `regex` filter: match `group_select` of all matches (0 the first, -1 the last); of a
    match with several groups, the first non-empty one; stripped; `fallback` when nothing matches."""
    matches = re.findall(pattern, text if isinstance(text, str) else "")
    if not matches:
        return fallback
    match = matches[group_select]
    if isinstance(match, tuple):
        match = next((m for m in match if m), fallback)
    return match.strip()


def flexible_extract(text: str) -> str:
    """lm-eval's flexible-extract: the last number-like match."""
    return regex_extract(text, FLEXIBLE, group_select=-1)


def strict_extract(text: str, cot_regex: str | None = None) -> str:
    """lm-eval's strict filter: `remove_whitespace` (direct: the output, ends stripped) or, for CoT,
    `strict-match` (the first match of the language's "The answer is (number)")."""
    return text.strip() if cot_regex is None else regex_extract(text, cot_regex)


def exact_match(pred: str, gold: str, *, ignore_case: bool = False, ignore_punctuation: bool = False, regexes_to_ignore: Iterable[str] = ()) -> bool:
    """lm-eval's `exact_match` (after HF evaluate's) for one prediction: each regex in
    `regexes_to_ignore` removed, then lower-cased, then ASCII punctuation removed, then compared as
    is: nothing is stripped, so a space left inside ("$ 18" -> " 18") fails the match. Two quirks of
    its NumPy string arrays are kept, so the two agree on every string: trailing NULs do not count,
    and lower-casing never makes a string longer (NumPy's fixed width: "İ" lower-cases to two
    characters, the second one cut)."""

    def norm(x: str) -> str:
        for k, rx in enumerate(regexes_to_ignore):
            x = re.sub(rx, "", x.rstrip("\0") if k else x)  # after the first pass, x was read back from an array
        if ignore_case:
            x = x.lower()[: len(x)]
        if ignore_punctuation:
            x = x.translate(_PUNCT)
        return x.rstrip("\0")

    return norm(pred) == norm(gold)


def same_answer(pred: str, gold: str) -> bool:
    """The mgsm configs' metric: lm-eval's exact_match with ignore_case and ignore_punctuation."""
    return exact_match(pred, gold, ignore_case=True, ignore_punctuation=True)


def _exemplars(xx: str) -> list[dict]:
    """The hub's train split: lm-eval's few-shot split, 8 exemplars with rationales."""
    return hub_rows("juletxara/mgsm", xx, "train", "mgsm")


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None, *, cot: bool = False) -> Result:
    xx = CODES[lang]
    q_word, direct_word, cot_word, regex = WORDS[xx]
    answer_word = cot_word if cot else direct_word
    rows = load(data_dir, xx)
    if cot and opts.shots and data_dir is not None:
        raise EmmaError(
            "mgsm_cot with --shots needs exemplar rationales, which only the hub's juletxara/mgsm train split has; use --shots 0 with --data-dir"
        )
    # The shot pool, each shot rendered as its "<question>\n<answer word> <answer>\n\n" block.
    pool: list[str] = []
    pool_split = "train"
    if opts.shots and data_dir is None:
        for e in _exemplars(xx):  # their questions carry the question word already (lm-eval writes them as they are)
            answer = e["answer"][len(answer_word) + 1 :].strip() if cot else str(e["answer_number"])
            pool.append(f"{e['question']}\n{answer_word} {answer}\n\n")
    elif opts.shots:
        pool_split = "test"
        pool = [f"{q_word} {r['question']}\n{answer_word} {r['answer']}\n\n" for r in rows]
    indexed = list(enumerate(pool))
    rnd = random.Random(opts.seed)
    requests, items = [], []
    for i, row in sample_items(rows, opts.limit, opts.seed, mode=opts.limit_mode):
        if pool_split == "test" and opts.shot_pool == "lm-eval":
            shots = first_n_shots(indexed, i, opts.shots)
        else:
            shots = sample_shots(indexed, opts.shots, rnd, exclude=indexed[i] if pool_split == "test" else None)
        context = "".join(block for _, block in shots) + f"{q_word} {row['question']}\n{answer_word}"
        items.append(
            {"id": i, "context": context, "target": row["answer"], "shots": [j for j, _ in shots], **({"shot_split": pool_split} if shots else {})}
        )
        requests.append(GenRequest(context, max_new_tokens=opts.max_new_tokens or 256, until=(q_word, "</s>", "<|im_end|>")))
    outputs = backend.generate(requests, progress=progress)
    samples = []
    for it, out in zip(items, outputs):
        flexible = flexible_extract(out)
        strict = strict_extract(out, regex if cot else None)
        samples.append(
            {
                **it,
                "output": out,
                "extracted": flexible,
                "extracted_strict": strict,
                "exact_match": float(same_answer(flexible, it["target"])),
                "exact_match_strict": float(same_answer(strict, it["target"])),
            }
        )
    return samples, mean_scores(samples, METRICS) | {"n_total": len(rows)}


def _run_cot(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    return run(backend, data_dir, lang, opts, progress, cot=True)


TASKS = [
    Task("mgsm_direct", METRICS, languages, run, description="MGSM math, direct answer (11 languages), lm-eval's prompt"),
    Task("mgsm_cot", METRICS, languages, _run_cot, description="MGSM math, native chain-of-thought (lm-eval's mgsm_native_cot)"),
]
