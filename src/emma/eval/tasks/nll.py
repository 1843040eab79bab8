"""Intrinsic NLL on monolingual or parallel text, per language (EMMA-500's intrinsic evaluation).

Data (`--data-dir`), either layout:
- a folder of `<xxx_Scrp>.txt` files, one segment per line (blank lines skipped);
- the SIB-200/FLORES layout `<xxx_Scrp>/test.tsv` (`text` column): the same FLORES sentences in
  every language, so totals compare across languages.
Metrics: `nll` (mean total NLL per segment, nats) and `bpb` (bits per UTF-8 byte); lower is better.
An item's id is its index among the file's non-blank segments; `--limit` takes a seeded sample.
"""

from __future__ import annotations

from pathlib import Path

from emma.errors import EmmaError
from emma.eval.nll import summarize
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, sample_items
from emma.io import read_lines, read_sib_tsv

METRICS = ["nll", "bpb"]
_NEEDS_DIR = "nll needs --data-dir: a folder of <xxx_Scrp>.txt files or <xxx_Scrp>/test.tsv folders"


def available_languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        raise EmmaError(_NEEDS_DIR)
    root = Path(data_dir)
    if not root.is_dir():
        raise EmmaError(f"nll: --data-dir {root} is not a folder")
    return sorted({p.stem for p in root.glob("*.txt")} | {p.name for p in root.iterdir() if (p / "test.tsv").is_file()})


def load_segments(data_dir: str | Path, lang: str) -> list[str]:
    root = Path(data_dir)
    txt, tsv = root / f"{lang}.txt", root / lang / "test.tsv"
    if txt.is_file():
        segments = read_lines(txt, "nll")
    elif tsv.is_file():
        segments = [r["text"].strip() for r in read_sib_tsv(tsv, "nll", pandas_na=False)]
    else:
        raise EmmaError(f"nll: no {txt.name} or {lang}/test.tsv in {root}")
    if not segments:
        raise EmmaError(f"nll: language {lang} has no text in {root} (empty language)")
    return segments


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    if data_dir is None:
        raise EmmaError(_NEEDS_DIR)
    segments = load_segments(data_dir, lang)
    chosen = sample_items(segments, opts.limit, opts.seed, mode=opts.limit_mode)
    scores = backend.nll([t for _, t in chosen], progress=progress)
    samples = [{"id": i, "text": t, "nll": s.nll, "tokens": s.tokens, "bytes": s.bytes} for (i, t), s in zip(chosen, scores)]
    summary = summarize(scores)
    return samples, {"nll": summary["nll"], "bpb": summary["bpb"], "n": len(samples), "n_total": len(segments)}


TASKS = [Task("nll", METRICS, available_languages, run, description="intrinsic NLL and bits per byte on monolingual or parallel text")]
