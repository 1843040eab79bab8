"""`emma report DIR`: tables from an `emma eval` output folder, in EMMA-500's evaluation_results
layout turned on its side: one table per task and metric, one row per language (`Avg` first), one
column per model; and one per-resource-group table per task and metric. Written as CSV and Markdown, with a table of the
models (their identity: what was evaluated, its weights fingerprint, backend, dtype).

Every language cell carries its item count, `0.5123 (n=20)`, and says when it is not the whole
language: `(n=20, partial)` for a run cut by `--limit` (`(n=20 of 1000, partial)` where the task
says how many items the language has), `(n=7 < limit 20)` for a language with fewer items than
asked. `Avg` and group cells give how many languages they average, and `partial` when any of the
task's languages is. `DIR/<model>/scores.json` is read (layout in `emma.eval.results`); a corrupt
or foreign one is refused with one line naming it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from emma.errors import EmmaError
from emma.io import write_text
from emma.languages import GROUPS


def _not_scores(path: Path, why: str) -> EmmaError:
    return EmmaError(f"{path}: not an emma scores file ({why}); delete it, or rerun `emma eval --out {path.parent.parent}` for that model")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float))


def read_scores(path: Path) -> dict:
    """One `<model>/scores.json`, its shape checked: {task: {key: {metric: number}, "_...": {...}}}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise _not_scores(path, f"not UTF-8, byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise _not_scores(path, f"bad JSON: {exc.msg}, line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise _not_scores(path, f"a JSON {type(data).__name__}, not an object of tasks")
    for task, entry in data.items():
        if task.startswith("_"):
            continue  # _model: the identity
        if not isinstance(entry, dict):
            raise _not_scores(path, f"task {task!r} is not an object of languages")
        for key, scores in entry.items():
            if key.startswith("_"):
                if not isinstance(scores, dict):
                    raise _not_scores(path, f"{task}.{key} is not an object")
                continue
            if not isinstance(scores, dict) or not all(_number(v) for v in scores.values()):
                raise _not_scores(path, f"{task}.{key} is not an object of numbers")
    return data


def load_scores(eval_dir: str | Path) -> dict[str, dict]:
    eval_dir = Path(eval_dir)
    found = sorted(eval_dir.glob("*/scores.json"))
    if not found:
        raise EmmaError(
            f"{eval_dir}: no <model>/scores.json inside; run `emma eval --out {eval_dir}` first "
            "(an emma demo or emma train folder: add --html OUT.html)"
        )
    return {p.parent.name: read_scores(p) for p in found}


def _tasks(s: dict) -> dict[str, dict]:
    return {t: v for t, v in s.items() if not t.startswith("_")}


def _value(d: dict | None, metric: str) -> str | None:
    if not d or not _number(d.get(metric)):
        return None
    v = d[metric]
    return "nan" if isinstance(v, float) and math.isnan(v) else f"{v:.4f}"


def _lang_cell(t: dict, lang: str, metric: str) -> str:
    value = _value(t.get(lang), metric)
    if value is None:
        return ""
    n = t[lang].get("n")
    items = t.get("_partial", {}).get(lang)
    if not _number(n):
        return value
    n = int(n)
    if items and items.get("partial"):
        total = items.get("total")
        return f"{value} (n={n}{f' of {total}' if _number(total) else ''}, partial)"
    if items and _number(items.get("limit")) and n < items["limit"]:
        return f"{value} (n={n} < limit {items['limit']})"
    return f"{value} (n={n})"


def _avg_cell(t: dict, d: dict | None, metric: str) -> str:
    value = _value(d, metric)
    if value is None or d is None:
        return ""
    notes = [f"{d['languages']} langs"] if _number(d.get("languages")) else []
    if any(items.get("partial") for items in t.get("_partial", {}).values()):
        notes.append("partial")
    return f"{value} ({', '.join(notes)})" if notes else value


def tables(scores: dict[str, dict]) -> list[tuple[str, list[list[str]]]]:
    """(title, rows) for every task x metric: languages as rows (`Avg` first), one column per model;
    then the same per resource group. Rows, not columns, so 200 languages make a long table, not a wide one."""
    out = []
    tasks = sorted({t for s in scores.values() for t in _tasks(s)})
    models = list(scores)
    for task in tasks:
        langs = sorted({lang for s in scores.values() for lang in s.get(task, {}) if not lang.startswith("_")})
        metrics = sorted({m for s in scores.values() for lang in langs for m in s.get(task, {}).get(lang, {}) if m != "n"})
        used = [g for g in GROUPS + ["unknown"] if any(g in s.get(task, {}).get("_groups", {}) for s in scores.values())]
        for metric in metrics:
            rows = [["language", *models], ["Avg", *[_avg_cell(s.get(task, {}), s.get(task, {}).get("_overall"), metric) for s in scores.values()]]]
            rows += [[lang, *[_lang_cell(s.get(task, {}), lang, metric) for s in scores.values()]] for lang in langs]
            grows = [["group", *models]]
            grows += [[g, *[_avg_cell(s.get(task, {}), s.get(task, {}).get("_groups", {}).get(g), metric) for s in scores.values()]] for g in used]
            out.append((f"{task} {metric}", rows))
            out.append((f"{task} {metric} by resource group", grows))
    return out


def models_table(scores: dict[str, dict]) -> list[list[str]]:
    """One row per result folder: what was evaluated there (an earlier emma recorded nothing)."""
    rows = [["model", "evaluated", "kind", "weights fingerprint", "revision", "backend", "dtype"]]
    for folder, s in scores.items():
        found = s.get("_model")
        m: dict = found if isinstance(found, dict) else {}
        rows.append([folder, *[str(m.get(k) or "") for k in ("location", "kind", "fingerprint", "revision", "backend", "dtype")]])
    return rows


def _markdown(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


PARTIAL_NOTE = (
    "`n`: items scored. `partial`: cut by `--limit`, not the whole language (`n of total` where the task says); "
    "`< limit`: the language has fewer items than `--limit` asked."
)


def write_tables(eval_dir: str | Path) -> list[Path]:
    eval_dir = Path(eval_dir)
    scores = load_scores(eval_dir)
    written, md = [], [f"# Evaluation results ({eval_dir})", "", "## Models", "", _markdown(models_table(scores)), "", PARTIAL_NOTE, ""]
    for title, rows in tables(scores):
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        path = eval_dir / "report" / (title.replace(" ", "_").replace("/", "-") + ".csv")
        write_text(path, buf.getvalue())
        written.append(path)
        md += [f"## {title}", "", _markdown(rows), ""]
    md_path = eval_dir / "report" / "report.md"
    write_text(md_path, "\n".join(md))
    return [md_path, *written]
