"""vLLM for real (its CPU build here, `bash scripts/setup.sh --with vllm`): the vllm backend, and the
openai backend against vLLM's own OpenAI server, each checked item by item against the hf backend on
SmolLM2 in fp32: SIB-200 (3 languages, 3 scripts) and an XCOPA-layout multiple choice (log-likelihoods
within 1e-3, the same predictions on >= 99 % of items), greedy FLORES-200 translations (identical on
>= 95 %), and EMMA-500's next-token log-probabilities.

vLLM runs in processes of its own (tests/vllm_jobs.py): one engine for the vllm backend, one server
for the openai backend, which listens on 127.0.0.1 inside a private network namespace (`unshare -n`)
together with the `emma eval --backend openai --num-concurrent 2` runs that query it.
Skipped, with the reason, where vLLM is not importable or `unshare -n` is refused; `EMMA_REQUIRE_VLLM=1`
(set by .ci/run) turns those skips into failures.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SIB200, need
from vllm_jobs import jobs, key, make_xcopa, run_jobs

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
REQUIRE = os.environ.get("EMMA_REQUIRE_VLLM") == "1"
LL_TOL = 1e-3  # per item (a choice's summed log-likelihood), nats
SAME_PREDICTIONS = 0.99
SAME_GENERATIONS = 0.95


def unavailable(reason: str):
    if REQUIRE:
        pytest.fail(f"{reason} (EMMA_REQUIRE_VLLM=1: vLLM must run here)")
    pytest.skip(f"{reason}; `bash scripts/setup.sh --with vllm` installs vLLM")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    probe = subprocess.run([sys.executable, "-c", "import vllm"], capture_output=True, text=True, timeout=300)
    if probe.returncode:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        unavailable(f"vLLM is not importable here ({last[:200]})")
    tmp = tmp_path_factory.mktemp("t")
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp)}  # vLLM's caches: emma's (~/.cache/emma/vllm), kept between runs


@pytest.fixture(scope="module")
def config(tmp_path_factory, smollm2) -> dict:
    sib = need(SIB200)
    out = tmp_path_factory.mktemp("vllm")
    return {"sib": str(sib), "xcopa": str(make_xcopa(sib, out / "xcopa")), "model": smollm2.path, "out": str(out), "limit": 20, "flores_limit": 8}


@pytest.fixture(scope="module")
def hf_results(config, smollm2) -> dict:
    from emma.eval.backends import HFBackend

    return run_jobs(HFBackend(smollm2), config)


def drive(mode: str, config: dict, env: dict, *, netns: bool = False) -> dict:
    out = Path(config["out"])
    (out / f"{mode}-config.json").write_text(json.dumps(config))
    cmd = [sys.executable, str(HERE / "vllm_jobs.py"), mode, str(out / f"{mode}-config.json"), str(out / f"{mode}-result.json")]
    if netns:
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
        if probe.returncode:
            unavailable(f"`unshare -n` (a private network namespace for the server) is refused here: {probe.stderr.strip()[:200]}")
        cmd = ["unshare", "-n", "bash", "-c", "ip link set lo up && exec " + shlex.join(cmd)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env)
    assert r.returncode == 0, r.stderr[-6000:]
    return json.loads((out / f"{mode}-result.json").read_text())


@pytest.fixture(scope="module")
def engine_results(config, env) -> dict:
    return drive("engine", config, env)


@pytest.fixture(scope="module")
def served(config, env) -> dict:
    result = drive("serve", config, env, netns=True)
    for run in result["runs"]:
        assert run["rc"] == 0, run
    return result


def compare(hf: dict, other: dict, what: str, *, only: list[str] | None = None) -> dict:
    """Item-by-item comparison of two run_jobs-shaped results; returns the figures, asserts the bounds."""
    figures: dict = {}
    for job in jobs():
        k = key(job)
        if (only and k not in only) or k not in other:
            continue
        a, b = hf[k], other[k]
        assert [str(r["id"]) for r in a] == [str(r["id"]) for r in b], (what, k)  # emma eval writes ids as strings
        if job["task"] == "flores200":
            differ = [(r["id"], r["prediction"], s["prediction"]) for r, s in zip(a, b) if r["prediction"] != s["prediction"]]
            figures[k] = {"items": len(a), "identical": len(a) - len(differ)}
            assert len(a) - len(differ) >= SAME_GENERATIONS * len(a), f"{what} {k}: greedy outputs differ from hf on {len(differ)}/{len(a)}: {differ}"
        else:
            worst = max(abs(x - y) for r, s in zip(a, b) for x, y in zip(r["loglikelihoods"], s["loglikelihoods"]))
            same = sum(r["prediction"] == s["prediction"] for r, s in zip(a, b))
            figures[k] = {"items": len(a), "max_abs_diff": worst, "same_prediction": same}
            assert worst <= LL_TOL, f"{what} {k}: a log-likelihood differs from hf by {worst:.2e} (> {LL_TOL})"
            assert same >= SAME_PREDICTIONS * len(a), f"{what} {k}: {len(a) - same}/{len(a)} predictions differ from hf"
    return figures


def test_vllm_backend_matches_hf(hf_results, engine_results):
    figures = compare(hf_results, engine_results, "vllm")
    assert len(figures) == len(jobs())
    worst = max(abs(x - y) for a, b in zip(hf_results["_next"], engine_results["_next"]) for x, y in zip(a, b))
    assert worst <= LL_TOL, f"vllm next-token log-probabilities differ from hf by {worst:.2e}"
    print(json.dumps({"vllm": figures, "next_token_max_abs_diff": worst, "engine_start_s": engine_results["_start_seconds"]}, indent=1))


def rows_of(eval_dir: Path) -> dict:
    """{task/key: rows} from an `emma eval` folder with one model."""
    (model_dir,) = [p for p in eval_dir.iterdir() if p.is_dir()]
    return {
        f"{path.parent.name}/{path.stem}": [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(model_dir.glob("*/*.jsonl"))
    }


def test_openai_backend_on_vllms_server_matches_hf(hf_results, served, config):
    out = Path(config["out"])
    figures = compare(hf_results, rows_of(out / "eval"), "openai (token-id prompts)")
    assert len(figures) == len(jobs())
    worst = max(abs(x - y) for a, b in zip(hf_results["_next"], served["_next"]) for x, y in zip(a, b))
    assert worst <= LL_TOL, f"openai next-token log-probabilities differ from hf by {worst:.2e}"
    text = compare(hf_results, rows_of(out / "eval-text"), "openai (text prompts)", only=[key(jobs()[0])])
    assert len(text) == 1
    results = {p.parent.name: json.loads(p.read_text()) for p in (out / "eval").glob("*/results_*.json")}
    (doc,) = results.values()
    assert doc["config"]["model"] == "local-completions"  # lm-eval's name for the same runner
    print(json.dumps({"openai": figures, "openai_text": text, "next_token_max_abs_diff": worst, "server_start_s": served["start_seconds"]}, indent=1))
