"""Devices, dtypes, model args and `--batch-size auto` on the hf backend. The CPU tests run
everywhere; the `gpu`-marked ones need a CUDA GPU (none was lent to this project's sessions: they
ran only where one was)."""

from __future__ import annotations

import json

import pytest
import torch
from tests.conftest import SIB200, need

from emma.errors import EmmaError
from emma.eval import backends
from emma.eval.backend import BackendOptions, parse_model_args, resolve_device, resolve_dtype
from emma.eval.backends import HFBackend, make_backend
from emma.eval.loglikelihood import loglikelihoods
from emma.models import load_model

REQUESTS = [(f"Sentence number {i} is about", f" topic {i % 3}") for i in range(10)]


def test_model_args_parse_as_literals():
    assert parse_model_args("attn_implementation=sdpa,trust_remote_code=true,max_model_len=512,gpu_memory_utilization=0.8,revision=main") == {
        "attn_implementation": "sdpa",
        "trust_remote_code": True,
        "max_model_len": 512,
        "gpu_memory_utilization": 0.8,
        "revision": "main",
    }
    assert parse_model_args(None) == {} and parse_model_args(" , ") == {}
    with pytest.raises(EmmaError, match="key=value"):
        parse_model_args("sdpa")


def test_cpu_defaults_change_nothing():
    """On a machine without a GPU, auto is the CPU in float32: the numbers emma always reported."""
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: auto picks it")
    assert resolve_device("auto") == "cpu" and resolve_dtype("auto", "cpu") == "float32"
    with pytest.raises(EmmaError, match="no CUDA GPU"):
        resolve_device("cuda:0")


def test_model_args_reach_from_pretrained(tiny_model_dir):
    for impl in ("eager", "sdpa"):
        lm = load_model(str(tiny_model_dir), model_args={"attn_implementation": impl})
        assert lm.model.config._attn_implementation == impl


def test_dtype_loads_and_is_recorded_so_other_dtypes_are_not_reused(tiny_model_dir, tmp_path):
    from emma.eval.harness import evaluate
    from emma.eval.task import TaskOptions

    be = make_backend("hf", str(tiny_model_dir), BackendOptions(dtype="bfloat16"))
    assert next(be.lm.model.parameters()).dtype == torch.bfloat16
    sib = need(SIB200)
    opts = TaskOptions(limit=4)
    for dtype in ("bfloat16", "float32", "bfloat16"):
        options = BackendOptions(dtype=dtype)
        evaluate([str(tiny_model_dir)], ["sib200"], tmp_path, langs="eng_Latn", data_dir=str(sib), options=opts, backend_options=options)
        record = json.loads(next(tmp_path.glob("*/sib200/eng_Latn.json")).read_text())
        assert record["model"]["dtype"] == dtype  # each dtype's run replaced the other's, none was reused for it
        results = json.loads(max(tmp_path.glob("*/results_*.json")).read_text())  # the newest (names carry the time)
        assert f"dtype={dtype}" in results["config"]["model_args"]


def _oom_above(limit: int, calls: list):
    """loglikelihoods that runs out of memory (as a GPU would) at batches above `limit`, after doing part of the work."""

    def fake(model, tok, requests, *, batch_size, first_token_only=False, progress=None):
        calls.append(batch_size)
        if batch_size > limit:
            if progress:
                progress(3)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return loglikelihoods(model, tok, requests, batch_size=batch_size, first_token_only=first_token_only, progress=progress)

    return fake


def test_auto_batch_size_halves_on_out_of_memory(smollm2, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(backends, "loglikelihoods", _oom_above(2, calls))
    be = HFBackend(smollm2, batch_size=None)
    done: list[int] = []
    got = be.loglikelihood(REQUESTS, progress=done.append)
    assert calls == [8, 4, 2] and be.current_batch_size == 2
    assert sum(done) == len(REQUESTS)  # the failed attempts' progress is not counted twice
    want = loglikelihoods(smollm2.model, smollm2.tokenizer, REQUESTS, batch_size=2)
    assert [g.logprob for g in got] == pytest.approx([w.logprob for w in want], abs=1e-5)
    be.loglikelihood(REQUESTS[:2])
    assert calls[-1] == 2  # the size found is kept for the next call


def test_fixed_batch_size_out_of_memory_is_one_clear_error(smollm2, monkeypatch):
    monkeypatch.setattr(backends, "loglikelihoods", _oom_above(2, []))
    with pytest.raises(EmmaError, match=r"out of memory on cpu at batch size 4 .*use a smaller --batch-size, or auto"):
        HFBackend(smollm2, batch_size=4).loglikelihood(REQUESTS)


def test_cli_batch_size_auto_and_device_cpu(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from emma.cli import app

    sib = need(SIB200)
    args = ["eval", "-m", str(tiny_model_dir), "--tasks", "sib200", "--langs", "eng_Latn", "--limit", "3", "--data-dir", str(sib)]
    args += ["--out", str(tmp_path), "--batch-size", "auto", "--device", "cpu", "--model-args", "attn_implementation=eager"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    results = json.loads(next(tmp_path.glob("*/results_*.json")).read_text())
    assert results["config"]["batch_size"] == "8"  # auto on the CPU: the default batch (out of memory there is a kill, not an error)


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here: the GPU path ran only on CPU)")


@pytest.mark.gpu
@gpu
def test_gpu_loglikelihoods_match_cpu(smollm2):
    """On a GPU in float32: the same numbers as the CPU, to kernel precision."""
    cpu = HFBackend(smollm2).loglikelihood(REQUESTS)
    be = make_backend("hf", "smollm2-135m", BackendOptions(device="cuda", dtype="float32", batch_size=None))
    assert next(be.lm.model.parameters()).device.type == "cuda"
    got = be.loglikelihood(REQUESTS)
    assert [g.logprob for g in got] == pytest.approx([c.logprob for c in cpu], abs=2e-3)


@pytest.mark.gpu
@gpu
def test_gpu_auto_dtype_and_generation():
    be = make_backend("hf", "smollm2-135m", BackendOptions(device="auto", batch_size=None))
    assert next(be.lm.model.parameters()).dtype in (torch.bfloat16, torch.float16)
    from emma.eval.generation import GenRequest

    out = be.generate([GenRequest("The capital of France is", max_new_tokens=5)])
    assert isinstance(out[0], str) and out[0]
