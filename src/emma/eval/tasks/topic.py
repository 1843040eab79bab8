r"""Topic classification: SIB-200 (Adelani et al., 2024; 7 topics over FLORES-200 sentences, 205
varieties) and Taxi-1500 (Ma et al., 2023; 6 topics over Bible verses, 1,500+ languages).

Two ways to run them (`TaskOptions.preset`, the CLI's `--preset`). Which settings are whose:

`default` (emma's; lm-evaluation-harness's prompt and scoring):
- prompt "Topic Classification: <labels>.\n\nThe label of [<text, stripped>] is"; shots written
  "<prompt> <label>", joined by blank lines before it; `--shots` (0) and `--seed` (1234);
- every label scored by the log-likelihood of its whole continuation " <label>" after lm-eval's
  tokenisation (`--first-token`: its first token only); `acc` takes the best total, `acc_norm` the
  best total per character of the label;
- files read as tab-separated text, quotes kept as text.

`emma500` (EMMA-500's eval_sib200.py / eval_taxi1500.py, MaLA-LM/emma-500 `evaluation/`):
- prompt, SIB-200: "Topic Classification: <labels>.\n\n<shots>\nThe topic of the news \"<text>\" is\n",
  each shot 'The topic of the news "<text>" is <label>', joined by "\n"; Taxi-1500: shots
  'The topic of the verse "<text>" is <label>', query 'The label of "<text>" is\n'; texts as read;
- 3 shots, seed 42 (`emma.eval.presets.EMMA500`), from train: `random.seed(42)`, then
  `seeds = [random.randint(0, 1000) for _ in test]`; test row i (file order) shows
  `train.sample(n=3, random_state=seeds[i])`, pandas' draw `np.random.RandomState(seeds[i]).choice(len(train), 3,
  replace=False)`, in that order (`shot_seed` in each record);
- scoring: the logit, at the position right after the prompt, of the LAST token of
  `tokenizer(" " + label).input_ids`; the prompt tokenised by a plain `tokenizer(prompt)` (its own
  special tokens: BOS for Llama); Taxi-1500 with `truncation=True, max_length=2048` (the
  tokenizer's truncation side: right by default, the first 2048 tokens kept, the end of a longer
  prompt lost, as there); prediction `sorted([(logit, label)], reverse=True)[0]`, so a tie goes to
  the larger label string; metric `acc` only, under the same name (no `acc_norm`);
- files read as `pd.read_csv` reads them (below).

Shots under `default` (`TaskOptions.shot_pool`, the CLI's `--shot-pool`):
- `train` (default): k shots per item drawn with `--seed` from the training split (`dev` where a
  language has no train file, the test split itself, the item left out, where it has neither), one
  RNG in item order (lm-eval's default sampler), a shot with the item's own `index_id` never shown;
- `lm-eval`: lm-eval's `first_n` over the test split: the first k test rows other than the item, the
  same for every item. The test file is sorted by topic, so these are k science/technology rows
  from the very set being scored: kept only for parity with lm-eval (benchmarks/bench_lm_eval.py).
Each item records its shots' `index_id`s (`shots`) and their split (`shot_split`).
`--limit N` takes a seeded sample stratified by topic (`--limit-mode first`: the first N rows,
which in this sorted file are one topic). Under `emma500` the same items are taken, and each keeps
the shots it gets in the full run: its seed is `seeds[i]`, i its row in the whole test file.
`--shot-pool` does not apply there (shots always come from train).

Reading under `emma500` (`read_like_pandas`, checked against pandas on every SIB-200 file): fields
in double quotes are unquoted (`""` is a quote) as pandas does (SIB-200's files quote 3.7% of their
sentences; `default` keeps those quotes); blank lines and lines of spaces are skipped; a row with
fewer fields gets the missing ones as missing values; pandas' default NA strings ("", "NA", "None", "null",
"nan", ...) are missing values, written "nan" in a prompt as Python formats pandas' NaN. SIB-200
(pandas' C reader): a row with too many fields is an error, as in pandas. Taxi-1500 (EMMA-500
reads it with `engine="python", on_bad_lines="skip"`): a row with more than 3 fields, or one that
Python's csv module refuses in strict mode (a quoted field followed by text; an unclosed quote,
which takes the rest of the file with it, as in pandas), is skipped; a first row with too many fields
is an error (pandas fails there too). Every row pandas keeps is kept: a test row whose category is
not a label counts as wrong (its `target` is null), as in EMMA-500's accuracy.

Not reproduced bit for bit under `emma500`: the model's dtype (emma's hf backend runs float32;
EMMA-500 loaded SIB-200's model with dtype "auto", Taxi-1500's in float16), so near-tied labels can
differ; the backend returns log-softmax values of that position's logits (same order, same ties).

Local layouts (`--data-dir`):
- SIB-200 (as the hub dataset `Davlan/sib200`): `<data_dir>/<xxx_Scrp>/{train,dev,test}.tsv` with
  header `index_id	category	text`;
- Taxi-1500: that layout, or EMMA-500's (Taxi-1500's own): `<data_dir>/<xxx_Scrp>/<xxx_Scrp>_{train,test}.tsv`,
  no header, columns index_id, category, text; where a folder has both, the latter is read.
Taxi-1500 is not on the hub (Bible licences): it needs --data-dir.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.backend import NextTokenScorer
from emma.eval.data import hub_rows
from emma.eval.task import (
    Backend,
    DataDir,
    Progress,
    Result,
    Task,
    TaskOptions,
    first_n_shots,
    mean_scores,
    row_id,
    sample_items,
    sample_shots,
    with_total,
)
from emma.eval.tasks._mc import METRICS, score
from emma.io.readers import PANDAS_NA as PANDAS_NA  # re-exported: the preset's tests check it against pandas
from emma.io.readers import read_sib_tsv
from emma.io.readers import read_sib_tsv as read_like_pandas  # the name the preset's docs and tests use

SIB200_LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]
TAXI1500_LABELS = ["Recommendation", "Faith", "Description", "Sin", "Grace", "Violence"]
LABELS = SIB200_LABELS  # kept for callers of the first version


@dataclass(frozen=True)
class Emma500Format:
    """EMMA-500's prompt for one task: `template` with `{examples}` (the shots, each `shot`, joined
    by "\\n") and `{text}`; `max_length`: the prompt's truncation (tokens); `skip_bad_lines`: its
    files are read with `engine="python", on_bad_lines="skip"` (else pandas' C reader)."""

    template: str
    shot: str
    max_length: int | None = None
    skip_bad_lines: bool = False


SIB200_EMMA500 = Emma500Format(
    template="Topic Classification: science/technology, travel, politics, sports, health, entertainment, geography.\n\n"
    '{examples}\nThe topic of the news "{text}" is\n',
    shot='The topic of the news "{text}" is {category}',
)
TAXI1500_EMMA500 = Emma500Format(
    template='Topic Classification: Recommendation, Faith, Description, Sin, Grace, Violence.\n\n{examples}\nThe label of "{text}" is\n',
    shot='The topic of the verse "{text}" is {category}',
    max_length=2048,
    skip_bad_lines=True,
)

# What `--preset emma500` changes, for `emma tasks` (the settings themselves are in emma.eval.presets.EMMA500)
EMMA500_NOTES = {
    "sib200": "EMMA-500's prompt; per-item train shots (random.seed, randint, pandas sample); logit of each label's last token "
    "after the prompt; files read as pandas does; acc only",
    "taxi1500": "EMMA-500's prompt; per-item train shots (random.seed, randint, pandas sample); logit of each label's last token "
    "after the prompt (first 2048 tokens); files read as pandas does (bad lines skipped); acc only",
}


def prompt(text: str, labels=SIB200_LABELS) -> str:
    return f"Topic Classification: {', '.join(labels)}.\n\nThe label of [{text.strip()}] is"


# --- files --------------------------------------------------------------------------------------


def split_file(data_dir: str | Path, lang: str, split: str, *, upstream: bool = False) -> tuple[Path, bool] | None:
    """The file of `lang`'s `split`, and whether it is EMMA-500's headerless `<lang>/<lang>_<split>.tsv`
    (looked for first where `upstream`) rather than `<lang>/<split>.tsv`; None: neither exists."""
    folder = Path(data_dir) / lang
    if upstream and (folder / f"{lang}_{split}.tsv").is_file():
        return folder / f"{lang}_{split}.tsv", True
    if (folder / f"{split}.tsv").is_file():
        return folder / f"{split}.tsv", False
    return None


def available_languages(data_dir: DataDir, *, name: str = "sib200", upstream: bool = False) -> list[str] | None:
    if data_dir is None:
        return None  # on the hub: any --langs code is tried there
    root = Path(data_dir)
    if not root.is_dir():
        raise EmmaError(f"{name}: --data-dir {root} is not a folder")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and split_file(root, p.name, "test", upstream=upstream))


