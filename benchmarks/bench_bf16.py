"""bf16 autocast vs fp32 training on CPU, side by side: the demo's model, languages, blocks and
batch (SmolLM2-135M, UDHR in the demo's 24 languages, 4 x 256 tokens a step), the same seed and
data plan; each precision in its own process. Reports tokens/s (over `trainer.train()`, model load
excluded), the train loss at every logged step, and the held-out loss per language at the end.

    python benchmarks/bench_bf16.py [--steps 12]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def run(precision: str, steps: int, out: str) -> dict:
    from emma.recipes.demo import DEMO_LANGUAGES
    from emma.train import DataConfig, TrainConfig, train

    cfg = TrainConfig(
        model="smollm2-135m",
        steps=steps,
        batch_size=4,
        learning_rate=2e-4,
        warmup_steps=2,
        logging_steps=2,
        save_steps=10**6,
        report_to=[],
        mixed_precision=precision,
        data=DataConfig(udhr=list(DEMO_LANGUAGES), block_size=256, alpha=0.3, heldout_blocks=1),
    )
    info = train(cfg, out)
    return {
        "tokens_per_s": info["tokens_per_s"],
        "heldout_loss": info["heldout_loss"],
        "loss": [h["loss"] for h in info["log_history"] if "loss" in h],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--one", choices=["no", "bf16"])
    args = ap.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run(args.one, args.steps, tmp)))
        return
    res = {}
    for precision in ("no", "bf16"):
        p = subprocess.run([sys.executable, __file__, "--one", precision, "--steps", str(args.steps)], capture_output=True, text=True)
        if p.returncode:
            sys.exit(p.stderr[-3000:])
        res[precision] = json.loads(p.stdout.strip().splitlines()[-1])
    fp, bf = res["no"], res["bf16"]
    print(f"SmolLM2-135M, {args.steps} steps x 4 x 256 tokens, 24 UDHR languages, 2 threads")
    print(f"tokens/s: fp32 {fp['tokens_per_s']} | bf16 autocast {bf['tokens_per_s']} | ratio {bf['tokens_per_s'] / fp['tokens_per_s']:.2f}x")
    print("train loss fp32: " + " ".join(f"{x:.4f}" for x in fp["loss"]))
    print("train loss bf16: " + " ".join(f"{x:.4f}" for x in bf["loss"]))
    diffs = [abs(a - b) for a, b in zip(fp["loss"], bf["loss"])]
    print(f"max |train loss difference| {max(diffs):.4f}, mean {sum(diffs) / len(diffs):.4f}")
    hd = {k: bf["heldout_loss"][k] - v for k, v in fp["heldout_loss"].items()}
    print(
        f"held-out loss, mean over {len(hd)} languages: fp32 {sum(fp['heldout_loss'].values()) / len(hd):.4f} | "
        f"bf16 {sum(bf['heldout_loss'].values()) / len(hd):.4f}; largest per-language difference "
        f"{max(hd.values(), key=abs):+.4f} ({max(hd, key=lambda k: abs(hd[k]))})"
    )


if __name__ == "__main__":
    main()
