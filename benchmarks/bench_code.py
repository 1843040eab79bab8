"""Code generation: HumanEval pass@1 of the local models on a fixed subset (the first N problems,
greedy, n = 1, through `emma eval`'s task code), and what the sandbox costs per test (bwrap, the
rlimit fallback, and a plain subprocess without any limits, on the canonical solutions).

    python benchmarks/bench_code.py                       # --problems 10 --max-new-tokens 64 --batch-size 10
    python benchmarks/bench_code.py --skip-models         # the sandbox overhead only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def plain(source: str) -> bool:
    """No sandbox: the program in a temp folder, a timeout, nothing else (the baseline)."""
    from emma.eval.sandbox import python_executable

    with tempfile.TemporaryDirectory() as d:
        Path(d, "main.py").write_text(source)
        return subprocess.run([python_executable(), "main.py"], cwd=d, capture_output=True, timeout=10).returncode == 0


def overhead(problems, kinds: list[str]) -> dict[str, tuple[float, int]]:
    """ms per test, one at a time (no parallelism, so the figure is the per-test cost), and how many passed."""
    from emma.eval import sandbox
    from emma.eval.tasks.code import program

    sources = [program(p, p.raw_prompt, p.canonical) for p in problems]
    out = {}
    for kind in kinds:
        started = time.perf_counter()
        if kind == "plain":
            passed = sum(plain(s) for s in sources)
        else:
            steps = [sandbox.Step((sandbox.python_executable(), "main.py"), sandbox.Limits(timeout=10))]
            passed = sum(sandbox.run({"main.py": s}, steps, kind=kind).passed for s in sources)
        out[kind] = (1000 * (time.perf_counter() - started) / len(sources), passed)
    return out


def model_pass_at_1(model: str, problems, max_new_tokens: int, batch_size: int) -> tuple[float, int, float, dict]:
    from emma.eval.backend import BackendOptions
    from emma.eval.backends import make_backend
    from emma.eval.generation import GenRequest
    from emma.eval.tasks.code import score_completions

    be = make_backend("hf", model, BackendOptions(batch_size=batch_size, device="cpu"))
    started = time.perf_counter()
    outputs = be.generate([GenRequest(p.prompt, max_new_tokens=max_new_tokens, until=p.stop, temperature=0.0) for p in problems])
    seconds = time.perf_counter() - started
    records, scores = score_completions(problems, [[o] for o in outputs])
    return scores["pass@1"], sum(r["n_correct"] for r in records), seconds, scores["outcomes"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=10, help="the first N HumanEval problems")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--models", default="smollm2-135m,gemma3-270m")
    ap.add_argument("--skip-models", action="store_true")
    args = ap.parse_args()
    from emma.eval import sandbox
    from emma.eval.tasks.code import humaneval_problems

    problems = humaneval_problems(None)
    kinds = (["bwrap"] if sandbox.bwrap_works() else []) + ["rlimit", "plain"]
    print(f"sandbox overhead, {len(problems)} canonical HumanEval solutions, one at a time:")
    for kind, (ms, passed) in overhead(problems, kinds).items():
        print(f"  {kind:7s} {ms:7.1f} ms/test   passed {passed}/{len(problems)}")
    if args.skip_models:
        return
    subset = problems[: args.problems]
    print(f"HumanEval pass@1, first {len(subset)} problems, greedy, n=1, max {args.max_new_tokens} new tokens:")
    for model in args.models.split(","):
        p1, solved, seconds, outcomes = model_pass_at_1(model, subset, args.max_new_tokens, args.batch_size)
        print(f"  {model:14s} pass@1 {p1:.3f} ({solved}/{len(subset)})   generation {seconds:.0f} s   outcomes {outcomes}")


if __name__ == "__main__":
    main()
