"""PolyWrite (EMMA-500's benchmark): 31 open-ended writing tasks, 155 prompts machine-translated
into 240 languages (back-translation BLEU >= 20 kept). The model writes a text for each prompt.

Metrics per language (both presets):
- `self_bleu`: diversity: each output's BLEU (sacrebleu defaults) against all the other outputs of
  the language as references, averaged; lower is more diverse. What EMMA-500's Self-BLEU meant.
- `self_bleu_emma500`: EMMA-500's Self-BLEU as its evaluate.py computes it, `corpus_score([o_i],
  [others])`: sacrebleu reads `[others]` as one reference stream aligned with the one hypothesis, so
  each output is scored against the first other output only (`emma.eval.metrics` has the detail).
  Reported to compare with EMMA-500's tables; `self_bleu` is the measure to use.
- `in_script`: share of outputs whose main script (GlotScript) is the language's script;
- `in_language`: share of outputs a fastText LID model (`--lid-model`, GlotLID's `model.bin`
  works) labels as the requested language; reported only when a model is given.
EMMA-500 reported Self-BLEU alone, which rewards a model that writes varied text in the wrong language.

Presets (`--preset`):
- default (emma's own; lm-eval has no such task): the prompt text stripped and a newline added;
  greedy decoding, 256 new tokens, no stop string; outputs stripped before scoring.
- `emma500` (EMMA-500's eval_polywrite.py): the prompt is `prompt_translated` exactly as it is (no
  newline added); sampling, temperature 0.6, top-p 0.9, 512 new tokens, seeded with `--seed`;
  outputs scored as generated. EMMA-500 generated with vLLM: sampled outputs match its in
  distribution, not token for token.
`--temperature`, `--top-p`, `--max-new-tokens` and `--seed` override either.

Local layout (as the hub repository `MaLA-LM/PolyWrite`): `<data_dir>/<xxx_Scrp>.jsonl`, one prompt
a line; the prompt text is taken from `prompt_translated` (else `prompt`, `text`), and `category`,
`name` and `prompt_en` are kept in the per-sample log when present. An item's id is its row index
in the language's file (`name` names a writing task, not one prompt); `--limit` takes a seeded
sample stratified by `category`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emma.errors import EmmaError
from emma.eval import fidelity, metrics
from emma.eval.data import require
from emma.eval.fidelity import in_script as in_script  # re-exported: they lived here first
from emma.eval.fidelity import lid_labels as lid_labels
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, sample_items
from emma.eval.tasks._emma500 import decoding
from emma.io import read_jsonl

METRICS = ["self_bleu", "self_bleu_emma500", "in_script", "in_language"]
_TEXT_FIELDS = ("prompt_translated", "prompt", "text")


def languages(data_dir: DataDir) -> list[str] | None:
    if data_dir is None:
        return None
    return sorted(p.stem for p in Path(data_dir).glob("*_*.jsonl"))


def load(data_dir, lang: str) -> list[dict]:
    if data_dir is None:
        try:
            import datasets

            rows = [dict(r) for r in datasets.load_dataset("MaLA-LM/PolyWrite", data_files=f"{lang}.jsonl", split="train")]
        except ImportError:
            raise EmmaError("polywrite from the hub needs `pip install datasets`; or give --data-dir") from None
        except Exception as exc:
            raise EmmaError(
                f"polywrite: could not load MaLA-LM/PolyWrite {lang}.jsonl from the hub ({type(exc).__name__}); give --data-dir"
            ) from None
    else:
        rows = read_jsonl(require(Path(data_dir) / f"{lang}.jsonl", "polywrite", "<xxx_Scrp>.jsonl (the MaLA-LM/PolyWrite layout)"), "polywrite")
    for n, r in enumerate(rows, 1):
        text = next((r[k] for k in _TEXT_FIELDS if isinstance(r.get(k), str) and r[k].strip()), None)
        if text is None:
            raise EmmaError(f"polywrite: {lang} line {n} has no prompt text (one of {', '.join(_TEXT_FIELDS)})")
        r["_prompt"] = text
    return rows


def self_bleu(outputs: list[str]) -> float:
    """Mean BLEU of each output against all the others as references (`emma.eval.metrics.self_bleu`)."""
    return metrics.self_bleu(outputs)


def self_bleu_emma500(outputs: list[str]) -> float:
    """EMMA-500's Self-BLEU, each output against the first other one (`emma.eval.metrics.self_bleu_emma500`)."""
    return metrics.self_bleu_emma500(outputs)


def prompt_of(row: dict, opts: TaskOptions) -> str:
    """The exact text sent: under --preset emma500 the prompt as it is (`prompt_translated`, EMMA-500's
    field, else the row's other prompt field), else the prompt stripped plus a newline."""
    if opts.preset == "emma500":
        return row["_prompt"]
    return row["_prompt"].strip() + "\n"


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    all_rows = load(data_dir, lang)
    chosen = sample_items(all_rows, opts.limit, opts.seed, lambda r: str(r.get("category")), mode=opts.limit_mode)
    rows = [r for _, r in chosen]
    lid = fidelity.load(opts.lid_model)  # before generating: a bad path fails fast
    gen = decoding(opts, max_new_tokens=256, preset_task="polywrite")
    contexts = [prompt_of(r, opts) for r in rows]
    requests = [GenRequest(c, until=(), **gen) for c in contexts]
    outputs = backend.generate(requests, progress=progress)
    if opts.preset != "emma500":
        outputs = [o.strip() for o in outputs]
    samples: list[dict[str, Any]] = [
        {
            "id": i,
            "name": r.get("name"),
            "category": r.get("category"),
            "prompt_en": r.get("prompt_en"),
            "context": context,  # the exact prompt sent
            "prediction": out,
            **checked,
        }
        for (i, r), context, out, checked in zip(chosen, contexts, outputs, fidelity.check(outputs, lang, lid))
    ]
    scores: dict[str, Any] = {
        "self_bleu": self_bleu(outputs),
        "self_bleu_emma500": self_bleu_emma500(outputs),
        **fidelity.scores(samples),
        "n": len(samples),
        "n_total": len(all_rows),
        "decoding": gen,
    }
    return samples, scores


TASKS = [
    Task(
        "polywrite",
        METRICS,
        languages,
        run,
        description="PolyWrite open-ended generation: self_bleu (multi-reference), self_bleu_emma500 (EMMA-500's), script and LID checks; "
        "default greedy; --preset emma500: EMMA-500's prompt as is, sampling (0.6/0.9, 512 tokens)",
    )
]
