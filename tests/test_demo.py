"""The demo end to end: tiny model for the mechanics (resume, kill, bad input), the real
SmolLM2 for the whole recipe in a few steps."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import UDHR, need
from emma.recipes.demo import DemoConfig, run_demo

LANGS = ["eng_Latn", "sw", "amh_Ethi", "kat_Geor"]


def emma(*args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "emma.cli", *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def check_results(out: Path, langs: int):
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"base_model", "checkpoint", "languages", "summary"}
    assert len(results["languages"]) == langs
    for code, r in results["languages"].items():
        assert code.count("_") == 1 and len(code.split("_")[1]) == 4
        assert set(r) >= {"nll_before", "nll_after", "bpb_before", "bpb_after", "train_tokens"}
        assert r["nll_before"] > 0 and r["nll_after"] > 0 and r["bpb_before"] > 0
    assert (out / "report.md").read_text().startswith("# emma demo")
    assert (out / "nll.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()  # emma report --html on the demo's folder: both models, the training curves
    assert page.startswith("<!DOCTYPE html>") and f"{results['base_model']} (CPT)" in page and "<h2>Training</h2>" in page
    assert "**absolute** drop in bits per byte" in (out / "report.md").read_text()
    return results


def test_tiny_demo_runs_then_reuses_every_stage(tmp_path, tiny_model_dir, udhr_path):
    cfg = DemoConfig(model=str(tiny_model_dir), languages=LANGS, steps=6, block_size=64, learning_rate=1e-2, udhr=str(udhr_path))
    run_demo(cfg, tmp_path)
    results = check_results(tmp_path, 4)
    assert "swh_Latn" in results["languages"]  # `sw` resolved to the variety the UDHR has
    trained = sum(r["train_tokens"] for r in results["languages"].values())
    assert 6 * 4 * 32 < trained <= 6 * 4 * 64  # 6 steps x 4 blocks of at most 64 tokens
    assert set(results["stage_seconds"]) == {"data", "nll_before", "train", "nll_after", "report"}
    assert results["wall_time_s"] == pytest.approx(sum(results["stage_seconds"].values()), abs=0.1)
    assert not (tmp_path / "train" / "trainer").exists()  # resumable checkpoints dropped once the final one is saved
    # trained by emma train's code path: its config, TensorBoard log and per-language held-out loss
    train = json.loads((tmp_path / "train" / "train.json").read_text())
    assert set(train["heldout_loss"]) == set(results["languages"])
    assert list((tmp_path / "train" / "runs").rglob("events.out.tfevents.*"))
    assert (tmp_path / "train" / "config.yaml").is_file()
    # a large learning rate on a random model: held-out NLL must fall everywhere
    assert results["summary"]["nll_fell"] == 4
    stamps = {
        p.name: p.stat().st_mtime_ns
        for p in [
            tmp_path / "train" / "train.json",
            tmp_path / "scores_before.jsonl",
            tmp_path / "scores_after.jsonl",
            tmp_path / "data" / "train.jsonl",
        ]
    }
    run_demo(cfg, tmp_path)
    for p in [
        tmp_path / "train" / "train.json",
        tmp_path / "scores_before.jsonl",
        tmp_path / "scores_after.jsonl",
        tmp_path / "data" / "train.jsonl",
    ]:
        assert p.stat().st_mtime_ns == stamps[p.name], f"{p.name} was redone"
    # the checkpoint is a plain Hugging Face directory
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(results["checkpoint"])
    model = AutoModelForCausalLM.from_pretrained(results["checkpoint"])
    assert model.generate(**tok("Hello", return_tensors="pt"), max_new_tokens=2, do_sample=False).shape[1] >= 2


def test_changed_settings_in_the_same_out_are_refused(tmp_path, tiny_model_dir, udhr_path):
    from emma.errors import EmmaError

    cfg = DemoConfig(model=str(tiny_model_dir), languages=["eng"], steps=1, block_size=32, udhr=str(udhr_path))
    run_demo(cfg, tmp_path)
    cfg.steps = 2
    with pytest.raises(EmmaError, match="other settings \\(steps\\)"):
        run_demo(cfg, tmp_path)


def test_killed_demo_resumes_from_its_last_checkpoint(tmp_path, tiny_model_dir, udhr_path):
    args = [
        "demo",
        "--model",
        str(tiny_model_dir),
        "--langs",
        ",".join(LANGS),
        "--steps",
        "120",
        "--block-size",
        "64",
        "--udhr",
        str(udhr_path),
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.Popen([sys.executable, "-m", "emma.cli", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and not list((tmp_path / "train" / "trainer").glob("checkpoint-*/emma-checkpoint.json")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "results.json").exists(), "the run finished before it could be killed"
    before_lines = (tmp_path / "scores_before.jsonl").read_text().splitlines()
    assert len(before_lines) == 4
    res = emma(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len((tmp_path / "scores_before.jsonl").read_text().splitlines()) == 4  # not scored again
    train = json.loads((tmp_path / "train" / "train.json").read_text())
    assert train["resumed_from"] and "checkpoint-" in train["resumed_from"]
    check_results(tmp_path, 4)


def test_bad_input_gets_one_clear_line(tmp_path, tiny_model_dir, udhr_path):
    base = ["demo", "--model", str(tiny_model_dir), "--steps", "1", "--udhr", str(udhr_path)]
    cases = [
        (["--langs", "eng,xyz", "--out", str(tmp_path / "a")], "unknown language code 'xyz'"),
        (["--langs", "taj_Deva", "--out", str(tmp_path / "b")], "language taj_Deva: its UDHR has"),  # 1 article: nothing held out
        (["--langs", "eng", "--out", str(tmp_path / "c"), "--model", str(tmp_path / "nowhere")], "does not exist"),
    ]
    afile = tmp_path / "a-file"
    afile.write_text("x")
    cases.append((["--langs", "eng", "--out", str(afile / "sub")], "not writable"))
    bad_tgz = tmp_path / "bad.tgz"
    bad_tgz.write_bytes(b"\x1f\x8bnot really gzip")
    cases.append((["--langs", "eng", "--out", str(tmp_path / "d"), "--udhr", str(bad_tgz)], "not a readable .tgz"))
    for extra, message in cases:
        res = emma(*base, *extra)
        assert res.returncode == 2, (extra, res.stderr[-1500:])
        lines = [line for line in res.stderr.splitlines() if line.startswith("emma: error:")]
        assert len(lines) == 1 and message in lines[0], (extra, res.stderr[-1500:])
        assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_real_demo_in_miniature(tmp_path, smollm2):
    """The README's main job, cut to 3 languages and 3 steps: SmolLM2 before and after CPT."""
    need(UDHR)
    out = tmp_path / "demo"
    res = emma("demo", "--langs", "eng,swh,amh", "--steps", "3", "--out", str(out), "--udhr", str(UDHR))
    assert res.returncode == 0, res.stderr[-3000:]
    results = check_results(out, 3)
    assert results["base_model"] == "smollm2-135m"
    assert abs(results["languages"]["eng_Latn"]["bpb_before"] - 1.04) < 0.1  # SmolLM2 knows the English UDHR well
    gen = emma("generate", "--model", results["checkpoint"], "--max-new-tokens", "5", "All human beings are born")
    assert gen.returncode == 0, gen.stderr[-2000:]
    assert gen.stdout.startswith("All human beings are born") and len(gen.stdout.strip()) > len("All human beings are born")
