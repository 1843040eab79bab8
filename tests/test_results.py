"""Result files (`emma.eval.results`): every model's identity (its folder, its weights' fingerprint)
recorded and checked before anything is reused; partial runs marked in scores.json and reports;
corrupt or foreign files refused in one line; lm-evaluation-harness's results layout, read back
with lm-eval's own code; per-sample rows that `datasets` loads as one table. A fake backend keeps
these fast; tests/test_eval_harness.py runs real tiny models through the same paths."""

from __future__ import annotations

import json
import math
import os
import zlib
from pathlib import Path

import pytest

from emma.errors import EmmaError
from emma.eval import backends, registry
from emma.eval.harness import evaluate
from emma.eval.loglikelihood import LogLikelihood
from emma.eval.nll import SegmentScore
from emma.eval.results import items_record, mean_stderr, model_identity, path_safe, sample_rows, sample_stats
from emma.eval.task import Task, TaskOptions, mean_scores
from emma.models.load import weights_fingerprint
from emma.report.tables import load_scores, write_tables

ROWS = [
    ("1", "sports", "The team won the cup at the stadium."),
    ("2", "health", "Doctors recommend rest and water."),
    ("3", "travel", "The train leaves the city at noon."),
    ("4", "politics", "The vote was postponed until next week."),
    ("5", "science/technology", "The telescope found a distant planet."),
]

KNOWN = {text: category for _, category, text in ROWS[::2]}


