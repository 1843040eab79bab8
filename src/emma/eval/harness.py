"""`emma eval`: run tasks x languages for each model, writing one per-sample JSONL per
(model, task, language), a scores.json per model with per-resource-group aggregates, and the same
results in lm-evaluation-harness's layout.

Layout (`emma.eval.results` has the details): `OUT/<model>/<task>/<xxx_Scrp>.jsonl` (one row per item,
with model, task, lang, doc_id and the exact prompt), `<xxx_Scrp>.json` beside it (the model's
identity, settings, scores, standard errors, how many items), `OUT/<model>/scores.json`:
`{"_model": identity, "<task>": {"<xxx_Scrp>": {"<metric>": v, "n": k}, "_groups": {"<group>": {...}},
"_overall": {...}, "_stderr": {...}, "_ci95": {...}, "_partial": {...}}}`, and `OUT/<model>/results_<date>.json`.
`<model>` is the model's identity, not the last part of its path: two models in `.../checkpoint` get two folders.
A (model, task, language) whose files exist is not redone when the same model (by weights
fingerprint), backend and settings wrote them: a kill loses only the language in progress. A
folder holding another model's results (or this path's before it was retrained) is refused.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import asdict
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from emma.errors import EmmaError
from emma.eval.backend import BackendOptions
from emma.eval.presets import PRESETS, options_for
from emma.eval.registry import get_task
from emma.eval.results import (
    TaskRun,
    check_folder,
    language_record,
    lm_eval_results,
    model_identity,
    read_language_record,
    same_run,
    sample_rows,
    task_extras,
    write_lm_eval_results,
)
from emma.eval.task import DataDir, GroupKey, Task, TaskOptions, mean
from emma.io import ensure_writable_dir, write_json, write_jsonl
from emma.languages import GROUPS, normalize, resolve

console = Console(stderr=True)


def select_languages(task: Task, data_dir: DataDir, langs: str | None, groups: dict[str, str]) -> list[str]:
    available = task.languages(data_dir)
    if task.select is not None:
        return task.select(data_dir, langs, available, groups)
    if available is None:  # the task's data is on the hub and its language list is open: take --langs as given
        if not langs or langs == "all" or langs.startswith("group:"):
            raise EmmaError(f"{task.name} without --data-dir: name the languages with --langs L1,L2")
        return [normalize(code.strip()) for code in langs.split(",") if code.strip()]
    if not langs or langs == "all":
        return available
    if langs.startswith("group:"):
        wanted = langs.removeprefix("group:")
        if wanted not in GROUPS:
            raise EmmaError(f"unknown resource group {wanted!r} in --langs; use one of {', '.join(GROUPS)}")
        return [lang for lang in available if groups.get(lang) == wanted]
    return [resolve(code.strip(), available) for code in langs.split(",") if code.strip()]


def finished_record(model_dir: Path, task_name: str, lang: str, identity: dict, settings: dict) -> dict | None:
    """The language record of (task, lang) in `model_dir` when that language is done and stands for
    this run (both files there, the same settings, the same model through the same backend and dtype),
    else None. A corrupt record or another model's is one clear error line (`read_language_record`)."""
    path = model_dir / task_name / f"{lang}.jsonl"
    meta_path = path.with_suffix(".json")
    meta = read_language_record(meta_path, identity, model_dir) if meta_path.exists() else None
    return meta if meta and path.exists() and meta["settings"] == settings and same_run(meta["model"], identity) else None


def aggregate(per_lang: dict[str, dict], groups: dict[str, str], metrics: list[str], group_key: GroupKey | None = None) -> dict:
    """Macro-average over languages, per resource group and overall: the tasks' NaN-safe mean, so a
    language without a score (NaN, or a metric it lacks) is skipped; a metric no language has is left out."""

    def average(langs):
        out = {}
        for m in metrics:
            vals = [per_lang[lang][m] for lang in langs if isinstance(per_lang[lang].get(m), (int, float))]
            if vals:
                out[m] = mean(vals)
        return out | {"languages": len(langs)}

    by_group: dict[str, list[str]] = {}
    group_of: dict[str, str] = {}  # each key's group, so a report can sort and filter languages by it
    for lang in per_lang:
        group_of[lang] = groups.get(group_key(lang) if group_key else lang, "unknown")
        by_group.setdefault(group_of[lang], []).append(lang)
    if not per_lang:
        return {}
    return {"_groups": {g: average(v) for g, v in by_group.items()}, "_overall": average(list(per_lang)), "_group_of": group_of}


