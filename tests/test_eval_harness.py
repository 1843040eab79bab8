import json

import pytest

from conftest import SIB200, need
from emma.errors import EmmaError
from emma.eval.data import TaskOptions
from emma.eval.harness import evaluate
from emma.eval.results import model_identity
from emma.eval.tasks import all_tasks, get_task
from emma.eval.tasks.topic import LABELS, build_requests, load_split
from emma.report.tables import write_tables

ROWS = [
    ("1", "sports", "The team won the cup."),
    ("2", "health", "Doctors recommend rest."),
    ("3", "travel", "The train leaves at noon."),
    ("4", "politics", "The vote was postponed."),
]


def folder_of(model_dir) -> str:
    """The result folder emma eval gives a local model: its identity's name, not the path's last part."""
    return model_identity(str(model_dir), "hf")["name"]


def make_sib(tmp_path, langs=("eng_Latn", "swh_Latn")):
    root = tmp_path / "sib"
    for lang in langs:
        (root / lang).mkdir(parents=True)
        lines = ["index_id\tcategory\ttext"] + ["\t".join(r) for r in ROWS]
        for split in ("train", "dev", "test"):
            (root / lang / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_prompt_and_shots_follow_lm_eval(tmp_path):
    rows = load_split(make_sib(tmp_path), "eng_Latn", "test")
    items = build_requests(rows, shots=1)
    head = f"Topic Classification: {', '.join(LABELS)}.\n\nThe label of "
    # first_n from the test split, skipping the item itself
    assert items[0]["shots"] == ["2"] and items[1]["shots"] == ["1"]
    assert items[0]["context"] == f"{head}[Doctors recommend rest.] is health\n\n{head}[The team won the cup.] is"
    assert items[0]["target"] == LABELS.index("sports")


def test_evaluate_writes_samples_scores_and_resumes(tmp_path, tiny_model_dir):
    data = make_sib(tmp_path)
    out = tmp_path / "eval"
    groups = {"eng_Latn": "high", "swh_Latn": "low"}
    evaluate([str(tiny_model_dir)], ["sib200"], out, langs="all", data_dir=str(data), groups=groups, options=TaskOptions(shots=1))
    model_dir = out / folder_of(tiny_model_dir)
    samples = [json.loads(line) for line in (model_dir / "sib200" / "eng_Latn.jsonl").read_text().splitlines()]
    assert len(samples) == 4
    ident = model_identity(str(tiny_model_dir), "hf")
    assert [(s["model"], s["task"], s["lang"], s["doc_id"]) for s in samples] == [(model_dir.name, "sib200", "eng_Latn", i) for i in range(4)]
    assert json.loads((model_dir / "sib200" / "eng_Latn.json").read_text())["model"] == ident
    assert json.loads((model_dir / "scores.json").read_text())["_model"] == ident and ident["fingerprint"]
    for s in samples:
        assert len(s["loglikelihoods"]) == 7
        assert s["prediction"] == max(range(7), key=lambda j: s["loglikelihoods"][j])
        assert s["acc"] == float(s["prediction"] == s["target"])
    scores = json.loads((model_dir / "scores.json").read_text())["sib200"]
    assert scores["eng_Latn"]["n"] == 4
    assert scores["eng_Latn"]["acc"] == pytest.approx(sum(s["acc"] for s in samples) / 4)
    assert set(scores["_groups"]) == {"high", "low"}
    assert scores["_overall"]["acc"] == pytest.approx((scores["eng_Latn"]["acc"] + scores["swh_Latn"]["acc"]) / 2)
    stamp = (model_dir / "sib200" / "eng_Latn.jsonl").stat().st_mtime_ns
    evaluate([str(tiny_model_dir)], ["sib200"], out, langs="eng,swh", data_dir=str(data), groups=groups, options=TaskOptions(shots=1))
    assert (model_dir / "sib200" / "eng_Latn.jsonl").stat().st_mtime_ns == stamp  # not redone
    # different settings are not silently reused
    evaluate([str(tiny_model_dir)], ["sib200"], out, langs="group:high", data_dir=str(data), groups=groups, options=TaskOptions(shots=0))
    assert (model_dir / "sib200" / "eng_Latn.jsonl").stat().st_mtime_ns != stamp
    paths = write_tables(out)
    md = paths[0].read_text()
    assert "## sib200 acc" in md and f"| {model_dir.name} |" in md


def test_bad_task_input_is_one_clear_error(tmp_path, tiny_model_dir):
    data = make_sib(tmp_path)
    with pytest.raises(EmmaError, match="unknown task 'sib201'"):
        get_task("sib201")
    (data / "eng_Latn" / "test.tsv").write_text("index_id\tcategory\ttext\n1\tcooking\tSoup.\n")
    with pytest.raises(EmmaError, match=r"category 'cooking' is not one of"):
        load_split(data, "eng_Latn", "test")
    with pytest.raises(EmmaError, match="dev.tsv not found"):
        load_split(data, "fra_Latn", "dev")
    with pytest.raises(EmmaError, match="not available here"):
        evaluate([str(tiny_model_dir)], ["sib200"], tmp_path / "o", langs="fra", data_dir=str(data))
    with pytest.raises(EmmaError, match="no <model>/scores.json"):
        write_tables(tmp_path / "nothing")


def test_real_sib200_with_smollm2(tmp_path, smollm2):
    data = need(SIB200)
    out = tmp_path / "eval"
    scores = evaluate(["smollm2-135m"], ["sib200"], out, langs="eng_Latn", data_dir=str(data), options=TaskOptions(shots=1, limit=7))
    s = scores["smollm2-135m"]["sib200"]["eng_Latn"]
    assert s["n"] == 7 and 0.0 <= s["acc"] <= 1.0
    first = evaluate(
        ["smollm2-135m"],
        ["sib200"],
        tmp_path / "first",
        langs="eng_Latn",
        data_dir=str(data),
        options=TaskOptions(shots=1, limit=7, first_token=True),
    )
    assert first["smollm2-135m"]["sib200"]["eng_Latn"]["n"] == 7


def test_cli_eval_and_report(tmp_path, tiny_model_dir):
    import subprocess
    import sys

    data = make_sib(tmp_path)
    run = lambda *a: subprocess.run([sys.executable, "-m", "emma.cli", *a], capture_output=True, text=True, timeout=300)  # noqa: E731
    bad = run("eval", "-m", str(tiny_model_dir), "--tasks", "sib201", "--out", str(tmp_path / "e"), "--data-dir", str(data))
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == "emma: error: unknown task 'sib201'; available: " + ", ".join(
        sorted(all_tasks())
    )
    ok = run("eval", "-m", str(tiny_model_dir), "--tasks", "sib200", "--out", str(tmp_path / "e"), "--data-dir", str(data), "--limit", "2")
    assert ok.returncode == 0, ok.stderr[-2000:]
    folder = tmp_path / "e" / folder_of(tiny_model_dir)
    scores = json.loads((folder / "scores.json").read_text())["sib200"]
    assert scores["eng_Latn"]["n"] == 2 and scores["_partial"]["eng_Latn"]["partial"] and scores["_partial"]["eng_Latn"]["limit"] == 2
    assert json.loads(next(folder.glob("results_*.json")).read_text())["config"]["limit"] == 2
    rep = run("report", str(tmp_path / "e"))
    assert rep.returncode == 0 and "report.md" in rep.stdout
    md = (tmp_path / "e" / "report" / "report.md").read_text()
    assert f"{scores['eng_Latn']['acc']:.4f} (n=2" in md and "partial)" in md


def save_tiny(target, base, seed: int):
    """Another tiny model (the fixture's shapes and tokenizer, other random weights) saved where
    `emma train` and `emma demo` save theirs: `.../checkpoint`."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    torch.manual_seed(seed)
    LlamaForCausalLM(AutoConfig.from_pretrained(base)).save_pretrained(target)
    AutoTokenizer.from_pretrained(base).save_pretrained(target)
    return target


def test_two_trained_models_in_checkpoint_folders_are_each_evaluated(tmp_path, tiny_model_dir, capsys):
    """Both live in `.../checkpoint`: two folders, each model's own numbers; retrained in place, refused."""
    data = make_sib(tmp_path, langs=("eng_Latn",))
    a = save_tiny(tmp_path / "run-a" / "checkpoint", tiny_model_dir, 1)
    b = save_tiny(tmp_path / "run-b" / "checkpoint", tiny_model_dir, 2)
    out = tmp_path / "eval"
    scores = evaluate([str(a), str(b)], ["sib200"], out, langs="eng", data_dir=str(data))
    ia, ib = model_identity(str(a), "hf"), model_identity(str(b), "hf")
    assert ia["name"].startswith("run-a--checkpoint-") and ib["name"].startswith("run-b--checkpoint-")
    assert set(scores) == {ia["name"], ib["name"]} and ia["fingerprint"] != ib["fingerprint"]
    lls = {m: [json.loads(x)["loglikelihoods"] for x in (out / m / "sib200" / "eng_Latn.jsonl").read_text().splitlines()] for m in scores}
    assert lls[ia["name"]] != lls[ib["name"]]  # b was run: not a's scores reported for it
    meta = out / ia["name"] / "sib200" / "eng_Latn.json"
    stamp = meta.stat().st_mtime_ns
    save_tiny(a, tiny_model_dir, 3)  # retrained in the same path
    from emma.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["eval", "-m", str(a), "--tasks", "sib200", "--out", str(out), "--data-dir", str(data), "--langs", "eng"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert done.value.code == 2 and err[-1].startswith(f"emma: error: {out / ia['name']} holds results of {a.resolve()} as it was before")
    assert "retrained or replaced in place" in err[-1] and sum(line.startswith("emma: error") for line in err) == 1
    assert meta.stat().st_mtime_ns == stamp  # the old results are kept, not overwritten


def test_nll_task_on_text_files_and_flores_layout(tmp_path, tiny_model_dir):
    texts = tmp_path / "txt"
    texts.mkdir()
    (texts / "eng_Latn.txt").write_text("All human beings are born free.\n\nThey are endowed with reason.\n", encoding="utf-8")
    (texts / "swh_Latn.txt").write_text("Watu wote wamezaliwa huru.\n", encoding="utf-8")
    (texts / "fra_Latn.txt").write_text("\n\n", encoding="utf-8")
    out = tmp_path / "eval"
    scores = evaluate([str(tiny_model_dir)], ["nll"], out, langs="eng,swh", data_dir=str(texts))
    s = scores[folder_of(tiny_model_dir)]["nll"]
    assert s["eng_Latn"]["n"] == 2 and s["swh_Latn"]["n"] == 1 and s["eng_Latn"]["nll"] > 0 and s["_overall"]["bpb"] > 0
    with pytest.raises(EmmaError, match="empty language"):
        evaluate([str(tiny_model_dir)], ["nll"], out, langs="fra", data_dir=str(texts))
    flores = evaluate([str(tiny_model_dir)], ["nll"], tmp_path / "e2", langs="eng_Latn", data_dir=str(make_sib(tmp_path)))
    assert flores[folder_of(tiny_model_dir)]["nll"]["eng_Latn"]["n"] == 4


def test_one_nan_safe_mean_for_items_and_languages():
    import math

    from emma.eval.harness import aggregate
    from emma.eval.task import mean, mean_scores
    from emma.eval.tasks import _mc

    nan = float("nan")
    assert math.isnan(mean([])) and math.isnan(mean([None, nan]))
    assert mean([1.0, None, nan, 3.0]) == 2.0 and mean(x for x in (0.5, 1.0)) == 0.75
    scores = mean_scores([{"acc": 1.0, "f": nan}, {"acc": 0.0}, {"acc": 1.0, "f": 0.5}], ["acc", "f", "g"])
    assert scores["acc"] == 2 / 3 and scores["f"] == 0.5 and math.isnan(scores["g"]) and scores["n"] == 3
    assert _mc.summarize is mean_scores
    # Across languages the same mean: a language without a score (NaN: polywrite's Self-BLEU of a single output) is skipped.
    per_lang = {"eng_Latn": {"self_bleu": 20.0, "n": 5}, "deu_Latn": {"self_bleu": nan, "n": 1}, "fra_Latn": {"n": 3}}
    agg = aggregate(per_lang, dict.fromkeys(per_lang, "high"), ["self_bleu", "in_language"])
    assert agg["_overall"] == {"self_bleu": 20.0, "languages": 3} and agg["_groups"]["high"] == agg["_overall"]


def test_shot_sampling_and_means_are_written_once():
    """Few-shot sampling and per-item means live in `emma.eval.task` alone; no task keeps a copy."""
    import re
    from pathlib import Path

    import emma.eval

    copies = []
    for path in sorted(Path(emma.eval.__file__).parent.rglob("*.py")):
        if path.name == "task.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = re.sub(r"`[^`]*`", "", line)  # quoted in a docstring (EMMA-500's pandas call, described) is not a copy
            if re.search(r"\.sample\(|/ n if n else|enumerate\(rows\[: *\w+(\.shots)? *\+ *1\]\)", code):
                copies.append(f"{path.name}:{n}: {line.strip()}")
    assert copies == []
