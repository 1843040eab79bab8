"""Result files: whose results they are (the model's identity), what they hold (scores, standard
errors, how many items), and the same numbers in lm-evaluation-harness's results layout.

Identity. Every model gets one, recorded in every result file and checked before anything is reused:
- `name`: its result folder, path-safe and unique. An alias as is (`smollm2-135m`); a hub id with
  its organisation (`HuggingFaceTB--SmolLM2-135M`); a local directory or .gguf file as its last two
  path parts and a hash of its absolute path (`run-a--checkpoint-3f9c2a1b`), so two models that
  both live in `.../checkpoint` get two folders; a served model as its name and a hash of its URL.
- `kind` (alias, gguf, dir, hub, served) and `location` (absolute path, hub id, or name@url).
- `fingerprint`: `emma.models.load.weights_fingerprint` of the weights the spec resolves to (for a
  hub id, of its snapshot in the local hub cache); None for a served model. `revision`: the hub
  commit of that snapshot. `backend`, `dtype`; `spec`: what was asked for.
A folder that holds another model's results (another location, or the same path whose weights have
changed since: retrained or replaced in place) is refused with one line, never reused or overwritten.

Layout of `OUT/<name>/`:
- `<task>/<key>.jsonl`: one row per item: `model`, `task`, `lang`, `doc_id`, `id` (a string), then
  the task's own fields (`context`, the exact prompt; `choices` and `loglikelihoods`, or `prediction`
  and `reference`; the per-item metrics). NaN is written as null. Tasks differ in the types of
  `target` and `prediction` (an index or a text), so `datasets.load_dataset("json", data_files=
  "OUT/<name>/<task>/*.jsonl")` loads one task folder at a time as one table.
- `<task>/<key>.json`: `{"model": identity, "settings", "backend", "scores": {metric: v, "n": k},
  "stats": {"stderr": {metric: se}, "ci95": {metric: [lo, hi]}}, "items": {"n", "limit", "total",
  "partial"}}` and the task's own information (e.g. sacrebleu signatures). Written last: it marks the key done.
- `scores.json`: `{"_model": identity, "<task>": {"<key>": {metric: v, "n": k}, "_groups": {...},
  "_overall": {...}, "_group_of": {key: group}, "_stderr": {key: {...}}, "_ci95": {key: {...}}, "_partial": {key: items}}}`;
  `_partial` lists each key run under `--limit` or on fewer items than its language has; `_group_of`
  each key's resource group (`unknown` without `--resource-groups`), for reports.
- `results_<date>.json`: one `emma eval` call in lm-eval's layout (`results["<task>_<key>"]["acc,none"]`,
  `"acc_stderr,none"`, a group entry per task, `n-shot`, `n-samples`, `configs`, `versions`,
  `config.model_args`, `date`, `git_hash`), valid against `lm_eval.result_schema.EvalResults`.

Standard errors: a metric that is the mean of its items' scores gets lm-eval's `mean_stderr` (sample
standard deviation / sqrt(n)); corpus BLEU and chrF get sacrebleu's bootstrap (1000 resamples, its
fixed seed), bits per byte a bootstrap over items; those and ROUGE also get a 95% interval.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from emma.errors import EmmaError

BOOTSTRAP_ITERS = 1000
BOOTSTRAP_SEED = 12345  # sacrebleu's default seed, for the bootstraps that are not sacrebleu's own
DTYPES: dict[str, str | None] = {"hf": "float32", "vllm": "auto", "openai": None}  # what each backend loads
LM_EVAL_MODEL = {"hf": "hf", "vllm": "vllm", "openai": "local-completions"}  # lm-eval's name for the same runner
HIGHER_IS_BETTER = {
    "acc": True,
    "acc_norm": True,
    "exact_match": True,
    "exact_match_strict": True,
    "bleu": True,
    "chrf": True,
    "rougeL": True,
    "in_script": True,
    "in_language": True,
    "nll": False,
    "bpb": False,
    "self_bleu": False,  # lower: more diverse
    "self_bleu_emma500": False,
    "spbleu": True,
    "bertscore_f1": True,
    "pass@1": True,  # code tasks (emma.eval.tasks.code)
    "pass@10": True,
    "pass@100": True,
}
CI_OF_MEANS = {"rougeL", "bertscore_f1"}  # means of item scores that also get a bootstrap interval
IDENTITY_KEYS = ("name", "kind", "location", "fingerprint")


# --- identity ------------------------------------------------------------------------------------


def path_safe(text: str) -> str:
    """`org/name` -> `org--name`; anything but letters, digits and `._+=@-` -> `_`."""
    safe = re.sub(r"[^A-Za-z0-9._+=@-]+", "_", re.sub(r"[/\\]+", "--", text)).lstrip(".")
    return safe[:120] or "model"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _hub_snapshot(repo_id: str) -> Path | None:
    """The hub id's snapshot folder in the local hub cache (its name is the commit), if downloaded."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub would refuse, or no huggingface_hub: nothing cached to name
        return None
    return Path(found).parent if isinstance(found, str) else None


