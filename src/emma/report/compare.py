"""Model against baseline, language by language: the difference, its 95% confidence interval from a
paired bootstrap over the items both models scored (matched by each per-sample row's `id`), and
whether it is significant; win/tie/loss per resource group; baseline score against gain.

- A metric that is the mean of its items' scores (accuracy, exact match, ROUGE-L, mean NLL, ...):
  the mean item difference, resampled (1000 resamples, seed 12345, sacrebleu's 1/40 tails).
- Corpus BLEU / chrF (the rows hold `prediction` and `reference`): sacrebleu's own paired bootstrap
  (`sacrebleu.significance._paired_bs_test`, its p-value) and, on the same resampled indices, the
  interval of the corpus-score difference.
- Bits per byte: the ratio total NLL / bytes recomputed on each paired resample.
A difference is significant when its interval excludes zero (for MT: and sacrebleu's p < 0.05). Where
the rows are missing, not matched, or do not give back the recorded score, there is no interval and
the cell is untested: never a guessed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from emma.languages import GROUPS
from emma.report.data import ModelResults, ReportInput, language_of, script_of

ITERS = 1000
SEED = 12345  # sacrebleu's default
# emma.eval.results.HIGHER_IS_BETTER's lower-is-better metrics (the report reads files, it does not import eval)
LOWER_IS_BETTER = {"nll", "bpb", "self_bleu", "self_bleu_emma500"}
CORPUS_MT = {"bleu", "chrf", "spbleu"}
GROUP_ORDER = [*GROUPS, "unknown"]


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


@dataclass
class Diff:
    """One model against the baseline on one (task, key, metric)."""

    value: float | None
    base: float | None
    diff: float | None  # value - base
    ci: tuple[float, float] | None = None
    p: float | None = None
    n: int = 0  # items matched
    method: str = ""

    @property
    def significant(self) -> bool:
        if self.ci is None:
            return False
        return (self.ci[0] > 0 or self.ci[1] < 0) and (self.p is None or self.p < 0.05)

    def gain(self, metric: str) -> float | None:
        """The improvement, positive = better, in the metric's units (None without both values)."""
        return None if self.value is None or self.base is None else gain(metric, self.base, self.value)

    def outcome(self, metric: str) -> str:
        """win / loss (significant, direction-aware), tie (not significant) or untested (no interval)."""
        if self.diff is None or self.ci is None:
            return "untested"
        if not self.significant:
            return "tie"
        return "win" if (self.diff > 0) == higher_is_better(metric) else "loss"


@dataclass
class Comparison:
    """One task x metric: rows are keys (languages or directions), every model's value and diff."""

    task: str
    metric: str
    keys: list[str]
    models: list[str]
    baseline: str
    values: dict[str, dict[str, float | None]]  # model -> key -> value
    n: dict[str, dict[str, int | None]]
    diffs: dict[str, dict[str, Diff]] = field(default_factory=dict)  # model (not the baseline) -> key -> Diff

    def outcomes(self, model: str, groups: dict[str, str]) -> dict[str, dict[str, int]]:
        """{group: {win, tie, loss, untested}} for `model`, plus "all"."""
        out: dict[str, dict[str, int]] = {}
        for key, d in self.diffs.get(model, {}).items():
            for g in (groups.get(key, "unknown"), "all"):
                counts = out.setdefault(g, {"win": 0, "tie": 0, "loss": 0, "untested": 0})
                counts[d.outcome(self.metric)] += 1
        return out


def _spread(scores) -> tuple[float, float]:
    """sacrebleu's 95% rule (estimate_ci): sort, cut 1/40 of the resamples from each tail."""
    s = sorted(float(v) for v in scores)
    cut = len(s) // 40
    return s[cut], s[len(s) - cut - 1]


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _pairs(base: list[dict], other: list[dict]) -> list[tuple[dict, dict]]:
    """Rows of the same item (`id`) in both, in the baseline's order; an id seen twice is ambiguous: left out."""

    def index(rows):
        seen: dict[str, dict] = {}
        dup = set()
        for r in rows:
            i = r.get("id")
            if i is None:
                continue
            if str(i) in seen:
                dup.add(str(i))
            seen[str(i)] = r
        return {k: v for k, v in seen.items() if k not in dup}

    b, o = index(base), index(other)
    return [(b[k], o[k]) for k in b if k in o]


