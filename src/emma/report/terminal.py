"""`emma compare A B`: the HTML report's comparison as terminal tables (rich): per task and metric
one row per language with the baseline, each model, the difference, its 95% interval and a mark
where it is significant; then win/tie/loss per resource group."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from emma.errors import EmmaError
from emma.report.compare import GROUP_ORDER, comparisons, group, higher_is_better
from emma.report.data import load_inputs
from emma.report.html import check_baseline


def print_comparison(
    dirs: list[Path], *, baseline: str | None = None, task: str | None = None, resource_groups: Path | None = None, console: Console | None = None
) -> None:
    inputs = load_inputs(dirs, resource_groups)
    check_baseline(inputs, baseline)
    if not inputs.models:
        raise EmmaError(f"{', '.join(map(str, dirs))}: no model results to compare (only training runs); give emma eval or emma demo folders")
    names = [m.name for m in inputs.models]
    if len(names) < 2:
        raise EmmaError(f"{', '.join(map(str, dirs))}: one model only ({names[0]}); give a second folder to compare it with")
    base = baseline or names[0]
    comps = [c for c in comparisons(inputs, base) if task is None or c.task == task]
    if task is not None and not comps:
        tasks = sorted({t for m in inputs.models for t in m.tasks()})
        raise EmmaError(f"--task {task}: no results for it in {', '.join(map(str, dirs))}; use one of: {', '.join(tasks)}")
    console = console or Console()
    for c in comps:
        others = [m for m in c.models if m in c.diffs]
        if not others:
            continue
        better = "higher" if higher_is_better(c.metric) else "lower"
        table = Table(title=f"{c.task} {c.metric} ({better} is better): Δ = model − {base}; * significant (95% paired bootstrap)")
        table.add_column("language", no_wrap=True)
        table.add_column("group", no_wrap=True)
        table.add_column("n", justify="right")
        table.add_column(f"{base}", justify="right")
        for m in others:
            table.add_column(m, justify="right")
            table.add_column("Δ", justify="right")
            table.add_column("95% CI", justify="right", no_wrap=True)
        for k in c.keys:
            g = group(inputs, k)
            bv = c.values[base].get(k)
            row = [k, g, str(c.n[base].get(k) or ""), "" if bv is None else f"{bv:.4f}"]
            for m in others:
                d = c.diffs[m][k]
                v = c.values[m].get(k)
                outcome = d.outcome(c.metric)
                colour = {"win": "green", "loss": "red"}.get(outcome)
                diff = "" if d.diff is None else f"{d.diff:+.4f}{'*' if d.significant else ''}"
                row += [
                    "" if v is None else f"{v:.4f}",
                    f"[{colour}]{diff}[/]" if colour else diff,
                    f"[{d.ci[0]:+.4f}, {d.ci[1]:+.4f}]" + (f" p={d.p:.3f}" if d.p is not None else "") if d.ci else "-",
                ]
            table.add_row(*row)
        console.print(table)
        wtl = Table(title=f"{c.task} {c.metric}: win / tie / loss against {base} (tie: not significant)")
        wtl.add_column("model")
        groups = {k: group(inputs, k) for k in c.keys}
        counts = {m: c.outcomes(m, groups) for m in others}
        used = [g for g in [*GROUP_ORDER, "all"] if any(g in v for v in counts.values())]
        for g in used:
            wtl.add_column(g, justify="right")
        for m in others:
            cells = []
            for g in used:
                w = counts[m].get(g)
                cells.append(f"{w['win']}/{w['tie']}/{w['loss']}" + (f" ({w['untested']} untested)" if w["untested"] else "") if w else "")
            wtl.add_row(m, *cells)
        console.print(wtl)