def model_identity(spec: str, backend: str, dtype: str | None = None) -> dict[str, Any]:
    """Who `spec` is, for `backend` in `dtype` (default: the backend's own, DTYPES): see the module
    docstring. Resolving a path or alias raises the same one-line errors loading it would."""
    common = {"spec": spec, "backend": backend, "dtype": dtype or DTYPES.get(backend), "revision": None}
    if backend == "openai":
        if "@" not in spec:
            raise EmmaError(f"backend openai needs --model <name>@<base_url>, e.g. my-model@http://localhost:8000/v1; got {spec!r}")
        served, url = spec.rsplit("@", 1)
        url = url.rstrip("/")
        return {**common, "name": f"{path_safe(served)}-{_short_hash(url)}", "kind": "served", "location": f"{served}@{url}", "fingerprint": None}
    from emma.models.load import ALIASES, resolve_model_source, weights_fingerprint

    kind, where = resolve_model_source(spec)
    if spec in ALIASES:
        return {**common, "name": spec, "kind": "alias", "location": str(where), "fingerprint": weights_fingerprint(where)}
    if kind == "hub":
        snapshot = _hub_snapshot(spec)
        fingerprint = weights_fingerprint(snapshot) if snapshot else None
        revision = snapshot.name if snapshot else None
        return {**common, "name": path_safe(spec), "kind": "hub", "location": spec, "fingerprint": fingerprint, "revision": revision}
    path = Path(where)
    tail = "--".join(part for part in (path.parent.name, path.name.removesuffix(".gguf")) if part)
    name = f"{path_safe(tail)}-{_short_hash(str(path))}"
    return {**common, "name": name, "kind": kind, "location": str(path), "fingerprint": weights_fingerprint(path)}


def same_model(a: dict, b: dict) -> bool:
    """The same weights (where they are and their fingerprint); backend and dtype may differ."""
    return all(a.get(k) == b.get(k) for k in ("kind", "location", "fingerprint"))


def same_run(a: dict, b: dict) -> bool:
    """Results of `a` stand for `b`: the same model, through the same backend, in the same dtype."""
    return same_model(a, b) and all(a.get(k) == b.get(k) for k in ("backend", "dtype"))


def describe(identity: dict) -> str:
    fp = identity.get("fingerprint")
    return f"{identity.get('spec') or identity.get('location')} ({identity.get('kind')} {identity.get('location')}{f', weights {fp}' if fp else ''})"


def check_same_model(stored: dict, current: dict, path: Path, folder: Path) -> None:
    """Refuse, in one line, a result file of another model in this model's folder."""
    if same_model(stored, current):
        return
    if stored.get("kind") == current["kind"] and stored.get("location") == current["location"]:
        what = (
            f"{current['location']} as it was before its weights changed (fingerprint {stored.get('fingerprint')}, "
            f"now {current['fingerprint']}: retrained or replaced in place)"
        )
    else:
        what = f"another model, {describe(stored)}"
    raise EmmaError(
        f"{folder} holds results of {what} ({path.name}); evaluate {current['spec']} into another --out, or delete {folder} to start it afresh"
    )


# --- reading result files back -------------------------------------------------------------------


def _load_json(path: Path, fix: str, what: str = "result") -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise EmmaError(f"{path}: not an emma {what} file (not UTF-8, byte {exc.start}); {fix}") from None
    except json.JSONDecodeError as exc:
        raise EmmaError(f"{path}: not an emma {what} file (bad JSON: {exc.msg}, line {exc.lineno}); {fix}") from None
    except OSError as exc:
        raise EmmaError(f"{path}: cannot be read ({exc.strerror}); {fix}") from None