def _indices(n: int):
    import numpy as np

    return np.random.default_rng(SEED).choice(n, size=(ITERS, n), replace=True)


def _mean_diff(pairs, metric: str, base_value: float, value: float, base_rows, rows) -> Diff | None:
    import numpy as np

    b_all = [r[metric] for r in base_rows if _num(r.get(metric))]
    o_all = [r[metric] for r in rows if _num(r.get(metric))]
    if not b_all or not o_all or not _close(sum(b_all) / len(b_all), base_value) or not _close(sum(o_all) / len(o_all), value):
        return None  # not a mean of item scores: no paired interval from these rows
    both = [(b[metric], o[metric]) for b, o in pairs if _num(b.get(metric)) and _num(o.get(metric))]
    if len(both) < 2:
        return None
    d = np.array([o - b for b, o in both], dtype=np.float64)
    resampled = d[_indices(len(d))].mean(axis=1)
    return Diff(value, base_value, value - base_value, _spread(resampled), None, len(d), "paired bootstrap, item means")


def _bpb_diff(pairs, base_value: float, value: float) -> Diff | None:
    import numpy as np

    ok = [(b, o) for b, o in pairs if all(_num(r.get(k)) for r in (b, o) for k in ("nll", "bytes"))]
    if len(ok) < 2 or len(ok) != len(pairs):
        return None
    bn, ob = (np.array([[r["nll"], r["bytes"]] for r in side], dtype=np.float64) for side in zip(*ok))
    ln2 = math.log(2)
    if not _close(bn[:, 0].sum() / ln2 / bn[:, 1].sum(), base_value, 1e-6) or not _close(ob[:, 0].sum() / ln2 / ob[:, 1].sum(), value, 1e-6):
        return None  # a subset of the items: the rows do not give back the recorded bits per byte
    idx = _indices(len(ok))
    resampled = ob[idx, 0].sum(1) / ob[idx, 1].sum(1) / ln2 - bn[idx, 0].sum(1) / bn[idx, 1].sum(1) / ln2
    return Diff(value, base_value, value - base_value, _spread(resampled), None, len(ok), "paired bootstrap, bits per byte")


def _sacrebleu_metric(metric: str, hyps: list[str], refs: list[str], value: float):
    """The sacrebleu metric object that gives back the recorded corpus score (BLEU 13a, spBLEU, chrF++ or chrF)."""
    import sacrebleu

    candidates: list
    if metric == "bleu":
        candidates = [sacrebleu.BLEU()]
    elif metric == "spbleu":
        candidates = [sacrebleu.BLEU(tokenize="flores200")]
    else:
        candidates = [sacrebleu.CHRF(word_order=2), sacrebleu.CHRF()]
    for m in candidates:
        try:
            if _close(m.corpus_score(hyps, [refs]).score, value, 1e-6):
                return m
        except Exception:  # e.g. flores200's SentencePiece model not available offline: no interval
            continue
    return None


def _mt_diff(pairs, metric: str, base_value: float, value: float) -> Diff | None:
    import numpy as np

    ok = [(b, o) for b, o in pairs if all(isinstance(r.get(k), str) for r in (b, o) for k in ("prediction", "reference"))]
    if len(ok) < 2 or len(ok) != len(pairs) or any(b["reference"] != o["reference"] for b, o in ok):
        return None
    refs = [b["reference"] for b, _ in ok]
    base_h, hyps = [b["prediction"] for b, _ in ok], [o["prediction"] for _, o in ok]
    m = _sacrebleu_metric(metric, base_h, refs, base_value)
    if m is None or _sacrebleu_metric(metric, hyps, refs, value) is None:
        return None
    try:
        from sacrebleu.significance import _paired_bs_test

        base_stats = m._extract_corpus_statistics(base_h, [refs])
        base_result = m._aggregate_and_compute(base_stats)
        _, result = _paired_bs_test({"m": (base_stats, base_result)}, "model", hyps, [refs], {"m": m}, n_samples=ITERS, seed=SEED)
        p_value = result["m"].p_value
        if p_value is None:
            return None
        p = float(p_value)
        # the interval of the difference, on the same resampled indices sacrebleu's test drew (same seed, same call)
        idx = _indices(len(ok))
        bs = np.array(base_stats, dtype="float32")
        ss = np.array(m._extract_corpus_statistics(hyps, [refs]), dtype="float32")
        resampled = [m._compute_score_from_stats(ss[i].sum(0)).score - m._compute_score_from_stats(bs[i].sum(0)).score for i in idx]
    except (ImportError, AttributeError, KeyError):  # a sacrebleu without these internals: no interval rather than a wrong one
        return None
    return Diff(value, base_value, value - base_value, _spread(resampled), p, len(ok), "sacrebleu paired bootstrap")