def load_split(
    data_dir,
    lang: str,
    split: str,
    *,
    name: str = "sib200",
    labels=SIB200_LABELS,
    hub: str | None = "Davlan/sib200",
    preset: str = "default",
    upstream: bool = False,
    skip_bad_lines: bool = False,
) -> list[dict]:
    """A split's rows. `default`: read as emma reads the SIB-200 layout (CSV-quoted TSV), every category checked.
    `emma500`: read as EMMA-500's pandas call reads it, every row pandas keeps kept as it reads it
    (`skip_bad_lines`: its `on_bad_lines="skip"`). The headerless `<lang>_<split>.tsv` (`upstream`)
    is always read with pandas' rules; under `default` its empty fields are errors."""
    emma500 = preset == "emma500"
    if data_dir is None:
        if hub is None:
            raise EmmaError(f"{name} is not on the Hugging Face hub; give --data-dir with <xxx_Scrp>/{split}.tsv folders")
        rows = hub_rows(hub, lang, split, name)
    else:
        found = split_file(data_dir, lang, split, upstream=upstream)
        if found is None:
            layout = f"<xxx_Scrp>/<xxx_Scrp>_{split}.tsv (EMMA-500's layout) or " if upstream else ""
            missing = Path(data_dir) / lang / f"{split}.tsv"
            raise EmmaError(f"{name}: {missing} not found; --data-dir must hold {layout}<xxx_Scrp>/{split}.tsv (the Davlan/sib200 layout)")
        path, headerless = found
        if headerless:
            rows = read_like_pandas(path, name, header=False, skip_bad_lines=True, pandas_na=emma500)
        elif emma500:
            rows = read_like_pandas(path, name, header=True, skip_bad_lines=skip_bad_lines)
        else:
            rows = read_sib_tsv(path, name, pandas_na=False)
    if not emma500:
        for i, r in enumerate(rows, 2):
            if r.get("category") not in labels:
                raise EmmaError(f"{name}: {lang}/{split} row {i}: category {r.get('category')!r} is not one of {labels}")
    return rows


