"""Summarisation with multilingual ROUGE-L: XL-Sum (Hasan et al., 2021; 45 languages, BBC) and
MassiveSumm (Varab & Schluter, 2021; your local copy).

Prompt: "Document: <text>\\nSummary:" (documents cut to 400 words by emma.text's rule, so k-shot prompts
fit small models' windows); generation stops at the end of the line. ROUGE-L F1 is the
`rouge-score` package's, with a Unicode tokenizer in place of its English-only one (which drops
every non-ASCII letter): text splits at spaces, punctuation and symbols, lower-cased, and scripts
written without spaces (Han, Kana, Thai, Lao, Khmer, Myanmar, Tibetan) split into characters.

Shots: drawn with `--seed` (one RNG in item order) from XL-Sum's train split; MassiveSumm has no
other split, so from its items, the item itself left out. Each item records its shots' ids. An
item's id is the dataset's `id`, else its row index; `--limit` takes a seeded sample.

Local layouts: XL-Sum as released, `<data_dir>/<language name>_{test,train}.jsonl` (`english_test.jsonl`,
`chinese_simplified_test.jsonl`) with `text` and `summary`; MassiveSumm `<data_dir>/<code>.jsonl`
(or `<code>.all.jsonl`, any code form) with `text` and `summary`. Hub: `csebuetnlp/xlsum`.
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows, require
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, mean_scores, row_id, sample_items, sample_shots
from emma.io import read_jsonl
from emma.text import clip_words, words

METRICS = ["rougeL"]
MAX_DOC_WORDS = 400
XLSUM = {
    "amharic": "amh_Ethi",
    "arabic": "arb_Arab",
    "azerbaijani": "azj_Latn",
    "bengali": "ben_Beng",
    "burmese": "mya_Mymr",
    "chinese_simplified": "zho_Hans",
    "chinese_traditional": "zho_Hant",
    "english": "eng_Latn",
    "french": "fra_Latn",
    "gujarati": "guj_Gujr",
    "hausa": "hau_Latn",
    "hindi": "hin_Deva",
    "igbo": "ibo_Latn",
    "indonesian": "ind_Latn",
    "japanese": "jpn_Jpan",
    "kirundi": "run_Latn",
    "korean": "kor_Hang",
    "kyrgyz": "kir_Cyrl",
    "marathi": "mar_Deva",
    "nepali": "npi_Deva",
    "oromo": "gaz_Latn",
    "pashto": "pbt_Arab",
    "persian": "pes_Arab",
    "pidgin": "pcm_Latn",
    "portuguese": "por_Latn",
    "punjabi": "pan_Guru",
    "russian": "rus_Cyrl",
    "scottish_gaelic": "gla_Latn",
    "serbian_cyrillic": "srp_Cyrl",
    "serbian_latin": "srp_Latn",
    "sinhala": "sin_Sinh",
    "somali": "som_Latn",
    "spanish": "spa_Latn",
    "swahili": "swh_Latn",
    "tamil": "tam_Taml",
    "telugu": "tel_Telu",
    "thai": "tha_Thai",
    "tigrinya": "tir_Ethi",
    "turkish": "tur_Latn",
    "ukrainian": "ukr_Cyrl",
    "urdu": "urd_Arab",
    "uzbek": "uzn_Latn",
    "vietnamese": "vie_Latn",
    "welsh": "cym_Latn",
    "yoruba": "yor_Latn",
}
_BY_CODE = {v: k for k, v in XLSUM.items()}


class UnicodeTokenizer:
    """Tokenizer for rouge_score (its own keeps only [a-z0-9]): emma's one word rule."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())


def rouge_l(prediction: str, reference: str) -> float:
    return _scorer().score(reference, prediction)["rougeL"].fmeasure


def _xlsum_languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return sorted(_BY_CODE)
    return sorted(code for code, name in _BY_CODE.items() if (Path(data_dir) / f"{name}_test.jsonl").is_file())


