"""Scoring for the generation tasks, each function named for what it computes and whose it is.

MT (sacrebleu, corpus level, one reference):
- `bleu`: BLEU with sacrebleu's defaults (13a tokenisation, exponential smoothing): lm-eval's `bleu`.
- `spbleu`: BLEU on the FLORES-200 SentencePiece tokenisation (`BLEU(tokenize="flores200")`),
  as EMMA-500's FLORES-200 evaluate.py. sacrebleu loads that model from its cache,
  `<$SACREBLEU or ~/.sacrebleu>/models/flores200sacrebleuspm`, downloading it on first use;
  `ensure_flores200_spm` keeps that path and lets a local copy stand in ($EMMA_FLORES200_SPM).
- `chrf`: chrF++ (`CHRF(word_order=2)`): lm-eval's `chrf++`, EMMA-500's chrF.

Summaries (EMMA-500's XL-Sum evaluate.py):
- `emma500_kept(outputs)`: EMMA-500's filter, applied before scoring: an output counts only when it
  is not empty and not dots alone (`len(o) > 0 and not re.fullmatch(r"\\.+", o)`); a dropped
  output takes its reference with it (it lowers neither ROUGE nor BERTScore).
- `rouge_l_emma500`: ROUGE-L F of the PyPI `rouge` package (`Rouge().get_scores(hyps, refs,
  avg=True, ignore_empty=True)["rouge-l"]["f"]`): summary-level LCS over sentences split at ".",
  words split at spaces (so a text written without spaces is one word per sentence). emma's own
  `rougeL` (the default preset) is `rouge-score`'s with a Unicode tokenizer, another number.
- `bertscore_f1`: the `bert-score` package's F1 (`bert_score.score(..., model_type=
  "bert-base-multilingual-cased", lang=None, rescale_with_baseline=False)`), averaged; the model is
  configurable (`TaskOptions.bertscore_model`, a hub id or a local folder). Where the model cannot be
  loaded (no hub, no local copy) or bert-score is not installed, it is skipped with a note saying why.

Diversity of a set of outputs (PolyWrite, Aya):
- `self_bleu_emma500`: Self-BLEU exactly as EMMA-500's evaluate.py computes it: for each output i,
  `BLEU().corpus_score([outputs[i]], [others]).score`, averaged. sacrebleu reads `references` as a
  list of reference *streams*, each aligned with the hypotheses, so `[others]` is one stream of
  len(others) segments zipped with the single hypothesis: each output is scored against the first
  other output alone (others[0]: output 1 for output 0, output 0 for every other one).
- `self_bleu`: the Self-BLEU that code meant: each output against all the other outputs as multiple
  references (`corpus_score([h], [[o] for o in others])`), same BLEU settings, averaged. It is never
  lower than `self_bleu_emma500` item by item (more references can only add matches), and it does
  not depend on the order of the outputs.
Both are nan for fewer than two outputs (EMMA-500's code fails there).
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from collections.abc import Sequence
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

from emma.errors import EmmaError

FLORES200_SPM_ENV = "EMMA_FLORES200_SPM"
BERTSCORE_MODEL = "bert-base-multilingual-cased"  # EMMA-500's model_type

__all__ = [
    "BERTSCORE_MODEL",
    "FLORES200_SPM_ENV",
    "bertscore_f1",
    "bleu",
    "chrf",
    "emma500_kept",
    "ensure_flores200_spm",
    "flores200_spm_path",
    "rouge_l_emma500",
    "self_bleu",
    "self_bleu_emma500",
    "spbleu",
]


# --- MT ------------------------------------------------------------------------------------------


def bleu():
    """sacrebleu's BLEU with its defaults (13a)."""
    import sacrebleu

    return sacrebleu.BLEU()


def chrf():
    """chrF++: sacrebleu's CHRF with word bigrams."""
    import sacrebleu

    return sacrebleu.CHRF(word_order=2)


def spbleu(local_model: str | Path | None = None):
    """sacrebleu's BLEU on the flores200 SentencePiece tokenisation (spBLEU), its model made
    available first (`ensure_flores200_spm`): a clear EmmaError, not a traceback, when it cannot be."""
    import sacrebleu

    ensure_flores200_spm(local_model)
    return sacrebleu.BLEU(tokenize="flores200")


def flores200_spm_path() -> Path:
    """Where sacrebleu loads the flores200 model from: `<sacrebleu's cache>/models/<basename of its
    URL>`; the cache is `$SACREBLEU` (read when sacrebleu is imported) or ~/.sacrebleu."""
    from sacrebleu.tokenizers import tokenizer_spm

    return Path(tokenizer_spm.SACREBLEU_DIR) / "models" / os.path.basename(tokenizer_spm.SPM_MODELS["flores200"]["url"])


