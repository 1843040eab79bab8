"""`emma corpus pack`: tokenise documents and write one flat token stream per language (uint32
`.npy`, documents separated by EOS, so boundaries are kept) with `packed.yaml` (tokens, documents
and the largest token id per language and source) and a `manifest.yaml` that `emma train` reads
directly (`data.shards`); `emma corpus mix` rewrites its weights.

Input: JSONL with `text` and `lang` (and optionally `source`; or both inside `metadata`, as `emma
corpus build` writes them), one document a line, or a folder of such files.

Memory does not grow with the corpus: a first pass only checks every line and counts documents
per language; then datatrove's executor runs `tasks` pack tasks over the input files (file `i` goes
to task `i mod tasks`), each tokenising batches of documents and appending each language's ids to
its own part file on disk; last, each language's parts are copied, in task order, into its `.npy`.
datatrove's `DocumentTokenizer` is not used: it writes one shuffled `.ds` stream per task, not one
per language, and emma's mix samples by language; the ids here are those `emma train` itself
would produce (the model's tokenizer, no special tokens, EOS after each document).

Resuming: finished languages (their `.npy` is written atomically, and `packed.yaml` lists them with
the same document count) are kept; finished pack tasks are skipped by datatrove's own completion
records; a killed task starts its parts afresh. The parts and task logs go once every language is
written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from array import array
from pathlib import Path

import numpy as np
import yaml

from emma.errors import EmmaError
from emma.io import atomic_path, write_json, write_text
from emma.io.readers import document_files, file_documents
from emma.languages import normalize

BATCH_DOCUMENTS = 1000  # documents per tokenizer call
FLUSH_TOKENS = 1 << 22  # ids buffered in memory (16 MB) before every buffer goes to its part file


def input_files(inputs: Path) -> list[Path]:
    return document_files(inputs, "pack")


def documents(path: Path):
    """(xxx_Scrp, source, text) for each non-empty document of one file (emma.io's documents reader, streamed)."""
    for n, lang, source, text in file_documents(path, "pack"):
        try:
            code = normalize(lang)
        except EmmaError as exc:
            raise EmmaError(f"pack: {path}:{n}: {exc}") from None
        yield code, source, text


def count_documents(files: list[Path]) -> dict[str, int]:
    """The first pass: every line checked, documents counted per language (nothing else kept)."""
    counts: dict[str, int] = {}
    for f in files:
        for lang, _, _ in documents(f):
            counts[lang] = counts.get(lang, 0) + 1
    if not counts:
        raise EmmaError(f"pack: no documents in {', '.join(map(str, files[:3]))}{' ...' if len(files) > 3 else ''}")
    return counts


_TOKENIZERS: dict[str, object] = {}


def load_tokenizer(path: str):
    """The tokenizer at `path`, once per process (the checking pass and an in-process task share it)."""
    if path not in _TOKENIZERS:
        from transformers import AutoTokenizer

        _TOKENIZERS[path] = AutoTokenizer.from_pretrained(path)
    return _TOKENIZERS[path]


def _pack_step_class():
    from datatrove.pipeline.base import PipelineStep

    class PackTask(PipelineStep):
        """One pack task: its share of the input files, tokenised, each language's ids appended to
        `<parts>/<rank>/<lang>.bin`; `<rank>/counts.json` (written last) says what they hold."""

        name = "pack"
        type = "🔢 - TOKENIZER"

        def __init__(self, files: list[str], tokenizer: str, parts: str, skip: list[str]):
            super().__init__()
            self.files, self.tokenizer, self.parts, self.skip = files, tokenizer, parts, set(skip)

        def run(self, data=None, rank: int = 0, world_size: int = 1):
            folder = Path(self.parts) / f"{rank:05d}"
            if folder.exists():
                shutil.rmtree(folder)  # a killed attempt's parts: start afresh
            folder.mkdir(parents=True)
            tok = load_tokenizer(self.tokenizer)
            eos = tok.eos_token_id
            counts: dict[str, dict] = {}
            buffers: dict[str, array] = {}
            buffered = 0

            def flush() -> None:
                for lang, ids in buffers.items():
                    with open(folder / f"{lang}.bin", "ab") as fh:
                        ids.tofile(fh)
                buffers.clear()

            def tokenise(batch: list[tuple[str, str, str]]) -> int:
                n = 0
                for (lang, source, _), ids in zip(batch, tok([t for _, _, t in batch], add_special_tokens=False)["input_ids"]):
                    buffers.setdefault(lang, array("I")).extend(ids)
                    buffers[lang].append(eos)
                    c = counts.setdefault(lang, {"tokens": 0, "documents": 0, "max_id": eos, "sources": {}})
                    c["tokens"] += len(ids) + 1
                    c["documents"] += 1
                    c["max_id"] = max(c["max_id"], max(ids, default=eos))
                    c["sources"][source] = c["sources"].get(source, 0) + len(ids) + 1
                    n += len(ids) + 1
                self.stat_update("documents", value=len(batch))
                return n

            for f in self.files[rank::world_size]:
                batch: list[tuple[str, str, str]] = []
                for doc in documents(Path(f)):
                    if doc[0] in self.skip:
                        continue
                    batch.append(doc)
                    if len(batch) == BATCH_DOCUMENTS:
                        buffered += tokenise(batch)
                        batch = []
                    if buffered >= FLUSH_TOKENS:
                        flush()
                        buffered = 0
                if batch:
                    buffered += tokenise(batch)
            flush()
            write_json(folder / "counts.json", counts)  # last: the parts are complete
            return iter(())

    return PackTask


def _merge(lang: str, part_files: list[Path], dest: Path, tokens: int) -> None:
    """The parts, in task order, as one `.npy` (header, then the raw ids copied through a small buffer)."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": np.dtype(np.uint32).str, "fortran_order": False, "shape": (tokens,)})
            for part in part_files:
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        if np.load(tmp, mmap_mode="r").shape != (tokens,):
            raise EmmaError(f"pack: {lang}: the merged stream does not hold the {tokens} tokens its parts counted; rerun the pack")


def pack(
    inputs: str | Path,
    tokenizer_spec: str,
    out: str | Path,
    *,
    tasks: int = 1,
    workers: int = 1,
    progress=None,
) -> dict:
    from emma.models.load import checkpoint_path

    out, inputs = Path(out), Path(inputs)
    files = input_files(inputs)
    path = str(checkpoint_path(tokenizer_spec)[1])
    try:
        tok = load_tokenizer(path)
    except Exception as exc:
        raise EmmaError(f"pack: cannot load a tokenizer from {tokenizer_spec} ({type(exc).__name__})") from None
    if tok.eos_token_id is None:
        raise EmmaError(f"pack: tokenizer {tokenizer_spec} has no EOS token to separate documents")
    if len(tok) >= 2**32:
        raise EmmaError("pack: vocabulary too large for uint32 shards")
    stats_path = out / "packed.yaml"
    previous = (yaml.safe_load(stats_path.read_text()) or {}) if stats_path.exists() else {}
    if previous.get("languages") and previous.get("tokenizer") != tokenizer_spec:
        raise EmmaError(f"pack: {out} was packed with another tokenizer; use another --out")
    counts = count_documents(files)  # every line checked before anything is written
    out.mkdir(parents=True, exist_ok=True)
    done = {
        lang: v
        for lang, v in (previous.get("languages") or {}).items()
        if (out / v["file"]).is_file() and counts.get(lang) == v.get("documents") and "max_id" in v
    }
    stats = dict(done)
    todo = sorted(set(counts) - set(done))
    if todo:
        key = hashlib.sha256(
            json.dumps([path, tasks, sorted(done), [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]]).encode()
        ).hexdigest()[:12]
        parts, logs = out / ".parts" / key, out / "logs" / f"pack-{key}"
        from datatrove.executor import LocalPipelineExecutor

        step = _pack_step_class()([str(f) for f in files], path, str(parts), sorted(done))
        LocalPipelineExecutor(pipeline=[step], tasks=tasks, workers=min(workers, tasks), logging_dir=str(logs), skip_completed=True).run()
        ranks = [json.loads((parts / f"{r:05d}" / "counts.json").read_text()) for r in range(tasks)]
        for lang in todo:
            held = [(parts / f"{r:05d}" / f"{lang}.bin", c[lang]) for r, c in enumerate(ranks) if lang in c]
            tokens = sum(c["tokens"] for _, c in held)
            _merge(lang, [p for p, _ in held], out / f"{lang}.npy", tokens)
            sources: dict[str, int] = {}
            for _, c in held:
                for src, n in c["sources"].items():
                    sources[src] = sources.get(src, 0) + n
            stats[lang] = {
                "file": f"{lang}.npy",
                "tokens": tokens,
                "documents": sum(c["documents"] for _, c in held),
                "max_id": max(c["max_id"] for _, c in held),
                "sources": dict(sorted(sources.items())),  # as packed.yaml reads back, so a resumed pack writes the same files
            }
            write_text(stats_path, yaml.safe_dump({"tokenizer": tokenizer_spec, "languages": stats}, sort_keys=True))
            if progress:
                progress(lang, tokens)
        shutil.rmtree(out / ".parts")
        shutil.rmtree(logs)
        if (out / "logs").is_dir() and not any((out / "logs").iterdir()):
            (out / "logs").rmdir()
    # languages no longer in the input are dropped; every entry's keys in one order, fresh or read back
    stats = {lang: dict(sorted(stats[lang].items())) for lang in sorted(counts)}
    write_text(stats_path, yaml.safe_dump({"tokenizer": tokenizer_spec, "languages": stats}, sort_keys=True))
    total = sum(v["tokens"] for v in stats.values())
    manifest = {
        "tokenizer": tokenizer_spec,
        "strategy": "natural",
        "languages": [
            {"lang": lang, "file": v["file"], "tokens": v["tokens"], "max_id": v["max_id"], "weight": v["tokens"] / total, "sources": v["sources"]}
            for lang, v in sorted(stats.items())
        ],
    }
    write_text(out / "manifest.yaml", yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    write_json(out / "stats.json", {"tokenizer": tokenizer_spec, "languages": stats, "total_tokens": total})
    return {"languages": len(stats), "tokens": total, "out": str(out)}