def _xlsum_rows(data_dir, lang: str, split: str) -> list[dict]:
    name = _BY_CODE[lang]
    if data_dir is None:
        return hub_rows("csebuetnlp/xlsum", name, split, "xlsum")
    return read_jsonl(require(Path(data_dir) / f"{name}_{split}.jsonl", "xlsum", f"<language>_{split}.jsonl (the XL-Sum layout)"), "xlsum")


def _massive_files(data_dir) -> dict[str, Path]:
    from emma.languages import normalize

    if data_dir is None:
        raise EmmaError("massivesumm is not on the Hugging Face hub; give --data-dir with <code>.jsonl files")
    out = {}
    for path in sorted(Path(data_dir).glob("*.jsonl")):
        stem = path.name.removesuffix(".jsonl").removesuffix(".all")
        try:
            out[normalize(stem)] = path
        except EmmaError as exc:
            raise EmmaError(f"massivesumm: file {path.name}: {exc}") from None
    return out


def _massive_rows(data_dir, lang: str, split: str) -> list[dict]:
    return read_jsonl(_massive_files(data_dir)[lang], "massivesumm") if split == "test" else []


def _clip(text: str, n_words: int = MAX_DOC_WORDS) -> str:
    """The first `n_words` words (emma.text's rule: a character in scripts written without spaces),
    white space collapsed so the document stays on the prompt's one line."""
    return " ".join(clip_words(text, n_words).split())


def _prompt(doc: str) -> str:
    return f"Document: {_clip(doc)}\nSummary:"


def _run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None, *, name: str, rows_of) -> Result:
    rows = rows_of(data_dir, lang, "test")
    for n, r in enumerate(rows, 1):
        if not isinstance(r.get("text"), str) or not isinstance(r.get("summary"), str) or not r["text"].strip():
            raise EmmaError(f"{name}: {lang} item {n} needs non-empty `text` and `summary` strings")
    train = rows_of(data_dir, lang, "train") if opts.shots else []
    pool, pool_split = (train, "train") if train else (rows, "test")
    indexed = list(enumerate(pool))
    rnd = random.Random(opts.seed)
    requests, items = [], []
    for i, row in sample_items(rows, opts.limit, opts.seed, mode=opts.limit_mode):
        # from the evaluated split: k+1 drawn, the item dropped if drawn (lm-eval's rule)
        shots = sample_shots(indexed, opts.shots, rnd, exclude=indexed[i] if pool is rows else None)
        context = "".join(f"{_prompt(s['text'])} {s['summary'].strip()}\n\n" for _, s in shots) + _prompt(row["text"])
        items.append(
            {
                "id": row_id(row, i, "id"),
                "context": context,
                "reference": row["summary"],
                "shots": [row_id(s, j, "id") for j, s in shots],
                **({"shot_split": pool_split} if shots else {}),
            }
        )
        requests.append(GenRequest(context, max_new_tokens=opts.max_new_tokens or 128, until=("\n",)))
    outputs = [o.strip() for o in backend.generate(requests, progress=progress)]
    samples = [{**it, "prediction": out, "rougeL": rouge_l(out, it["reference"])} for it, out in zip(items, outputs)]
    return samples, mean_scores(samples, METRICS) | {"n_total": len(rows)}


def xlsum_run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    return _run(backend, data_dir, lang, opts, progress, name="xlsum", rows_of=_xlsum_rows)


def massivesumm_run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    return _run(backend, data_dir, lang, opts, progress, name="massivesumm", rows_of=_massive_rows)


TASKS = [
    Task("xlsum", METRICS, _xlsum_languages, xlsum_run, description="XL-Sum summarisation (45 languages), multilingual ROUGE-L"),
    Task(
        "massivesumm",
        METRICS,
        lambda d: sorted(_massive_files(d)),
        massivesumm_run,
        description="MassiveSumm summarisation (local files), multilingual ROUGE-L",
    ),
]
