"""`emma corpus build` on its three executors, on the same config, in one run: local (datatrove's
LocalPipelineExecutor, `workers` processes), Slurm (a job array per stage, on the one-node cluster of
scripts/local-cluster.sh) and Ray (a local Ray head, same script). Documents per second are the
documents the build read (kept + rejected) over the command's wall time; the three builds' kept
documents, rejects and stats.json are compared (file paths of the output folder aside).

On one 2-core machine the cluster executors measure their overhead (job submission and start,
Python start-up and unpickling per task, Ray's placement groups), not scale.

    python benchmarks/bench_corpus_executors.py [--config configs/corpus_tiny.yaml] [--keep-tokenizer]

By default the config's tokenizer is dropped (counting tokens runs in the submitting process after
the pipeline, the same for every executor, and would only dilute the comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EMMA = str(Path(sys.executable).with_name("emma"))
COMPARED = ("final", "rejects", "filtered", "deduped_exact")


def contents(out: Path) -> dict[str, bytes]:
    found = {}
    for folder in COMPARED:
        for p in sorted((out / folder).rglob("*")):
            if p.is_file():
                found[str(p.relative_to(out))] = p.read_bytes().replace(str(out).encode(), b"OUT")
    found["stats.json"] = (out / "stats.json").read_bytes()
    return found


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"})
    took = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{res.stderr[-3000:]}")
    return took, res.stderr


def inside(cfg: Path, root: Path) -> None:
    """Run in the cluster: the Slurm and the Ray build, one after the other; their wall times to root/cluster.json."""
    times = {}
    for kind, extra in (("slurm", ["--time", "60"]), ("ray", [])):
        took, _ = timed([EMMA, "corpus", "build", str(cfg), "--out", str(root / kind), "--executor", kind, *extra])
        times[kind] = took
    (root / "cluster.json").write_text(json.dumps(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs" / "corpus_tiny.yaml"))
    ap.add_argument("--keep-tokenizer", action="store_true")
    ap.add_argument("--inside", help=argparse.SUPPRESS)  # the run inside local-cluster.sh: its folder
    args = ap.parse_args()
    if args.inside:
        inside(Path(args.inside) / "corpus.yaml", Path(args.inside))
        return
    with tempfile.TemporaryDirectory(prefix="emma-bench-exec-") as tmp:
        root = Path(tmp)
        cfg = yaml.safe_load(Path(args.config).read_text())
        if not args.keep_tokenizer:
            cfg.pop("tokenizer", None)
        base = Path(args.config).resolve().parent
        for src in cfg["sources"]:  # the config's relative paths are relative to where it is run from: the checkout
            if src.get("path") and "://" not in src["path"] and not Path(src["path"]).is_absolute():
                src["path"] = str((ROOT / src["path"]).resolve()) if (ROOT / src["path"]).exists() else str((base / src["path"]).resolve())
        (root / "corpus.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        local_s, _ = timed([EMMA, "corpus", "build", str(root / "corpus.yaml"), "--out", str(root / "local")])
        start = time.perf_counter()
        cluster_cmd = ["bash", str(ROOT / "scripts" / "local-cluster.sh"), "--slurm", "--ray", "--"]
        _, err = timed([*cluster_cmd, sys.executable, __file__, "--inside", str(root)])
        whole = time.perf_counter() - start
        up = float(m.group(1)) if (m := re.search(r"local-cluster: up in ([\d.]+) s", err)) else float("nan")
        cluster = json.loads((root / "cluster.json").read_text())
        stats = json.loads((root / "local" / "stats.json").read_text())
        read = stats["totals"]["documents"] + sum(stats["rejected"].values())
        ref = contents(root / "local")
        note = "" if args.keep_tokenizer else " (no tokenizer)"
        print(f"config: {args.config}{note}; tasks {cfg.get('tasks', 2)}, workers {cfg.get('workers', 2)}")
        print(f"documents read {read}, kept {stats['totals']['documents']} in {len(stats['languages'])} languages; cpus {os.cpu_count()}")
        print(f"{'executor':<10}{'wall s':>9}{'docs/s':>10}{'vs local':>10}  same files as local")
        for kind, took in (("local", local_s), ("slurm", cluster["slurm"]), ("ray", cluster["ray"])):
            same = "-" if kind == "local" else ("yes" if contents(root / kind) == ref else "NO")
            print(f"{kind:<10}{took:>9.1f}{read / took:>10.0f}{took / local_s:>9.2f}x  {same}")
        print(f"cluster start (munge, slurmctld, slurmd, ray head): {up:.1f} s; the whole cluster run {whole:.1f} s")
        for kind in ("local", "ray"):
            t = json.loads((root / kind / "timings.json").read_text())
            print(f"{kind} per stage s: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))


if __name__ == "__main__":
    main()
