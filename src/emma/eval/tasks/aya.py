"""Aya evaluation suite (Singh et al., 2024), open-ended generation as EMMA-500 evaluated it
(EMMA-500's evaluation/Aya: download_dataset.py, eval_aya.py, evaluate.py): the model answers each
`inputs` and is scored against `targets`.

Data: `CohereForAI/aya_evaluation_suite`, its configs `aya_human_annotated` and
`dolly_machine_translated` (split `test`), concatenated in that order and grouped by
`<language>_<script>` (`arb_Arab`), as EMMA-500's download_dataset.py writes them; or, with
`--data-dir`, those files: `<data_dir>/<lang_script>.jsonl`, one {"inputs", "targets"} a line. An
item's id is its row index in its language's group (the suite's own ids repeat across its configs);
`--limit` takes a seeded sample.

Prompt: `inputs` as it is (both presets). Decoding: default preset greedy, 256 new tokens, no stop
string, outputs stripped; `--preset emma500` EMMA-500's SamplingParams(temperature=0.6, top_p=0.9,
max_tokens=256), seeded with `--seed`, outputs as generated (`--temperature`, `--top-p`,
`--max-new-tokens`, `--seed` override either). EMMA-500 generated with vLLM: sampled outputs match
its in distribution, not token for token.

Metrics (`emma.eval.metrics`):
- `chrf`: chrF++ (`CHRF(word_order=2)`), corpus level; `bleu`: BLEU (sacrebleu defaults, 13a), corpus;
- `self_bleu`: each output against all the others (multi-reference), averaged; `self_bleu_emma500`:
  EMMA-500's computation, each output against the first other one (see `emma.eval.metrics`);
- `rougeL`: under `--preset emma500` the PyPI `rouge` package's ROUGE-L F (EMMA-500's), in the
  default preset emma's multilingual ROUGE-L (`rouge-score` with a Unicode tokenizer), item mean.
- `in_script`, `in_language` (with `--lid-model`): the share of outputs in the language's script and
  language (`emma.eval.fidelity`), over every output.
Under `--preset emma500` every metric is computed over the outputs EMMA-500's filter keeps (not
empty, not dots alone; `n_scored`), as its evaluate.py does; the default preset scores every output.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from emma.errors import EmmaError
from emma.eval import fidelity, metrics
from emma.eval.data import hub_rows, require
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, mean, sample_items
from emma.eval.tasks._emma500 import decoding
from emma.io import read_jsonl

METRICS = ["chrf", "bleu", "rougeL", "self_bleu", "self_bleu_emma500", "in_script", "in_language"]  # in_language: --lid-model
DATASET = "CohereForAI/aya_evaluation_suite"
CONFIGS = ("aya_human_annotated", "dolly_machine_translated")


def _files(data_dir) -> dict[str, Path]:
    from emma.languages import normalize

    out = {}
    for path in sorted(Path(data_dir).glob("*_*.jsonl")):
        try:
            out[normalize(path.stem)] = path
        except EmmaError as exc:
            raise EmmaError(f"aya: file {path.name}: {exc}") from None
    return out


def languages(data_dir: DataDir) -> list[str] | None:
    return None if data_dir is None else sorted(_files(data_dir))


@lru_cache(maxsize=1)
def _hub_groups() -> dict[str, list[dict]]:
    """Both configs' test rows, in EMMA-500's order, grouped by `<language>_<script>`."""
    groups: dict[str, list[dict]] = {}
    for config in CONFIGS:
        for r in hub_rows(DATASET, config, "test", "aya"):
            groups.setdefault(f"{r['language']}_{r['script']}", []).append({"inputs": r["inputs"], "targets": r["targets"]})
    return groups


def load(data_dir, lang: str) -> list[dict]:
    if data_dir is None:
        from emma.languages import resolve

        groups = _hub_groups()
        try:
            rows = groups[lang] if lang in groups else groups[resolve(lang, groups)]
        except EmmaError as exc:
            raise EmmaError(f"aya: {DATASET} has no {lang} ({exc})") from None
    else:
        files = _files(data_dir)
        path = files.get(lang) or Path(data_dir) / f"{lang}.jsonl"
        rows = read_jsonl(require(path, "aya", "<lang_script>.jsonl files with inputs and targets (EMMA-500's download_dataset.py layout)"), "aya")
    for n, r in enumerate(rows, 1):
        if not isinstance(r.get("inputs"), str) or not isinstance(r.get("targets"), str):
            raise EmmaError(f"aya: {lang} item {n} needs `inputs` and `targets` strings")
    return rows


def score(outputs: list[str], refs: list[str], *, emma500: bool) -> tuple[dict, list[float | None]]:
    """The language's scores and each item's ROUGE-L (None where not scored); see the module docstring."""
    if emma500:
        kept = [i for i, k in enumerate(metrics.emma500_kept(outputs)) if k]
        rouge, per = metrics.rouge_l_emma500(outputs, refs)
    else:
        from emma.eval.tasks.summarization import rouge_l

        kept = list(range(len(outputs)))
        per = [rouge_l(o, r) for o, r in zip(outputs, refs)]
        rouge = mean(per)
    hyps, gold = [outputs[i] for i in kept], [refs[i] for i in kept]
    out: dict = {"rougeL": rouge, "n_scored": len(kept)}
    if hyps:
        chrf, bleu = metrics.chrf(), metrics.bleu()
        out |= {"chrf": chrf.corpus_score(hyps, [gold]).score, "bleu": bleu.corpus_score(hyps, [gold]).score}
        out["signatures"] = {"chrf": str(chrf.get_signature()), "bleu": str(bleu.get_signature())}
    out |= {"self_bleu": metrics.self_bleu(hyps), "self_bleu_emma500": metrics.self_bleu_emma500(hyps)}
    return out, per


def run(backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    rows = load(data_dir, lang)
    lid = fidelity.load(opts.lid_model)  # before generating: a bad path fails fast
    emma500 = opts.preset == "emma500"
    gen = decoding(opts, max_new_tokens=256, preset_task="aya")
    chosen = sample_items(rows, opts.limit, opts.seed, mode=opts.limit_mode)
    requests = [GenRequest(r["inputs"], until=(), **gen) for _, r in chosen]
    outputs = backend.generate(requests, progress=progress)
    if not emma500:
        outputs = [o.strip() for o in outputs]
    refs = [r["targets"] for _, r in chosen]
    scores, per_rouge = score(outputs, refs, emma500=emma500)
    kept = metrics.emma500_kept(outputs) if emma500 else [True] * len(outputs)
    samples = [
        {"id": i, "context": r["inputs"], "reference": r["targets"], "prediction": out, "scored": k, "rougeL": rl, **checked}
        for (i, r), out, k, rl, checked in zip(chosen, outputs, kept, per_rouge, fidelity.check(outputs, lang, lid))
    ]
    return samples, scores | fidelity.scores(samples) | {"n": len(samples), "n_total": len(rows), "decoding": gen}


TASKS = [
    Task(
        "aya",
        METRICS,
        languages,
        run,
        description="Aya evaluation suite (EMMA-500's task): chrf, bleu, rougeL, self_bleu, self_bleu_emma500; default greedy; "
        "--preset emma500: EMMA-500's sampling (0.6/0.9, 256 tokens), output filter and rouge-package rougeL",
    )
]
