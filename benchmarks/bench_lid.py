"""LID: the model `emma lid train` makes from SIB-200 train, scored on SIB-200 test over all 205
varieties, and next to py3langid on the languages both cover (py3langid restricted to those).

    pip install py3langid
    python benchmarks/bench_lid.py [--model /tmp/emma-lid.bin]   # trains it first when absent
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIB = ROOT.parent / "shared" / "data" / "sib200"
sys.path.insert(0, str(ROOT / "src"))


def macro_f1(gold: list[str], pred: list[str]) -> float:
    from emma.lid import evaluate_lid

    class Fixed:  # evaluate_lid takes a model; this one answers with given predictions
        def predict(self, texts, k=1):
            return [[f"__label__{p}"] for p in pred], [[1.0] for _ in pred]

    return evaluate_lid(Fixed(), list(zip(["x"] * len(gold), gold)))["macro_f1"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="/tmp/emma-lid.bin")
    args = ap.parse_args()
    if not SIB.is_dir():
        sys.exit(f"skipped: {SIB} is absent (../shared beside the checkout)")
    from emma.languages import normalize
    from emma.lid import evaluate_lid, load_labelled, load_lid, predict, train_lid

    train, test = load_labelled(SIB, "train"), load_labelled(SIB, "test")
    if not Path(args.model).is_file():
        start = time.perf_counter()
        train_lid(train, args.model)
        print(f"trained on {len(train)} sentences in {time.perf_counter() - start:.0f} s")
    model = load_lid(args.model)
    start = time.perf_counter()
    report = evaluate_lid(model, test)
    emma_s = time.perf_counter() - start
    print(
        f"emma LID on SIB-200 test: {len(report['per_language'])} varieties, {len(test)} sentences: "
        f"macro-F1 {report['macro_f1']:.4f}, accuracy {report['accuracy']:.4f} ({len(test) / emma_s:.0f} sentences/s)"
    )
    worst = sorted(report["per_language"].items(), key=lambda kv: kv[1]["f1"])[:8]
    print("lowest F1: " + ", ".join(f"{k} {v['f1']:.2f}" for k, v in worst))
    print("top confusions: " + ", ".join(f"{c} ({n})" for c, n in report["confusions"][:8]))
    try:
        import py3langid as langid
    except ImportError:
        sys.exit("py3langid is not installed (pip install py3langid): no comparison")
    ident = langid.langid._load_identifier()  # py3langid keeps its model loader private
    theirs = {}
    for code in ident.nb_classes:
        try:
            theirs[normalize(code)] = code
        except Exception:
            continue
    shared = sorted({lang for _, lang in test} & set(theirs))
    ident.set_languages([theirs[lang] for lang in shared])
    subset = [(t, lang) for t, lang in test if lang in theirs]
    back = {v: k for k, v in theirs.items()}
    start = time.perf_counter()
    lp = [back[ident.classify(t)[0]] for t, _ in subset]
    lp_s = time.perf_counter() - start
    ep = [p for p, _ in predict(model, [t for t, _ in subset])]
    gold = [lang for _, lang in subset]
    print(f"\non the {len(shared)} varieties both cover ({len(subset)} sentences; py3langid restricted to them, emma over all 205 labels):")
    print(f"  emma       macro-F1 {macro_f1(gold, ep):.4f}  accuracy {sum(a == b for a, b in zip(ep, gold)) / len(gold):.4f}")
    print(
        f"  py3langid  macro-F1 {macro_f1(gold, lp):.4f}  accuracy {sum(a == b for a, b in zip(lp, gold)) / len(gold):.4f}"
        f"  ({len(subset) / lp_s:.0f} sentences/s)"
    )


if __name__ == "__main__":
    main()
