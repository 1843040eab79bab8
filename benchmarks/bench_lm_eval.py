"""emma eval vs lm-evaluation-harness, side by side on the same model, data and prompt.

Two log-likelihood task families, each 0-shot or k-shot, on a small-vocabulary model (SmolLM2,
49k) and a large-vocabulary one (Gemma 3, 262k):
- `topic`: SIB-200 topic classification (7 labels, long contexts) from the local Davlan/sib200
  layout in ../shared/data/sib200. For lm-eval it is written as a task YAML (the `csv` builder over
  the local TSV, first_n shots from the test split, emma's prompt).
- `two-choice`: XCOPA-style two-choice items with short contexts, built here from the same
  FLORES sentences (a premise of 8 words, "so", and the next sentence's first 8 words against
  another's), run by emma's `mc` task and by lm-eval as a `json` task YAML with the same text.
emma runs with lm-eval's item and shot choice (`limit_mode="first"`, `shot_pool="lm-eval"`: the
first N test rows, each shown the first k other test rows), so both score exactly the same
requests. Each side runs in its own process (wall time, model load included, and peak RSS
measured separately). Prints both scores, the largest per-choice log-likelihood difference, and
the wall-time and memory ratios; `--suite` runs every family x model x shots in one run.

    pip install 'emma[bench]'   # lm-eval==0.4.13
    python benchmarks/bench_lm_eval.py --model gemma3-270m --lang eng_Latn --shots 3 --limit 100
    python benchmarks/bench_lm_eval.py --suite
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
            "dataset_kwargs": {"data_files": {"test": str(test_tsv)}, "delimiter": "\t"},  # CSV quoting as the file has it (pandas), as emma reads it
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


def two_choice_items(lang: str, n: int = 300) -> list[dict]:
    """XCOPA-style items from FLORES sentences: short premise + " so", the true next sentence's start
    against another sentence's start (answer position alternates)."""
    from emma.io import read_sib_tsv

    sentences = [r["text"].strip() for split in ("test", "dev", "train") for r in read_sib_tsv(SIB / lang / f"{split}.tsv", "two-choice")]
    items = []
    for i in range(min(n, len(sentences) - 8)):
        premise = " ".join(sentences[i].split()[:8]).rstrip(".,;:") + " so"
        right, wrong = (" ".join(sentences[j].split()[:8]) for j in (i + 1, i + 7))
        choices = [right, wrong] if i % 2 == 0 else [wrong, right]
        items.append({"id": str(i), "context": premise, "choices": choices, "answer": i % 2})
    return items


def two_choice_yaml(name: str, path: Path) -> str:
    import yaml

    return yaml.safe_dump(
        {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(path)}},
            "output_type": "multiple_choice",
            "test_split": "test",
            "fewshot_split": "test",
            "fewshot_config": {"sampler": "first_n"},
            "doc_to_text": "{{context}}",
            "doc_to_choice": "{{choices}}",
            "doc_to_target": "{{answer}}",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        },
        sort_keys=False,
    )


def write_two_choice(folder: Path, lang: str) -> Path:
    path = folder / f"{lang}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in two_choice_items(lang)), encoding="utf-8")
    return path


def run_lm_eval(args) -> dict:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.tasks import TaskManager

    from emma.models.load import checkpoint_path

    path = checkpoint_path(args.model)[1]
    name = f"emma_{args.family.replace('-', '_')}_{args.lang}"
    with tempfile.TemporaryDirectory() as tmp:
        if args.family == "topic":
            text = task_yaml(name, SIB / args.lang / "test.tsv")
        else:
            text = two_choice_yaml(name, write_two_choice(Path(tmp), args.lang))
        Path(tmp, f"{name}.yaml").write_text(text, encoding="utf-8")
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
        "ids": [str(s["doc"]["index_id" if args.family == "topic" else "id"]) for s in samples],
    }


def run_emma(args) -> dict:
    from emma.eval.data import TaskOptions
    from emma.eval.harness import evaluate

    task = "sib200" if args.family == "topic" else "mc"
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as data:
        if args.family == "two-choice":
            write_two_choice(Path(data), args.lang)
        start = time.perf_counter()
        scores = evaluate(
            [args.model],
            [task],
            tmp,
            langs=args.lang,
            data_dir=str(SIB) if args.family == "topic" else data,
            batch_size=args.batch_size,
            # lm-eval's --limit (the first N rows) and its first_n shots from the test split, so both sides
            # score the same items with the same prompts (emma's defaults sample both, seeded)
            options=TaskOptions(shots=args.shots, limit=args.limit, limit_mode="first", shot_pool="lm-eval"),
        )
        wall = time.perf_counter() - start
        s = next(iter(scores.values()))[task][args.lang]
        samples = [json.loads(line) for line in next(Path(tmp).glob(f"*/{task}/{args.lang}.jsonl")).read_text().splitlines()]
    return {
        "wall": wall,
        "acc": s["acc"],
        "acc_norm": s["acc_norm"],
        "loglikelihoods": [x["loglikelihoods"] for x in samples],
        "ids": [str(x["id"]) for x in samples],
    }


