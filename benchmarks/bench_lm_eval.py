"""emma eval vs lm-evaluation-harness, side by side on the same model, data and prompt.

The task is SIB-200 topic classification, k-shot, from the local Davlan/sib200 layout in
../shared/data/sib200. For lm-eval it is written as a task YAML (the `csv` builder over the local
TSV, first_n shots from the test split, emma's prompt), and emma is run with lm-eval's item and shot
choice (`limit_mode="first"`, `shot_pool="lm-eval"`: the first N test rows, each shown the first k
other test rows), so both score exactly the same requests. (SIB-200's test file is sorted by topic:
these first rows are one topic, which is why emma's defaults sample items and shots instead.)
Each side runs in its own process (wall time and peak RSS measured separately). Prints both
scores, the largest per-choice log-likelihood difference, and the wall-time and memory ratios.

    pip install 'emma[bench]'   # lm-eval==0.4.13
    python benchmarks/bench_lm_eval.py --model gemma3-270m --lang eng_Latn --shots 3 --limit 100
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIB = ROOT.parent / "shared" / "data" / "sib200"
sys.path.insert(0, str(ROOT / "src"))


def task_yaml(name: str, test_tsv: Path) -> str:
    import yaml

    from emma.eval.tasks.topic import SIB200_LABELS, prompt

    return yaml.safe_dump(
        {
            "task": name,
            "dataset_path": "csv",
            "dataset_kwargs": {"data_files": {"test": str(test_tsv)}, "delimiter": "\t", "quoting": 3},
            "output_type": "multiple_choice",
            "test_split": "test",
            "fewshot_split": "test",
            "fewshot_config": {"sampler": "first_n"},
            "doc_to_text": prompt("{{text.strip()}}"),  # emma's prompt, with lm-eval's template in the text slot
            "doc_to_choice": SIB200_LABELS,
            "doc_to_target": "{{" + repr(SIB200_LABELS) + ".index(category)}}",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        },
        allow_unicode=True,
        sort_keys=False,
    )


def run_lm_eval(args) -> dict:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.tasks import TaskManager

    from emma.models.load import checkpoint_path

    path = checkpoint_path(args.model)[1]
    name = f"emma_sib200_{args.lang}"
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, f"{name}.yaml").write_text(task_yaml(name, SIB / args.lang / "test.tsv"), encoding="utf-8")
        start = time.perf_counter()
        res = lm_eval.simple_evaluate(
            model="hf",
            model_args=f"pretrained={path},dtype=float32",
            tasks=[name],
            num_fewshot=args.shots,
            limit=args.limit,
            batch_size=args.batch_size,
            device="cpu",
            task_manager=TaskManager(include_path=tmp),
            log_samples=True,
        )
        wall = time.perf_counter() - start
    samples = sorted(res["samples"][name], key=lambda s: s["doc_id"])
    return {
        "wall": wall,
        "acc": res["results"][name]["acc,none"],
        "acc_norm": res["results"][name]["acc_norm,none"],
        "loglikelihoods": [[float(r[0][0]) for r in s["resps"]] for s in samples],
        "ids": [str(s["doc"]["index_id"]) for s in samples],
    }


def run_emma(args) -> dict:
    from emma.eval.data import TaskOptions
    from emma.eval.harness import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        scores = evaluate(
            [args.model],
            ["sib200"],
            tmp,
            langs=args.lang,
            data_dir=str(SIB),
            batch_size=args.batch_size,
            # lm-eval's --limit (the first N rows) and its first_n shots from the test split, so both sides
            # score the same items with the same prompts (emma's defaults sample both, seeded)
            options=TaskOptions(shots=args.shots, limit=args.limit, limit_mode="first", shot_pool="lm-eval"),
        )
        wall = time.perf_counter() - start
        s = next(iter(scores.values()))["sib200"][args.lang]
        samples = [json.loads(line) for line in next(Path(tmp).glob(f"*/sib200/{args.lang}.jsonl")).read_text().splitlines()]
    return {
        "wall": wall,
        "acc": s["acc"],
        "acc_norm": s["acc_norm"],
        "loglikelihoods": [x["loglikelihoods"] for x in samples],
        "ids": [str(x["id"]) for x in samples],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--lang", default="eng_Latn")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--child", choices=["emma", "lm-eval"], help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not (SIB / args.lang / "test.tsv").is_file():
        sys.exit(f"skipped: {SIB / args.lang / 'test.tsv'} is absent (../shared beside the checkout)")
    if args.child:
        out = run_emma(args) if args.child == "emma" else run_lm_eval(args)
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        Path(args.json).write_text(json.dumps(out))
        return
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        sys.exit("lm-eval is not installed: pip install 'emma[bench]' (lm-eval==0.4.13)")
    from emma.models.load import checkpoint_path

    checkpoint_path(args.model)  # de-quantise once, outside both timings
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("emma", "lm-eval"):
            path = Path(tmp) / f"{side}.json"
            cmd = [
                sys.executable,
                __file__,
                "--child",
                side,
                "--json",
                str(path),
                "--model",
                args.model,
                "--lang",
                args.lang,
                "--shots",
                str(args.shots),
                "--limit",
                str(args.limit),
                "--batch-size",
                str(args.batch_size),
            ]
            print(f"running {side} ...", flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            results[side] = json.loads(path.read_text())
    e, m = results["emma"], results["lm-eval"]
    if e["ids"] != m["ids"]:
        sys.exit(f"not comparable: emma scored items {e['ids'][:5]}..., lm-eval {m['ids'][:5]}...")
    diffs = [abs(a - b) for x, y in zip(e["loglikelihoods"], m["loglikelihoods"]) for a, b in zip(x, y)]
    same_pred = sum(
        max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__) for x, y in zip(e["loglikelihoods"], m["loglikelihoods"])
    )
    print(f"\nSIB-200 {args.lang}, {args.shots}-shot, {args.limit} items x 7 labels, {args.model} fp32, batch {args.batch_size}")
    print(f"{'':10}{'wall s':>9}{'peak GB':>9}{'acc':>8}{'acc_norm':>10}")
    for side, r in (("emma", e), ("lm-eval", m)):
        print(f"{side:10}{r['wall']:9.1f}{r['peak_rss_gb']:9.2f}{r['acc']:8.3f}{r['acc_norm']:10.3f}")
    print(
        f"speed-up {m['wall'] / e['wall']:.1f}x, memory {m['peak_rss_gb'] / e['peak_rss_gb']:.1f}x less; "
        f"max |loglik diff| {max(diffs):.2e} over {len(diffs)} choices; same prediction on {same_pred}/{len(e['loglikelihoods'])} items"
    )


if __name__ == "__main__":
    main()
