"""Where the peak RSS of a log-likelihood evaluation goes: each step runs in a fresh process, adding
one thing to the previous step (imports, the tokenizer, then either every weight read through its
memory mapping by one plain forward pass, or one request scored by emma, which reads the embedding
table and LM head from the weights file instead), and reports VmHWM with its anonymous and
file-backed parts (safetensors weights are memory-mapped: file-backed pages count in RSS once read;
the page cache that pread fills does not). The last row is `emma eval` itself on the reference
workload (SIB-200 eng_Latn, 3-shot, `--limit` items), measured the same way.

    python benchmarks/bench_memory_floor.py --model gemma3-270m --limit 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIB = ROOT.parent / "shared" / "data" / "sib200"

STATUS = """
def _status():
    keys = ("VmHWM", "RssAnon", "RssFile")
    return {l.split(":")[0]: int(l.split()[1]) * 1000 for l in open("/proc/self/status") if l.startswith(keys)}
"""

STEPS = {
    "python + torch + transformers imports": "import torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer",
    "  + scikit-learn hidden from transformers' generation import (emma does this)": (
        "import torch, transformers.utils\ntransformers.utils.is_sklearn_available = lambda: False\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer"
    ),
    "  + the tokenizer (emma.models.load_model's way)": (
        "import torch\nfrom emma.models.load import _without_sklearn_in_generation, _release_construction_copies, checkpoint_path\n"
        "_without_sklearn_in_generation()\nfrom transformers import AutoTokenizer\n"
        "tok = AutoTokenizer.from_pretrained(checkpoint_path(MODEL)[1])\n_release_construction_copies(tok)"
    ),
    "  + every weight read through the mapping (one token through the model and its LM head)": (
        "import torch\nfrom emma.models import load_model\nlm = load_model(MODEL)\n"
        "with torch.inference_mode():\n    lm.model(input_ids=torch.tensor([[lm.tokenizer.bos_token_id or 1]]))"
    ),
    "  + instead, one request scored by emma (embedding table and head read from the file)": (
        "from emma.models import load_model\nfrom emma.eval.loglikelihood import loglikelihoods\nlm = load_model(MODEL)\n"
        "loglikelihoods(lm.model, lm.tokenizer, [('The topic of the news is', ' sports')])"
    ),
}


def measure(code: str, model: str) -> dict:
    script = f"MODEL = {model!r}\n{STATUS}\n{code}\nimport json; print('STATUS', json.dumps(_status()))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env={**_env(), "PYTHONPATH": str(ROOT / "src")})
    if out.returncode:
        raise SystemExit(f"step failed:\n{out.stderr[-2000:]}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("STATUS "))
    return json.loads(line.split(" ", 1)[1])


def _env() -> dict:
    import os

    return dict(os.environ)


def emma_eval(model: str, limit: int, out: Path) -> dict:
    """`emma eval` in a child that reports its own VmHWM split just before it exits."""
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print('STATUS', json.dumps(_status()), flush=True))\n"
        "from emma.cli import main\n"
        f"sys.argv = ['emma', 'eval', '-m', MODEL, '--tasks', 'sib200', '--langs', 'eng_Latn', '--data-dir', {str(SIB)!r}, "
        f"'--shots', '3', '--limit', '{limit}', '--out', {str(out)!r}]\n"
        "main()\n"
    )
    return measure(code, model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    if not SIB.is_dir():
        raise SystemExit(f"SIB-200 data not found at {SIB} (it lives in ../shared beside the checkout)")
    import tempfile

    rows = [(name, measure(code, args.model)) for name, code in STEPS.items()]
    with tempfile.TemporaryDirectory() as tmp:
        rows.append((f"emma eval, SIB-200 eng_Latn 3-shot, {args.limit} items (peak at exit)", emma_eval(args.model, args.limit, Path(tmp) / "ev")))
    print(f"\n{args.model}, fp32; GB = 10^9 bytes; anon/file: the parts of RSS at the end of the step")
    print(f"{'step':88s}{'peak GB':>9}{'anon GB':>9}{'file GB':>9}")
    for name, s in rows:
        print(f"{name:88s}{s['VmHWM'] / 1e9:9.2f}{s['RssAnon'] / 1e9:9.2f}{s['RssFile'] / 1e9:9.2f}")


if __name__ == "__main__":
    main()