SUITE = [  # (family, model, shots, limit): every family 0-shot and k-shot, small and large vocabulary
    ("topic", "gemma3-270m", 3, 100),  # the reference workload (issue 3, issue 12)
    ("topic", "gemma3-270m", 0, 100),
    ("topic", "smollm2-135m", 3, 100),
    ("topic", "smollm2-135m", 0, 100),
    ("two-choice", "smollm2-135m", 0, 200),
    ("two-choice", "smollm2-135m", 3, 200),
    ("two-choice", "gemma3-270m", 0, 200),
    ("two-choice", "gemma3-270m", 3, 200),
]


def run_pair(args, family: str, model: str, shots: int, limit: int) -> dict:
    """Both sides on one workload, each in its own process; returns the comparison row."""
    from emma.models.load import checkpoint_path

    checkpoint_path(model)  # de-quantise once, outside both timings
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for side in ("emma", "lm-eval"):
            path = Path(tmp) / f"{side}.json"
            cmd = [sys.executable, __file__, "--child", side, "--json", str(path), "--family", family, "--model", model]
            cmd += ["--lang", args.lang, "--shots", str(shots), "--limit", str(limit), "--batch-size", str(args.batch_size)]
            print(f"running {side} on {family} {model} {shots}-shot x {limit} ...", flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            results[side] = json.loads(path.read_text())
    e, m = results["emma"], results["lm-eval"]
    if e["ids"] != m["ids"]:
        sys.exit(f"not comparable: emma scored items {e['ids'][:5]}..., lm-eval {m['ids'][:5]}...")
    diffs = [abs(a - b) for x, y in zip(e["loglikelihoods"], m["loglikelihoods"]) for a, b in zip(x, y)]
    same = sum(
        max(range(len(x)), key=x.__getitem__) == max(range(len(y)), key=y.__getitem__) for x, y in zip(e["loglikelihoods"], m["loglikelihoods"])
    )
    return {"family": family, "model": model, "shots": shots, "items": len(e["ids"]), "emma": e, "lm-eval": m, "diff": max(diffs), "same": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=["topic", "two-choice"], default="topic")
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--lang", default="eng_Latn")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--suite", action="store_true", help="every family x model x shots (SUITE), one table")
    ap.add_argument("--child", choices=["emma", "lm-eval"], help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not (SIB / args.lang / "test.tsv").is_file():
        sys.exit(f"skipped: {SIB / args.lang / 'test.tsv'} is absent (../shared beside the checkout)")
    if args.child:
        out = run_emma(args) if args.child == "emma" else run_lm_eval(args)
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # decimal GB
        Path(args.json).write_text(json.dumps(out))
        return
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        sys.exit("lm-eval is not installed: pip install 'emma[bench]' (lm-eval==0.4.13)")
    rows = []
    for w in SUITE if args.suite else [(args.family, args.model, args.shots, args.limit)]:
        rows.append(run_pair(args, *w))
        r = rows[-1]  # each row as it comes: a long suite cut short still leaves its figures
        print(f"  {r['family']} {r['model']} {r['shots']}-shot: emma {r['emma']['wall']:.1f} s, lm-eval {r['lm-eval']['wall']:.1f} s", flush=True)
    print(f"\n{args.lang}, fp32, batch {args.batch_size}, each side in its own process (model load included); GB = 10^9 bytes peak RSS")
    head = f"{'family':12}{'model':14}{'shots':>6}{'items':>6}{'emma s':>9}{'lm-eval s':>10}{'speed-up':>9}"
    print(head + f"{'emma GB':>9}{'lm-eval GB':>11}{'acc e/l':>13}{'max |dLL|':>11}{'same pred':>10}")
    for r in rows:
        e, m = r["emma"], r["lm-eval"]
        print(
            f"{r['family']:12}{r['model']:14}{r['shots']:>6}{r['items']:>6}{e['wall']:9.1f}{m['wall']:10.1f}{m['wall'] / e['wall']:8.1f}x"
            f"{e['peak_rss_gb']:9.2f}{m['peak_rss_gb']:11.2f}{e['acc']:7.3f}/{m['acc']:.3f}{r['diff']:11.1e}{r['same']:>6}/{r['items']}"
        )


if __name__ == "__main__":
    main()
