"""`emma report --html`, `emma compare` and `emma eval --report-to`: paired differences and their
intervals on two models whose results differ in known ways (a fake backend: no model loads), the HTML
page's contents (offline, every section, languages as rows), an emma demo and an emma train folder
read from their documented files, and scores logged to TensorBoard / W&B. The page in a real browser:
tests/test_report_browser.py."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
from pathlib import Path

import pytest
from tests.test_results import KNOWN, ROWS, Fake, fake_model, make_sib

from emma.errors import EmmaError
from emma.eval import backends
from emma.eval.harness import evaluate
from emma.eval.nll import SegmentScore
from emma.report.compare import comparisons, paired_diff, spearman
from emma.report.data import load_inputs
from emma.report.html import write_html

LANGS = ("eng_Latn", "swh_Latn", "fra_Latn", "amh_Ethi")
GROUPS = {"eng_Latn": "high", "fra_Latn": "high", "swh_Latn": "medium-high", "amh_Ethi": "low"}
SECOND = ROWS[1][2]  # an item only the better model gets right


class Better(Fake):
    """Knows one more SIB item, gives every text 30% lower NLL, and translates one word more."""

    def _logprob(self, context: str, continuation: str) -> float:
        text = context.rsplit("[", 1)[-1].split("]")[0]
        bonus = 50.0 if text == SECOND and continuation.strip() == ROWS[1][1] and text not in KNOWN else 0.0
        return super()._logprob(context, continuation) + bonus

    def nll(self, texts, *, progress=None):
        return [SegmentScore(nll=s.nll * 0.7, tokens=s.tokens, bytes=s.bytes) for s in super().nll(texts)]

    def generate(self, requests, *, progress=None):
        sources = [r.context.rsplit("\n", 1)[0].rsplit(" phrase: ", 1)[-1] for r in requests]
        return [" ".join(s.split()[: 3 + i % 4]) for i, s in enumerate(sources)]


@pytest.fixture(scope="module")
def evals(tmp_path_factory) -> Path:
    """One eval folder: a base model, a better one and a copy of the base (same results, other weights)."""
    root = tmp_path_factory.mktemp("report")
    sib = make_sib(root / "sib", langs=LANGS)
    made: dict = {}

    def make(kind, model, options=None):
        name = Path(model).name  # the noise depends on the name given, not on the test's folder
        return made.setdefault(model, Better("better") if name == "better" else Fake("base"))

    mp = pytest.MonkeyPatch()
    mp.setattr(backends, "make_backend", make)
    try:
        models = [str(fake_model(root / n, n.encode())) for n in ("base", "better", "copy")]
        evaluate(models, ["sib200", "nll", "flores200"], root / "eval", langs=",".join(LANGS), data_dir=str(sib), groups=GROUPS)
    finally:
        mp.undo()
    return root / "eval"


def _names(inputs):
    return {m.name.split("--")[1].split("-")[0]: m.name for m in inputs.models}


def test_paired_differences_intervals_and_outcomes(evals):
    inputs = load_inputs([evals])
    names = _names(inputs)
    assert inputs.groups["amh_Ethi"] == "low" and inputs.groups["eng_Latn-amh_Ethi"] == "low"  # scores.json's _group_of
    comps = {(c.task, c.metric): c for c in comparisons(inputs, names["base"])}
    assert set(comps) >= {("sib200", "acc"), ("nll", "nll"), ("nll", "bpb"), ("flores200", "bleu"), ("flores200", "chrf")}
    for c in comps.values():
        for diffs in c.diffs.values():
            for key, d in diffs.items():
                if d.ci is not None:
                    assert d.ci[0] - 1e-9 <= d.diff <= d.ci[1] + 1e-9 or c.metric in ("bleu", "chrf"), (c.task, c.metric, key, d)
                    assert d.significant == (d.ci[0] > 0 or d.ci[1] < 0) and (d.p is None or d.p < 0.05 or not d.significant)
    # 30% lower NLL on every item: significantly better everywhere, and lower NLL counts as a win
    for metric in ("nll", "bpb"):
        c = comps["nll", metric]
        better = c.diffs[names["better"]]
        assert all(d.diff < 0 and d.ci[1] < 0 and d.outcome(metric) == "win" for d in better.values()), better
        assert c.outcomes(names["better"], GROUPS)["all"] == {"win": 4, "tie": 0, "loss": 0, "untested": 0}
        # the copy has the base's results: zero difference, a zero-width interval, a tie
        assert all(d.diff == 0 and d.ci == (0.0, 0.0) and d.outcome(metric) == "tie" for d in c.diffs[names["copy"]].values())
    bpb = comps["nll", "bpb"].diffs[names["better"]]["eng_Latn"]
    assert bpb.method == "paired bootstrap, bits per byte" and bpb.diff == pytest.approx(-0.3 * bpb.base)
    # one more item right out of five: a positive difference whose interval still reaches 0 (resamples without it)
    acc = comps["sib200", "acc"].diffs[names["better"]]["eng_Latn"]
    assert acc.diff == pytest.approx(0.2) and acc.n == 5 and acc.ci[0] == 0.0 and acc.ci[1] > 0.2 and acc.outcome("acc") == "tie"
    # MT: sacrebleu's paired bootstrap gives the p-value; items matched by id
    bleu = comps["flores200", "bleu"].diffs[names["better"]]["eng_Latn-fra_Latn"]
    assert bleu.method == "sacrebleu paired bootstrap" and 0 < bleu.p <= 1 and bleu.n == 5 and bleu.diff != 0


def test_unmatched_rows_give_no_interval(evals):
    """Rows of other items (ids that do not match) are no basis for a paired interval: the cell is untested."""
    inputs = load_inputs([evals])
    names = _names(inputs)
    base, better = inputs.model(names["base"]), inputs.model(names["better"])
    rows = better.samples("sib200", "eng_Latn")
    better.rows["sib200", "eng_Latn"] = [{**r, "id": f"other-{r['id']}"} for r in rows]
    d = paired_diff(base, better, "sib200", "eng_Latn", "acc")
    assert d.diff == pytest.approx(0.2) and d.ci is None and d.outcome("acc") == "untested"


def _demo_folder(root: Path) -> Path:
    """An emma demo folder as the demo writes it (results.json, per-segment scores, train/train.json)."""
    langs = {"eng_Latn": ("high", 1.2), "wol_Latn": ("medium-low", 4.3), "chr_Cher": ("low", 2.5)}
    results = {"base_model": "smollm2-135m", "checkpoint": str(root / "train" / "checkpoint"), "languages": {}}
    before, after = [], []
    for i, (lang, (group, bpb)) in enumerate(langs.items()):
        segs = [{"section": f"article-{j}", "nll": 100.0 * bpb + j, "tokens": 40, "bytes": 100 / math.log(2)} for j in range(3)]
        done = [{**s, "nll": s["nll"] * (0.9 - 0.05 * i)} for s in segs]
        nll_b, nll_a = (sum(s["nll"] for s in x) / 3 for x in (segs, done))
        bpb_b, bpb_a = (sum(s["nll"] for s in x) / math.log(2) / sum(s["bytes"] for s in x) for x in (segs, done))
        before.append({"lang": lang, "per_segment": segs})
        after.append({"lang": lang, "per_segment": done})
        results["languages"][lang] = {"group": group, "nll_before": nll_b, "nll_after": nll_a, "bpb_before": bpb_b, "bpb_after": bpb_a}
    root.mkdir(parents=True)
    (root / "results.json").write_text(json.dumps(results))
    (root / "scores_before.jsonl").write_text("".join(json.dumps(r) + "\n" for r in before))
    (root / "scores_after.jsonl").write_text("".join(json.dumps(r) + "\n" for r in after))
    history = [{"step": s, "loss": 3.0 - 0.1 * s} for s in (5, 10, 15)]
    history += [{"step": s, **{f"eval_{lang}_loss": 4.0 - 0.05 * s for lang in langs}} for s in (0, 15)]
    (root / "train").mkdir()
    (root / "train" / "train.json").write_text(json.dumps({"log_history": history}))
    return root


def test_html_page_is_self_contained_and_complete(evals, tmp_path):
    demo = _demo_folder(tmp_path / "demo")
    out = write_html([evals, demo], tmp_path / "out" / "report.html")
    page = out.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page) and "<link" not in page  # nothing fetched from a network
    assert page.count("<svg") >= 10 and "<?xml" not in page and "<!DOCTYPE svg" not in page
    for heading in (
        "Models",
        "Overview",
        "Gain over the baseline by resource group",
        "Win / tie / loss against the baseline",
        "Per task",
        "Training",
    ):
        assert f"<h2>{heading}</h2>" in page, heading
    # languages as rows: the sib200 acc table has one row per language, each tagged with its group and script
    table = page.split('id="t0-sib200-acc"')[1].split("</table>")[0]
    assert table.count("<tr data-group=") == len(LANGS) and 'data-group="low" data-script="Ethi"' in table
    assert "Spearman ρ" in page and "relative NLL drop (%)" in page and "bits per byte" in page
    assert "smollm2-135m (base)" in page and "smollm2-135m (CPT)" in page  # the demo's two models
    assert "held-out loss per language" in page  # its training curves
    # the demo's NLL fell by 10, 15 and 20%: a win for every language, the relative measure on the plot too
    inputs = load_inputs([demo])
    c = next(c for c in comparisons(inputs, "smollm2-135m (base)") if c.metric == "bpb")
    assert [d.outcome("bpb") for d in c.diffs["smollm2-135m (CPT)"].values()] == ["win"] * 3


def test_bad_baseline_and_empty_folder_write_nothing(evals, tmp_path):
    with pytest.raises(EmmaError, match=r"--baseline nosuch: no such model in .*; use one of: "):
        write_html([evals], tmp_path / "r.html", baseline="nosuch")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmmaError, match=r"empty: no emma results inside"):
        write_html([evals, tmp_path / "empty"], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_compare_prints_the_comparison(evals, capsys):
    from emma.cli import main

    names = _names(load_inputs([evals]))
    with pytest.raises(SystemExit) as done:
        main(["compare", str(evals / names["base"]), str(evals / names["better"]), "--task", "nll"])
    out = capsys.readouterr().out
    assert done.value.code in (0, None), out
    assert "nll bpb (lower is better)" in out and "win / tie / loss" in out and "4/0/0" in out
    assert "eng_Latn" in out and "sib200" not in out


def test_markdown_tables_have_languages_as_rows(evals):
    from emma.report.tables import write_tables

    md = write_tables(evals)[0].read_text()
    section = md.split("## sib200 acc\n")[1].split("##")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| language |") and lines[1].startswith("| Avg |") and len(lines) == 2 + len(LANGS)


def test_spearman_is_scipys_and_the_fallback_agrees(monkeypatch):
    import builtins

    xs, ys = [1.0, 2.0, 3.0, 4.0, 5.0, 2.0], [2.0, 1.0, 4.0, 3.0, 6.0, 1.0]
    rho = spearman(xs, ys)
    if importlib.util.find_spec("scipy"):
        from scipy.stats import spearmanr

        assert rho == pytest.approx(spearmanr(xs, ys).statistic)
    real_import = builtins.__import__

    def no_scipy(name, *a, **k):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    assert spearman(xs, ys) == pytest.approx(rho)  # average ranks for ties, as scipy
    assert math.isnan(spearman([1.0, 2.0], [1.0, 2.0]))


def test_demo_report_states_both_measures():
    from emma.report.demo_report import _gain_vs_base

    # a weak base (high bpb) that loses more bits per byte but a smaller share of its NLL: the two measures disagree
    langs = {
        f"l{i}": {"bpb_before": b, "bpb_after": b - drop, "nll_before": 100 * b, "nll_after": 100 * (b - drop)}
        for i, (b, drop) in enumerate([(1.0, 0.3), (2.0, 0.5), (3.0, 0.6), (4.0, 0.7)])
    }
    text = " ".join(_gain_vs_base(langs, {}))
    assert "**absolute** drop in bits per byte: **1.00** (the absolute gain is larger where the base is weaker)" in text
    assert "**relative** NLL drop: **-1.00** (the relative gain is smaller where the base is weaker)" in text
    assert "The two measures disagree here" in text


def test_eval_logs_scores_to_tensorboard(evals, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from emma.eval.tracking import parse_report_to, report_scores
    from emma.report.tables import load_scores

    scores = {name: {t: v for t, v in s.items() if not t.startswith("_")} for name, s in load_scores(evals).items()}
    name = next(iter(scores))
    report_scores(evals, {name: scores[name]}, parse_report_to(["tensorboard"]))
    runs = list((evals / name / "runs").glob("eval-*"))
    assert len(runs) == 1
    acc = EventAccumulator(str(runs[0]))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert "sib200/acc/eng_Latn" in tags and "sib200/acc/_overall" in tags and "nll/bpb/group/low" in tags
    assert acc.Scalars("sib200/acc/eng_Latn")[0].value == pytest.approx(scores[name]["sib200"]["eng_Latn"]["acc"])
    with pytest.raises(EmmaError, match="--report-to bogus: unknown"):
        parse_report_to(["bogus"])
    assert parse_report_to(["none"]) == [] and parse_report_to(["tensorboard,tensorboard"]) == ["tensorboard"]


def test_eval_logs_scores_to_wandb_offline(evals, tmp_path, monkeypatch):
    if importlib.util.find_spec("wandb") is None:
        if os.environ.get("EMMA_REQUIRE_WANDB"):
            pytest.fail("EMMA_REQUIRE_WANDB is set but wandb is not installed: bash scripts/setup.sh --with wandb")
        pytest.skip("wandb is not installed (pip install 'emma[wandb]'); --report-to wandb is then refused before any work")
    from emma.eval.tracking import report_scores
    from emma.report.tables import load_scores

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    scores = load_scores(evals)
    name = next(iter(scores))
    out = tmp_path / "wb"
    (out / name).mkdir(parents=True)
    (out / name / "scores.json").write_text(json.dumps(scores[name]))
    report_scores(out, {name: {t: v for t, v in scores[name].items() if not t.startswith("_")}}, ["wandb"])
    runs = list((out / name / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    record = next(runs[0].glob("*.wandb")).read_bytes()  # the offline run's log: history items as (key, JSON value) records
    value = scores[name]["sib200"]["eng_Latn"]["acc"]
    assert b"sib200/acc/eng_Latn" in record and b"nll/bpb/_overall" in record and json.dumps(value).encode() in record
