"""`emma corpus build` on 2 cores: documents per second per stage over the SIB-200/FLORES sentences
of all 205 varieties (train+dev+test, 205k documents) plus the UDHR, side by side with the same
datatrove blocks run bare (reader -> writer; exact and MinHash dedup with a plain whitespace word
tokenizer); and MinHash near-duplicate precision/recall on planted near-duplicates.

    python benchmarks/bench_corpus.py [--planted 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIB = ROOT.parent / "shared" / "data" / "sib200"
sys.path.insert(0, str(ROOT / "src"))


def make_input(folder: Path, planted: int, seed: int = 0) -> tuple[Path, set[str], int]:
    """All SIB-200 sentences as JSONL, plus `planted` near-copies (1-2 words changed) of longer ones."""
    from emma.io import read_tsv

    rng = random.Random(seed)
    rows = []
    for lang_dir in sorted(p for p in SIB.iterdir() if p.is_dir()):
        for split in ("train", "dev", "test"):
            for r in read_tsv(lang_dir / f"{split}.tsv", "bench", required=("text",)):
                rows.append({"id": f"{lang_dir.name}/{split}/{r['index_id']}", "text": r["text"], "lang": lang_dir.name})
    seen, unique = set(), []
    for r in rows:
        key = " ".join(r["text"].lower().split())
        if key not in seen and len(r["text"].split()) >= 25 and r["lang"].endswith("_Latn"):
            seen.add(key)
            unique.append(r)
    copies = set()
    for r in rng.sample(unique, planted):
        words = r["text"].split()
        for _ in range(rng.choice((1, 2))):
            words[rng.randrange(len(words))] = rng.choice(("indeed", "also", "then", "however"))
        cid = r["id"] + "#near"
        copies.add(cid)
        rows.append({"id": cid, "text": " ".join(words), "lang": r["lang"]})
    rng.shuffle(rows)
    path = folder / "input.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path, copies, len(rows)


def bare_datatrove(inp: Path, out: Path) -> dict:
    """The same datatrove dedup blocks with nothing of emma's around them."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, ExactDedupSignature, ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Split(WordTokenizer):  # datatrove's own English tokenizer needs spaCy
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    def text_of(doc) -> str:
        return " ".join(doc.text.lower().split())

    h = HashConfig(hash_fc="sha1")  # xxhash 4.1 rejects str
    ex = ExactDedupConfig(content_getter=text_of, hash_config=h)
    mh = MinhashConfig(hash_config=h)
    times = {}

    def run(name, pipeline, tasks=2):
        start = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(2, tasks), logging_dir=str(out / "logs" / name)).run()
        times[name] = time.perf_counter() - start

    def reader(folder):
        return JsonlReader(str(folder), glob_pattern="*.jsonl", compression=None)

    def writer(folder):
        return JsonlWriter(str(folder), output_filename="${rank}.jsonl", compression=None)

    run("1_filter", [JsonlReader(str(inp.parent), glob_pattern=inp.name, compression=None), writer(out / "read")])
    run("2_exact_sigs", [reader(out / "read"), ExactDedupSignature(str(out / "es"), ex)])
    run("2_exact_find", [ExactFindDedups(str(out / "es"), str(out / "ed"), ex)], 1)
    run("2_exact_filter", [reader(out / "read"), ExactDedupFilter(str(out / "ed"), ex), writer(out / "exact")])
    run("3_mh_sigs", [reader(out / "exact"), MinhashDedupSignature(str(out / "ms"), mh, language=Split("x"))])
    run("3_mh_buckets", [MinhashDedupBuckets(str(out / "ms"), str(out / "mb"), config=mh)], mh.num_buckets)
    run("3_mh_cluster", [MinhashDedupCluster(str(out / "mb"), str(out / "mr"), config=mh)], 1)
    run("3_mh_filter", [reader(out / "exact"), MinhashDedupFilter(str(out / "mr")), writer(out / "final")])
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planted", type=int, default=2000)
    ap.add_argument("--ngrams", type=int, default=5, help="MinHash shingle size for emma's build (datatrove's default: 5)")
    args = ap.parse_args()
    if not SIB.is_dir():
        sys.exit(f"skipped: {SIB} is absent (../shared beside the checkout)")
    import yaml

    from emma.corpus.build import build, load_build_config

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inp, planted, n = make_input(tmp, args.planted)
        print(f"{n} documents ({args.planted} planted near-duplicates)", flush=True)
        cfg = tmp / "c.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {"sources": [{"name": "sib", "type": "jsonl", "path": str(inp)}], "tasks": 2, "workers": 2, "dedup": {"n_grams": args.ngrams}}
            )
        )
        start = time.perf_counter()
        stats = build(load_build_config(cfg), tmp / "emma")
        emma_total = time.perf_counter() - start
        emma_t = json.loads((tmp / "emma" / "timings.json").read_text())
        removed = {
            json.loads(line)["id"]
            for f in (tmp / "emma" / "rejects" / "near_dup").glob("*.jsonl")
            for line in f.read_text(encoding="utf-8").splitlines()
        }
        start = time.perf_counter()
        bare_t = bare_datatrove(inp, tmp / "bare")
        bare_total = time.perf_counter() - start
    print(f"\n{'stage':16}{'emma s':>9}{'docs/s':>10}{'bare s':>9}{'docs/s':>10}{'ratio':>7}")
    for stage in emma_t:
        e, b = emma_t[stage], bare_t.get(stage)
        print(f"{stage:16}{e:9.1f}{n / e:10.0f}" + (f"{b:9.1f}{n / b:10.0f}{b / e:7.2f}" if b else ""))
    print(f"{'total':16}{emma_total:9.1f}{n / emma_total:10.0f}{bare_total:9.1f}{n / bare_total:10.0f}{bare_total / emma_total:7.2f}")
    print("(emma's 1_filter reads, normalises codes, checks scripts and cleans; the bare one only reads and writes)")
    print(f"kept {stats['totals']['documents']} documents in {len(stats['languages'])} languages; rejected: {stats['rejected']}")
    # A planted pair is caught when either side is removed (MinHash keeps one document of a cluster).
    originals = {c.removesuffix("#near") for c in planted}
    caught = {c for c in planted if c in removed or c.removesuffix("#near") in removed}
    in_pairs = len([r for r in removed if r in planted or r in originals])
    print(
        f"near-duplicates: removed {len(removed)}; planted pairs caught {len(caught)}/{len(planted)}: recall {len(caught) / len(planted):.3f}; "
        f"precision {in_pairs / max(1, len(removed)):.3f} (removed documents from planted pairs; the others may be real "
        f"near-duplicates in FLORES, e.g. varieties sharing sentences)"
    )


if __name__ == "__main__":
    main()