def evaluate(
    models: list[str],
    tasks: list[str],
    out: str | Path,
    *,
    langs: str | None = None,
    data_dir: str | None = None,
    options: TaskOptions | None = None,
    backend: str = "hf",
    groups: dict[str, str] | None = None,
    batch_size: int = 8,
    preset: str | None = None,
    explicit: Collection[str] = (),
    backend_options: BackendOptions | None = None,
    write_summary: bool = True,
) -> dict:
    """Run `tasks` on each model; returns {result folder name: {task: scores.json's entry}}.
    `preset` ("emma500") fills in each task's settings from `emma.eval.presets`, except the
    TaskOptions fields named in `explicit` (the ones the user set). `backend_options` (device, dtype,
    model args, ...; default: `batch_size` alone) say how the backend runs each model.
    `write_summary=False` writes the per-language files only, not the model's scores.json and
    results_<date>.json (a Slurm array task runs a shard of the languages; `emma.eval.slurm`)."""
    from emma.eval.backends import make_backend, run_dtype

    backend_options = backend_options or BackendOptions(batch_size=batch_size)
    dtype = run_dtype(backend, backend_options)  # checked (and a GPU asked for looked up) before any work

    out = ensure_writable_dir(out)
    groups = groups or {}
    options = options or TaskOptions()
    if preset and preset not in PRESETS:
        raise EmmaError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    settings = asdict(options)
    all_scores: dict[str, dict] = {}
    for model in models:
        started = time.time()
        identity = model_identity(model, backend, dtype)
        be = None
        if identity["kind"] == "hub" and identity["fingerprint"] is None:
            # Not in the local hub cache: loading downloads it, and then the identity names its snapshot.
            be = make_backend(backend, model, backend_options)
            identity = model_identity(model, backend, dtype)
        model_dir = out / identity["name"]
        scores_path = model_dir / "scores.json"
        existing = check_folder(model_dir, identity)  # another model's folder is refused here, before any work
        runs: list[TaskRun] = []
        for task_name in tasks:
            task = get_task(task_name)
            task_options = options_for(task_name, options, preset, explicit)
            task_settings = asdict(task_options)
            chosen = select_languages(task, data_dir, langs, groups)
            if not chosen:
                raise EmmaError(f"{task_name}: no language selected by --langs {langs!r}")
            records: dict[str, dict] = {}
            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console
            ) as bar:
                todo = bar.add_task(f"{model} {task_name}", total=len(chosen))
                scored = bar.add_task("  requests done in this language", total=None)
                for lang in chosen:
                    path = model_dir / task_name / f"{lang}.jsonl"
                    meta_path = path.with_suffix(".json")
                    meta = finished_record(model_dir, task_name, lang, identity, task_settings)
                    if meta is None:
                        be = be or make_backend(backend, model, backend_options)
                        bar.update(todo, description=f"{model} {task_name} {lang}")
                        bar.reset(scored, total=None)
                        samples, result = task.run(be, data_dir, lang, task_options, progress=partial(bar.advance, scored))
                        if not samples:  # an empty or header-only file: nothing scored is not a result
                            raise EmmaError(f"{task_name}: language {lang} has no items to score in its data; fix or remove that file")
                        meta = language_record(identity, task_settings, samples, result, task.metrics)
                        write_jsonl(path, sample_rows(samples, model=identity["name"], task=task_name, lang=lang))
                        write_json(meta_path, meta)  # written last: marks the language done
                    records[lang] = meta
                    bar.advance(todo)
            per_lang = {lang: r["scores"] for lang, r in records.items()}
            existing[task_name] = {**per_lang, **aggregate(per_lang, groups, task.metrics, task.group_key), **task_extras(records)}
            existing = {"_model": identity, **{k: v for k, v in existing.items() if k != "_model"}}
            if write_summary:
                write_json(scores_path, existing)
            all_scores.setdefault(model_dir.name, {})[task_name] = existing[task_name]
            overall = existing[task_name].get("_overall", {})
            runs.append(TaskRun(task_name, task.description, task.metrics, records, overall))
            cut = existing[task_name]["_partial"]
            console.print(
                f"{model_dir.name} {task_name}: "
                + ", ".join(f"{m} {overall[m]:.4f}" for m in task.metrics if m in overall)
                + f" over {len(per_lang)} languages"
                + (f" ({len(cut)} of them on fewer items than the language has or than asked: _partial in scores.json)" if cut else "")
            )
        used = getattr(be, "current_batch_size", None) or backend_options.batch_size or "auto"
        doc = lm_eval_results(identity, runs, settings=settings, batch_size=used, data_dir=data_dir, started=started)
        if write_summary:
            write_lm_eval_results(model_dir, doc)
        if be is not None and hasattr(be, "close"):  # a vLLM engine holds its memory until closed: one model at a time
            be.close()
    return all_scores
