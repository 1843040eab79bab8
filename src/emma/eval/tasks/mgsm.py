"""MGSM (Shi et al., 2022): 250 grade-school math problems in 11 languages, answered by
generation; the number is extracted from the output. Two tasks, as lm-eval's:
- `mgsm_direct`: "<Question word> <q>\\n<Answer word>" and the answer right away;
- `mgsm_cot`: lm-eval's `mgsm_native_cot`: a step-by-step answer in the item's language.
Metrics (lm-eval's filters, then exact match ignoring case and punctuation):
`exact_match` takes the last number in the output ("flexible-extract"); `exact_match_strict`
takes the whole output (direct) or the number after "The answer is" in the language (CoT).

Local layout (as google-research/url-nlp `mgsm/`): `<data_dir>/mgsm_<xx>.tsv`, question TAB
answer, no header; shots are other test items (direct only: the TSV has no rationales).
Hub: `juletxara/mgsm` (its `train` split has the 8 exemplars with rationales, for CoT shots).
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, first_n_shots, mean_scores, upstream_codes
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


def flexible_extract(text: str) -> str:
    """lm-eval's flexible-extract: the last number-like match."""
    matches = FLEXIBLE.findall(text)
    if not matches:
        return "[invalid]"
    last = matches[-1]
    return (last[0] or last[1]).strip()


def same_answer(pred: str, gold: str) -> bool:
    """lm-eval's exact_match with ignore_case and ignore_punctuation."""
    return pred.lower().translate(_PUNCT).strip() == gold.lower().translate(_PUNCT).strip()


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None, *, cot: bool = False) -> Result:
    xx = CODES[lang]
    q_word, direct_word, cot_word, regex = WORDS[xx]
    answer_word = cot_word if cot else direct_word
    rows = load(data_dir, xx)
    if cot and opts.shots:
        if data_dir is not None:
            raise EmmaError(
                "mgsm_cot with --shots needs exemplar rationales, which only the hub's juletxara/mgsm train split has; use --shots 0 with --data-dir"
            )
        exemplars = hub_rows("juletxara/mgsm", xx, "train", "mgsm")[: opts.shots]
        prefix = "".join(f"{e['question']}\n{answer_word} {e['answer'][len(answer_word) + 1 :].strip()}\n\n" for e in exemplars)
    else:
        prefix = None
    requests, items = [], []
    for i, row in enumerate(rows[: opts.limit]):
        if prefix is None:
            shots = first_n_shots(rows, i, opts.shots)
            head = "".join(f"{q_word} {s['question']}\n{answer_word} {s['answer']}\n\n" for s in shots)
        else:
            head = prefix
        context = f"{head}{q_word} {row['question']}\n{answer_word}"
        items.append({"id": i, "context": context, "target": row["answer"]})
        requests.append(GenRequest(context, max_new_tokens=opts.max_new_tokens or 256, until=(q_word, "</s>", "<|im_end|>")))
    outputs = backend.generate(requests, progress=progress)
    samples = []
    for it, out in zip(items, outputs):
        flexible = flexible_extract(out)
        if cot:
            m = re.search(regex, out)
            strict = m.group(1) if m else "[invalid]"
        else:
            strict = out.strip()
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
    return samples, mean_scores(samples, METRICS)


def _run_cot(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    return run(backend, data_dir, lang, opts, progress, cot=True)


TASKS = [
    Task("mgsm_direct", METRICS, languages, run, description="MGSM math, direct answer (11 languages), lm-eval's prompt"),
    Task("mgsm_cot", METRICS, languages, _run_cot, description="MGSM math, native chain-of-thought (lm-eval's mgsm_native_cot)"),
]
