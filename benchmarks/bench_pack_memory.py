"""Peak memory of `emma corpus pack` and of the training data loader at 1x and 10x corpus size.

The corpus: every SIB-200/FLORES sentence (train+dev+test) of the first `--languages` languages in
../shared/data/sib200 as one document each, 1x, and the same repeated 10 times with distinct ids (10x). Each
measurement runs in its own process (peak RSS from `ru_maxrss`, model-free: only the tokenizer):
- `pack`: this checkout's streaming pack, and the previous one (the whole corpus as Python lists,
  read from git at PREVIOUS) on the same input, side by side;
- `loader`: `emma.train.data.shard_blocks` on the packed shards, then 2,000 planned blocks read
  the way the trainer reads them (PlanDataset + collate), as `emma train` does before its first step.

    python benchmarks/bench_pack_memory.py [--tokenizer smollm2-135m] [--scales 1 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIB = ROOT.parent / "shared" / "data" / "sib200"
PREVIOUS = "53b96f7"  # the last commit with the list-building pack
sys.path.insert(0, str(ROOT / "src"))


def write_corpus(path: Path, scale: int, languages: int) -> int:
    from emma.io import read_sib_tsv

    n = 0
    with open(path, "w", encoding="utf-8") as out:
        for folder in sorted(p for p in SIB.iterdir() if p.is_dir())[:languages]:
            rows = [r for split in ("train", "dev", "test") for r in read_sib_tsv(folder / f"{split}.tsv", "bench", pandas_na=False)]
            for copy in range(scale):
                for r in rows:
                    doc = {"id": f"{folder.name}-{r['index_id']}-{copy}", "text": r["text"], "lang": folder.name, "source": "flores"}
                    out.write(json.dumps(doc) + "\n")
                    n += 1
    return n


def child(args) -> dict:
    start = time.perf_counter()
    if args.child == "pack":
        from emma.corpus.pack import pack

        res = pack(args.input, args.tokenizer, args.out)
        out = {"tokens": res["tokens"]}
    elif args.child == "pack-previous":
        import importlib.util

        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{PREVIOUS}:src/emma/corpus/pack.py"], capture_output=True, text=True, check=True)
        file = Path(args.out).with_suffix(".previous_pack.py")
        file.write_text(source.stdout)
        spec = importlib.util.spec_from_file_location("previous_pack", file)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        res = module.pack(args.input, args.tokenizer, args.out)
        out = {"tokens": res["tokens"]}
    else:  # loader
        from emma.train.data import shard_blocks
        from emma.train.sampling import PlanDataset, collate_blocks, sample_plan

        blocks, weights, _, max_ids = shard_blocks(args.out, 512)
        plan = sample_plan(blocks, weights, 2000, 0)
        data, collate = PlanDataset(blocks, plan), collate_blocks(0)
        tokens = 0
        for i in range(0, len(plan), 8):
            tokens += int(collate([data[j] for j in range(i, min(i + 8, len(plan)))])["attention_mask"].sum())
        out = {"tokens": tokens}
    out["wall"] = time.perf_counter() - start
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default="smollm2-135m")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--languages", type=int, default=30, help="the first N SIB-200 languages (all: 205)")
    ap.add_argument("--child", choices=["pack", "pack-previous", "loader"], help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        Path(args.json).write_text(json.dumps(child(args)))
        return
    if not SIB.is_dir():
        sys.exit(f"skipped: {SIB} is absent (../shared beside the checkout)")
    from emma.models.load import checkpoint_path

    checkpoint_path(args.tokenizer)  # de-quantise once, outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            corpus = Path(tmp) / f"corpus{scale}.jsonl"
            docs = write_corpus(corpus, scale, args.languages)
            row = {"scale": scale, "documents": docs, "mb": corpus.stat().st_size / 1e6}
            for what in ("pack-previous", "pack", "loader"):
                out = Path(tmp) / f"shards{scale}" if what != "pack-previous" else Path(tmp) / f"previous{scale}"
                result = Path(tmp) / "result.json"
                cmd = [sys.executable, __file__, "--child", what, "--input", str(corpus), "--out", str(out), "--json", str(result)]
                print(f"{what} at {scale}x ({docs} documents) ...", flush=True)
                subprocess.run([*cmd, "--tokenizer", args.tokenizer], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                row[what] = json.loads(result.read_text())
            rows.append(row)
    print(f"\ntokenizer {args.tokenizer}; peak RSS in GB (10^9 bytes), each measurement in its own process")
    head = f"{'scale':>5}{'docs':>10}{'input MB':>10}{'tokens':>12}{'previous GB':>13}{'pack GB':>9}"
    print(head + f"{'pack tok/s':>12}{'prev tok/s':>12}{'loader GB':>11}")
    for r in rows:
        p, q, loader = r["pack"], r["pack-previous"], r["loader"]
        print(
            f"{r['scale']:>5}{r['documents']:>10}{r['mb']:>10.1f}{p['tokens']:>12}{q['peak_rss_gb']:>13.3f}{p['peak_rss_gb']:>9.3f}"
            f"{p['tokens'] / p['wall']:>12.0f}{q['tokens'] / q['wall']:>12.0f}{loader['peak_rss_gb']:>11.3f}"
        )


if __name__ == "__main__":
    main()