def _identity_problem(identity: Any) -> str | None:
    if not isinstance(identity, dict) or any(k not in identity for k in IDENTITY_KEYS):
        return f"its model identity lacks {', '.join(IDENTITY_KEYS)}"
    return None


def _legacy(path: Path, folder: Path) -> EmmaError:
    return EmmaError(
        f"{path} was written without a model identity (an earlier emma), so its results cannot be told apart from another model's; "
        f"delete {folder} or choose another --out"
    )


def read_language_record(path: Path, identity: dict, folder: Path) -> dict:
    """A `<task>/<key>.json` this model wrote, checked: one clear line for a corrupt or foreign
    file, a file of an earlier emma, or another model's."""
    fix = f"delete it and {path.with_suffix('.jsonl').name} to rerun that language, or choose another --out"
    data = _load_json(path, fix)
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict) or not isinstance(data.get("scores"), dict):
        raise EmmaError(f"{path}: not an emma result file (no settings and scores objects); {fix}")
    if any(v is not None and not isinstance(v, (int, float)) for v in data["scores"].values()):  # None: NaN, written as null
        raise EmmaError(f"{path}: not an emma result file (a score that is not a number); {fix}")
    if "model" not in data:
        raise _legacy(path, folder)
    problem = _identity_problem(data["model"])
    if problem:
        raise EmmaError(f"{path}: not an emma result file ({problem}); {fix}")
    check_same_model(data["model"], identity, path, folder)
    return data


def read_scores(path: Path, identity: dict, folder: Path) -> dict:
    """A model's `scores.json`, checked like `read_language_record`."""
    fix = "delete it (the next emma eval writes it again) or choose another --out"
    data = _load_json(path, fix, "scores")
    if not isinstance(data, dict) or any(not isinstance(v, dict) for v in data.values()):
        raise EmmaError(f"{path}: not an emma scores file (need {{task: {{language: scores}}}}); {fix}")
    if "_model" not in data:
        raise _legacy(path, folder)
    problem = _identity_problem(data["_model"])
    if problem:
        raise EmmaError(f"{path}: not an emma scores file ({problem}); {fix}")
    check_same_model(data["_model"], identity, path, folder)
    return data


