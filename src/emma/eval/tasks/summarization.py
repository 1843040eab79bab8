"""Summarisation: XL-Sum (Hasan et al., 2021; 45 languages, BBC) and MassiveSumm (Varab & Schluter,
2021): `massivesumm` (your local copy of the full set), `massivesumm_long` and `massivesumm_short`
(EMMA-500's subsets on the hub, `MaLA-LM/MassiveSumm_long` / `_short`, documents up to 7.5k tokens).

Two presets (`--preset`):
- default (emma's own; lm-eval has no such task): prompt "Document: <text>\\nSummary:", the document
  cut to 400 words by emma.text's rule and its white space collapsed, so k-shot prompts fit small
  models' windows; shots drawn with `--seed` (one RNG in item order) from XL-Sum's train split (the
  MassiveSumm sets have no other split: from their items, the item left out), each item recording its
  shots' ids; greedy decoding, 128 new tokens, stop at the end of the line, output stripped; metric
  `rougeL`: ROUGE-L F1 of the `rouge-score` package with a Unicode tokenizer in place of its
  English-only one (which drops every non-ASCII letter): text splits at spaces, punctuation and
  symbols, lower-cased, and scripts written without spaces (Han, Kana, Thai, Lao, Khmer, Myanmar,
  Tibetan) split into characters. Item mean.
- `emma500` (EMMA-500's eval_xlsum.py and evaluate.py): zero-shot; prompt "<document word>: <text>\\n
  <instruction>:" with eval_xlsum.py's pair for the language (`XLSUM_PROMPTS`, 45 languages), the text
  whole (not cut, not collapsed); sampling, temperature 0.6, top-p 0.9, 64 new tokens, no stop
  string, seeded with `--seed`; the output as generated. Scores over the outputs EMMA-500's filter keeps
  (not empty, not dots alone; `n_scored` says how many): `rougeL` = ROUGE-L F of the PyPI `rouge`
  package (`get_scores(avg=True, ignore_empty=True)["rouge-l"]["f"]`; sentences split at ".", words at
  spaces: not the default preset's number) and `bertscore_f1` = BERTScore F1 (`bert-score`,
  `bert-base-multilingual-cased` layer 9, no baseline rescaling; `TaskOptions.bertscore_model` names
  another model or a local copy), skipped with a note (the language record's `bertscore`) where the
  model cannot be loaded. EMMA-500 ran no script for MassiveSumm: under this preset the two hub subsets
  take XL-Sum's settings, with XL-Sum's prompt for the language where it has one (its own code, else
  its one macrolanguage relative in the same script: `fas_Arab` -> `pes_Arab`), else the English one;
  each language's record names the prompt used (`prompt_language`). EMMA-500 generated with vLLM:
  sampled outputs match its in distribution, not token for token.

Both presets also report `in_script` (and `in_language` with `--lid-model`): the share of
summaries written in the document's script and language (`emma.eval.fidelity`), over every output.

An item's id is the dataset's `id`, else its row index; `--limit` takes a seeded sample.

Local layouts: XL-Sum as released, `<data_dir>/<language name>_{test,train}.jsonl` (`english_test.jsonl`,
`chinese_simplified_test.jsonl`), or EMMA-500's `<language name>.jsonl` (the test split); MassiveSumm
`<data_dir>/<code>.jsonl` (or `<code>.all.jsonl`, `<code>_test.jsonl`; any code form); all with `text`
and `summary`. Hub: `csebuetnlp/xlsum`; `MaLA-LM/MassiveSumm_long`, `MaLA-LM/MassiveSumm_short` (gated:
accept their terms and log in; rows of their `train` split grouped by their `language` field).
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

from emma.errors import EmmaError
from emma.eval import fidelity
from emma.eval.data import hub_rows, require
from emma.eval.generation import GenRequest
from emma.eval.metrics import bertscore_f1, emma500_kept, rouge_l_emma500
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, mean, mean_scores, row_id, sample_items, sample_shots
from emma.eval.tasks._emma500 import XLSUM_PROMPTS, decoding, xlsum_prompt_language
from emma.io import read_jsonl
from emma.text import clip_words, words

METRICS = ["rougeL", "bertscore_f1", "in_script", "in_language"]  # bertscore_f1: --preset emma500; in_language: --lid-model
HUB_SUBSETS = {"massivesumm_long": "MaLA-LM/MassiveSumm_long", "massivesumm_short": "MaLA-LM/MassiveSumm_short"}
_OTHER_SPLITS = ("_train", "_dev", "_validation")
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


def _xlsum_test_file(root: Path, name: str) -> Path | None:
    """The test split: XL-Sum's own `<name>_test.jsonl`, else EMMA-500's `<name>.jsonl`."""
    return next((p for p in (root / f"{name}_test.jsonl", root / f"{name}.jsonl") if p.is_file()), None)


def _xlsum_languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return sorted(_BY_CODE)
    return sorted(code for code, name in _BY_CODE.items() if _xlsum_test_file(Path(data_dir), name))


def _xlsum_rows(data_dir, lang: str, split: str) -> list[dict]:
    name = _BY_CODE[lang]
    if data_dir is None:
        return hub_rows("csebuetnlp/xlsum", name, split, "xlsum")
    root = Path(data_dir)
    if split == "test":
        path = _xlsum_test_file(root, name)
        if path is None:
            raise EmmaError(
                f"xlsum: neither {root / f'{name}_test.jsonl'} nor {root / f'{name}.jsonl'} found; --data-dir must hold "
                "<language>_test.jsonl (the XL-Sum layout) or <language>.jsonl (EMMA-500's)"
            )
        return read_jsonl(path, "xlsum")
    return read_jsonl(require(root / f"{name}_{split}.jsonl", "xlsum", f"<language>_{split}.jsonl (the XL-Sum layout)"), "xlsum")


def _massive_files(data_dir, task: str = "massivesumm") -> dict[str, Path]:
    """{xxx_Scrp: file} of a local MassiveSumm folder: `<code>.jsonl`, `<code>.all.jsonl` or `<code>_test.jsonl`."""
    from emma.languages import normalize

    if data_dir is None:
        raise EmmaError(f"{task} is not on the Hugging Face hub; give --data-dir with <code>.jsonl files")
    out = {}
    for path in sorted(Path(data_dir).glob("*.jsonl")):
        stem = path.name.removesuffix(".jsonl").removesuffix(".all").removesuffix("_test")
        if stem.endswith(_OTHER_SPLITS):
            continue
        try:
            out[normalize(stem)] = path
        except EmmaError as exc:
            raise EmmaError(f"{task}: file {path.name}: {exc}") from None
    return out


def _massive_rows(data_dir, lang: str, split: str) -> list[dict]:
    return read_jsonl(_massive_files(data_dir)[lang], "massivesumm") if split == "test" else []


@lru_cache(maxsize=2)
def _hub_groups(dataset: str, task: str) -> dict[str, list[dict]]:
    """A MassiveSumm subset from the hub, its rows grouped by their `language` field (any code form or name)."""
    from emma.languages import normalize

    rows = hub_rows(dataset, None, "train", task)
    if rows and "language" not in rows[0]:
        raise EmmaError(f"{task}: rows of {dataset} have no `language` field ({', '.join(rows[0])}); download its files and give --data-dir")
    by_value: dict[str, list[dict]] = {}
    for r in rows:
        by_value.setdefault(str(r.get("language")), []).append(r)
    groups: dict[str, list[dict]] = {}
    for value, group in by_value.items():
        try:
            groups.setdefault(normalize(value), []).extend(group)
        except EmmaError:  # a value that names no language: not selectable
            continue
    return groups


def _subset_languages(task: str):
    def languages(data_dir: DataDir) -> list[str] | None:
        return None if data_dir is None else sorted(_massive_files(data_dir, task))

    return languages


def _subset_rows(task: str):
    def rows_of(data_dir, lang: str, split: str) -> list[dict]:
        if split != "test":
            return []
        if data_dir is not None:
            files = _massive_files(data_dir, task)
            if lang not in files:
                raise EmmaError(f"{task}: no file for {lang} in {data_dir}; it must hold <code>.jsonl (or <code>.all.jsonl, <code>_test.jsonl)")
            return read_jsonl(files[lang], task)
        from emma.languages import resolve

        groups = _hub_groups(HUB_SUBSETS[task], task)
        try:
            return groups[resolve(lang, groups)]
        except EmmaError as exc:
            raise EmmaError(f"{task}: {HUB_SUBSETS[task]} has no rows for {lang} ({exc})") from None

    return rows_of


def _clip(text: str, n_words: int = MAX_DOC_WORDS) -> str:
    """The first `n_words` words (emma.text's rule: a character in scripts written without spaces),
    white space collapsed so the document stays on the prompt's one line."""
    return " ".join(clip_words(text, n_words).split())


def _prompt(doc: str) -> str:
    return f"Document: {_clip(doc)}\nSummary:"


def emma500_prompt(lang: str, text: str) -> str:
    """EMMA-500's XL-Sum prompt for `lang` (its pair, or the one `xlsum_prompt_language` picks), the text whole."""
    word, instruction = XLSUM_PROMPTS[xlsum_prompt_language(lang)]
    return f"{word}: {text}\n{instruction}:"


def _run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None, *, name: str, rows_of) -> Result:
    rows = rows_of(data_dir, lang, "test")
    for n, r in enumerate(rows, 1):
        if not isinstance(r.get("text"), str) or not isinstance(r.get("summary"), str) or not r["text"].strip():
            raise EmmaError(f"{name}: {lang} item {n} needs non-empty `text` and `summary` strings")
    lid = fidelity.load(opts.lid_model)  # before generating: a bad path fails fast
    if opts.preset == "emma500":
        return _run_emma500(backend, lang, opts, progress, name=name, rows=rows, lid=lid)
    train = rows_of(data_dir, lang, "train") if opts.shots else []
    pool, pool_split = (train, "train") if train else (rows, "test")
    indexed = list(enumerate(pool))
    rnd = random.Random(opts.seed)
    gen = decoding(opts, max_new_tokens=128)
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
        requests.append(GenRequest(context, until=("\n",), **gen))
    outputs = [o.strip() for o in backend.generate(requests, progress=progress)]
    samples = [
        {**it, "prediction": out, "rougeL": rouge_l(out, it["reference"]), **checked}
        for it, out, checked in zip(items, outputs, fidelity.check(outputs, lang, lid))
    ]
    return samples, mean_scores(samples, ["rougeL"]) | fidelity.scores(samples) | {"n_total": len(rows), "decoding": gen}


