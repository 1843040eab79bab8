"""Data and result audits behind figures quoted in RESULTS.md and the README, rerunnable:

1. SIB-200/FLORES (../shared/data/sib200): files, texts whose CSV quoting `read_sib_tsv` decodes
   (a plain quote-as-text read keeps it), and rows that differ from pandas' `read_csv` (if installed);
2. Simplified/Traditional detection on SIB-200's Chinese test sentences;
3. with `--demos REF OTHER...`: per-language relative NLL drop of each demo `results.json` against REF.

    python benchmarks/audit_data.py [--demos /tmp/demo-before /tmp/demo-after /tmp/demo-seed1]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SIB = ROOT.parent / "shared" / "data" / "sib200"


def sib_quotes() -> None:
    from emma.io import read_sib_tsv, read_tsv

    try:
        import pandas as pd
    except ImportError:
        pd = None
    files = changed = mismatched = 0
    for folder in sorted(p for p in SIB.iterdir() if p.is_dir()):
        for split in ("train", "dev", "test"):
            path = folder / f"{split}.tsv"
            ours = read_sib_tsv(path, "audit", pandas_na=False)
            files += 1
            changed += sum(a["text"] != b["text"] for a, b in zip(ours, read_tsv(path, "audit")))
            if pd is not None:
                frame = pd.read_csv(path, delimiter="\t", index_col="index_id", keep_default_na=False)
                theirs = [(str(i), r["category"], r["text"]) for i, r in frame.iterrows()]
                mismatched += theirs != [(r["index_id"], r["category"], r["text"]) for r in ours]
    print(
        f"SIB-200: {files} files; {changed} texts decoded from CSV quoting; "
        + (f"{mismatched} files differ from pandas' read_csv" if pd is not None else "pandas not installed: no comparison")
    )


def chinese_scripts() -> None:
    from emma.io import read_sib_tsv
    from emma.languages import detect_script

    for lang in ("zho_Hant", "yue_Hant", "zho_Hans"):
        counts = Counter(detect_script(r["text"]) for r in read_sib_tsv(SIB / lang / "test.tsv", "audit", pandas_na=False))
        print(f"{lang} test sentences detected as: {dict(counts.most_common())}")


def demos(paths: list[str]) -> None:
    def drops(p: str) -> dict[str, float]:
        langs = json.loads((Path(p) / "results.json").read_text())["languages"]
        return {k: (v["nll_before"] - v["nll_after"]) / v["nll_before"] for k, v in langs.items()}

    ref = drops(paths[0])
    for other in paths[1:]:
        d = drops(other)
        diff = [100 * (d[k] - ref[k]) for k in ref if k in d]
        print(
            f"{other} vs {paths[0]}: max |difference| {max(map(abs, diff)):.1f} points, mean |difference| "
            f"{sum(map(abs, diff)) / len(diff):.2f}, mean drop {100 * sum(d.values()) / len(d):.1f} % vs {100 * sum(ref.values()) / len(ref):.1f} %"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--demos", nargs="+", help="demo output folders: the first is the reference")
    args = ap.parse_args()
    if not SIB.is_dir():
        sys.exit(f"{SIB} is absent: the SIB-200 audits need ../shared beside the checkout")
    sib_quotes()
    chinese_scripts()
    if args.demos:
        demos(args.demos)


if __name__ == "__main__":
    main()
