"""The report's plots, drawn by matplotlib as SVG text to inline in the HTML page (no image files, no
network): per-language bars by resource group, a tasks x groups heatmap, baseline score against gain
with its rank correlation, and training curves."""

from __future__ import annotations

import io
import math
import re

from emma.report.compare import GROUP_ORDER, Comparison, gain, spearman
from emma.report.demo_report import GROUP_COLORS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "emma-report", "font.size": 9})
    return plt


def svg(fig) -> str:
    """The figure as an inline <svg> element (no XML prolog or doctype, which HTML does not take)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    text = buf.getvalue()
    return re.sub(r"^.*?(?=<svg)", "", text, flags=re.S)


def _color(group: str) -> str:
    return GROUP_COLORS.get(group, "#999999")


def _finite(*vals) -> bool:
    return all(v is not None and math.isfinite(v) for v in vals)


def bars(c: Comparison, groups: dict[str, str]) -> str:
    """One bar per (language, model); languages sorted by group, bars coloured by the language's group,
    the baseline's hatched grey, group names above their run of languages."""
    plt = _plt()
    keys = c.keys
    k = len(c.models)
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(min(40, max(6, 0.28 * len(keys) * k + 2)), 3.6))
    for j, model in enumerate(c.models):
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(keys))]
        ys = [c.values[model].get(key) for key in keys]
        base = model == c.baseline
        ax.bar(
            [x for x, y in zip(xs, ys) if _finite(y)],
            [y for y in ys if _finite(y)],
            width=width,
            color=["#cccccc" if base else _color(groups.get(key, "unknown")) for key, y in zip(keys, ys) if _finite(y)],
            edgecolor="#555555",
            linewidth=0.3,
            hatch="//" if base else (None if j < 2 else ".."),
            alpha=1.0 if j < 3 else 0.7,
            label=model + (" (baseline)" if base and not model.endswith("(base)") else ""),
        )
    start = 0
    top = max((v for m in c.models for v in c.values[m].values() if v is not None and math.isfinite(v)), default=1.0)
    for i in range(1, len(keys) + 1):
        if i == len(keys) or groups.get(keys[i], "unknown") != groups.get(keys[start], "unknown"):
            g = groups.get(keys[start], "unknown")
            ax.text((start + i - 1) / 2, top * 1.04, g, ha="center", fontsize=8, color=_color(g))
            if i < len(keys):
                ax.axvline(i - 0.5, color="#dddddd", linewidth=0.8)
            start = i
    ax.set_ylim(min(0, ax.get_ylim()[0]), top * 1.15 if top > 0 else 1)
    ax.set_xticks(range(len(keys)), keys, rotation=60, ha="right", fontsize=7)
    ax.set_xlim(-0.6, len(keys) - 0.4)
    ax.set_ylabel(c.metric + (" (lower is better)" if gain(c.metric, 1.0, 0.0) > 0 else ""))
    ax.set_title(f"{c.task} {c.metric} per language (colour = resource group)")
    ax.legend(fontsize=7, frameon=False, loc="upper right", ncol=min(k, 3))
    return svg(fig)


def heatmap(
    rows: list[str],
    cols: list[str],
    cells: dict[tuple[str, str], float | None],
    title: str,
    diverging: bool,
    colours: dict[tuple[str, str], float | None] | None = None,
) -> str:
    """Rows (task metric) x columns (resource groups), each cell's value printed; `colours` (default:
    the values) set the shading, so rows of metrics on different scales can each be scaled to their own."""
    import numpy as np

    plt = _plt()

    def grid(src):
        return np.array([[src.get((r, g)) if _finite(src.get((r, g))) else np.nan for g in cols] for r in rows], dtype=float)

    data, shade = grid(cells), grid(colours if colours is not None else cells)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.0 * len(cols) + 2.5), max(1.6, 0.42 * len(rows) + 1.2)))
    finite = shade[np.isfinite(shade)]
    if diverging:
        lim = float(np.abs(finite).max()) if finite.size else 1.0
        im = ax.imshow(shade, cmap="RdBu", vmin=-(lim or 1), vmax=lim or 1, aspect="auto")
    else:
        im = ax.imshow(shade, cmap="viridis", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(data[i, j]):
                dark = abs(shade[i, j]) > 0.6 * (float(np.abs(finite).max()) or 1) if diverging else True
                ax.text(j, i, f"{data[i, j]:.3g}", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(len(cols)), cols, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return svg(fig)


def scatter(points: list[tuple[str, float, float]], groups: dict[str, str], *, xlabel: str, ylabel: str, title: str) -> tuple[str, float]:
    """Baseline score (x) against gain (y), one point per language coloured by group; Spearman's rho on the plot."""
    plt = _plt()
    pts = [(k, x, y) for k, x, y in points if _finite(x, y)]
    rho = spearman([x for _, x, _ in pts], [y for _, _, y in pts])
    fig, ax = plt.subplots(figsize=(4.6, 3.5))
    for g in GROUP_ORDER:
        mine = [(k, x, y) for k, x, y in pts if groups.get(k, "unknown") == g]
        if mine:
            ax.scatter([x for _, x, _ in mine], [y for _, _, y in mine], color=_color(g), label=g, s=22, edgecolor="white", linewidth=0.4)
    if len(pts) <= 40:
        for k, x, y in pts:
            ax.annotate(k.split("_")[0] if "-" not in k else k, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points", color="#444444")
    ax.axhline(0, color="black", linewidth=0.7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.text(
        0.02,
        0.97,
        f"Spearman ρ = {rho:.2f} (n={len(pts)})" if math.isfinite(rho) else f"Spearman ρ: n/a (n={len(pts)})",
        transform=ax.transAxes,
        va="top",
        fontsize=9,
        bbox={"facecolor": "white", "edgecolor": "#999999", "boxstyle": "round"},
    )
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return svg(fig), rho


def curves(loss: list[tuple[int, float]], heldout: dict[str, list[tuple[int, float]]], groups: dict[str, str], title: str) -> str:
    """Training loss and each language's held-out loss against step."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    if loss:
        a.plot([s for s, _ in loss], [v for _, v in loss], color="#333333", marker=".", linewidth=1)
    a.set_xlabel("step")
    a.set_ylabel("training loss (nats/token)")
    a.set_title("training loss", fontsize=9)
    seen = set()
    for lang, pts in sorted(heldout.items(), key=lambda kv: (GROUP_ORDER.index(groups.get(kv[0], "unknown")), kv[0])):
        g = groups.get(lang, "unknown")
        b.plot([s for s, _ in pts], [v for _, v in pts], color=_color(g), marker=".", linewidth=0.9, label=g if g not in seen else None)
        seen.add(g)
        if pts:
            b.annotate(lang.split("_")[0], pts[-1], fontsize=6, xytext=(2, 0), textcoords="offset points", color=_color(g))
    b.set_xlabel("step")
    b.set_ylabel("held-out loss (nats/token)")
    b.set_title("held-out loss per language (colour = resource group)", fontsize=9)
    if seen:
        b.legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    return svg(fig)