def _usable(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def ensure_flores200_spm(local_model: str | Path | None = None) -> Path:
    """Make sacrebleu's flores200 SentencePiece model present where sacrebleu looks for it, and return that path.

    - A local copy (`local_model`, else `$EMMA_FLORES200_SPM`) is linked (copied where links are
      refused) into sacrebleu's cache path, so sacrebleu loads it and records its usual `tok:flores200`
      signature; a different file already there is refused rather than silently used.
    - Without one, sacrebleu's own path: the model in its cache, else downloaded there from its URL.
    - Neither possible (no network, a read-only cache): EmmaError saying where to put the file.
    """
    expected = flores200_spm_path()
    local = local_model or os.environ.get(FLORES200_SPM_ENV) or None
    if local and str(local).strip().lower() == "off":
        raise EmmaError(f"{FLORES200_SPM_ENV}=off: spBLEU was switched off; unset it to compute spBLEU")
    if local:
        src = Path(local).expanduser()
        if not _usable(src):
            raise EmmaError(f"{FLORES200_SPM_ENV}={local}: no such file (or empty); point it at sacrebleu's flores200 SentencePiece model file")
        if _usable(expected):
            if expected.resolve() == src.resolve() or filecmp.cmp(expected, src, shallow=False):
                return expected
            raise EmmaError(
                f"sacrebleu's cache already holds a different flores200 model at {expected}; remove it to use {src}, or unset {FLORES200_SPM_ENV}"
            )
        try:
            expected.parent.mkdir(parents=True, exist_ok=True)
            if expected.is_symlink() or expected.exists():  # an empty file a failed download left, or a broken link
                expected.unlink()
            try:
                expected.symlink_to(src.resolve())
            except OSError:
                shutil.copyfile(src, expected)
        except OSError as exc:
            raise EmmaError(
                f"cannot place {src} at {expected}, where sacrebleu loads the flores200 model ({exc.strerror}); set $SACREBLEU to a writable folder"
            ) from None
        return expected
    if _usable(expected):
        return expected
    from sacrebleu.tokenizers import tokenizer_spm

    url = tokenizer_spm.SPM_MODELS["flores200"]["url"]
    why = "the download left no file"
    try:
        from sacrebleu.utils import download_file

        download_file(url, str(expected))
    except SystemExit:  # sacrebleu exits on an SSL error
        why = "sacrebleu stopped the download"
    except Exception as exc:  # no network, a read-only cache: one line, with the way out
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    if not _usable(expected):
        with suppress(OSError):
            if expected.exists() and expected.stat().st_size == 0:
                expected.unlink()
        raise EmmaError(
            f"spBLEU needs sacrebleu's flores200 SentencePiece model, which is not at {expected} and could not be downloaded from {url} "
            f"({why}); download it where there is network and set {FLORES200_SPM_ENV}=/path/to/flores200sacrebleuspm (or copy it to {expected})"
        )
    return expected


# --- summaries ------------------------------------------------------------------------------------

_DOTS = re.compile(r"\.+")


def emma500_kept(outputs: Sequence[str]) -> list[bool]:
    """EMMA-500's filter: which outputs are scored (not empty, not only dots)."""
    return [len(o) > 0 and not _DOTS.fullmatch(o) for o in outputs]


@lru_cache(maxsize=1)
def _rouge():
    try:
        from rouge import Rouge
    except ImportError:
        raise EmmaError("--preset emma500 scores ROUGE with the `rouge` package (an emma dependency): pip install rouge") from None
    return Rouge(metrics=["rouge-l"])


def rouge_l_emma500(hyps: Sequence[str], refs: Sequence[str]) -> tuple[float, list[float | None]]:
    """(ROUGE-L F as EMMA-500 computes it, each pair's F or None where it is not scored).

    A pair is scored when EMMA-500's filter keeps its output and its reference is not empty (the
    `ignore_empty=True` of `get_scores`); the first number is the mean of the scored pairs' F, which
    is what `get_scores(hyps, refs, avg=True)` returns (the same per-pair scores summed in the same
    order, over their count). A pair the `rouge` package cannot score at all (a reference of dots
    alone has no sentence; EMMA-500's run would stop there) is left out too, not raised."""
    rouge = _rouge()
    per: list[float | None] = [None] * len(hyps)
    for i, keep in enumerate(emma500_kept(hyps)):
        if keep and len(refs[i]) > 0:
            try:
                per[i] = float(rouge.get_scores([hyps[i]], [refs[i]])[0]["rouge-l"]["f"])
            except (ValueError, RecursionError):
                per[i] = None
    scored = [v for v in per if v is not None]
    return (sum(scored) / len(scored) if scored else float("nan")), per


def _bertscore_spec(model: str | None) -> tuple[str, int | None]:
    """`name` or `name:N` (N: the layer whose embeddings are compared)."""
    model = model or BERTSCORE_MODEL
    head, sep, tail = model.rpartition(":")
    return (head, int(tail)) if sep and head and tail.isdigit() else (model, None)


def _bertscore_layers(name: str) -> int:
    """bert-score's layer for a model it knows (also a local folder named like one: a copy of
    bert-base-multilingual-cased gets EMMA-500's layer 9), else the model's last layer."""
    from bert_score.utils import model2layers

    for key in (name, Path(name).name):
        if key in model2layers:
            return model2layers[key]
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(name)
    return int(getattr(config, "num_hidden_layers", None) or config.num_layers)


_BERTSCORE_FAILED: dict[tuple[str, int | None], str] = {}


@lru_cache(maxsize=2)
def _bertscorer(name: str, layers: int | None):
    from bert_score import BERTScorer

    return BERTScorer(model_type=name, num_layers=layers or _bertscore_layers(name), lang=None, rescale_with_baseline=False)


def bertscore_f1(hyps: Sequence[str], refs: Sequence[str], model: str | None = None) -> tuple[list[float] | None, dict[str, Any]]:
    """(each pair's BERTScore F1, what was used: {"model", "num_layers"}), or (None, {"model",
    "skipped": why}) when bert-score or the model cannot be loaded: a run without the hub still
    gets its other scores. `model`: a hub id or local folder, `:N` to pick layer N."""
    name, layers = _bertscore_spec(model)
    try:
        import bert_score  # noqa: F401
    except ImportError:
        return None, {"model": name, "skipped": "bert-score is not installed (pip install 'emma[emma500]')"}
    if (name, layers) in _BERTSCORE_FAILED:  # tried once in this process (without the hub that can take a minute): not again per language
        return None, {"model": name, "skipped": _BERTSCORE_FAILED[name, layers]}
    try:
        scorer = _bertscorer(name, layers)
    except Exception as exc:  # no hub, a wrong path, a model bert-score cannot use: skipped, with the reason
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _BERTSCORE_FAILED[name, layers] = f"could not load {name} ({type(exc).__name__}{f': {first}' if first else ''})"
        return None, {"model": name, "skipped": _BERTSCORE_FAILED[name, layers]}
    if not hyps:
        return [], {"model": name, "num_layers": scorer.num_layers}
    _, _, f1 = scorer.score(list(hyps), list(refs))
    return [float(v) for v in f1], {"model": name, "num_layers": scorer.num_layers}


# --- Self-BLEU ------------------------------------------------------------------------------------


def self_bleu_emma500(outputs: Sequence[str]) -> float:
    """EMMA-500's Self-BLEU (see the module docstring): the mean over i of
    `BLEU().corpus_score([outputs[i]], [outputs[:i] + outputs[i + 1:]]).score`.

    Computed as `corpus_score([outputs[i]], [[others[0]]])`, the same number: sacrebleu pairs the
    one hypothesis with the first segment of the one reference stream and never reads the rest
    (tests check it against the literal call), without tokenising all the others n times."""
    if len(outputs) < 2:
        return float("nan")
    metric = bleu()
    scores = [metric.corpus_score([out], [[outputs[1] if i == 0 else outputs[0]]]).score for i, out in enumerate(outputs)]
    return sum(scores) / len(scores)


def self_bleu(outputs: Sequence[str]) -> float:
    """Self-BLEU with every other output as a reference of each output: the mean over i of
    `BLEU().corpus_score([outputs[i]], [[o] for o in others]).score` (sacrebleu defaults, as
    EMMA-500's BLEU). Each output is tokenised once and each n-gram's largest and second largest
    count over the outputs kept, so output i's clipped matches against all the others cost one pass
    over its own n-grams; the numbers are sacrebleu's (tests check them against the literal call)."""
    if len(outputs) < 2:
        return float("nan")
    metric = bleu()
    try:
        from sacrebleu.metrics.helpers import extract_all_word_ngrams

        order = metric.max_ngram_order
        grams = [extract_all_word_ngrams(metric._preprocess_segment(o), 1, order) for o in outputs]
        best: dict[tuple, list[int]] = {}  # n-gram -> [largest count, whose, second largest]
        for i, (counts, _) in enumerate(grams):
            for gram, c in counts.items():
                top = best.get(gram)
                if top is None:
                    best[gram] = [c, i, 0]
                elif c > top[0]:
                    top[:] = [c, i, top[0]]
                elif c > top[2]:
                    top[2] = c
        lens = [n for _, n in grams]
        scores = []
        for i, (counts, hyp_len) in enumerate(grams):
            correct, total = [0] * order, [0] * order
            for gram, c in counts.items():
                top = best[gram]
                total[len(gram) - 1] += c
                correct[len(gram) - 1] += min(c, top[2] if top[1] == i else top[0])
            ref_len = metric._get_closest_ref_len(hyp_len, lens[:i] + lens[i + 1 :])
            scores.append(metric._compute_score_from_stats([hyp_len, ref_len, *correct, *total]).score)
    except (ImportError, AttributeError):  # a sacrebleu without these internals: its public call, n times slower
        scores = [metric.corpus_score([out], [[o] for j, o in enumerate(outputs) if j != i]).score for i, out in enumerate(outputs)]
    return sum(scores) / len(scores)
