"""What `emma report --html` and `emma compare` read: the documented files of `emma eval`, `emma demo`
and `emma train` folders, turned into one list of models (each with scores.json-shaped scores and
its per-sample rows) and one list of training runs. Read only, never imported from another stage.

A folder is recognised by what it holds (checked in this order, several may apply):
- `<model>/scores.json` (an `emma eval --out` folder), or `scores.json` itself (one model's folder);
- `results.json` with `base_model` and `languages` (an `emma demo --out` folder): two models, the base
  and the adapted one, on task `nll` (per-segment rows from `scores_before.jsonl` / `scores_after.jsonl`),
  and its `train/` run;
- `train.json` with `log_history` (an `emma train --out` folder).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emma.errors import EmmaError
from emma.languages import ResourceGroups, load_resource_groups, split
from emma.report.tables import read_scores

WHAT = "an `emma eval --out`, `emma demo --out` or `emma train --out` folder"


@dataclass
class ModelResults:
    """One model's results: `scores` in scores.json's shape, rows per (task, key) read on demand."""

    name: str
    source: Path
    scores: dict
    kind: str = "eval"  # eval | demo
    rows: dict[tuple[str, str], list[dict]] = field(default_factory=dict)

    def tasks(self) -> list[str]:
        return [t for t in self.scores if not t.startswith("_")]

    def keys(self, task: str) -> list[str]:
        return [k for k in self.scores.get(task, {}) if not k.startswith("_")]

    def value(self, task: str, key: str, metric: str) -> float | None:
        v = self.scores.get(task, {}).get(key, {}).get(metric)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    def samples(self, task: str, key: str) -> list[dict] | None:
        """The per-sample rows of (task, key), or None where there are none (an older or foreign folder)."""
        if (task, key) not in self.rows:
            path = self.source / task / f"{key}.jsonl"
            self.rows[task, key] = _read_rows(path) if self.kind == "eval" and path.is_file() else []
        return self.rows[task, key] or None

    def settings(self, task: str) -> dict:
        """The task's settings as its first language record holds them ({} where there is none)."""
        if self.kind != "eval":
            return {}
        for key in self.keys(task):
            try:
                data = json.loads((self.source / task / f"{key}.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("settings"), dict):
                return data["settings"]
        return {}


@dataclass
class TrainingRun:
    """An `emma train` run: its logged training loss and held-out loss per language, by step."""

    name: str
    source: Path
    loss: list[tuple[int, float]]
    heldout: dict[str, list[tuple[int, float]]]


@dataclass
class ReportInput:
    models: list[ModelResults]
    trainings: list[TrainingRun]
    groups: dict[str, str]  # key -> resource group, where known
    sources: list[Path]

    def model(self, name: str) -> ModelResults:
        return next(m for m in self.models if m.name == name)


def _read_rows(path: Path) -> list[dict]:
    """A per-sample JSONL; a line that does not parse (a run killed mid-write) ends the rows read."""
    rows = []
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    break
                if isinstance(row, dict):
                    rows.append(row)
    except (OSError, UnicodeDecodeError):
        return []
    return rows


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EmmaError(f"{path}: not valid JSON ({exc}); rerun the command that wrote it, or leave its folder out") from None
    except OSError as exc:
        raise EmmaError(f"{path}: cannot be read ({exc.strerror})") from None


def _training(path: Path, name: str) -> TrainingRun:
    info = _load_json(path)
    history = info.get("log_history") if isinstance(info, dict) else None
    if not isinstance(history, list):
        raise EmmaError(f"{path}: not an emma train.json (no log_history list); rerun `emma train --out {path.parent}`, or leave it out")
    loss: list[tuple[int, float]] = []
    heldout: dict[str, list[tuple[int, float]]] = {}
    for h in history:
        if not isinstance(h, dict) or not isinstance(h.get("step"), int):
            continue
        if isinstance(h.get("loss"), (int, float)):
            loss.append((h["step"], float(h["loss"])))
        for k, v in h.items():
            if k.startswith("eval_") and k.endswith("_loss") and isinstance(v, (int, float)):
                heldout.setdefault(k.removeprefix("eval_").removesuffix("_loss"), []).append((h["step"], float(v)))
    return TrainingRun(name, path.parent, loss, heldout)


def _demo(folder: Path, results: dict) -> tuple[list[ModelResults], dict[str, str]]:
    """The demo's before/after NLL as two models on task `nll`, per-segment rows keyed by section."""
    base = str(results.get("base_model") or "base")
    langs = results["languages"]
    out = []
    for label, when in ((f"{base} (base)", "before"), (f"{base} (CPT)", "after")):
        task: dict[str, Any] = {}
        rows: dict[tuple[str, str], list[dict]] = {}
        log = folder / f"scores_{when}.jsonl"
        logged = {r.get("lang"): r for r in _read_rows(log)} if log.is_file() else {}
        for lang, r in langs.items():
            if not isinstance(r, dict) or not all(isinstance(r.get(f"{m}_{when}"), (int, float)) for m in ("nll", "bpb")):
                raise EmmaError(f"{folder / 'results.json'}: language {lang} lacks nll_{when}/bpb_{when}; rerun `emma demo --out {folder}`")
            segs = logged.get(lang, {}).get("per_segment") or []
            task[lang] = {"nll": r[f"nll_{when}"], "bpb": r[f"bpb_{when}"], "n": len(segs) or r.get("heldout_segments") or 0}
            rows["nll", lang] = [{"id": str(s.get("section")), "nll": s.get("nll"), "bytes": s.get("bytes")} for s in segs if isinstance(s, dict)]
        out.append(
            ModelResults(label, folder, {"_model": {"location": base if when == "before" else results.get("checkpoint")}, "nll": task}, "demo", rows)
        )
    return out, {lang: r.get("group") or "unknown" for lang, r in langs.items()}


def _one(folder: Path) -> tuple[list[ModelResults], list[TrainingRun], dict[str, str]]:
    if not folder.exists():
        raise EmmaError(f"{folder}: no such folder; give {WHAT}")
    if not folder.is_dir():
        raise EmmaError(f"{folder}: not a folder; give {WHAT}")
    models: list[ModelResults] = []
    trainings: list[TrainingRun] = []
    groups: dict[str, str] = {}
    found = sorted(folder.glob("*/scores.json"))
    if (folder / "scores.json").is_file():
        found.insert(0, folder / "scores.json")
    for path in found:
        scores = read_scores(path)
        models.append(ModelResults(path.parent.name, path.parent, scores))
        for task, entry in scores.items():
            if not task.startswith("_") and isinstance(entry.get("_group_of"), dict):
                groups.update({k: g for k, g in entry["_group_of"].items() if isinstance(g, str)})
    if (folder / "results.json").is_file():
        results = _load_json(folder / "results.json")
        if isinstance(results, dict) and isinstance(results.get("languages"), dict) and "base_model" in results:
            demo_models, demo_groups = _demo(folder, results)
            models += demo_models
            groups.update(demo_groups)
    for path in (folder / "train.json", folder / "train" / "train.json"):
        if path.is_file():
            trainings.append(_training(path, path.parent.name if path.parent != folder else folder.name))
    if not models and not trainings:
        raise EmmaError(
            f"{folder}: no emma results inside (no <model>/scores.json, results.json or train.json); "
            f"run `emma eval --out {folder}` (or emma demo / emma train) first, or give {WHAT}"
        )
    return models, trainings, groups


def load_inputs(folders: list[Path], resource_groups: str | Path | None = None) -> ReportInput:
    """Every folder read and checked (one error line naming a bad one) before anything is written.
    Two models of the same name from two folders are told apart by their folder's name."""
    models: list[ModelResults] = []
    trainings: list[TrainingRun] = []
    groups: dict[str, str] = {}
    for folder in folders:
        got, runs, found = _one(Path(folder))
        models += got
        trainings += runs
        for k, g in found.items():
            groups.setdefault(k, g)
    for m in models:
        if sum(o.name == m.name for o in models) > 1:
            m.name = f"{m.source.parent.name}/{m.name}" if m.kind == "eval" else f"{m.source.name}/{m.name}"
    table: ResourceGroups | None = load_resource_groups(resource_groups) if resource_groups else None
    if table is not None:
        keys = {k for m in models for t in m.tasks() for k in m.keys(t)} | {lang for r in trainings for lang in r.heldout}
        for k in keys:
            found_group = table.get(language_of(k))
            if found_group:
                groups[k] = found_group
    return ReportInput(models, trainings, groups, [Path(f) for f in folders])


def language_of(key: str) -> str:
    """The language a result key is about: itself, or for a translation direction `src-tgt` the side
    that is not English (the target when both or neither are)."""
    if "-" not in key:
        return key
    src, _, tgt = key.partition("-")
    return src if tgt.startswith("eng_") and not src.startswith("eng_") else tgt


def script_of(key: str) -> str:
    try:
        return split(language_of(key))[1] or "?"
    except EmmaError:
        return "?"