def _run_emma500(backend: Backend, lang: str, opts: TaskOptions, progress: Progress, *, name: str, rows: list[dict], lid=None) -> Result:
    """EMMA-500's eval_xlsum.py and evaluate.py for one language (see the module docstring)."""
    if opts.shots:
        raise EmmaError(f"{name}: --preset emma500 is zero-shot (EMMA-500's eval_xlsum.py); drop --shots")
    gen = decoding(opts, max_new_tokens=128, preset_task="xlsum")
    requests, items = [], []
    for i, row in sample_items(rows, opts.limit, opts.seed, mode=opts.limit_mode):
        context = emma500_prompt(lang, row["text"])
        items.append({"id": row_id(row, i, "id"), "context": context, "reference": row["summary"]})
        requests.append(GenRequest(context, until=(), **gen))
    outputs = backend.generate(requests, progress=progress)  # as generated
    refs = [it["reference"] for it in items]
    rouge, per_rouge = rouge_l_emma500(outputs, refs)
    kept = emma500_kept(outputs)
    idx = [i for i, k in enumerate(kept) if k]
    f1, bert = bertscore_f1([outputs[i] for i in idx], [refs[i] for i in idx], opts.bertscore_model)
    per_f1: list[float | None] = [None] * len(outputs)
    for i, v in zip(idx, f1 or []):
        per_f1[i] = v
    samples = [
        {**it, "prediction": out, "scored": keep, "rougeL": r, **({"bertscore_f1": b} if f1 is not None else {}), **checked}
        for it, out, keep, r, b, checked in zip(items, outputs, kept, per_rouge, per_f1, fidelity.check(outputs, lang, lid))
    ]
    # the fidelity rates are over every output: one EMMA-500's filter drops is in no language either
    scores = {"rougeL": rouge, **({"bertscore_f1": mean(f1)} if f1 is not None else {}), **fidelity.scores(samples)}
    scores |= {"n": len(samples), "n_scored": len(idx)}
    return samples, scores | {"n_total": len(rows), "bertscore": bert, "prompt_language": xlsum_prompt_language(lang), "decoding": gen}


