"""`emma train` throughput, side by side with a plain `transformers.Trainer` on the same model,
data and batch; the FLOP/s it achieves against this CPU's measured matmul FLOP/s; 1 vs 2 processes.

Each run is its own process. Data: the UDHR in the four languages of configs/train_tiny.yaml,
blocks of 128 tokens, 2 blocks per step per process, fp32, SmolLM2-135M; tokens/s is measured
over `trainer.train()` only (model load excluded), with no checkpoint saved inside the window.

    python benchmarks/bench_train.py [--steps 10]
"""

from __future__ import annotations

import argparse
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


def overrides(steps: int) -> list[str]:
    return [f"steps={steps}", f"save_steps={10**6}", "eval_steps=null", "report_to=[]", "data.heldout_blocks=0", "warmup_steps=0"]


def run_emma(steps: int, out: str) -> dict:
    from emma.train.config import load_config
    from emma.train.run import train

    info = train(load_config(TINY, overrides(steps)), out)
    return {
        "tokens_per_s": info["tokens_per_s"],
        "parameters": info["parameters"],
        "peak_flops": info["peak_flops"],
        "world_size": info["world_size"],
    }


def run_plain(steps: int) -> dict:
    """The same blocks and plan, a plain Trainer with default settings around it."""
    import torch
    from transformers import Trainer, TrainingArguments

    from emma.models import load_model
    from emma.train.config import load_config
    from emma.train.data import tokenize_blocks, udhr_documents
    from emma.train.sampling import PlanDataset, collate_blocks, language_weights, sample_plan

    cfg = load_config(TINY, overrides(steps))
    lm = load_model(cfg.model)
    blocks = tokenize_blocks(udhr_documents(cfg.data.udhr, None), lm.tokenizer, cfg.data.block_size)
    weights = language_weights({k: sum(map(len, v)) for k, v in blocks.items()}, cfg.data.alpha)
    plan = sample_plan(blocks, weights, steps * cfg.batch_size, cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            max_steps=steps,
            per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            logging_steps=10**6,
            disable_tqdm=True,
            remove_unused_columns=False,
            seed=cfg.seed,
        )
        trainer = Trainer(model=lm.model, args=args, train_dataset=PlanDataset(blocks, plan), data_collator=collate_blocks(lm.tokenizer.pad_token_id))
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    tokens = sum(len(blocks[lang][b]) for lang, b in plan)
    return {"tokens_per_s": tokens / wall, "threads": torch.get_num_threads()}


def child(kind: str, steps: int, out_json: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        res = run_plain(steps) if kind == "plain" else run_emma(steps, tmp)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(out_json).write_text(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--child", choices=["plain", "emma"], help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.json)
        return
    from emma.models.load import checkpoint_path

    checkpoint_path("smollm2-135m")  # de-quantise once, outside every timing
    res = {}
    with tempfile.TemporaryDirectory() as tmp:

        def go(name, prefix, kind, env=None):
            path = Path(tmp) / f"{name}.json"
            print(f"running {name} ...", flush=True)
            subprocess.run(
                [*prefix, __file__, "--child", kind, "--steps", str(args.steps), "--json", str(path)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
            res[name] = json.loads(path.read_text())

        go("plain", [sys.executable], "plain")
        go("emma", [sys.executable], "emma")
        go(
            "emma-2proc",
            [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547"],
            "emma",
            {"OMP_NUM_THREADS": "1"},
        )
    e, p, d = res["emma"], res["plain"], res["emma-2proc"]
    flops = 6 * e["parameters"]
    print(f"\nSmolLM2-135M fp32, UDHR 4 languages, block 128 x batch 2 per process, {args.steps} steps, {os.cpu_count()} cores")
    print(f"plain transformers.Trainer : {p['tokens_per_s']:8.1f} tokens/s")
    print(f"emma train                 : {e['tokens_per_s']:8.1f} tokens/s   ratio emma/plain {e['tokens_per_s'] / p['tokens_per_s']:.2f}")
    print(
        f"emma train, 2 processes    : {d['tokens_per_s']:8.1f} tokens/s   ratio 2 proc/1 proc {d['tokens_per_s'] / e['tokens_per_s']:.2f}"
        " (DDP over gloo, 1 thread each)"
    )
    achieved = e["tokens_per_s"] * flops
    print(
        f"achieved {achieved / 1e9:.1f} GFLOP/s (6 x {e['parameters'] / 1e6:.0f}M params a token) vs measured fp32 matmul "
        f"{e['peak_flops'] / 1e9:.1f} GFLOP/s: MFU {achieved / e['peak_flops']:.1%}"
    )


if __name__ == "__main__":
    main()