def paired_diff(base: ModelResults, model: ModelResults, task: str, key: str, metric: str) -> Diff:
    """The difference of `model` to `base` on (task, key, metric), with its interval where the rows allow."""
    bv, v = base.value(task, key, metric), model.value(task, key, metric)
    if bv is None or v is None:
        return Diff(v, bv, None)
    plain = Diff(v, bv, v - bv)
    base_rows, rows = base.samples(task, key), model.samples(task, key)
    if not base_rows or not rows:
        return plain
    pairs = _pairs(base_rows, rows)
    if len(pairs) < 2:
        return plain
    got: Diff | None
    if metric in CORPUS_MT:
        got = _mean_diff(pairs, metric, bv, v, base_rows, rows) or _mt_diff(pairs, metric, bv, v)
    elif metric == "bpb":
        got = _bpb_diff(pairs, bv, v)
    else:
        got = _mean_diff(pairs, metric, bv, v, base_rows, rows)
    return got or plain


def comparisons(inputs: ReportInput, baseline: str) -> list[Comparison]:
    """Every task x metric any model has, languages in group order then by name."""
    base = inputs.model(baseline)
    tasks: list[str] = []
    for m in inputs.models:
        tasks += [t for t in m.tasks() if t not in tasks]
    out = []
    for task in tasks:
        having = [m for m in inputs.models if task in m.scores]
        keys = sorted({k for m in having for k in m.keys(task)}, key=lambda k: (GROUP_ORDER.index(group(inputs, k)), k))
        metrics = sorted({x for m in having for k in m.keys(task) for x, v in m.scores[task][k].items() if x != "n" and isinstance(v, (int, float))})
        for metric in metrics:
            names = [m.name for m in having]
            if baseline in names:
                names.remove(baseline)
                names.insert(0, baseline)
            c = Comparison(
                task,
                metric,
                keys,
                names,
                baseline,
                values={m.name: {k: m.value(task, k, metric) for k in keys} for m in having},
                n={m.name: {k: _n(m, task, k) for k in keys} for m in having},
            )
            if task in base.scores:
                for m in having:
                    if m.name != baseline:
                        c.diffs[m.name] = {k: paired_diff(base, m, task, k, metric) for k in keys}
            out.append(c)
    return out


def _n(m: ModelResults, task: str, key: str) -> int | None:
    n = m.scores.get(task, {}).get(key, {}).get("n")
    return int(n) if isinstance(n, (int, float)) else None


def group(inputs: ReportInput, key: str) -> str:
    g = inputs.groups.get(key) or inputs.groups.get(language_of(key)) or "unknown"
    return g if g in GROUP_ORDER else "unknown"


def spearman(xs: list[float], ys: list[float]) -> float:
    """Rank correlation: scipy's where it is installed (it is not one of emma's dependencies), else the
    same formula (Pearson correlation of average ranks, ties shared)."""
    if len(xs) < 3 or len(set(xs)) == 1 or len(set(ys)) == 1:  # undefined for a constant series
        return float("nan")
    try:
        from scipy.stats import spearmanr

        rho = float(spearmanr(xs, ys).statistic)
        return rho
    except ImportError:
        pass
    import numpy as np

    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    a, b = np.array(ranks(xs)), np.array(ranks(ys))
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def gain(metric: str, base: float, value: float) -> float:
    """Improvement in the metric's own units, positive = better (for NLL/bpb: base - value)."""
    return value - base if higher_is_better(metric) else base - value


def scripts(inputs: ReportInput, keys: list[str]) -> dict[str, str]:
    return {k: script_of(k) for k in keys}