# --- default: lm-eval's prompt and scoring --------------------------------------------------------


def build_requests(
    rows: list[dict],
    shots: int,
    labels=SIB200_LABELS,
    *,
    chosen: list[tuple[int, dict]] | None = None,
    pool: list[dict] | None = None,
    pool_split: str = "train",
    seed: int = 1234,
) -> list[dict]:
    """One entry per item of `chosen` (default: every row): its context, target and shot ids.
    Shots: `pool` None: lm-eval's first_n from `rows` (the evaluated split); else k drawn from
    `pool` with `seed`, in item order, leaving out a pool row with the item's own `index_id`."""
    rnd = random.Random(seed)
    by_id = {r["index_id"]: r for r in pool or []}
    items = []
    for i, row in chosen if chosen is not None else enumerate(rows):
        shown = first_n_shots(rows, i, shots) if pool is None else sample_shots(pool, shots, rnd, exclude=by_id.get(row["index_id"]))
        context = "".join(f"{prompt(r['text'], labels)} {r['category']}\n\n" for r in shown) + prompt(row["text"], labels)
        items.append(
            {
                "id": row["index_id"],
                "context": context,
                "choices": labels,
                "target": labels.index(row["category"]),
                "shots": [r["index_id"] for r in shown],
                **({"shot_split": "test" if pool is None else pool_split} if shown else {}),
            }
        )
    return items


def shot_pool(
    data_dir: DataDir, lang: str, *, name: str, labels: list[str], hub: str | None, upstream: bool = False
) -> tuple[str, list[dict]] | None:
    """The split `--shot-pool train` draws from: train, else dev (local files); None: neither exists."""
    if data_dir is None:
        return "train", load_split(data_dir, lang, "train", name=name, labels=labels, hub=hub)
    for split in ("train", "dev"):
        if split_file(data_dir, lang, split, upstream=upstream):
            return split, load_split(data_dir, lang, split, name=name, labels=labels, hub=hub, upstream=upstream)
    return None


# --- emma500: EMMA-500's prompt, shots and scoring ------------------------------------------------


def emma500_seeds(n: int, seed: int = 42) -> list[int]:
    """`random.seed(seed); [random.randint(0, 1000) for _ in range(n)]`: one shot seed per test row."""
    rnd = random.Random(seed)  # the module functions are one Random's methods: the same sequence
    return [rnd.randint(0, 1000) for _ in range(n)]


def pandas_sample(n: int, k: int, seed: int) -> list[int]:
    """The row positions `DataFrame.sample(n=k, random_state=seed)` takes from n rows, in its order:
    pandas draws them with `np.random.RandomState(seed).choice(n, k, replace=False)`."""
    import numpy as np

    if k <= 0:
        return []
    if k > n:
        raise EmmaError(f"cannot draw {k} shots from {n} training rows without replacement (pandas' sample refuses too)")
    return [int(j) for j in np.random.RandomState(seed).choice(n, size=k, replace=False)]


def _pd(value) -> str:
    """A field as EMMA-500's string formatting writes it: pandas' NaN (None here) is "nan"."""
    return "nan" if value is None else str(value)


