"""PolyWrite (EMMA-500's benchmark): 31 open-ended writing tasks, 155 prompts machine-translated
into 240 languages (back-translation BLEU >= 20 kept). The model writes a text for each prompt.

Metrics per language:
- `self_bleu`: EMMA-500's diversity measure: each output's BLEU (sacrebleu) against the other
  outputs of the same language as references, averaged; lower is more diverse.
- `in_script`: share of outputs whose main script (GlotScript) is the language's script;
- `in_language`: share of outputs a fastText LID model (`--lid-model`, GlotLID's `model.bin`
  works) labels as the requested language; reported only when a model is given.
EMMA-500 reported Self-BLEU alone, which rewards a model that writes varied text in the wrong language.

Local layout (as the hub repository `MaLA-LM/PolyWrite`): `<data_dir>/<xxx_Scrp>.jsonl`, one prompt
a line; the prompt text is taken from `prompt_translated` (else `prompt`, `text`), and `category`,
`name` and `prompt_en` are kept in the per-sample log when present. An item's id is its row index
in the language's file (`name` names a writing task, not one prompt); `--limit` takes a seeded
sample stratified by `category`.
"""

from __future__ import annotations

from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import require
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, mean, sample_items
from emma.io import read_jsonl
from emma.text import script_matches

METRICS = ["self_bleu", "in_script", "in_language"]
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
    """Mean sentence BLEU of each output against all the others (EMMA-500's Self-BLEU)."""
    import sacrebleu

    if len(outputs) < 2:
        return float("nan")
    scores = [sacrebleu.sentence_bleu(out, outputs[:i] + outputs[i + 1 :]).score for i, out in enumerate(outputs)]
    return mean(scores)


def in_script(text: str, lang: str) -> bool:
    from emma.languages import detect_script

    return script_matches(lang.split("_")[1], detect_script(text))


def lid_labels(model, texts: list[str]) -> list[str]:
    """Top label (`xxx_Scrp`) of a fastText LID model for each text."""
    from emma.lid import predict

    return [label for label, _ in predict(model, texts)]


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    all_rows = load(data_dir, lang)
    chosen = sample_items(all_rows, opts.limit, opts.seed, lambda r: str(r.get("category")), mode=opts.limit_mode)
    rows = [r for _, r in chosen]
    from emma.lid import load_lid

    lid = load_lid(opts.lid_model, "--lid-model") if opts.lid_model else None  # before generating: a bad path fails fast
    requests = [
        GenRequest(r["_prompt"].strip() + "\n", max_new_tokens=opts.max_new_tokens or 256, until=(), temperature=0.0, seed=opts.seed) for r in rows
    ]
    outputs = [o.strip() for o in backend.generate(requests, progress=progress)]
    labels = lid_labels(lid, outputs) if lid else [None] * len(outputs)
    samples = []
    for (i, r), out, label in zip(chosen, outputs, labels):
        s = {
            "id": i,
            "name": r.get("name"),
            "category": r.get("category"),
            "prompt_en": r.get("prompt_en"),
            "context": r["_prompt"].strip() + "\n",  # the exact prompt sent
            "prediction": out,
            "in_script": float(in_script(out, lang)),
        }
        if label is not None:
            s |= {"lid": label, "in_language": float(label == lang)}
        samples.append(s)
    scores = {"self_bleu": self_bleu(outputs), "in_script": mean(s["in_script"] for s in samples), "n": len(samples), "n_total": len(all_rows)}
    if opts.lid_model:
        scores["in_language"] = mean(s["in_language"] for s in samples)
    return samples, scores


TASKS = [Task("polywrite", METRICS, languages, run, description="PolyWrite open-ended generation: Self-BLEU, script and LID checks")]
