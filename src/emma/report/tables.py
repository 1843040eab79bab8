"""`emma report DIR`: tables from an `emma eval` output folder, in EMMA-500's evaluation_results
layout: one table per task and metric, one row per model, columns `Avg` then languages; and one
per-resource-group table per task and metric. Written as CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from emma.errors import EmmaError
from emma.io import write_text
from emma.languages import GROUPS


def load_scores(eval_dir: str | Path) -> dict[str, dict]:
    eval_dir = Path(eval_dir)
    found = sorted(eval_dir.glob("*/scores.json"))
    if not found:
        raise EmmaError(f"{eval_dir}: no <model>/scores.json inside; run `emma eval --out {eval_dir}` first")
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in found}


def tables(scores: dict[str, dict]) -> list[tuple[str, list[list[str]]]]:
    """(title, rows) for every task x metric, languages then groups."""
    out = []
    tasks = sorted({t for s in scores.values() for t in s})
    for task in tasks:
        langs = sorted({lang for s in scores.values() for lang in s.get(task, {}) if not lang.startswith("_")})
        metrics = sorted({m for s in scores.values() for lang in langs for m in s.get(task, {}).get(lang, {}) if m != "n"})
        for metric in metrics:
            rows = [["model", "Avg", *langs]]
            grows = [["model", "Avg", *[g for g in GROUPS + ["unknown"] if any(g in s.get(task, {}).get("_groups", {}) for s in scores.values())]]]
            for model, s in scores.items():
                t = s.get(task, {})

                def cell(d: dict | None, metric: str = metric) -> str:
                    return f"{d[metric]:.4f}" if d and metric in d else ""

                rows.append([model, cell(t.get("_overall")), *[cell(t.get(lang)) for lang in langs]])
                grows.append([model, cell(t.get("_overall")), *[cell(t.get("_groups", {}).get(g)) for g in grows[0][2:]]])
            out.append((f"{task} {metric}", rows))
            out.append((f"{task} {metric} by resource group", grows))
    return out


def _markdown(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def write_tables(eval_dir: str | Path) -> list[Path]:
    eval_dir = Path(eval_dir)
    written, md = [], [f"# Evaluation results ({eval_dir})", ""]
    for title, rows in tables(load_scores(eval_dir)):
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        path = eval_dir / "report" / (title.replace(" ", "_").replace("/", "-") + ".csv")
        write_text(path, buf.getvalue())
        written.append(path)
        md += [f"## {title}", "", _markdown(rows), ""]
    md_path = eval_dir / "report" / "report.md"
    write_text(md_path, "\n".join(md))
    return [md_path, *written]
