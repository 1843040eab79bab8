"""Throughput of emma's three backends on the same work: `hf` (transformers in this process), `vllm`
(vLLM's engine in this process) and `openai` (vLLM's OpenAI server, queried over HTTP with
--num-concurrent requests in flight), all on one model in fp32.

Workload (the same requests for every backend): a log-likelihood task, SIB-200 on 3 languages x N
items, 0-shot (7 labels per item: 7N requests per language), and a generation task, FLORES-200
eng_Latn->fra_Latn and back on M items each (1 shot, greedy, at most 48 new tokens). Start-up (model
load, engine start, server start to /health) is timed apart from the work. Tokens: the log-likelihood
requests' prompt tokens (context + continuation), the generations' new tokens (both by the model's
tokenizer). Each backend runs in a process of its own; the server and its client run inside a private
network namespace (`unshare -n`), listening on 127.0.0.1 only.

Run: .venv/bin/python benchmarks/bench_backends.py [--model smollm2-135m] [--items 20] [--flores-items 5]
     [--num-concurrent 4] [--compiled]   # --compiled: also vLLM with torch.compile (no enforce_eager; ~90 s start on 2 cores)
Prints a Markdown table (benchmarks/RESULTS.md keeps one).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIB = ROOT.parent / "shared" / "data" / "sib200"
LANGS = ["eng_Latn", "swh_Latn", "zho_Hans"]
PAIRS = ["eng_Latn-fra_Latn", "fra_Latn-eng_Latn"]


class Counting:
    """Wraps a backend: counts requests and tokens of what the tasks ask."""

    def __init__(self, backend, tokenizer):
        self.backend, self.tok = backend, tokenizer
        self.requests = self.tokens = 0

    @property
    def name(self) -> str:
        return self.backend.name

    def loglikelihood(self, requests, **kw):
        self.requests += len(requests)
        self.tokens += sum(len(self.tok(c + x, add_special_tokens=False)["input_ids"]) for c, x in requests)
        return self.backend.loglikelihood(requests, **kw)

    def generate(self, requests, **kw):
        out = self.backend.generate(requests, **kw)
        self.requests += len(requests)
        self.tokens += sum(len(self.tok(t, add_special_tokens=False)["input_ids"]) for t in out)
        return out

    def nll(self, texts, **kw):
        return self.backend.nll(texts, **kw)


def measure(backend, tokenizer, args) -> dict:
    from emma.eval.registry import get_task
    from emma.eval.task import TaskOptions

    out = {}
    for label, task, keys, opts in (
        ("ll", "sib200", LANGS, TaskOptions(limit=args.items)),
        ("gen", "flores200", PAIRS, TaskOptions(limit=args.flores_items, shots=1, max_new_tokens=48)),
    ):
        counting = Counting(backend, tokenizer)
        started = time.time()
        rows = []
        for k in keys:
            rows += get_task(task).run(counting, str(SIB), k, opts)[0]
        seconds = time.time() - started
        out[label] = {"seconds": seconds, "requests": counting.requests, "tokens": counting.tokens, "items": len(rows)}
        out[label]["predictions"] = [r.get("prediction") for r in rows]
    return out


def part(name: str, args) -> dict:
    """One backend's run, in this process."""
    from transformers import AutoTokenizer

    from emma.eval.backend import BackendOptions
    from emma.eval.backends import HFBackend, OpenAIBackend, make_backend
    from emma.models import load_model
    from emma.models.load import checkpoint_path

    path = str(checkpoint_path(args.model)[1])
    tokenizer = AutoTokenizer.from_pretrained(path)
    started = time.time()
    server = None
    if name == "hf":
        backend = HFBackend(load_model(args.model))
    elif name in ("vllm", "vllm-compiled"):
        model_args = {"enforce_eager": False} if name == "vllm-compiled" else {}
        backend = make_backend("vllm", args.model, BackendOptions(dtype="float32", model_args=model_args))
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from vllm_jobs import start_server

        server, url, _ = start_server(path, Path(args.tmp) / "server.log")
        backend = OpenAIBackend(f"{path}@{url}", BackendOptions(num_concurrent=args.num_concurrent))
    result = {"backend": name, "start_seconds": time.time() - started}
    try:
        result |= measure(backend, tokenizer, args)
    finally:
        if server is not None:
            from vllm_jobs import stop_server

            stop_server(server)
        elif hasattr(backend, "close"):
            backend.close()
    return result


def row(r: dict, hf: dict) -> str:
    ll, gen = r["ll"], r["gen"]
    same_ll = sum(a == b for a, b in zip(r["ll"]["predictions"], hf["ll"]["predictions"]))
    same_gen = sum(a == b for a, b in zip(r["gen"]["predictions"], hf["gen"]["predictions"]))
    return (
        f"| {r['backend']} | {r['start_seconds']:.1f} | {ll['seconds']:.1f} | {ll['requests'] / ll['seconds']:.1f} | "
        f"{ll['tokens'] / ll['seconds']:.0f} | {gen['seconds']:.1f} | {gen['requests'] / gen['seconds']:.2f} | "
        f"{gen['tokens'] / gen['seconds']:.1f} | {same_ll}/{len(hf['ll']['predictions'])}, {same_gen}/{len(hf['gen']['predictions'])} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--items", type=int, default=20, help="SIB-200 items per language")
    ap.add_argument("--flores-items", type=int, default=5, help="FLORES-200 items per direction")
    ap.add_argument("--num-concurrent", type=int, default=4)
    ap.add_argument("--compiled", action="store_true", help="also vLLM with torch.compile (no enforce_eager)")
    ap.add_argument("--part", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not SIB.is_dir():
        sys.exit(f"SIB-200 data not found at {SIB} (it lives in ../shared); nothing to measure")
    if args.part:
        Path(args.json).write_text(json.dumps(part(args.part, args)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp)}
    common = [
        "--model",
        args.model,
        "--items",
        str(args.items),
        "--flores-items",
        str(args.flores_items),
        "--num-concurrent",
        str(args.num_concurrent),
    ]
    results = []
    total = time.time()
    for name in ["hf", "vllm", *(["vllm-compiled"] if args.compiled else []), "openai"]:
        cmd = [sys.executable, __file__, "--part", name, "--json", str(tmp / f"{name}.json"), "--tmp", str(tmp), *common]
        if name == "openai":  # the server listens on 127.0.0.1 inside a private network namespace
            cmd = ["unshare", "-n", "bash", "-c", "ip link set lo up && exec " + shlex.join(cmd)]
        started = time.time()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"{name} failed:\n{r.stderr[-4000:]}")
        results.append(json.loads((tmp / f"{name}.json").read_text()))
        print(f"{name}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    hf = results[0]
    print(
        f"{args.model}, fp32; log-likelihood: SIB-200 {len(LANGS)} languages x {args.items} items, 0-shot ({hf['ll']['requests']} requests); "
        f"generation: FLORES-200 {' and '.join(PAIRS)}, {args.flores_items} items each, 1 shot, greedy, <= 48 new tokens; "
        f"openai: --num-concurrent {args.num_concurrent}, --batch-size 8\n"
    )
    print("| backend | start-up s | log-lik. s | requests/s | prompt tokens/s | generation s | requests/s | new tokens/s | same as hf (ll, gen) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(row(r, hf))
    print(f"\ntotal wall time {time.time() - total:.0f} s")


if __name__ == "__main__":
    main()
