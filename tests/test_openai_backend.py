"""The openai backend's failure paths against a fake OpenAI-compatible server (tests/fake_openai.py),
run with the server inside a private network namespace (`unshare -n`): a server without prompt
log-probabilities (or a chat-only API) stops a log-likelihood task with one clear line and still runs
generation tasks; 503/429 answers are retried with backoff up to --max-retries; a request past
--timeout is retried, then reported; --num-concurrent requests are in flight at once, results in order.
tests/test_vllm.py runs the backend against vLLM's real server."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SIB200, need

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    pytest.importorskip("openai")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode:
        pytest.skip("`unshare -n` (a private network namespace for the fake server) is refused here")
    out = tmp_path_factory.mktemp("fake-openai")
    (out / "config.json").write_text(json.dumps({"sib": str(need(SIB200)), "out": str(out)}))
    cmd = shlex.join([sys.executable, str(HERE / "fake_openai.py"), str(out / "config.json"), str(out / "result.json")])
    r = subprocess.run(
        ["unshare", "-n", "bash", "-c", f"ip link set lo up && HF_HUB_OFFLINE=1 exec {cmd}"], capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads((out / "result.json").read_text())


def one_line(run: dict, *fragments: str) -> str:
    """Failed mid-run as emma fails: exit 2, one `emma: error:` line, the last (after the progress lines), no traceback."""
    lines = [line for line in run["stderr"].splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("emma: error: ")]
    assert run["rc"] == 2 and errors == lines[-1:], run
    assert "Traceback" not in run["stderr"]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def test_a_server_without_prompt_logprobs_stops_loglikelihood_tasks_but_runs_generation(result):
    one_line(result["nologprobs_ll"], "does not return prompt logprobs", "generation tasks")
    assert result["nologprobs_gen"]["rc"] == 0, result["nologprobs_gen"]["stderr"][-2000:]


def test_a_chat_only_api_runs_generation_through_chat_completions(result):
    one_line(result["chatonly_ll"], "HTTP 404", "cannot return prompt log-probabilities", "generation tasks")
    assert result["chatonly_gen"]["rc"] == 0, result["chatonly_gen"]["stderr"][-2000:]
    assert "a chat API (--model-args api=chat) cannot return prompt log-probabilities" in result["chat_ll_api"]
    assert "HTTP 404" in result["chatonly_completions_gen"] and "--model-args api=chat" in result["chatonly_completions_gen"]


def test_failed_requests_are_retried_with_backoff(result):
    assert result["flaky_ok"] == [result["expected_texts"][0]] and result["flaky_ok_requests"] == 4  # 503, 503, 429, then the answer
    assert "HTTP 503 after 1 retries" in result["flaky_no_retries"] and result["flaky_no_retries_requests"] == 2


def test_a_request_past_the_timeout_is_retried_then_reported(result):
    assert result["slow_ok"] == [result["expected_texts"][0]]
    assert "gave no answer within --timeout 1 s (0 retries)" in result["slow_timeout"]
    assert "cannot reach" in result["refused"] and "is the server running?" in result["refused"]


def test_num_concurrent_requests_in_flight_results_in_order(result):
    for n in (1, 3):
        run = result[f"concurrent_{n}"]
        assert run["texts"] == result["expected_texts"] and run["progress"] == len(run["texts"])
        assert run["max_in_flight"] == n, run
    assert result["concurrent_3"]["seconds"] < result["concurrent_1"]["seconds"] / 2
