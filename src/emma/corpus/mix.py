"""`emma corpus mix`: plan how many tokens of each language a training run sees.

Two strategies, both with a per-language epoch cap (how many times a language's text may be
repeated), because temperature sampling alone over-repeats small languages (on MaLA's counts,
alpha = 0.3 would show one language 285 times):
- `temperature`: p(l) ~ n_l^alpha; a language over the cap is held at it and its excess share
  goes to the others in proportion to their weights, until no cap is breached;
- `unimax` (Chung et al., 2023): the budget is spread uniformly over languages, smallest first,
  each capped at `max_epochs` x its size, what it cannot take passed on to the larger ones.
`n_l` is the language's available tokens (measured with the target tokenizer), each source scaled
by its weight. The plan fails loudly if weights do not sum to one or a cap is breached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from emma.errors import EmmaError


@dataclass
class MixEntry:
    lang: str
    available_tokens: int
    target_tokens: int
    weight: float
    epochs: float
    group: str
    sources: dict[str, int]


def effective_tokens(sources: dict[str, int], source_weights: dict[str, float] | None) -> float:
    return sum(n * (source_weights or {}).get(src, 1.0) for src, n in sources.items())


def temperature_shares(sizes: dict[str, float], alpha: float, budget: float, max_epochs: float) -> dict[str, float]:
    """Target tokens per language: temperature shares, capped at max_epochs x size, excess redistributed."""
    free = {lang: n**alpha for lang, n in sizes.items() if n > 0}
    target: dict[str, float] = {}
    remaining = budget
    while free:
        z = sum(free.values())
        share = {lang: remaining * w / z for lang, w in free.items()}
        over = {lang for lang, t in share.items() if t > max_epochs * sizes[lang]}
        if not over:
            target.update(share)
            break
        for lang in over:
            target[lang] = max_epochs * sizes[lang]
            remaining -= target[lang]
            del free[lang]
    if remaining < -1e-6 or (not free and remaining > 1e-6 * budget):
        raise EmmaError(
            f"mix: a budget of {budget:.0f} tokens needs more than {max_epochs} epochs of every language; lower --budget or raise --max-epochs"
        )
    return target


def unimax_shares(sizes: dict[str, float], budget: float, max_epochs: float) -> dict[str, float]:
    target, remaining = {}, budget
    order = sorted((lang for lang in sizes if sizes[lang] > 0), key=lambda lang: sizes[lang])
    for k, lang in enumerate(order):
        even = remaining / (len(order) - k)
        target[lang] = min(even, max_epochs * sizes[lang])
        remaining -= target[lang]
    if remaining > 1e-6 * budget:
        raise EmmaError(
            f"mix: a budget of {budget:.0f} tokens needs more than {max_epochs} epochs of every language; lower --budget or raise --max-epochs"
        )
    return target


def plan_mix(
    stats: dict[str, dict[str, int]],
    *,
    strategy: str = "temperature",
    alpha: float = 0.3,
    budget: float | None = None,
    max_epochs: float = 4.0,
    source_weights: dict[str, float] | None = None,
    groups: dict[str, str] | None = None,
) -> list[MixEntry]:
    """`stats`: {lang: {source: available tokens}}. `budget` defaults to the total available."""
    from emma.languages import group_for_tokens

    if max_epochs <= 0:
        raise EmmaError("mix: --max-epochs must be > 0")
    sizes = {lang: effective_tokens(src, source_weights) for lang, src in stats.items()}
    if not any(sizes.values()):
        raise EmmaError("mix: no tokens available in any language")
    budget = float(budget if budget is not None else sum(sizes.values()))
    if strategy == "temperature":
        target = temperature_shares(sizes, alpha, budget, max_epochs)
    elif strategy == "unimax":
        target = unimax_shares(sizes, budget, max_epochs)
    else:
        raise EmmaError(f"mix: unknown strategy {strategy!r}; use temperature or unimax")
    total = sum(target.values())
    entries = [
        MixEntry(
            lang=lang,
            available_tokens=int(sum(stats[lang].values())),
            target_tokens=int(round(t)),
            weight=t / total,
            epochs=t / sizes[lang],
            group=(groups or {}).get(lang) or group_for_tokens(int(sizes[lang])),
            sources=dict(stats[lang]),
        )
        for lang, t in sorted(target.items())
    ]
    check(entries, max_epochs)
    return entries


def check(entries: list[MixEntry], max_epochs: float) -> None:
    s = sum(e.weight for e in entries)
    if abs(s - 1) > 1e-6:
        raise EmmaError(f"mix: weights sum to {s:.8f}, not 1")
    breached = [e.lang for e in entries if e.epochs > max_epochs * (1 + 1e-9)]
    if breached:
        raise EmmaError(f"mix: epoch cap {max_epochs} breached by {', '.join(breached)}")


def to_manifest(
    entries: list[MixEntry],
    *,
    strategy: str,
    alpha: float,
    max_epochs: float,
    budget: float | None,
    files: dict[str, str] | None = None,
    tokenizer: str | None = None,
) -> dict:
    """The YAML `emma train` reads (`data.shards`): per language its file (when packed) and weight."""
    return {
        "tokenizer": tokenizer,
        "strategy": strategy,
        "alpha": alpha if strategy == "temperature" else None,
        "max_epochs": max_epochs,
        "budget_tokens": budget,
        "total_target_tokens": sum(e.target_tokens for e in entries),
        "languages": [{**({"file": files[e.lang]} if files and e.lang in files else {}), **asdict(e), "tokens": e.available_tokens} for e in entries],
    }
