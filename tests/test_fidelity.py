"""Output-language fidelity on every generation task: a model that answers in English where Russian
was asked gets in_script 0 (and in_language 0 with a LID model), recorded per sample and per
language; one in the right script gets 1. A fake backend (fixed text) makes these fast and exact;
one real run goes through `emma eval` on real FLORES sentences."""

from __future__ import annotations

import json

import pytest

from conftest import SIB200, need
from emma.eval.backend import Backend
from emma.eval.data import TaskOptions
from emma.eval.generation import GenRequest
from emma.eval.tasks import get_task

ENGLISH = "The weather is nice today and the children play outside."
RUSSIAN = "Сегодня хорошая погода, и дети играют на улице."


class FixedText:
    """A Backend that answers every generation request with the same text."""

    def __init__(self, text: str):
        self.text = text
        self.requests: list[GenRequest] = []

    @property
    def name(self) -> str:
        return "fixed-text"

    def loglikelihood(self, requests, *, first_token_only=False, progress=None):
        raise AssertionError("generation tasks do not ask for log-likelihoods")

    def nll(self, texts, *, progress=None):
        raise AssertionError("generation tasks do not ask for NLL")

    def generate(self, requests, *, progress=None):
        self.requests += requests
        return [self.text for _ in requests]


def _flores(root, n=4):
    """A FLORES-layout folder: eng_Latn and rus_Cyrl, dev and devtest."""
    for split in ("dev", "devtest"):
        (root / split).mkdir(parents=True)
        (root / split / f"eng_Latn.{split}").write_text("".join(f"{ENGLISH} {i}\n" for i in range(n)), encoding="utf-8")
        (root / split / f"rus_Cyrl.{split}").write_text("".join(f"{RUSSIAN} {i}\n" for i in range(n)), encoding="utf-8")
    return root


def test_fake_backend_satisfies_the_protocol():
    assert isinstance(FixedText("x"), Backend)


@pytest.mark.parametrize("preset", ["default", "emma500"])
def test_flores_english_answer_to_a_russian_target_is_not_in_script(tmp_path, preset, monkeypatch):
    monkeypatch.setenv("EMMA_FLORES200_SPM", "off")  # spBLEU's model cannot be had offline; the rest is the same
    data = _flores(tmp_path / "flores")
    task = get_task("flores200")
    assert "in_script" in task.metrics and "in_language" in task.metrics
    samples, scores = task.run(FixedText(ENGLISH), str(data), "eng_Latn-rus_Cyrl", TaskOptions(preset=preset))
    assert [s["in_script"] for s in samples] == [0.0] * 4 and scores["in_script"] == 0.0
    assert "in_language" not in scores and "lid" not in samples[0]  # no LID model given
    # the same English answer is in script for an English target, and a Russian answer for the Russian one
    assert task.run(FixedText(ENGLISH), str(data), "rus_Cyrl-eng_Latn", TaskOptions(preset=preset))[1]["in_script"] == 1.0
    assert task.run(FixedText(RUSSIAN), str(data), "eng_Latn-rus_Cyrl", TaskOptions(preset=preset))[1]["in_script"] == 1.0


