"""Output-language fidelity for the generation tasks: is a model's output in the language it was
asked for at all? A model that answers in English scores well on Self-BLEU and tolerably on chrF
against a target it never wrote, so every generation task (FLORES targets, summaries, PolyWrite,
Aya) reports these beside its main metric, per sample and per language:

- `in_script`: the output's main script (GlotScript, `emma.languages.detect_script`) is the
  language's script, by emma's one mixed-script rule (`emma.text.script_matches`: `Jpan` accepts
  Han and Kana, `Hans`/`Hant` accept `Hani`); an empty output is in no script (0).
- `in_language`: a fastText LID model (`--lid-model`; GlotLID's `model.bin` works) labels the
  output as the requested `xxx_Scrp`; recorded only when a model is given.
"""

from __future__ import annotations

from typing import Any

from emma.text import script_matches

METRICS = ["in_script", "in_language"]

__all__ = ["METRICS", "check", "in_script", "lid_labels", "load", "scores"]


def in_script(text: str, lang: str) -> bool:
    """Whether `text` is mainly written in the script of `lang` (`xxx_Scrp`)."""
    from emma.languages import detect_script

    return script_matches(lang.split("_")[1], detect_script(text))


def lid_labels(model, texts: list[str]) -> list[str]:
    """Top label (`xxx_Scrp`) of a fastText LID model for each text."""
    from emma.lid import predict

    return [label for label, _ in predict(model, texts)]


def load(path: str | None):
    """The LID model at `path` (None: no language check). Loaded before generating, so a bad path fails fast."""
    if not path:
        return None
    from emma.lid import load_lid

    return load_lid(path, "--lid-model")


def check(outputs: list[str], lang: str, lid=None) -> list[dict[str, Any]]:
    """Per output: `in_script` (1.0/0.0) and, with a LID model, its label (`lid`) and `in_language`."""
    rows: list[dict[str, Any]] = [{"in_script": float(in_script(o, lang))} for o in outputs]
    if lid is not None:
        for row, label in zip(rows, lid_labels(lid, [o.strip() for o in outputs])):
            row |= {"lid": label, "in_language": float(label == lang)}
    return rows


def scores(samples: list[dict]) -> dict[str, float]:
    """The language's rates: the mean of each fidelity metric its samples carry (none: left out)."""
    from emma.eval.task import mean

    return {m: mean(s.get(m) for s in samples) for m in METRICS if any(m in s for s in samples)}