def make_sib(root: Path, langs=("eng_Latn", "swh_Latn")) -> Path:
    for lang in langs:
        (root / lang).mkdir(parents=True)
        lines = ["index_id\tcategory\ttext"] + ["\t".join(r) for r in ROWS]
        for split in ("train", "dev", "test"):
            (root / lang / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def fake_model(path: Path, weights: bytes = b"weights") -> Path:
    """A model directory as far as identity goes: config and weight files (the fake backend runs it)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    (path / "model.safetensors").write_bytes(weights)
    return path


def retrain(path: Path) -> None:
    """New weights in place: same size, a later modification time."""
    weights = path / "model.safetensors"
    weights.write_bytes(b"W" * len(weights.read_bytes()))
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


class Fake:
    """Scores depend on the model spec, so two models give two sets of numbers."""

    name = "fake"

    def __init__(self, model: str):
        self.model, self.calls = model, 0

    def loglikelihood(self, requests, *, first_token_only=False, progress=None):
        self.calls += 1
        return [LogLikelihood(self._logprob(c, x), False, 1) for c, x in requests]

    def _logprob(self, context: str, continuation: str) -> float:
        noise = -float(zlib.crc32(f"{self.model}|{context}|{continuation}".encode()) % 1000) / 100
        # right on every other SIB item, so accuracies (and their standard errors) are not 0
        text = context.rsplit("[", 1)[-1].split("]")[0]
        return noise + (50.0 if KNOWN.get(text) == continuation.strip() else 0.0)

    def nll(self, texts, *, progress=None):
        self.calls += 1
        return [SegmentScore(nll=1.0 + (zlib.crc32(t.encode()) % 100) / 10, tokens=len(t.split()), bytes=len(t.encode())) for t in texts]

    def generate(self, requests, *, progress=None):
        self.calls += 1
        # the sentence to translate, cut to its first words: BLEU and chrF above 0, and varying by item
        sources = [r.context.rsplit("\n", 1)[0].rsplit(" phrase: ", 1)[-1] for r in requests]
        return [" ".join(s.split()[: 2 + i % 4]) for i, s in enumerate(sources)]


@pytest.fixture
def fakes(monkeypatch):
    made: dict[str, Fake] = {}

    def make(kind, model, options=None):
        return made.setdefault(f"{kind}:{model}", Fake(model))

    monkeypatch.setattr(backends, "make_backend", make)
    return made


@pytest.fixture
def sib(tmp_path):
    return make_sib(tmp_path / "sib")


def calls(fakes) -> int:
    return sum(f.calls for f in fakes.values())


# --- 1. identity -------------------------------------------------------------------------------


def test_identity_names_every_model_apart(tmp_path, monkeypatch):
    a, b = fake_model(tmp_path / "run-a" / "checkpoint"), fake_model(tmp_path / "run-b" / "checkpoint")
    ia, ib = model_identity(str(a), "hf"), model_identity(str(b), "hf")
    assert ia["name"].startswith("run-a--checkpoint-") and ib["name"].startswith("run-b--checkpoint-") and ia["name"] != ib["name"]
    assert ia["kind"] == "dir" and ia["location"] == str(a.resolve()) and ia["fingerprint"].startswith("sha256:")
    assert ia["backend"] == "hf" and ia["dtype"] == "float32" and ia["spec"] == str(a)
    monkeypatch.chdir(tmp_path)  # the same folder named relatively is the same model
    rel = model_identity("run-a/checkpoint", "hf")
    assert {k: rel[k] for k in ("name", "location", "fingerprint")} == {k: ia[k] for k in ("name", "location", "fingerprint")}
    # Trainer state is not the model: adding or deleting it changes nothing; new weights do.
    (a / "optimizer.pt").write_bytes(b"state")
    (a / "README.md").write_text("notes")
    assert weights_fingerprint(a) == ia["fingerprint"]
    retrain(a)
    assert weights_fingerprint(a) != ia["fingerprint"]
    # Hub ids keep their organisation; a served model is its name at its URL.
    hub = model_identity("HuggingFaceTB/SmolLM2-135M", "hf")
    assert hub["name"] == "HuggingFaceTB--SmolLM2-135M" and hub["kind"] == "hub" and hub["location"] == "HuggingFaceTB/SmolLM2-135M"
    s1, s2 = model_identity("org/m@http://h:8000/v1", "openai"), model_identity("org/m@http://other:8000/v1/", "openai")
    assert s1["name"].startswith("org--m-") and s1["name"] != s2["name"] and s1["fingerprint"] is None and s1["kind"] == "served"
    with pytest.raises(EmmaError, match="needs --model <name>@<base_url>"):
        model_identity("just-a-name", "openai")
    gguf = tmp_path / "models" / "tiny.Q4.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    g = model_identity(str(gguf), "vllm")
    assert g["name"].startswith("models--tiny.Q4-") and g["kind"] == "gguf" and g["dtype"] == "auto" and g["fingerprint"] == weights_fingerprint(gguf)
    assert path_safe("a b/c:d") == "a_b--c_d" and path_safe("../x") == "--x"


def test_two_checkpoint_folders_two_results_and_a_retrained_model_is_refused(tmp_path, sib, fakes):
    a, b = fake_model(tmp_path / "run-a" / "checkpoint"), fake_model(tmp_path / "run-b" / "checkpoint")
    out = tmp_path / "eval"
    scores = evaluate([str(a), str(b)], ["sib200"], out, langs="eng", data_dir=str(sib))
    ia, ib = model_identity(str(a), "hf"), model_identity(str(b), "hf")
    assert set(scores) == {ia["name"], ib["name"]} and fakes[f"hf:{a}"].calls == fakes[f"hf:{b}"].calls == 1  # both evaluated
    la = json.loads((out / ia["name"] / "sib200" / "eng_Latn.jsonl").read_text().splitlines()[0])["loglikelihoods"]
    lb = json.loads((out / ib["name"] / "sib200" / "eng_Latn.jsonl").read_text().splitlines()[0])["loglikelihoods"]
    assert la != lb  # b's own numbers, not a's
    for ident in (ia, ib):
        folder = out / ident["name"]
        meta = json.loads((folder / "sib200" / "eng_Latn.json").read_text())
        assert meta["model"] == ident and json.loads((folder / "scores.json").read_text())["_model"] == ident
        results = json.loads(next(folder.glob("results_*.json")).read_text())
        assert results["emma_model"] == ident and results["config"]["model_args"] == f"pretrained={ident['location']},dtype=float32"
    # Again: reused, nothing run.
    before = calls(fakes)
    evaluate([str(a)], ["sib200"], out, langs="eng", data_dir=str(sib))
    assert calls(fakes) == before
    # Retrained in the same path: the folder holds the old weights' results; refused, and they are kept.
    stamp = (out / ia["name"] / "sib200" / "eng_Latn.json").stat().st_mtime_ns
    retrain(a)
    with pytest.raises(EmmaError, match=r"holds results of .*checkpoint as it was before its weights changed .*retrained or replaced in place"):
        evaluate([str(a)], ["sib200"], out, langs="eng", data_dir=str(sib))
    assert (out / ia["name"] / "sib200" / "eng_Latn.json").stat().st_mtime_ns == stamp and calls(fakes) == before
    # A folder holding another model's results (copied or renamed there) is refused too.
    (out / ib["name"]).rename(tmp_path / "b-results")
    (out / ia["name"]).rename(out / ib["name"])
    with pytest.raises(EmmaError, match=r"holds results of another model, .*run-a.*; evaluate .*run-b.* into another --out, or delete"):
        evaluate([str(b)], ["sib200"], out, langs="eng", data_dir=str(sib))
    # ... also without its scores.json, and before any other task adds b's results to a's folder.
    (out / ib["name"] / "scores.json").unlink()
    with pytest.raises(EmmaError, match=r"holds results of another model, .*run-a.* \(eng_Latn.json\)"):
        evaluate([str(b)], ["nll", "sib200"], out, langs="eng", data_dir=str(sib))
    assert not (out / ib["name"] / "nll").exists() and calls(fakes) == before


def test_reuse_needs_the_same_backend_and_settings(tmp_path, sib, fakes):
    model = fake_model(tmp_path / "m")
    out = tmp_path / "eval"
    evaluate([str(model)], ["sib200"], out, langs="eng", data_dir=str(sib))
    folder = out / model_identity(str(model), "hf")["name"]
    assert calls(fakes) == 1
    evaluate([str(model)], ["sib200"], out, langs="eng", data_dir=str(sib), backend="vllm")  # same model, other engine: redone
    assert calls(fakes) == 2 and json.loads((folder / "sib200" / "eng_Latn.json").read_text())["model"]["backend"] == "vllm"
    evaluate([str(model)], ["sib200"], out, langs="eng", data_dir=str(sib), backend="vllm", options=TaskOptions(shots=1))
    assert calls(fakes) == 3


# --- 2. partial runs and bad files -------------------------------------------------------------


def test_partial_runs_are_marked_everywhere(tmp_path, sib, fakes, monkeypatch):
    model = fake_model(tmp_path / "m")
    name = model_identity(str(model), "hf")["name"]
    cut = evaluate([str(model)], ["sib200"], tmp_path / "cut", langs="eng", data_dir=str(sib), options=TaskOptions(limit=2))[name]["sib200"]
    assert cut["eng_Latn"]["n"] == 2 and cut["_partial"]["eng_Latn"] == {"n": 2, "limit": 2, "total": 5, "partial": True}
    results = json.loads(next((tmp_path / "cut" / name).glob("results_*.json")).read_text())
    assert results["config"]["limit"] == 2 and results["n-samples"]["sib200_eng_Latn"] == {"original": 5, "effective": 2}  # sib200 reports n_total
    short = evaluate([str(model)], ["sib200"], tmp_path / "short", langs="eng", data_dir=str(sib), options=TaskOptions(limit=50))[name]["sib200"]
    assert short["_partial"]["eng_Latn"] == {"n": 5, "limit": 50, "total": 5, "partial": False}  # fewer items than asked, but all there are
    results = json.loads(next((tmp_path / "short" / name).glob("results_*.json")).read_text())
    assert results["n-samples"]["sib200_eng_Latn"] == {"original": 5, "effective": 5}
    whole = evaluate([str(model)], ["sib200"], tmp_path / "whole", langs="eng", data_dir=str(sib))[name]["sib200"]
    assert whole["_partial"] == {}

    # A task that says how many items the language has (`n_total`): a cut run is partial by that count.
    def languages(data_dir):
        return ["eng_Latn"]

    def run(backend, data_dir, lang, opts, progress=None):
        samples = [{"id": i, "acc": float(i % 2)} for i in range(10)][: opts.limit]
        return samples, {**mean_scores(samples, ["acc"]), "n_total": 10}

    registry.all_tasks()
    monkeypatch.setitem(registry._tasks, "counted", Task("counted", ["acc"], languages, run))
    counted = evaluate(["org/counted-model"], ["counted"], tmp_path / "counted", options=TaskOptions(limit=4))["org--counted-model"]["counted"]
    assert counted["eng_Latn"] == {"acc": 0.5, "n": 4} and counted["_partial"]["eng_Latn"] == {"n": 4, "limit": 4, "total": 10, "partial": True}
    results = json.loads(next((tmp_path / "counted" / "org--counted-model").glob("results_*.json")).read_text())
    assert results["n-samples"]["counted_eng_Latn"] == {"original": 10, "effective": 4}
    full = evaluate(["org/counted-model"], ["counted"], tmp_path / "counted2", options=TaskOptions(limit=10))["org--counted-model"]["counted"]
    assert full["_partial"] == {}  # the limit covered the whole language: nothing to mark

    # The report shows n in every cell and flags the cut run.
    (tmp_path / "all").mkdir()
    for d in ("cut", "short", "whole"):
        (tmp_path / d / name).rename(tmp_path / "all" / f"{d}-{name}")
    md = write_tables(tmp_path / "all")[0].read_text()
    acc = {d: load_scores(tmp_path / "all")[f"{d}-{name}"]["sib200"]["eng_Latn"]["acc"] for d in ("cut", "short", "whole")}
    assert f"| language | cut-{name} | short-{name} | whole-{name} |" in md  # languages as rows, one column per model
    assert f"| Avg | {acc['cut']:.4f} (1 langs, partial) | {acc['short']:.4f} (1 langs) | {acc['whole']:.4f} (1 langs) |" in md
    assert f"| eng_Latn | {acc['cut']:.4f} (n=2 of 5, partial) | {acc['short']:.4f} (n=5 < limit 50) | {acc['whole']:.4f} (n=5) |" in md
    assert "## Models" in md and model_identity(str(model), "hf")["fingerprint"] in md


def test_items_record():
    assert items_record(5, None, None) == {"n": 5, "limit": None, "total": None, "partial": False}
    assert items_record(5, 5, None)["partial"] and not items_record(4, 5, None)["partial"]
    assert items_record(5, None, 9)["partial"] and not items_record(5, 5, 5)["partial"]


def test_corrupt_or_foreign_result_files_are_one_clear_line(tmp_path, sib, fakes, capsys):
    model = fake_model(tmp_path / "m")
    out = tmp_path / "eval"
    folder = out / model_identity(str(model), "hf")["name"]

    def again():
        evaluate([str(model)], ["sib200"], out, langs="eng", data_dir=str(sib))

    again()
    meta, scores = folder / "sib200" / "eng_Latn.json", folder / "scores.json"
    good_meta, good_scores = meta.read_text(), scores.read_text()
    lm_eval_file = next(folder.glob("results_*.json")).read_text()
    for text, match in [
        ('{"settings": {', r"eng_Latn.json: not an emma result file \(bad JSON: .*line 1\); delete it and eng_Latn.jsonl to rerun"),
        ("[1, 2]", r"not an emma result file \(no settings and scores objects\)"),
        (lm_eval_file, r"not an emma result file \(no settings and scores objects\)"),  # another tool's file
        ('{"settings": {}, "scores": {"acc": "high"}, "model": {}}', r"a score that is not a number"),
        ('{"settings": {}, "scores": {"acc": 1.0}, "model": {"name": "x"}}', r"its model identity lacks name, kind, location, fingerprint"),
        ('{"settings": {}, "scores": {"acc": 1.0}, "backend": "hf"}', r"eng_Latn.json was written without a model identity \(an earlier emma\)"),
        (b"\xff\xfe".decode("latin-1"), r"not an emma result file \(not UTF-8"),
    ]:
        meta.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode())
        with pytest.raises(EmmaError, match=match):
            again()
    meta.write_text(good_meta)
    for text, match in [
        ("{", r"scores.json: not an emma scores file \(bad JSON"),
        ('{"sib200": 3}', r"not an emma scores file \(need \{task: \{language: scores\}\}\)"),
        ('{"sib200": {"eng_Latn": {"acc": 1.0, "n": 5}}}', r"scores.json was written without a model identity"),
    ]:
        scores.write_text(text)
        with pytest.raises(EmmaError, match=match):
            again()
    scores.write_text(good_scores)
    again()  # all well again: reused

    # emma report: the same, as one `emma: error:` line.
    from emma.cli import main

    scores.write_text('{"results": {"xcopa_et": {"acc,none": 0.5, "alias": "xcopa_et"}}}')  # lm-eval's file where scores.json belongs
    with pytest.raises(EmmaError, match=r"scores.json: not an emma scores file \(results.xcopa_et is not an object of numbers\)"):
        write_tables(out)
    scores.write_text("not json")
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["report", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and err[0].startswith(f"emma: error: {scores}: not an emma scores file (bad JSON")


# --- 3. lm-eval's layout, standard errors, per-sample rows -------------------------------------


def test_lm_eval_results_layout_reads_back_with_lm_eval(tmp_path, sib, fakes, monkeypatch):
    pytest.importorskip("lm_eval")
    import pydantic
    import sacrebleu
    from lm_eval.api.metrics import mean_stderr as lm_eval_mean_stderr
    from lm_eval.result_schema import EvalResults
    from lm_eval.utils import get_latest_filename, get_results_filenames, make_table

    model = fake_model(tmp_path / "runs" / "checkpoint")
    name = model_identity(str(model), "hf")["name"]
    out = tmp_path / "eval"
    opts = TaskOptions(shots=1)
    evaluate([str(model)], ["sib200", "flores200", "nll"], out, langs="eng,swh", data_dir=str(sib), options=opts, batch_size=4)
    folder = out / name
    found = get_results_filenames([str(p) for p in folder.iterdir()])
    assert len(found) == 1 and get_latest_filename(found) == found[0]
    doc = json.loads(Path(found[0]).read_text())
    pydantic.TypeAdapter(EvalResults).validate_python(doc, strict=True)  # lm-eval's own schema of a results file
    scores = json.loads((folder / "scores.json").read_text())

    res = doc["results"]
    assert set(doc["group_subtasks"]) == {"sib200", "flores200", "nll"}
    assert doc["group_subtasks"]["sib200"] == ["sib200_eng_Latn", "sib200_swh_Latn"]
    assert {"flores200_eng_Latn-swh_Latn", "flores200_swh_Latn-eng_Latn", "nll_eng_Latn"} <= set(res)
    rows = [json.loads(x) for x in (folder / "sib200" / "eng_Latn.jsonl").read_text().splitlines()]
    acc = [r["acc"] for r in rows]
    sub = res["sib200_eng_Latn"]
    assert sub["acc,none"] == scores["sib200"]["eng_Latn"]["acc"] and 0 < sub["acc,none"] < 1 and sub["sample_len"] == 5
    assert sub["acc_stderr,none"] == pytest.approx(lm_eval_mean_stderr(acc)) == scores["sib200"]["_stderr"]["eng_Latn"]["acc"]
    assert "acc_norm_stderr,none" in sub and res["sib200"]["acc,none"] == pytest.approx(scores["sib200"]["_overall"]["acc"])
    se = [res[f"sib200_{k}"]["acc_stderr,none"] for k in ("eng_Latn", "swh_Latn")]
    assert res["sib200"]["acc_stderr,none"] == pytest.approx(math.sqrt(sum(e * e for e in se)) / 2)
    assert doc["groups"]["sib200"] == res["sib200"] and doc["n-shot"]["sib200_eng_Latn"] == 1
    assert doc["n-samples"]["sib200_eng_Latn"] == {"original": 5, "effective": 5}
    assert doc["higher_is_better"]["nll"] == {"nll": False, "bpb": False} and doc["versions"]["sib200"]
    assert doc["configs"]["sib200_eng_Latn"]["emma_task"] == "sib200" and doc["configs"]["sib200_eng_Latn"]["language"] == "eng_Latn"
    cfg = doc["config"]
    assert cfg["model"] == "hf" and cfg["model_args"].startswith(f"pretrained={model.resolve()}") and cfg["batch_size"] == "4"
    assert cfg["limit"] is None and cfg["fewshot_seed"] == 1234 and isinstance(doc["date"], float) and doc["emma_version"]
    assert doc["model_name_sanitized"] == name and doc["emma_model"]["fingerprint"] == weights_fingerprint(model)
    # MT: corpus BLEU and chrF++ with sacrebleu's bootstrap (its seed and percentile rule: the same interval as its own).
    mt = [json.loads(x) for x in (folder / "flores200" / "swh_Latn-eng_Latn.jsonl").read_text().splitlines()]
    hyps, refs = [r["prediction"] for r in mt], [[r["reference"] for r in mt]]
    for metric, m in (("bleu", sacrebleu.BLEU()), ("chrf", sacrebleu.CHRF(word_order=2))):
        own = m.corpus_score(hyps, refs, n_bootstrap=1000)
        lo, hi = scores["flores200"]["_ci95"]["swh_Latn-eng_Latn"][metric]
        assert res["flores200_swh_Latn-eng_Latn"][f"{metric},none"] == pytest.approx(own.score)
        assert (hi - lo) / 2 == pytest.approx(own._ci, abs=1e-4) and lo <= own.score <= hi
        assert res["flores200_swh_Latn-eng_Latn"][f"{metric}_stderr,none"] > 0
    # NLL: the mean per segment with mean_stderr; bits per byte (a ratio) with a bootstrap over segments.
    nll = res["nll_eng_Latn"]
    segs = [json.loads(x)["nll"] for x in (folder / "nll" / "eng_Latn.jsonl").read_text().splitlines()]
    assert nll["nll_stderr,none"] == pytest.approx(lm_eval_mean_stderr(segs)) and nll["bpb_stderr,none"] > 0
    # lm-eval's own table renders it: the numbers and their standard errors.
    table, groups = make_table(doc), make_table(doc, "groups")
    assert f"{sub['acc,none']:.4f}" in table and f"{sub['acc_stderr,none']:.4f}" in table and "sib200_swh_Latn" in table
    assert f"{res['sib200']['acc,none']:.4f}" in groups and "flores200" in groups
    if (Path.cwd() / ".git").exists():  # recorded where the working directory is a git repository
        assert doc["git_hash"]
    # Outside a git repository: no git_hash, no failure.
    monkeypatch.chdir(tmp_path)
    evaluate([str(model)], ["sib200"], out, langs="eng", data_dir=str(sib), options=opts)
    latest = json.loads(Path(get_latest_filename(get_results_filenames([str(p) for p in folder.iterdir()]))).read_text())
    assert "git_hash" not in latest and set(latest["results"]) == {"sib200", "sib200_eng_Latn"}


def test_sample_rows_load_as_one_table_per_task(tmp_path, sib, fakes):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    model = fake_model(tmp_path / "m")
    name = model_identity(str(model), "hf")["name"]
    out = tmp_path / "eval"
    evaluate([str(model)], ["sib200", "flores200", "nll"], out, langs="eng,swh", data_dir=str(sib), options=TaskOptions(shots=1))
    for task, n, prompt in (("sib200", 10, "context"), ("flores200", 10, "context"), ("nll", 10, "text")):
        files = sorted(str(p) for p in (out / name / task).glob("*.jsonl"))
        table = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path / "hf-cache"))
        assert table.num_rows == n and {"model", "task", "lang", "doc_id", "id", prompt} <= set(table.column_names)
        assert set(table["model"]) == {name} and set(table["task"]) == {task} and len(set(table["lang"])) == 2
        assert all(isinstance(i, str) for i in table["id"]) and table["doc_id"][:5] == [0, 1, 2, 3, 4]
    mc = datasets.load_dataset("json", data_files=str(out / name / "sib200" / "eng_Latn.jsonl"), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert len(mc[0]["loglikelihoods"]) == 7 and mc[0]["context"].endswith("is")
    assert len(mc[0]["shots"]) == 1 and isinstance(mc[0]["shots"][0], str)


def test_rows_and_stats_units():
    rows = sample_rows([{"id": 3, "f": float("nan"), "shots": [1, "b"], "doc_id": "x"}, {"id": "a", "f": 0.5}], model="m", task="t", lang="l")
    assert rows[0] == {"model": "m", "task": "t", "lang": "l", "doc_id": 0, "id": "3", "f": None, "shots": ["1", "b"]}
    assert rows[1]["id"] == "a" and rows[1]["doc_id"] == 1
    json.dumps(rows, allow_nan=False)
    samples = [{"acc": 1.0}, {"acc": 0.0}, {"acc": 1.0}, {"acc": None}]
    stats = sample_stats(samples, mean_scores(samples, ["acc", "self_bleu"]) | {"self_bleu": 3.0}, ["acc", "self_bleu"])
    assert stats["stderr"] == {"acc": pytest.approx(mean_stderr([1.0, 0.0, 1.0]))} and stats["ci95"] == {}
    rouge = [{"rougeL": v} for v in (0.1, 0.2, 0.4, 0.3)]
    st = sample_stats(rouge, mean_scores(rouge, ["rougeL"]), ["rougeL"])
    lo, hi = st["ci95"]["rougeL"]
    assert lo < 0.25 < hi and st["stderr"]["rougeL"] == pytest.approx(mean_stderr([0.1, 0.2, 0.4, 0.3]))


# --- strict files ------------------------------------------------------------------------------


def test_result_files_are_strict_json_and_an_empty_language_is_an_error(tmp_path, sib, fakes):
    """NaN is not JSON: it is written as null (jq, JavaScript and strict parsers read the file). An
    empty test file is one clear error, not a language scored `nan` and marked done."""
    from emma.io import write_json, write_jsonl

    write_json(tmp_path / "x.json", {"a": float("nan"), "b": [float("inf"), 1.5]})
    write_jsonl(tmp_path / "x.jsonl", [{"v": float("-inf")}])
    assert json.loads((tmp_path / "x.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON")) == {"a": None, "b": [None, 1.5]}
    assert json.loads((tmp_path / "x.jsonl").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON")) == {"v": None}

    model = fake_model(tmp_path / "m")
    (sib / "swh_Latn" / "test.tsv").write_text("index_id\tcategory\ttext\n", encoding="utf-8")  # header only
    with pytest.raises(EmmaError, match="sib200: language swh_Latn has no items"):
        evaluate([str(model)], ["sib200"], tmp_path / "out", langs="swh", data_dir=str(sib))
    assert not list((tmp_path / "out").rglob("swh_Latn.json"))  # nothing marked done


def test_atomic_writes_honour_the_umask(tmp_path):
    from emma.io import atomic_dir, write_text

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "f.txt", "x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "inner").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644  # mkstemp alone would give 0600
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755  # mkdtemp alone would give 0700


def test_a_nan_score_is_written_as_null_and_reused(tmp_path, monkeypatch):
    """A score with no value (Self-BLEU of one output) is null in the files and a rerun reuses it."""

    def languages(data_dir):
        return ["eng_Latn"]

    runs = []

    def run(backend, data_dir, lang, opts, progress=None):
        runs.append(lang)
        return [{"id": 0, "x": 1.0}], {"x": float("nan"), "n": 1}

    registry.all_tasks()
    monkeypatch.setitem(registry._tasks, "nanny", Task("nanny", ["x"], languages, run))
    monkeypatch.setattr(backends, "make_backend", lambda kind, model, options=None: Fake(model))
    first = evaluate(["org/nan-model"], ["nanny"], tmp_path / "o")["org--nan-model"]["nanny"]
    again = evaluate(["org/nan-model"], ["nanny"], tmp_path / "o")["org--nan-model"]["nanny"]
    assert runs == ["eng_Latn"] and first["eng_Latn"]["x"] is None or math.isnan(first["eng_Latn"]["x"])
    assert again["eng_Latn"]["x"] is None
    text = (tmp_path / "o" / "org--nan-model" / "scores.json").read_text()
    assert "NaN" not in text and json.loads(text)["nanny"]["eng_Latn"]["x"] is None