def test_summaries_and_aya_in_the_wrong_script(tmp_path):
    (tmp_path / "xlsum").mkdir()
    rows = [{"id": str(i), "text": f"{RUSSIAN} {i}", "summary": RUSSIAN} for i in range(3)]
    (tmp_path / "xlsum" / "russian_test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for preset in ("default", "emma500"):  # (BERTScore's model a missing folder: skipped at once, not looked for on the hub)
        opts = TaskOptions(preset=preset, bertscore_model=str(tmp_path / "no-bert"))
        samples, scores = get_task("xlsum").run(FixedText(ENGLISH), str(tmp_path / "xlsum"), "rus_Cyrl", opts)
        assert scores["in_script"] == 0.0 and all(s["in_script"] == 0.0 for s in samples), preset
    assert get_task("xlsum").run(FixedText(RUSSIAN), str(tmp_path / "xlsum"), "rus_Cyrl", TaskOptions())[1]["in_script"] == 1.0
    (tmp_path / "aya").mkdir()
    rows = [{"inputs": f"Вопрос {i}?", "targets": RUSSIAN} for i in range(3)]
    (tmp_path / "aya" / "rus_Cyrl.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    samples, scores = get_task("aya").run(FixedText(ENGLISH), str(tmp_path / "aya"), "rus_Cyrl", TaskOptions())
    assert scores["in_script"] == 0.0 and [s["in_script"] for s in samples] == [0.0] * 3 and scores["chrf"] < 20
    assert get_task("aya").run(FixedText(RUSSIAN), str(tmp_path / "aya"), "rus_Cyrl", TaskOptions())[1]["in_script"] == 1.0


def test_in_language_with_a_lid_model(tmp_path):
    """With --lid-model, each output's label and in_language: English for Russian is 0, Russian 1."""
    from emma.lid import FastTextSettings, load_labelled, train_lid

    pairs = [p for p in load_labelled(need(SIB200), "train") if p[1] in ("eng_Latn", "rus_Cyrl", "ukr_Cyrl")]
    train_lid(pairs, tmp_path / "lid.bin", FastTextSettings(epoch=10, threads=1))
    data = _flores(tmp_path / "flores")
    opts = TaskOptions(lid_model=str(tmp_path / "lid.bin"))
    samples, scores = get_task("flores200").run(FixedText(ENGLISH), str(data), "eng_Latn-rus_Cyrl", opts)
    assert scores["in_language"] == 0.0 and {s["lid"] for s in samples} == {"eng_Latn"}
    samples, scores = get_task("flores200").run(FixedText(RUSSIAN), str(data), "eng_Latn-rus_Cyrl", opts)
    assert scores["in_language"] == 1.0 and scores["in_script"] == 1.0 and {s["lid"] for s in samples} == {"rus_Cyrl"}
    # a bad path fails before any generation
    backend = FixedText(ENGLISH)
    from emma.errors import EmmaError

    with pytest.raises(EmmaError, match="not found"):
        get_task("aya").run(backend, str(tmp_path), "rus_Cyrl", TaskOptions(lid_model=str(tmp_path / "nope.bin")))
    assert backend.requests == []


def test_real_run_records_fidelity_per_sample_and_language(tmp_path, tiny_model_dir):
    """`emma eval` on real FLORES sentences (SIB-200's): the per-sample flags match GlotScript on
    the written predictions, the language's rate is their mean with a standard error, and the
    report gets an in_script table."""
    from emma.cli import main
    from emma.eval.fidelity import in_script

    out = tmp_path / "eval"
    argv = ["eval", "-m", str(tiny_model_dir), "--tasks", "flores200", "--langs", "eng_Latn->rus_Cyrl", "--limit", "3"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--data-dir", str(need(SIB200)), "--max-new-tokens", "6", "--out", str(out)])
    assert exc.value.code == 0
    (model_dir,) = [p for p in out.iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (model_dir / "flores200" / "eng_Latn-rus_Cyrl.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and all(r["in_script"] == float(in_script(r["prediction"], "rus_Cyrl")) for r in rows)
    record = json.loads((model_dir / "flores200" / "eng_Latn-rus_Cyrl.json").read_text(encoding="utf-8"))
    assert record["scores"]["in_script"] == pytest.approx(sum(r["in_script"] for r in rows) / 3)
    assert "in_script" in record["stats"]["stderr"]
    scores = json.loads((model_dir / "scores.json").read_text(encoding="utf-8"))
    assert scores["flores200"]["_overall"]["in_script"] == record["scores"]["in_script"]
    with pytest.raises(SystemExit) as exc:
        main(["report", str(out)])
    assert exc.value.code == 0
    assert "flores200 in_script" in (out / "report" / "report.md").read_text(encoding="utf-8")
