"""What tests/test_vllm.py (and benchmarks/bench_backends.py) ask vLLM, and the drivers that ask it
in a process of their own: vLLM starts its engine in child processes, and the test process keeps
none of vLLM's global state.

    python tests/vllm_jobs.py engine CONFIG.json OUT.json   # the vllm backend runs JOBS
    python tests/vllm_jobs.py serve CONFIG.json OUT.json    # vLLM's OpenAI server + `emma eval --backend openai`

`serve` starts a server on 127.0.0.1 and must itself run inside a private network namespace
(`unshare -n`; test_vllm.py does that), so nothing it opens is reachable from outside.
CONFIG: {"sib": SIB-200 folder, "xcopa": XCOPA-layout folder, "model": checkpoint folder, "out": folder,
"limit": items per language (optional), "flores_limit": items per direction (optional)}.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SIB_LANGS = ["eng_Latn", "swh_Latn", "zho_Hans"]  # three scripts
XCOPA = {"swa_Latn": ("sw", "swh_Latn"), "zho_Hans": ("zh", "zho_Hans")}  # xcopa language: (its code, the SIB-200 text it is made of)
FLORES = ["eng_Latn-fra_Latn", "fra_Latn-eng_Latn"]
FLORES_OPTIONS = {"shots": 1, "max_new_tokens": 32}


def jobs(limit: int = 20, flores_limit: int = 8) -> list[dict]:
    """(task, data folder key, language, TaskOptions fields): the same list for every backend."""
    out = [{"task": "sib200", "data": "sib", "lang": lang, "options": {"limit": limit}} for lang in SIB_LANGS]
    out += [{"task": "xcopa", "data": "xcopa", "lang": lang, "options": {"limit": limit}} for lang in XCOPA]
    out += [{"task": "flores200", "data": "sib", "lang": pair, "options": {"limit": flores_limit, **FLORES_OPTIONS}} for pair in FLORES]
    return out


def key(job: dict) -> str:
    return f"{job['task']}/{job['lang']}"


def make_xcopa(sib: Path, out: Path, n: int = 20) -> Path:
    """An XCOPA-layout folder (`<xx>/{test,val}.<xx>.jsonl`) made of SIB-200 sentences: a premise and
    two other sentences as the choices. Not XCOPA's items, its format: what the task reads."""
    from emma.io import read_sib_tsv

    for xx, sib_lang in XCOPA.values():
        texts = [r["text"].strip() for r in read_sib_tsv(sib / sib_lang / "test.tsv", "sib200")]
        rows = [
            {
                "idx": i,
                "premise": texts[i],
                "choice1": texts[(i + 7) % len(texts)][:80],
                "choice2": texts[(i + 13) % len(texts)][:80],
                "question": ("cause", "effect")[i % 2],
                "label": (i // 2) % 2,
            }
            for i in range(n + 4)
        ]
        folder = out / xx
        folder.mkdir(parents=True, exist_ok=True)
        for split, part in (("test", rows[:n]), ("val", rows[n:])):
            (folder / f"{split}.{xx}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
    return out


def next_token_case(sib: Path) -> tuple[list[str], list[str]]:
    """Contexts and label words for EMMA-500's next-token question."""
    from emma.io import read_sib_tsv

    texts = [r["text"] for lang in SIB_LANGS for r in read_sib_tsv(sib / lang / "test.tsv", "sib200")[:4]]
    labels = ["science", "travel", "politics", "sports", "health", "entertainment", "geography"]
    return [f'Topic Classification: {", ".join(labels)}.\n\nThe topic of the news "{t}" is' for t in texts], labels


def run_jobs(backend, config: dict) -> dict:
    """{key: per-sample rows} for every job, plus `_next` (next-token log-probabilities) and `_seconds`."""
    from emma.eval.registry import get_task
    from emma.eval.task import TaskOptions

    out: dict = {"_seconds": {}}
    for job in jobs(config.get("limit", 20), config.get("flores_limit", 8)):
        started = time.time()
        rows, _ = get_task(job["task"]).run(backend, config[job["data"]], job["lang"], TaskOptions(**job["options"]))
        out[key(job)] = rows
        out["_seconds"][key(job)] = time.time() - started
    contexts, labels = next_token_case(Path(config["sib"]))
    ids = [[backend.tokenize(" " + w)[-1] for w in labels]] * len(contexts)
    out["_next"] = backend.next_token_logprobs(contexts, ids)
    return out


def server_env() -> dict[str, str]:
    """What emma's vllm backend sets (where unset) on a CPU, for vLLM's server."""
    from emma.eval.backends_vllm import engine_environment

    return engine_environment(on_cpu=True)


def engine(config: dict, out_path: Path) -> None:
    from emma.eval.backend import BackendOptions
    from emma.eval.backends import make_backend

    started = time.time()
    backend = make_backend("vllm", config["model"], BackendOptions(dtype="float32"))
    start_s = time.time() - started
    result = run_jobs(backend, config)
    result["_start_seconds"] = start_s
    backend.close()
    out_path.write_text(json.dumps(result, ensure_ascii=False))


def start_server(model: str, log_path: Path, *extra: str) -> tuple[subprocess.Popen, str, float]:
    """vLLM's OpenAI server on a free port of 127.0.0.1; (process, base URL, seconds to /health)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**server_env(), **os.environ, "HF_HUB_OFFLINE": "1"}
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1", "--port", str(port), "--model", model]
    cmd += ["--dtype", "float32", "--enforce-eager", "--seed", "0", "--generation-config", "vllm", *extra]
    started = time.time()
    log = open(log_path, "w")  # the server's output, for the error message
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM server exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() - started > 300:
            proc.kill()
            raise RuntimeError(f"vLLM server not healthy after 300 s: {log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    return proc, f"{url}/v1", time.time() - started


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def emma_eval(*args: str) -> dict:
    started = time.time()
    r = subprocess.run([sys.executable, "-m", "emma.cli", "eval", *args], capture_output=True, text=True, timeout=900)
    return {"args": list(args), "rc": r.returncode, "stderr": r.stderr[-4000:], "seconds": time.time() - started}


def serve(config: dict, out_path: Path) -> None:
    """Server + `emma eval --backend openai --num-concurrent 2` on every job's task and language; a
    server-side text-prompt run (`tokenized_requests=False`) on SIB-200's first language too."""
    out = Path(config["out"])
    proc, url, start_s = start_server(config["model"], out / "server.log")
    runs = []
    try:
        spec = f"{config['model']}@{url}"
        common = ["-m", spec, "--backend", "openai", "--num-concurrent", "2", "--batch-size", "4", "--max-retries", "1", "--timeout", "300"]
        groups: dict[tuple, list[str]] = {}
        for job in jobs(config.get("limit", 20), config.get("flores_limit", 8)):
            groups.setdefault((job["task"], job["data"], json.dumps(job["options"], sort_keys=True)), []).append(job["lang"])
        for (task, data, options), langs in groups.items():
            flags = [x for k, v in json.loads(options).items() for x in (f"--{k.replace('_', '-')}", str(v))]
            runs.append(
                emma_eval(*common, "--tasks", task, "--data-dir", config[data], "--langs", ",".join(langs), *flags, "--out", str(out / "eval"))
            )
        first = jobs()[0]
        runs.append(
            emma_eval(
                *common, "--model-args", "tokenized_requests=False", "--tasks", "sib200", "--data-dir", config["sib"],
                "--langs", first["lang"], "--limit", str(config.get("limit", 20)), "--out", str(out / "eval-text"),
            )
        )  # fmt: skip
        from emma.eval.backend import BackendOptions
        from emma.eval.backends import OpenAIBackend

        contexts, labels = next_token_case(Path(config["sib"]))
        be = OpenAIBackend(spec, BackendOptions(num_concurrent=2))
        ids = [[be.tokenize(" " + w)[-1] for w in labels]] * len(contexts)
        nxt = be.next_token_logprobs(contexts, ids)
    finally:
        stop_server(proc)
    out_path.write_text(json.dumps({"runs": runs, "start_seconds": start_s, "url": url, "_next": nxt}, ensure_ascii=False))


if __name__ == "__main__":
    mode, config_path, result_path = sys.argv[1:4]
    {"engine": engine, "serve": serve}[mode](json.loads(Path(config_path).read_text()), Path(result_path))