def emma500_prompt(fmt: Emma500Format, shots: list[dict], row: dict) -> str:
    examples = "\n".join(fmt.shot.format(text=_pd(s["text"]), category=_pd(s["category"])) for s in shots)
    return fmt.template.format(examples=examples, text=_pd(row["text"]))


def emma500_items(test: list[dict], train: list[dict], opts: TaskOptions, fmt: Emma500Format, labels: list[str]) -> list[dict]:
    """The chosen test rows (`--limit`: emma's seeded sample) with EMMA-500's prompt: the shots of
    row i are those of `seeds[i]` over the whole test file, so a cut run shows what the full run shows."""
    seeds = emma500_seeds(len(test), opts.seed)
    chosen = sample_items(test, opts.limit, opts.seed, lambda r: str(r.get("category")), mode=opts.limit_mode)
    items = []
    for i, row in chosen:
        shots = [train[j] for j in pandas_sample(len(train), opts.shots, seeds[i])]
        gold = row.get("category")
        items.append(
            {
                "id": row_id(row, i, "index_id"),
                "context": emma500_prompt(fmt, shots, row),
                "choices": labels,
                "target": labels.index(gold) if gold in labels else None,
                **({} if gold in labels else {"gold": _pd(gold)}),
                "shots": [row_id(s, -1, "index_id") for s in shots],
                "shot_seed": seeds[i],
                **({"shot_split": "train"} if shots else {}),
            }
        )
    return items


def emma500_predict(logprobs: list[float], labels: list[str]) -> int:
    """`sorted([(logit, label) ...], reverse=True)[0]`: the best score, a tie to the larger label string."""
    return max(range(len(labels)), key=lambda j: (logprobs[j], labels[j]))


def run_emma500(
    backend: Backend,
    data_dir: DataDir,
    lang: str,
    opts: TaskOptions,
    progress: Progress,
    *,
    name: str,
    labels: list[str],
    hub: str | None,
    fmt: Emma500Format,
) -> Result:
    if not isinstance(backend, NextTokenScorer):
        raise EmmaError(f"{name} --preset emma500 scores the logits after the prompt; backend {type(backend).__name__} has no next_token_logprobs")
    split = partial(load_split, data_dir, lang, name=name, labels=labels, hub=hub, preset="emma500", upstream=True, skip_bad_lines=fmt.skip_bad_lines)
    test = split("test")
    train = split("train") if opts.shots > 0 else []
    items = emma500_items(test, train, opts, fmt, labels)
    label_ids = [backend.tokenize(" " + label)[-1] for label in labels]  # the LAST token of " <label>", special tokens included
    scores = backend.next_token_logprobs([it["context"] for it in items], [label_ids] * len(items), max_length=fmt.max_length, progress=progress)
    samples = []
    for it, lp in zip(items, scores):
        pred = emma500_predict(lp, labels)
        samples.append({**it, "label_token_ids": label_ids, "logprobs": lp, "prediction": pred, "acc": float(pred == it["target"])})
    return with_total((samples, mean_scores(samples, ["acc"])), len(test))


def run(
    backend: Backend,
    data_dir: DataDir,
    lang: str,
    opts: TaskOptions,
    progress: Progress = None,
    *,
    name: str = "sib200",
    labels: list[str] = SIB200_LABELS,
    hub: str | None = "Davlan/sib200",
    fmt: Emma500Format = SIB200_EMMA500,
    upstream: bool = False,
) -> Result:
    if opts.preset == "emma500":
        return run_emma500(backend, data_dir, lang, opts, progress, name=name, labels=labels, hub=hub, fmt=fmt)
    split = partial(load_split, data_dir, lang, name=name, labels=labels, hub=hub, upstream=upstream)
    rows = split("test")
    chosen = sample_items(rows, opts.limit, opts.seed, "category", mode=opts.limit_mode)
    pool, pool_split = None, "test"
    if opts.shots and opts.shot_pool == "train":
        found = shot_pool(data_dir, lang, name=name, labels=labels, hub=hub, upstream=upstream)
        pool_split, pool = found if found is not None else ("test", rows)
    items = build_requests(rows, opts.shots, labels, chosen=chosen, pool=pool, pool_split=pool_split, seed=opts.seed)
    return with_total(score(backend, items, opts, progress), len(rows))


TASKS = [
    Task(
        "sib200",
        METRICS,
        partial(available_languages, name="sib200"),
        run,
        description="SIB-200 topic classification (205 varieties), k-shot, log-likelihood of each label",
    ),
    Task(
        "taxi1500",
        METRICS,
        partial(available_languages, name="taxi1500", upstream=True),
        partial(run, name="taxi1500", labels=TAXI1500_LABELS, hub=None, fmt=TAXI1500_EMMA500, upstream=True),
        description="Taxi-1500 topic classification (Bible verses), SIB-200's layout or its own; local data only",
    ),
]
