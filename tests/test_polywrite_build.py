"""`emma polywrite build`: translate, back-translate, score, filter, write PolyWrite's schema, resume.

A scripted translator (a fake Backend answering FLORES prompts by rule) makes the filter's every
branch and the resume exact and fast; one real run uses Gemma 3 270M through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from emma.errors import EmmaError
from emma.eval.data import TaskOptions
from emma.eval.polywrite_build import FIELDS, LLMTranslator, build, default_prompts, read_prompts, sentence_scores

PHRASE = re.compile(r"^(?P<src>.+) phrase: (?P<text>.*)\n(?P<tgt>.+) phrase:$", re.S)


class Scripted:
    """A Backend that answers "<Source> phrase: <text>\\n<Target> phrase:" by rule: into French,
    "Voici: <text>"; into Russian, the text copied (a small LLM's habit); back into English, the
    text after "Voici: " where the prompt's words are an even number, else its first two words.
    `fail_at`: the generate call (1-based) that raises KeyboardInterrupt, as a kill would."""

    def __init__(self, fail_at: int | None = None):
        self.calls = 0
        self.fail_at = fail_at

    @property
    def name(self) -> str:
        return "scripted"

    def loglikelihood(self, requests, *, first_token_only=False, progress=None):
        raise AssertionError

    def nll(self, texts, *, progress=None):
        raise AssertionError

    def generate(self, requests, *, progress=None):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt
        out = []
        for r in requests:
            m = PHRASE.match(r.context)
            assert m and r.until == ("\n",), r.context
            text = m["text"]
            if m["tgt"] == "French":
                out.append(f" Voici: {text}")
            elif m["tgt"] == "Russian":
                out.append(text)
            else:
                english = text.removeprefix("Voici: ")
                out.append(english if len(english.split()) % 2 == 0 else " ".join(english.split()[:2]))
        if progress:
            progress(len(requests))
        return out


def _build(out, backend, **kw):
    identity = {"model": {"name": "scripted"}, "kind": "llm"}
    return build(out, kw.pop("langs", "fra_Latn,rus_Cyrl"), identity, lambda: LLMTranslator(backend, TaskOptions()), **kw)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_shipped_prompts():
    rows = read_prompts(default_prompts())
    assert 15 <= len(rows) <= 25 and len({r["name"] for r in rows}) == len(rows)
    assert len({r["category"] for r in rows}) >= 8 and all(len(r["prompt_en"].split()) <= 25 for r in rows)


def test_build_scores_filters_and_writes_polywrite_schema(tmp_path):
    out = tmp_path / "pw"
    summary = _build(out, Scripted())
    prompts = read_prompts(default_prompts())
    even = [p for p in prompts if len(p["prompt_en"].split()) % 2 == 0]
    assert 0 < len(even) < len(prompts)  # the scripted back-translation keeps some and drops others
    build_rows = _lines(out / "build" / "fra_Latn.jsonl")
    assert len(build_rows) == len(prompts)
    for r in build_rows:
        bleu, chrf = sentence_scores(r["prompt_backtranslated"], r["prompt_en"])  # recomputed from the written fields
        assert (r["bleu"], r["chrf++"]) == (bleu, chrf)
        assert r["prompt_translated"] == f"Voici: {r['prompt_en']}" and r["in_script"] == 1.0
        assert r["kept"] == (r["bleu"] >= 20) and r["dropped"] == (None if r["kept"] else "bleu")
    kept = _lines(out / "fra_Latn.jsonl")
    assert [r["name"] for r in kept] == [p["name"] for p in even]
    assert all(list(r) == list(FIELDS) and r["lang_script"] == "fra_Latn" and r["bleu"] == pytest.approx(100) for r in kept)
    # Russian: the English copied back is BLEU 100 but no translation: every prompt dropped, no dataset file
    russian = _lines(out / "build" / "rus_Cyrl.jsonl")
    assert all(not r["kept"] and r["dropped"] == "copy" for r in russian) and not (out / "rus_Cyrl.jsonl").exists()
    assert {r["name"] for r in russian if r["bleu"] == pytest.approx(100)} == {p["name"] for p in even}
    langs = summary["languages"]
    assert langs["fra_Latn"]["kept"] == len(even) and langs["fra_Latn"]["keep_rate"] == pytest.approx(len(even) / len(prompts))
    assert langs["rus_Cyrl"] == {**langs["rus_Cyrl"], "kept": 0, "keep_rate": 0.0, "dropped": {"copy": len(prompts)}}
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["overall"]["kept"] == len(even)
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert f"| fra_Latn | {len(prompts)} | {len(even)} |" in md and "| rus_Cyrl |" in md


def test_the_polywrite_task_reads_what_the_builder_writes(tmp_path, tiny_model_dir):
    from emma.cli import main

    _build(tmp_path / "pw", Scripted(), limit=6)
    with pytest.raises(SystemExit) as exc:
        main(
            ["eval", "-m", str(tiny_model_dir), "--tasks", "polywrite", "--data-dir", str(tmp_path / "pw"), "--max-new-tokens", "3"]
            + ["--out", str(tmp_path / "eval")]
        )
    assert exc.value.code == 0
    (model_dir,) = [p for p in (tmp_path / "eval").iterdir() if p.is_dir()]
    scores = json.loads((model_dir / "scores.json").read_text(encoding="utf-8"))["polywrite"]
    kept = _lines(tmp_path / "pw" / "fra_Latn.jsonl")
    assert {k for k in scores if not k.startswith("_")} == {"fra_Latn"}  # no file for Russian: none kept
    assert scores["fra_Latn"]["n"] == len(kept)
    rows = _lines(model_dir / "polywrite" / "fra_Latn.jsonl")
    assert [r["context"] for r in rows] == [k["prompt_translated"] + "\n" for k in kept]
    assert [r["prompt_en"] for r in rows] == [k["prompt_en"] for k in kept]


def test_a_killed_build_resumes_to_the_same_files(tmp_path):
    whole = tmp_path / "whole"
    _build(whole, Scripted())
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):  # killed in Russian, French finished
        _build(resumed, Scripted(fail_at=3))
    assert (resumed / "build" / "fra_Latn.json").exists() and not (resumed / "build" / "rus_Cyrl.json").exists()
    backend = Scripted()
    _build(resumed, backend)
    assert backend.calls == 2  # only Russian translated again (there and back)
    files = sorted(p.relative_to(whole) for p in whole.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(resumed) for p in resumed.rglob("*") if p.is_file())
    assert all((whole / f).read_bytes() == (resumed / f).read_bytes() for f in files)


def test_rerun_skips_refilters_and_refuses_another_translator(tmp_path):
    out = tmp_path / "pw"
    _build(out, Scripted())
    before = (out / "fra_Latn.jsonl").read_bytes()

    def no_model():
        raise AssertionError("a finished build must not load the translator")

    identity = {"model": {"name": "scripted"}, "kind": "llm"}
    build(out, "fra_Latn,rus_Cyrl", identity, no_model)
    assert (out / "fra_Latn.jsonl").read_bytes() == before
    # another threshold: the same translations filtered again, without the model
    summary = build(out, "fra_Latn,rus_Cyrl", identity, no_model, min_bleu=0)
    assert summary["languages"]["fra_Latn"]["kept"] == summary["languages"]["fra_Latn"]["prompts"]
    assert all(r["kept"] for r in _lines(out / "build" / "fra_Latn.jsonl"))
    with pytest.raises(EmmaError, match="another translator or other prompts"):
        build(out, "fra_Latn", {"model": {"name": "other"}, "kind": "llm"}, no_model)
    with pytest.raises(EmmaError, match="another translator or other prompts"):
        build(out, "fra_Latn", identity, no_model, limit=3)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"min_bleu": 101}, "between 0 and 100"),
        ({"min_bleu": -1}, "between 0 and 100"),
        ({"langs": "xyz"}, "xyz"),
        ({"langs": "eng_Latn,fra_Latn"}, "prompts' own language"),
        ({"langs": " , "}, "empty"),
        ({"prompts": "nope.jsonl"}, "not found"),
    ],
)
def test_bad_inputs_fail_before_any_work(tmp_path, monkeypatch, kw, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EmmaError, match=message):
        _build(tmp_path / "pw", Scripted(fail_at=1), **kw)
    assert not (tmp_path / "pw").exists()


def test_prompts_file_checks(tmp_path):
    bad = tmp_path / "p.jsonl"
    for body, message in [
        ('{"prompt_en": "Write a poem.", "category": "poem", "name": "a"}\n{oops\n', r"p.jsonl:2"),
        ('{"prompt_en": "Write a poem.", "name": "a"}\n', "needs non-empty category"),
        ('{"prompt_en": "x", "category": "poem", "name": "a"}\n{"prompt_en": "y", "category": "poem", "name": "a"}\n', "used twice"),
        ("", "no prompts"),
    ]:
        bad.write_text(body)
        with pytest.raises(EmmaError, match=message):
            read_prompts(bad)


@pytest.mark.slow
def test_real_build_with_gemma(tmp_path, capsys):
    """Gemma 3 270M translates 2 prompts into 2 languages and back through the CLI: every stored
    score is sacrebleu's on the stored texts, a prompt is kept exactly when the rule says so, and the
    summary's keep rates are the files' counts."""
    from emma.cli import main
    from emma.eval.fidelity import in_script

    out = tmp_path / "pw"
    argv = ["polywrite", "build", "--langs", "fra_Latn,rus_Cyrl", "--translator", "gemma3-270m", "--limit", "2", "--max-new-tokens", "24"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--min-bleu", "10", "--out", str(out)])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["settings"]["translator"]["model"]["name"] == "gemma3-270m" and summary["settings"]["n_prompts"] == 2
    for lang in ("fra_Latn", "rus_Cyrl"):
        rows = _lines(out / "build" / f"{lang}.jsonl")
        assert len(rows) == 2
        for r in rows:
            assert (r["bleu"], r["chrf++"]) == sentence_scores(r["prompt_backtranslated"], r["prompt_en"])
            copied = " ".join(r["prompt_translated"].split()).casefold() == " ".join(r["prompt_en"].split()).casefold()
            assert r["in_script"] == float(in_script(r["prompt_translated"], lang))
            assert r["kept"] == (r["bleu"] >= 10 and not copied and bool(r["in_script"]))
        kept = [r for r in rows if r["kept"]]
        assert summary["languages"][lang]["kept"] == len(kept) and summary["languages"][lang]["keep_rate"] == len(kept) / 2
        assert f"{lang}: kept {len(kept)}/2 ({len(kept) / 2:.0%})" in printed
        dataset = out / f"{lang}.jsonl"
        assert (_lines(dataset) if dataset.exists() else []) == [{k: r[k] for k in FIELDS} for r in kept]
