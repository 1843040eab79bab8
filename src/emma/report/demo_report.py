"""The demo's Markdown report and its plot of NLL before vs after, grouped by resource group."""

from __future__ import annotations

from pathlib import Path

from emma.io import atomic_path, write_text
from emma.languages import GROUPS

GROUP_COLORS = {
    "high": "#1b9e77",
    "medium-high": "#66a61e",
    "medium": "#e6ab02",
    "medium-low": "#d95f02",
    "low": "#e7298a",
    "unseen": "#7570b3",
    "unknown": "#999999",
}


def _ordered(langs: dict[str, dict]) -> list[str]:
    rank = {g: i for i, g in enumerate(GROUPS + ["unknown"])}
    return sorted(langs, key=lambda lang: (rank.get(langs[lang]["group"], 99), langs[lang]["bpb_before"]))


def plot_nll(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = results["languages"]
    order = _ordered(langs)
    x = list(range(len(order)))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(10, 0.5 * len(order) + 2), 8), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    before = [langs[lang]["bpb_before"] for lang in order]
    after = [langs[lang]["bpb_after"] for lang in order]
    colors = [GROUP_COLORS.get(langs[lang]["group"], "#999999") for lang in order]
    top.bar([i - 0.2 for i in x], before, width=0.4, color="#bbbbbb", label="base model")
    top.bar([i + 0.2 for i in x], after, width=0.4, color=colors, label="after CPT (colour = resource group)")
    top.set_ylabel("held-out bits per byte")
    top.set_title(f"{results['base_model']}: held-out UDHR NLL before and after continual pre-training")
    change = [100 * (langs[lang]["nll_after"] - langs[lang]["nll_before"]) / langs[lang]["nll_before"] for lang in order]
    bottom.bar(x, change, color=colors)
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.set_ylabel("change in NLL (%)")
    bottom.set_xticks(x, order, rotation=60, ha="right", fontsize=8)
    # Resource-group separators and labels.
    start = 0
    for i in range(1, len(order) + 1):
        if i == len(order) or langs[order[i]]["group"] != langs[order[start]]["group"]:
            group = langs[order[start]]["group"]
            top.text((start + i - 1) / 2, max(before + after) * 1.02, group, ha="center", fontsize=8, color=GROUP_COLORS.get(group, "#999999"))
            if i < len(order):
                for ax in (top, bottom):
                    ax.axvline(i - 0.5, color="#dddddd", linewidth=0.8)
            start = i
    top.set_ylim(0, max(before + after) * 1.1)
    fig.legend(*top.get_legend_handles_labels(), loc="lower left", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def markdown_report(results: dict) -> str:
    langs, s = results["languages"], results["summary"]
    lines = [
        f"# emma demo: {results['base_model']} before and after continual pre-training",
        "",
        f"Checkpoint: `{results['checkpoint']}`. Held-out text: UDHR articles never trained on "
        f"(every {results['config']['holdout_every']}th article). NLL is the total negative log-likelihood of a "
        "held-out article in nats, averaged over the language's articles; bits per byte divide the same total "
        "by the text's UTF-8 bytes, so both compare across tokenizers.",
        "",
        f"- NLL fell for **{s['nll_fell']} of {s['languages']}** languages"
        + (f" (rose for {', '.join(s['nll_rose'])})" if s["nll_rose"] else "")
        + ".",
        f"- Mean relative NLL drop: **{s['mean_relative_nll_drop']:.1%}**.",
        *_gain_vs_base(langs, s),
        f"- Training: {results['train'].get('steps')} steps, loss {results['train'].get('train_loss_first') or float('nan'):.3f} -> "
        f"{results['train'].get('train_loss_last') or float('nan'):.3f}; whole demo {results.get('wall_time_s', float('nan')):.0f} s "
        f"(summed over runs: {', '.join(f'{k} {v:.0f} s' for k, v in results.get('stage_seconds', {}).items())}).",
        "",
        "## Mean relative NLL drop per resource group",
        "",
        "| group | languages | mean drop |",
        "|---|---:|---:|",
    ]
    for g in GROUPS + ["unknown"]:
        members = [lang for lang in langs if langs[lang]["group"] == g]
        if members:
            lines.append(f"| {g} | {len(members)} | {s['mean_relative_nll_drop_by_group'][g]:.1%} |")
    bridged = {lang: langs[lang]["group_note"] for lang in _ordered(langs) if langs[lang].get("group_note")}
    if bridged:
        lines += [
            "",
            "## Groups bridged from a macrolanguage",
            "",
            "The resource-group file (EMMA-500's resource_groups.json) counts most of these languages' data under their "
            "macrolanguage's code, so each takes the macrolanguage's group (same script; rule: `emma.languages.resource_group`):",
            "",
        ]
        lines += [f"- `{lang}` ({langs[lang]['name']}): **{langs[lang]['group']}**. {note}" for lang, note in bridged.items()]
    lines += [
        "",
        "## Per language",
        "",
        "| language | name | group | NLL before | NLL after | change | bpb before | bpb after | train tokens |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for lang in _ordered(langs):
        r = langs[lang]
        change = (r["nll_after"] - r["nll_before"]) / r["nll_before"]
        group = r["group"] + (" (bridged)" if r.get("group_note") else "")
        lines.append(
            f"| {lang} | {r['name']} | {group} | {r['nll_before']:.1f} | {r['nll_after']:.1f} | {change:+.1%} | "
            f"{r['bpb_before']:.3f} | {r['bpb_after']:.3f} | {r['train_tokens']} |"
        )
    lines += ["", "![NLL before and after, by resource group](nll.png)", ""]
    return "\n".join(lines)


def _reading(rho: float, what: str) -> str:
    if rho != rho:  # NaN: fewer than 3 languages
        return "too few languages to say"
    if abs(rho) < 0.1:
        return f"no rank relation between the base's bits per byte and the {what}"
    return f"the {what} is {'larger' if rho > 0 else 'smaller'} where the base is weaker"


def _gain_vs_base(langs: dict[str, dict], s: dict) -> list[str]:
    """EMMA-500's question (is the gain largest where the base is weakest?) by both measures: the
    absolute drop in bits per byte and the relative NLL drop. They can disagree: a weak base has more
    bits per byte to lose, so an equal relative drop is a larger absolute one."""
    from emma.report.compare import spearman

    order = list(langs)
    base = [langs[lang]["bpb_before"] for lang in order]
    absolute = [langs[lang]["bpb_before"] - langs[lang]["bpb_after"] for lang in order]
    relative = s.get("spearman_base_bpb_vs_drop")
    if relative is None:
        relative = spearman(base, [(langs[lang]["nll_before"] - langs[lang]["nll_after"]) / langs[lang]["nll_before"] for lang in order])
    rho_abs = spearman(base, absolute)
    lines = [
        f"- Is the gain largest where the base model is weakest (EMMA-500's finding)? Spearman correlation of the base model's bits "
        f"per byte with the **absolute** drop in bits per byte: **{rho_abs:.2f}** ({_reading(rho_abs, 'absolute gain')}); with the "
        f"**relative** NLL drop: **{relative:.2f}** ({_reading(relative, 'relative gain')}). Positive: the weaker the base, the larger the gain.",
    ]
    if rho_abs == rho_abs and relative == relative and (rho_abs > 0.1) != (relative > 0.1):
        lines.append(
            "  The two measures disagree here: a weak base has more bits per byte to lose, so the same relative drop is a larger "
            "absolute one. Neither alone settles the question."
        )
    return lines


def write_demo_report(results: dict, out: Path) -> None:
    """report.md and nll.png, and report.html (`emma report --html` on this folder: the demo's results.json,
    per-segment scores and training log) beside them."""
    from emma.report.html import write_html

    plot_nll(results, out / "nll.png")
    write_text(out / "report.md", markdown_report(results))
    write_html([out], out / "report.html")
