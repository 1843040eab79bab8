"""`emma report DIR [DIR2 ...] --html OUT.html [--baseline MODEL]`: one self-contained HTML page for
any number of `emma eval`, `emma demo` and `emma train` folders. It opens from disk with no network:
plots are inline SVG drawn by matplotlib, styles and the sorting/filtering script are inline.

Sections: the models; an overview (task x metric x model: macro-average over languages and per
resource group, languages and items counted, the settings); a tasks x groups heatmap; win/tie/loss
per group against the baseline (tie: not significant); per task and metric the languages as rows
(sortable, filterable by group and script), one column per model, the difference to the baseline
with its 95% interval (paired bootstrap, `emma.report.compare`), significant cells marked, bars per
language and baseline score against gain with Spearman's rho; training curves of `emma train` runs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from emma.errors import EmmaError
from emma.io import write_text
from emma.languages import language_name
from emma.report import plots
from emma.report.compare import GROUP_ORDER, Comparison, Diff, comparisons, group, higher_is_better, scripts
from emma.report.data import ReportInput, load_inputs

SETTINGS = ("shots", "limit", "limit_mode", "shot_pool", "seed", "prompt", "first_token", "max_new_tokens", "temperature")

# No library: the page must open from disk with no network, and sorting plus filtering is this much code.
SCRIPT = """
function cellValue(row, i) {
  const v = row.children[i].dataset.v;
  if (v === undefined || v === "") return null;
  const n = Number(v);
  return isNaN(n) ? v : n;
}
function sortTable(th) {
  const table = th.closest("table"), body = table.tBodies[0];
  const i = Array.prototype.indexOf.call(th.parentNode.children, th);
  const asc = th.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("th").forEach(h => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellValue(a, i), y = cellValue(b, i);
    if (x === null || y === null) return (x === null) - (y === null);
    const d = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
    return asc ? d : -d;
  });
  rows.forEach(r => body.appendChild(r));
}
function applyFilters(form) {
  const table = document.getElementById(form.dataset.table);
  const g = form.elements.group.value, s = form.elements.script.value, q = form.elements.q.value.toLowerCase();
  let shown = 0;
  Array.from(table.tBodies[0].rows).forEach(r => {
    const ok = (!g || r.dataset.group === g) && (!s || r.dataset.script === s) && (!q || r.textContent.toLowerCase().includes(q));
    r.hidden = !ok;
    shown += ok;
  });
  form.querySelector(".shown").textContent = shown + " of " + table.tBodies[0].rows.length + " shown";
}
document.querySelectorAll("table.sortable thead th").forEach(th => th.addEventListener("click", () => sortTable(th)));
document.querySelectorAll("form.filters").forEach(f => {
  ["input", "change"].forEach(kind => f.addEventListener(kind, () => applyFilters(f)));
  f.addEventListener("submit", e => e.preventDefault());
  applyFilters(f);
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; position: sticky; top: 0; text-align: left; }
td.wrap { white-space: normal; min-width: 18em; text-align: left; }
table.sortable th { cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
td.l, th.l { text-align: left; }
td.win { background: #d8f0d8; font-weight: 600; } td.loss { background: #f6d5d5; font-weight: 600; }
.g { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
.plot svg { max-width: 100%; height: auto; } .plots { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.plots .plot p { width: 0; min-width: 100%; margin-top: 0; }  /* a note wraps to its plot's width, never widens it */
.scroll { overflow-x: auto; max-height: 36em; overflow-y: auto; }
.note { color: #555; font-size: 0.9em; max-width: 60em; }
form.filters { font-size: 0.9em; margin: 0.3em 0; } form.filters .shown { color: #666; margin-left: 1em; }
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None or not math.isfinite(v):
        return ""
    return f"{v:.{digits}f}"


def _num(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else repr(float(v))


def _mean(vals: list[float | None]) -> float | None:
    got = [v for v in vals if v is not None and math.isfinite(v)]
    return sum(got) / len(got) if got else None


def _name(key: str) -> str:
    parts = key.split("-") if "-" in key else [key]
    try:
        return " → ".join(language_name(p) for p in parts)
    except Exception:  # a key that is not a language code (a task's own): shown as it is
        return ""


def _swatch(g: str) -> str:
    return f'<span class="g" style="background:{plots._color(g)}"></span>{_e(g)}'


def _table(head: list[str], rows: list[list[tuple[str, str, str]]], *, table_id: str = "", sortable: bool = True, row_attrs=None) -> str:
    """rows of (text as HTML, sort value, css class)."""
    out = [f'<table{f" id={chr(34)}{table_id}{chr(34)}" if table_id else ""} class="{"sortable" if sortable else ""}"><thead><tr>']
    out += [f'<th class="{"l" if i == 0 else ""}">{_e(h)}</th>' for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for r, row in enumerate(rows):
        attrs = row_attrs[r] if row_attrs else ""
        out.append(f"<tr{attrs}>" + "".join(f'<td class="{cls}" data-v="{_e(v)}">{text}</td>' for text, v, cls in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _settings(inputs: ReportInput, model: str, task: str) -> str:
    m = inputs.model(model)
    if m.kind == "demo":
        return "held-out UDHR articles (emma demo)"
    s = m.settings(task)
    return ", ".join(f"{k}={s[k]}" for k in SETTINGS if k in s and s[k] not in (None, False))


def _groups_of(inputs: ReportInput, keys: list[str]) -> dict[str, str]:
    return {k: group(inputs, k) for k in keys}


def _overview(inputs: ReportInput, comps: list[Comparison]) -> str:
    used = [g for g in GROUP_ORDER if any(group(inputs, k) == g for c in comps for k in c.keys)]
    head = ["task", "metric", "model", "languages", "items", "Avg", *used, "settings"]
    rows = []
    for c in comps:
        groups = _groups_of(inputs, c.keys)
        for model in c.models:
            vals = c.values[model]
            have = [k for k in c.keys if vals.get(k) is not None]
            items = sum(c.n[model].get(k) or 0 for k in have)
            avg = _mean([vals[k] for k in have])
            cells = [
                (_e(c.task), c.task, "l"),
                (_e(c.metric), c.metric, "l"),
                (_e(model) + (" (baseline)" if model == c.baseline else ""), model, "l"),
                (str(len(have)), str(len(have)), ""),
                (str(items), str(items), ""),
                (_fmt(avg), _num(avg), ""),
            ]
            for g in used:
                gv = _mean([vals[k] for k in have if groups[k] == g])
                k_g = sum(groups[k] == g for k in have)
                cells.append((f"{_fmt(gv)} <small>({k_g})</small>" if gv is not None else "", _num(gv), ""))
            cells.append((_e(_settings(inputs, model, c.task)), "", "wrap"))
            rows.append(cells)
    return f'<div class="scroll">{_table(head, rows, table_id="overview")}</div>'


def _gain_cells(inputs: ReportInput, comps: list[Comparison], model: str) -> tuple[list[str], list[str], dict[tuple[str, str], float | None]]:
    rows, used, cells = [], [], {}
    for c in comps:
        if model not in c.diffs:
            continue
        label = f"{c.task} {c.metric}"
        rows.append(label)
        for k in c.diffs[model]:
            g = group(inputs, k)
            if g not in used:
                used.append(g)
        for g in GROUP_ORDER:
            cells[label, g] = _mean([d.gain(c.metric) for k, d in c.diffs[model].items() if group(inputs, k) == g])
    return rows, [g for g in GROUP_ORDER if g in used], cells


def _wtl(inputs: ReportInput, comps: list[Comparison], model: str) -> str:
    used = [g for g in GROUP_ORDER if any(group(inputs, k) == g for c in comps if model in c.diffs for k in c.keys)]
    head = ["task metric", *used, "all"]
    rows = []
    for c in comps:
        if model not in c.diffs:
            continue
        counts = c.outcomes(model, _groups_of(inputs, c.keys))
        cells = [(_e(f"{c.task} {c.metric}"), f"{c.task} {c.metric}", "l")]
        for g in [*used, "all"]:
            w = counts.get(g, {"win": 0, "tie": 0, "loss": 0, "untested": 0})
            text = f"{w['win']} / {w['tie']} / {w['loss']}" + (f" <small>({w['untested']} untested)</small>" if w["untested"] else "")
            cells.append((text, str(w["win"] - w["loss"]), ""))
        rows.append(cells)
    return _table(head, rows, table_id=f"wtl-{_slug(model)}")


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()


def _diff_cell(d: Diff, metric: str) -> list[tuple[str, str, str]]:
    if d.diff is None:
        return [("", "", ""), ("", "", "")]
    outcome = d.outcome(metric)
    mark = " ★" if d.significant else ""
    cls = outcome if outcome in ("win", "loss") else ""
    ci = f"[{d.ci[0]:+.4f}, {d.ci[1]:+.4f}]" if d.ci else "no paired rows"
    if d.p is not None:
        ci += f" p={d.p:.3f}"
    return [(f"{d.diff:+.4f}{mark}", _num(d.diff), cls), (_e(ci), _num(d.ci[0]) if d.ci else "", "l")]


def _reading(metric: str, rho: float, what: str = "gain") -> str:
    """What rho says for EMMA-500's question (is the gain largest where the base is weakest?)."""
    if not math.isfinite(rho):
        return "too few languages to say"
    weak_high = not higher_is_better(metric)  # bpb/NLL: a weaker base has a higher score
    toward_weak = rho > 0 if weak_high else rho < 0
    if abs(rho) < 0.1:
        return f"no rank relation between the baseline's score and the {what}"
    return f"the {what} is {'larger' if toward_weak else 'smaller'} where the baseline is weaker"


def _task_section(inputs: ReportInput, c: Comparison, idx: int, by_task: dict[tuple[str, str], Comparison]) -> str:
    groups = _groups_of(inputs, c.keys)
    script_of = scripts(inputs, c.keys)
    tid = f"t{idx}-{_slug(c.task)}-{_slug(c.metric)}"
    others = [m for m in c.models if m in c.diffs]
    head = ["language", "name", "group", "script", "n", *[m + (" (baseline)" if m == c.baseline else "") for m in c.models]]
    for m in others:
        head += [f"Δ {m}", f"95% CI {m}"]
    rows, attrs = [], []
    for k in c.keys:
        n = c.n[c.baseline].get(k) if c.baseline in c.n else None
        if n is None:
            n = next((c.n[m].get(k) for m in c.models if c.n[m].get(k) is not None), None)
        row = [
            (_e(k), k, "l"),
            (_e(_name(k)), _name(k), "l"),
            (_swatch(groups[k]), str(GROUP_ORDER.index(groups[k])), "l"),
            (_e(script_of[k]), script_of[k], "l"),
            (str(n or ""), str(n or ""), ""),
        ]
        row += [(_fmt(c.values[m].get(k)), _num(c.values[m].get(k)), "") for m in c.models]
        for m in others:
            row += _diff_cell(c.diffs[m][k], c.metric)
        rows.append(row)
        attrs.append(f' data-group="{_e(groups[k])}" data-script="{_e(script_of[k])}"')
    used_groups = [g for g in GROUP_ORDER if g in groups.values()]
    used_scripts = sorted(set(script_of.values()))
    filters = (
        f'<form class="filters" data-table="{tid}">group <select name="group"><option value="">all</option>'
        + "".join(f'<option value="{_e(g)}">{_e(g)}</option>' for g in used_groups)
        + '</select> script <select name="script"><option value="">all</option>'
        + "".join(f'<option value="{_e(s)}">{_e(s)}</option>' for s in used_scripts)
        + '</select> <input name="q" type="search" placeholder="filter text"><span class="shown"></span></form>'
    )
    parts = [f'<section id="{tid}-section"><h3>{_e(c.task)} · {_e(c.metric)}</h3>']
    better = "higher" if higher_is_better(c.metric) else "lower"
    parts.append(
        f'<p class="note">{len(c.keys)} languages; {better} is better. Δ = model − baseline ({_e(c.baseline)}); ★ marks a difference whose '
        "95% interval (paired bootstrap over the items both scored, matched by id) excludes 0; green: significantly better, red: worse.</p>"
    )
    parts.append('<div class="plots">')
    parts.append(f'<div class="plot">{plots.bars(c, groups)}</div>')
    for m in others:
        pts = [(k, d.base, g) for k, d in c.diffs[m].items() if d.base is not None and (g := d.gain(c.metric)) is not None]
        unit = " (bits per byte)" if c.metric == "bpb" else ""
        fig, rho = plots.scatter(
            pts, groups, xlabel=f"baseline {c.metric}", ylabel=f"gain in {c.metric}{unit}", title=f"{m} vs {c.baseline}: absolute gain"
        )
        parts.append(f'<div class="plot">{fig}<p class="note">Absolute gain: {_e(_reading(c.metric, rho))} (ρ = {rho:.2f}).</p></div>')
        nll = by_task.get((c.task, "nll"))
        if c.metric == "bpb":  # relative NLL drop: the demo's measure, which can disagree with the absolute one
            rel = []
            for k, d in c.diffs[m].items():
                nd = nll.diffs.get(m, {}).get(k) if nll else None
                b, v = (nd.base, nd.value) if nd and nd.diff is not None else (d.base, d.value)
                if d.base is not None and b and v is not None:
                    rel.append((k, d.base, 100 * (b - v) / b))
            fig, rho2 = plots.scatter(rel, groups, xlabel="baseline bpb", ylabel="relative NLL drop (%)", title=f"{m} vs {c.baseline}: relative gain")
            parts.append(
                f'<div class="plot">{fig}<p class="note">Relative gain: {_e(_reading(c.metric, rho2, "relative gain"))} (ρ = {rho2:.2f}). '
                "The absolute and the relative measure can disagree: a weak base has more bits per byte to lose, so the same "
                "relative drop is a larger absolute one.</p></div>"
            )
    parts.append("</div>")
    parts.append(filters)
    parts.append(f'<div class="scroll">{_table(head, rows, table_id=tid, row_attrs=attrs)}</div></section>')
    return "".join(parts)


def build_html(inputs: ReportInput, baseline: str | None) -> str:
    names = [m.name for m in inputs.models]
    base = baseline or (names[0] if names else None)
    comps = comparisons(inputs, base) if base else []
    by_task = {(c.task, c.metric): c for c in comps}
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>emma report: {_e(', '.join(names) or 'training')}</title><style>{STYLE}</style></head><body>",
        "<h1>emma report</h1>",
        f"<p class='note'>From {', '.join(f'<code>{_e(s)}</code>' for s in inputs.sources)}; "
        f"written {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}." + (f" Baseline: <b>{_e(base)}</b>." if base else "") + "</p>",
    ]
    if inputs.models:
        out.append("<h2>Models</h2>")
        rows = []
        for mr in inputs.models:
            found = mr.scores.get("_model")
            ident: dict = found if isinstance(found, dict) else {}
            cells = [
                (_e(mr.name) + (" (baseline)" if mr.name == base else ""), mr.name, "l"),
                (_e(mr.source), str(mr.source), "l"),
                (mr.kind, mr.kind, "l"),
            ]
            cells += [(_e(ident.get(k) or ""), str(ident.get(k) or ""), "l") for k in ("location", "fingerprint", "backend", "dtype")]
            rows.append(cells)
        out.append(
            f'<div class="scroll">{_table(["model", "folder", "kind", "location", "fingerprint", "backend", "dtype"], rows, table_id="models")}</div>'
        )
        out.append("<h2>Overview</h2>")
        out.append(
            "<p class='note'>Macro-average over the languages each model has (and per resource group, languages in brackets); "
            "items: how many were scored in all.</p>"
        )
        out.append(_overview(inputs, comps))
        others = [m for m in names if m != base and any(m in c.diffs for c in comps)]
        if others:
            out.append("<h2>Gain over the baseline by resource group</h2><div class='plots'>")
            for m in others:
                rows_, cols, cells_ = _gain_cells(inputs, comps, m)
                norm = {}
                for r in rows_:
                    scale = max((abs(v) for (rr, _), v in cells_.items() if rr == r and v is not None), default=0.0) or 1.0
                    norm.update({(r, g): (v / scale if (v := cells_.get((r, g))) is not None else None) for g in cols})
                fig = plots.heatmap(rows_, cols, cells_, f"{m} − {base}: mean gain per group (colour scaled per row)", True, colours=norm)
                out.append(f"<div class='plot'>{fig}</div>")
            out.append(
                "</div><p class='note'>Gain: improvement in the metric's own units (for NLL and bits per byte: baseline − model), "
                "averaged over the group's languages.</p>"
            )
            out.append("<h2>Win / tie / loss against the baseline</h2>")
            out.append("<p class='note'>Languages where the model is significantly better / not significantly different / significantly worse.</p>")
            for m in others:
                out.append(f"<h3>{_e(m)} vs {_e(base)}</h3>{_wtl(inputs, comps, m)}")
        elif len(names) > 1:
            out.append("<p class='note'>No model shares a task with the baseline: no differences to show.</p>")
        out.append("<h2>Per task</h2>")
        for i, c in enumerate(comps):
            out.append(_task_section(inputs, c, i, by_task))
    if inputs.trainings:
        out.append("<h2>Training</h2>")
        for tr in inputs.trainings:
            out.append(f"<h3>{_e(tr.name)} <small>({_e(tr.source)})</small></h3>")
            groups = {lang: group(inputs, lang) for lang in tr.heldout}
            out.append(f"<div class='plot'>{plots.curves(tr.loss, tr.heldout, groups, f'emma train: {tr.source}')}</div>")
            if tr.heldout:
                rows = []
                for lang, pts in sorted(tr.heldout.items()):
                    first, last = pts[0][1], pts[-1][1]
                    rows.append(
                        [
                            (_e(lang), lang, "l"),
                            (_swatch(groups[lang]), str(GROUP_ORDER.index(groups[lang])), "l"),
                            (_fmt(first), _num(first), ""),
                            (_fmt(last), _num(last), ""),
                            (_fmt(last - first), _num(last - first), ""),
                        ]
                    )
                out.append(_table(["language", "group", "held-out loss first", "last", "change"], rows, table_id=f"train-{_slug(tr.name)}"))
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out)


def check_baseline(inputs: ReportInput, baseline: str | None) -> None:
    names = [m.name for m in inputs.models]
    if baseline is not None and baseline not in names:
        raise EmmaError(f"--baseline {baseline}: no such model in {', '.join(map(str, inputs.sources))}; use one of: {', '.join(names) or '(none)'}")


def write_html(folders: Sequence[str | Path], out: str | Path, *, baseline: str | None = None, resource_groups: str | Path | None = None) -> Path:
    """Read and check every folder, then write the page atomically."""
    inputs = load_inputs([Path(f) for f in folders], resource_groups)
    check_baseline(inputs, baseline)
    out = Path(out)
    write_text(out, build_html(inputs, baseline))
    return out