def check_folder(folder: Path, identity: dict) -> dict:
    """Before any work in a model's folder: its scores.json (checked; {} where there is none), after
    every language record in it has been seen to name this model, so a run never adds this
    model's results to another's. A record that does not parse is reported when its language is read."""
    scores = read_scores(folder / "scores.json", identity, folder) if (folder / "scores.json").exists() else {}
    for path in sorted(folder.glob("*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and _identity_problem(data.get("model")) is None:
            check_same_model(data["model"], identity, path, folder)
    return scores


# --- per-sample rows -----------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """JSON proper: NaN and infinities as null, tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def sample_rows(samples: list[dict], *, model: str, task: str, lang: str) -> list[dict]:
    """Each item's JSONL row: who and what first (`model`, `task`, `lang`, `doc_id`: the item's
    index, or the task's own `doc_id`), then the task's fields; `id` and shot ids as strings, so
    every row of a task has one type per column."""
    rows = []
    for i, sample in enumerate(samples):
        doc_id = sample.get("doc_id")
        row: dict[str, Any] = {"model": model, "task": task, "lang": lang, "doc_id": doc_id if isinstance(doc_id, int) else i}
        for key, value in sample.items():
            if key in row:
                continue
            if key == "id" and value is not None:
                value = str(value)
            elif key == "shots" and isinstance(value, list) and all(isinstance(v, (int, str)) for v in value):
                value = [str(v) for v in value]
            row[key] = _clean(value)
        rows.append(row)
    return rows


# --- standard errors -----------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _close(a: float, b: float, tol: float = 1e-9) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def mean_stderr(values: list[float]) -> float:
    """lm-eval's `mean_stderr`: sample standard deviation (n - 1) over sqrt(n)."""
    n = len(values)
    mu = sum(values) / n
    return math.sqrt(sum((v - mu) ** 2 for v in values) / (n - 1)) / math.sqrt(n)


def _spread(scores: list[float]) -> tuple[float, list[float]]:
    """Bootstrap standard error and 95% interval (sacrebleu's rule: the 1/40 tails cut)."""
    s = sorted(float(v) for v in scores)  # sacrebleu's are numpy float32
    cut = len(s) // 40
    mu = sum(s) / len(s)
    return math.sqrt(sum((v - mu) ** 2 for v in s) / (len(s) - 1)), [s[cut], s[len(s) - cut - 1]]


def _resample(n: int, statistic: Callable) -> list[float]:
    """BOOTSTRAP_ITERS resamples of n items (seeded), `statistic(index_matrix)` per block of rows."""
    import numpy as np

    rng = np.random.default_rng(BOOTSTRAP_SEED)
    out: list[float] = []
    block = max(1, 4_000_000 // n)  # bounded memory for large languages
    while len(out) < BOOTSTRAP_ITERS:
        idx = rng.integers(0, n, size=(min(block, BOOTSTRAP_ITERS - len(out)), n))
        out += [float(v) for v in statistic(idx)]
    return out


def _sacrebleu_metrics(metric: str) -> list:
    import sacrebleu

    if metric == "bleu":
        return [sacrebleu.BLEU()]
    if metric == "spbleu":
        return [sacrebleu.BLEU(tokenize="flores200")]
    return [sacrebleu.CHRF(word_order=2), sacrebleu.CHRF()]  # chrF++ (emma's flores200), then plain chrF


def _corpus_mt(metric: str, samples: list[dict], value: float) -> tuple[float, list[float]] | None:
    """sacrebleu's own bootstrap, where the samples' prediction/reference give back the corpus score."""
    hyps, refs = [s.get("prediction") for s in samples], [s.get("reference") for s in samples]
    if len(samples) < 2 or not all(isinstance(x, str) for x in hyps + refs):
        return None
    try:
        from sacrebleu.significance import _bootstrap_resample

        for m in _sacrebleu_metrics(metric):
            if _close(m.corpus_score(hyps, [refs]).score, value, 1e-6):
                _, scores = _bootstrap_resample(m._extract_corpus_statistics(hyps, [refs]), m, BOOTSTRAP_ITERS)
                return _spread([x.score for x in scores])
    except (ImportError, AttributeError):  # a sacrebleu without these internals: no interval rather than a wrong one
        return None
    return None


def _corpus_bpb(samples: list[dict], value: float) -> tuple[float, list[float]] | None:
    import numpy as np

    if len(samples) < 2 or not all(_number(s.get("nll")) and _number(s.get("bytes")) for s in samples):
        return None
    nll = np.array([s["nll"] for s in samples], dtype=np.float64)
    size = np.array([s["bytes"] for s in samples], dtype=np.float64)
    if not _close(float(nll.sum() / math.log(2) / size.sum()), value):
        return None
    return _spread(_resample(len(samples), lambda idx: nll[idx].sum(1) / np.maximum(size[idx].sum(1), 1) / math.log(2)))


def sample_stats(samples: list[dict], scores: dict, metrics: list[str]) -> dict[str, dict]:
    """{"stderr": {metric: se}, "ci95": {metric: [lo, hi]}} for the metrics it can be told for: a
    metric equal to the mean of its items' scores gets mean_stderr; corpus BLEU, chrF and bits per
    byte, recomputed from the items to check, a bootstrap. Other metrics (Self-BLEU) get none."""
    import numpy as np

    stderr: dict[str, float] = {}
    ci95: dict[str, list[float]] = {}
    for m in metrics:
        if not _number(scores.get(m)):
            continue
        value = float(scores[m])
        values = [float(s[m]) for s in samples if _number(s.get(m))]
        got = None
        if values and _close(sum(values) / len(values), value):
            if len(values) > 1:
                stderr[m] = mean_stderr(values)
                if m in CI_OF_MEANS:
                    arr = np.array(values)
                    ci95[m] = _spread(_resample(len(arr), lambda idx, arr=arr: arr[idx].mean(1)))[1]
            continue
        if m in ("bleu", "chrf", "spbleu"):
            got = _corpus_mt(m, samples, value)
        elif m == "bpb":
            got = _corpus_bpb(samples, value)
        if got:
            stderr[m], ci95[m] = got
    return {"stderr": stderr, "ci95": ci95}


# --- how many items ------------------------------------------------------------------------------


def items_record(n: int, limit: int | None, total: int | None) -> dict:
    """How much of the language a result covers. `partial`: fewer items than the language has (known
    from `total`; without it, assumed whenever `--limit` was reached)."""
    partial = n < total if total is not None else (limit is not None and n >= limit)
    return {"n": n, "limit": limit, "total": total, "partial": partial}


def marked(items: dict) -> bool:
    """Shown as partial in scores.json and reports: cut by `--limit`, or fewer items than asked."""
    return bool(items.get("partial")) or items.get("limit") is not None and items.get("n", 0) < items["limit"]


def language_record(identity: dict, settings: dict, samples: list[dict], result: dict, metrics: list[str]) -> dict:
    """A language's `<key>.json`, from the task's run. The result's numbers are its scores, except
    `n_total` (how many items the language has, where the task knows: marks a cut run partial)."""
    result = dict(result)
    total = result.pop("n_total", None)
    scores = {k: v for k, v in result.items() if isinstance(v, (int, float))}
    scores.setdefault("n", len(samples))
    info = {k: v for k, v in result.items() if k not in scores}
    items = items_record(int(scores["n"]), settings.get("limit"), total if isinstance(total, int) else None)
    return {
        **info,
        "model": identity,
        "settings": settings,
        "backend": identity["backend"],
        "scores": scores,
        "stats": sample_stats(samples, scores, metrics),
        "items": items,
    }


def task_extras(records: dict[str, dict]) -> dict[str, dict]:
    """scores.json's per-task `_stderr`, `_ci95`, `_partial` (and, for code tasks, `_sandbox`), from the languages' records."""
    stats = {key: r.get("stats", {}) for key, r in records.items()}
    sandboxes = {k: r["sandbox"]["kind"] for k, r in records.items() if isinstance(r.get("sandbox"), dict)}  # code tasks (emma.eval.sandbox)
    return {
        "_stderr": {k: s["stderr"] for k, s in stats.items() if s.get("stderr")},
        "_ci95": {k: s["ci95"] for k, s in stats.items() if s.get("ci95")},
        "_partial": {k: r["items"] for k, r in records.items() if marked(r.get("items", {}))},
        **({"_sandbox": sandboxes} if sandboxes else {}),
    }


# --- lm-evaluation-harness's layout --------------------------------------------------------------


@dataclass
class TaskRun:
    """One task of one `emma eval` call: its languages' records and their macro-average."""

    name: str
    description: str
    metrics: list[str]
    records: dict[str, dict] = field(default_factory=dict)
    overall: dict = field(default_factory=dict)


def git_hash() -> str | None:
    """The commit checked out in the working directory (as lm-eval records it), if it is a git repository."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _model_args(identity: dict) -> str:
    if identity["kind"] == "served":
        served, url = identity["location"].rsplit("@", 1)
        return f"model={served},base_url={url}"
    args = f"pretrained={identity['location']}"
    if identity.get("dtype"):
        args += f",dtype={identity['dtype']}"
    if identity.get("revision"):
        args += f",revision={identity['revision']}"
    return args


def lm_eval_results(identity: dict, runs: list[TaskRun], *, settings: dict, batch_size: int | str, data_dir: str | None, started: float) -> dict:
    """One call's results as lm-eval 0.4's `results_<date>.json` holds them: a subtask per
    (task, key) named `<task>_<key>` and a group per task (the macro-average over its keys, stderr
    pooled as sqrt(sum se^2)/k), metric keys `<metric>,none` and `<metric>_stderr,none`."""
    from emma import __version__

    results: dict[str, dict] = {}
    configs: dict[str, dict] = {}
    versions: dict[str, str] = {}
    n_shot: dict[str, int] = {}
    higher: dict[str, dict] = {}
    n_samples: dict[str, dict] = {}
    subtasks: dict[str, list[str]] = {}
    for run in runs:
        names = []
        for key, record in run.records.items():
            sub = f"{run.name}_{key}"
            names.append(sub)
            scores, items = record["scores"], record["items"]
            se = record.get("stats", {}).get("stderr", {})
            entry: dict[str, Any] = {"name": sub, "alias": sub, "sample_len": int(items["n"])}
            for m in run.metrics:
                if _number(scores.get(m)):
                    entry[f"{m},none"] = float(scores[m])
                    if _number(se.get(m)):
                        entry[f"{m}_stderr,none"] = float(se[m])
            results[sub] = entry
            used = record["settings"]
            configs[sub] = {
                "task": sub,
                "task_alias": sub,
                "emma_task": run.name,
                "language": key,
                "description": run.description,
                "dataset_path": data_dir or "huggingface hub",
                "prompt": str(used.get("prompt")),
                "first_token": bool(used.get("first_token")),
            }
            versions[sub] = __version__
            n_shot[sub] = int(used.get("shots") or 0)
            higher[sub] = {m: HIGHER_IS_BETTER.get(m) for m in run.metrics}
            if items["total"] is not None or not items["partial"]:  # unknown: cut by --limit, and the task does not say how many there are
                original = items["total"] if items["total"] is not None else items["n"]
                n_samples[sub] = {"original": int(original), "effective": int(items["n"])}
        group: dict[str, Any] = {"name": run.name, "alias": run.name, "sample_len": sum(results[s]["sample_len"] for s in names)}
        for m in run.metrics:
            if not _number(run.overall.get(m)):
                continue
            group[f"{m},none"] = float(run.overall[m])
            errs = [results[s].get(f"{m}_stderr,none") for s in names if f"{m},none" in results[s]]
            known = [float(e) for e in errs if e is not None]
            if errs and len(known) == len(errs):
                group[f"{m}_stderr,none"] = math.sqrt(sum(e * e for e in known)) / len(known)
        results[run.name] = group
        subtasks[run.name] = names
        versions[run.name] = __version__
        n_shot[run.name] = max((n_shot[s] for s in names), default=0)
        higher[run.name] = {m: HIGHER_IS_BETTER.get(m) for m in run.metrics}
    seed = int(settings.get("seed", 0))
    config: dict[str, Any] = {
        "model": LM_EVAL_MODEL.get(identity["backend"], identity["backend"]),
        "model_args": _model_args(identity),
        "batch_size": str(batch_size),
        "batch_sizes": [],
        "device": None,
        "use_cache": None,
        "limit": settings.get("limit"),
        "bootstrap_iters": BOOTSTRAP_ITERS,
        "gen_kwargs": {"max_new_tokens": settings["max_new_tokens"]} if settings.get("max_new_tokens") else None,
        "random_seed": seed,
        "numpy_seed": seed,
        "torch_seed": seed,
        "fewshot_seed": seed,
    }
    if identity.get("dtype"):
        config["model_dtype"] = identity["dtype"]
    if identity.get("revision"):
        config["model_revision"] = config["model_sha"] = identity["revision"]
    doc: dict[str, Any] = {
        "results": results,
        "groups": {run.name: results[run.name] for run in runs},
        "group_subtasks": subtasks,
        "configs": dict(sorted(configs.items())),
        "versions": dict(sorted(versions.items())),
        "n-shot": dict(sorted(n_shot.items())),
        "higher_is_better": dict(sorted(higher.items())),
        "n-samples": n_samples,
        "config": config,
        "date": started,
        "model_source": config["model"],
        "model_name": identity["location"] if identity["kind"] != "served" else identity["spec"],
        "model_name_sanitized": identity["name"],
        "total_evaluation_time_seconds": f"{time.time() - started:.1f}",
        "emma_version": __version__,
        "emma_model": identity,
        "emma_settings": settings,
    }
    commit = git_hash()
    if commit:
        doc["git_hash"] = commit
    try:
        from importlib.metadata import version

        doc["transformers_version"] = version("transformers")
    except Exception:  # not installed: a served model needs no transformers
        pass
    return doc


def write_lm_eval_results(folder: Path, doc: dict) -> Path:
    """`folder/results_<date>.json`, named as lm-eval names it (so its `get_results_filenames` and
    `get_latest_filename` find it)."""
    from emma.io import write_json

    path = folder / f"results_{datetime.now().isoformat().replace(':', '-')}.json"
    write_json(path, doc)
    return path