def xlsum_run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    return _run(backend, data_dir, lang, opts, progress, name="xlsum", rows_of=_xlsum_rows)


def massivesumm_run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    return _run(backend, data_dir, lang, opts, progress, name="massivesumm", rows_of=_massive_rows)


def _subset_run(task: str):
    rows_of = _subset_rows(task)

    def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
        return _run(backend, data_dir, lang, opts, progress, name=task, rows_of=rows_of)

    return run


_PRESETS = (
    "default: emma's prompt (400 words), greedy, multilingual rougeL; "
    "--preset emma500: EMMA-500's per-language prompt, sampling, rouge-package rougeL + bertscore_f1"
)
TASKS = [
    Task("xlsum", METRICS, _xlsum_languages, xlsum_run, description=f"XL-Sum summarisation (45 languages). {_PRESETS}"),
    Task(
        "massivesumm",
        METRICS,
        lambda d: sorted(_massive_files(d)),
        massivesumm_run,
        description=f"MassiveSumm summarisation (local files). {_PRESETS} (XL-Sum's, as EMMA-500 ran no MassiveSumm script)",
    ),
    *(
        Task(
            task,
            METRICS,
            _subset_languages(task),
            _subset_run(task),
            description=f"{dataset} summarisation (EMMA-500's subset; hub or local <code>.jsonl). {_PRESETS} (XL-Sum's)",
        )
        for task, dataset in HUB_SUBSETS.items()
    ),
]
