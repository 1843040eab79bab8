"""`emma train` under each strategy: one process against 2 processes with ddp, fsdp (FSDP2), zero2 and
zero3 (DeepSpeed), on the same global batch: training tokens/s, the per-step losses and final weights
against the one-process run, and what each process holds (parameters, optimizer state).

SmolLM2-135M fp32, configs/train_tiny.yaml's data (UDHR, 4 languages, blocks of 128), batch 2 per
process x 2 processes (one process: batch 4), loss logged every step, no checkpoint or held-out eval
inside the timed window. The 2-process runs use `torchrun --nproc_per_node 2` inside a private network
namespace (scripts/local-cluster.sh, else `unshare -n`: needs root), one torch thread per process;
the one-process run uses every core. On CPU the point is correctness (same losses, real sharding),
not speed: two processes on two cores split the same arithmetic and add gloo traffic.

    sudo .venv/bin/python benchmarks/bench_train_strategies.py [--steps 10] [--strategies ddp,fsdp,zero2,zero3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
TINY = ROOT / "configs" / "train_tiny.yaml"
CLUSTER = ROOT / "scripts" / "local-cluster.sh"


def overrides(steps: int, batch: int, strategy: str) -> list[str]:
    sets = [f"steps={steps}", f"batch_size={batch}", f"strategy={strategy}", "logging_steps=1", f"save_steps={10**6}"]
    sets += ["eval_steps=null", "data.heldout_blocks=0", "report_to=[]", "keep_checkpoints=false"]
    return [a for s in sets for a in ("--set", s)]


def run(name: str, out: Path, steps: int, strategy: str, procs: int) -> dict:
    emma = ["-m", "emma.cli", "-q", "train", str(TINY), "--out", str(out), *overrides(steps, 4 // procs, strategy)]
    if procs == 1:
        cmd = [sys.executable, *emma]
    else:
        torchrun = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(procs),
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            "29519",
        ]
        if CLUSTER.is_file():
            cmd = ["bash", str(CLUSTER), "--", *torchrun, *emma]
        else:
            cmd = ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "ns", *torchrun, *emma]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if procs > 1:
        env["OMP_NUM_THREADS"] = "1"
    from emma.models.load import cache_dir

    env.setdefault("TORCH_EXTENSIONS_DIR", str(cache_dir() / "torch_extensions"))
    print(f"running {name} ...", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
    info = json.loads((out / "train.json").read_text())
    info["wall_s"] = time.perf_counter() - start
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--strategies", default="ddp,fsdp,zero2,zero3")
    args = ap.parse_args()
    from safetensors.torch import load_file

    from emma.models.load import checkpoint_path

    checkpoint_path("smollm2-135m")  # de-quantise once, outside every run
    strategies = [s for s in args.strategies.split(",") if s]
    if any(s.startswith("zero") for s in strategies) and importlib.util.find_spec("deepspeed") is None:
        sys.exit("zero2/zero3 need DeepSpeed: bash scripts/setup.sh --with deepspeed (or leave them out with --strategies)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one = run("one process", Path(tmp) / "one", args.steps, "ddp", 1)
        ref_loss = [h["loss"] for h in one["log_history"] if "loss" in h]
        ref_w = load_file(str(Path(tmp) / "one" / "checkpoint" / "model.safetensors"))
        rows.append(("one process (batch 4)", one, 0.0, 0.0))
        for s in strategies:
            info = run(s, Path(tmp) / s, args.steps, s, 2)
            loss = [h["loss"] for h in info["log_history"] if "loss" in h]
            w = load_file(str(Path(tmp) / s / "checkpoint" / "model.safetensors"))
            dw = max(float((ref_w[k] - w[k]).abs().max()) for k in ref_w) if w.keys() == ref_w.keys() else float("nan")
            rows.append((f"{s}, 2 processes", info, max(abs(a - b) for a, b in zip(ref_loss, loss)), dw))
            del w
    n = one["parameters"]
    print(
        f"\nSmolLM2-135M ({n / 1e6:.1f}M parameters) fp32, UDHR 4 languages, block 128, global batch 4, {args.steps} steps "
        f"(loss logged every step), {os.cpu_count()} cores; 2 processes: torchrun, gloo, 1 thread each"
    )
    print(f"{'run':24} {'tokens/s':>9} {'x one':>6} {'max |dloss|':>12} {'max |dweight|':>14} {'params/process':>16} {'optim state/process':>20}")
    for name, info, dl, dw in rows:
        sh = info["sharding"]
        params = "/".join(f"{p / n:.2f}" for p in sh["parameters_per_process"])
        state = "/".join(f"{p / (2 * n):.2f}" for p in sh["optimizer_state_per_process"])
        print(
            f"{name:24} {info['tokens_per_s']:9.1f} {info['tokens_per_s'] / one['tokens_per_s']:6.2f} {dl:12.2e} {dw:14.2e} {params:>16} {state:>20}"
        )
    print(
        "\nparams/process and optim state/process: the share of the model's parameters and of AdamW's two moments each process holds.\n"
        "On CPU the point is correctness, not speed: every strategy must reproduce the one-process losses (to float rounding)\n"
        "and fsdp / zero3 must hold half the model per process. The 2-process runs share the same cores as the one process,\n"
        "and fsdp / zero add gathers and reduce-scatters over gloo for every layer: their tokens/s say little about GPUs,\n"
        "where each process has a device of its own and sharding is what lets a model fit."
    )


if __name__ == "__main__":
    main()
