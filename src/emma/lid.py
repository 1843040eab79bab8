"""Language identification with fastText: train a model on labelled text, evaluate it per language.

The model is a plain fastText supervised model with labels `__label__<xxx_Scrp>`, the format of
GlotLID's `model.bin`, so either works wherever emma takes a LID model. Training text is
lower-cased with whitespace collapsed (the same normalisation at prediction time); character
n-grams (2-5) carry most of the signal for short sentences in hundreds of languages.

Labelled data: a SIB-200-layout folder (`<xxx_Scrp>/<split>.tsv` with a `text` column) or JSONL
with `text` and `lang`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from emma.errors import EmmaError
from emma.io import atomic_path, read_jsonl, read_sib_tsv, scratch_path
from emma.languages import normalize

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class FastTextSettings:
    """Tuned on SIB-200 train -> dev (see benchmarks/RESULTS.md)."""

    epoch: int = 25
    lr: float = 0.8
    dim: int = 64
    minn: int = 2
    maxn: int = 5
    word_ngrams: int = 1
    bucket: int = 2_000_000
    threads: int = 2
    seed: int = 0


def clean(text: str) -> str:
    return _SPACE.sub(" ", text.replace("__label__", " ")).strip().lower()


def load_labelled(data: str | Path, split: str = "train") -> list[tuple[str, str]]:
    """(text, xxx_Scrp) pairs from a SIB-200-layout folder or a JSONL file/folder."""

    root = Path(data)
    pairs: list[tuple[str, str]] = []
    if root.is_dir() and any((p / f"{split}.tsv").is_file() for p in root.iterdir() if p.is_dir()):
        for folder in sorted(p for p in root.iterdir() if (p / f"{split}.tsv").is_file()):
            lang = normalize(folder.name)
            pairs += [(r["text"], lang) for r in read_sib_tsv(folder / f"{split}.tsv", "lid", pandas_na=False)]
    else:
        files = sorted(root.glob(f"*{split}*.jsonl")) if root.is_dir() else [root]
        if not files or not all(f.is_file() for f in files):
            raise EmmaError(f"lid: {root} has neither <xxx_Scrp>/{split}.tsv folders nor {split} JSONL files")
        for f in files:
            for n, r in enumerate(read_jsonl(f, "lid"), 1):
                if not isinstance(r.get("text"), str) or not r.get("lang"):
                    raise EmmaError(f"lid: {f} line {n} needs `text` and `lang`")
                pairs.append((r["text"], normalize(str(r["lang"]))))
    pairs = [(t, lang) for t, lang in pairs if clean(t)]
    if not pairs:
        raise EmmaError(f"lid: no labelled text in {root} ({split})")
    return pairs


def train_lid(pairs: list[tuple[str, str]], out: str | Path, settings: FastTextSettings = FastTextSettings(), *, verbose: int = 0):
    """Train and save (atomically) a fastText model (`verbose=2`: fastText's own progress line). The lines are shuffled (seeded): fastText reads
    its file in order while its learning rate decays, so a file sorted by language lets the last of
    a group of close varieties take the others' texts (every Arabic dialect became arz_Arab)."""
    import random

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"__label__{lang} {clean(t)}\n" for t, lang in pairs]
    random.Random(settings.seed).shuffle(lines)
    with scratch_path(out, ".train.txt") as data:
        data.write_text("".join(lines), encoding="utf-8")
        model = _train_supervised(str(data), settings, verbose)
    with atomic_path(out, suffix=".bin") as tmp:
        model.save_model(str(tmp))
    return model


def _train_supervised(data: str, settings, verbose: int):
    import fasttext

    try:
        return fasttext.train_supervised(
            data,
            epoch=settings.epoch,
            lr=settings.lr,
            dim=settings.dim,
            minn=settings.minn,
            maxn=settings.maxn,
            wordNgrams=settings.word_ngrams,
            bucket=settings.bucket,
            thread=settings.threads,
            seed=settings.seed,
            verbose=verbose,
        )
    except RuntimeError as exc:  # fastText's own check: the loss went to NaN (learning rate too high for this data)
        if "NaN" not in str(exc):
            raise
        raise EmmaError(
            f"fastText training diverged (NaN loss) at learning rate {settings.lr}; lower it (e.g. --lr {settings.lr / 2:g}) "
            f"or train on more text per language"
        ) from None


def load_lid(path: str | Path, what: str = "LID model"):
    """`what` names the setting the path came from, for the error line."""
    import fasttext

    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"{what} {path} not found; train one with `emma lid train` or give GlotLID's model.bin")
    try:
        return fasttext.load_model(str(path))
    except ValueError as exc:
        raise EmmaError(f"{path} is not a fastText model ({exc})") from None


def predict(model, texts: list[str]) -> list[tuple[str, float]]:
    labels, probs = model.predict([clean(t) or " " for t in texts], k=1)
    return [(lab[0].removeprefix("__label__"), float(p[0])) for lab, p in zip(labels, probs)]


def evaluate_lid(model, pairs: list[tuple[str, str]]) -> dict:
    """Per-language precision, recall, F1 (over the gold languages), macro-F1 and accuracy."""
    preds = [p for p, _ in predict(model, [t for t, _ in pairs])]
    gold = [lang for _, lang in pairs]
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, preds):
        if g == p:
            tp[g] += 1
        else:
            fn[g] += 1
            fp[p] += 1
    per = {}
    for lang in sorted(set(gold)):
        prec = tp[lang] / (tp[lang] + fp[lang]) if tp[lang] + fp[lang] else 0.0
        rec = tp[lang] / (tp[lang] + fn[lang]) if tp[lang] + fn[lang] else 0.0
        per[lang] = {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "support": tp[lang] + fn[lang]}
    return {
        "macro_f1": sum(v["f1"] for v in per.values()) / len(per),
        "accuracy": sum(tp.values()) / len(gold),
        "per_language": per,
        "confusions": Counter(f"{g}->{p}" for g, p in zip(gold, preds) if g != p).most_common(20),
    }
