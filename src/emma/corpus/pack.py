"""`emma corpus pack`: tokenise documents and write one flat token stream per language (uint32
`.npy`, documents separated by EOS, so boundaries are kept) with `packed.yaml` (tokens and
documents per language and source) and a `manifest.yaml` that `emma train` reads directly
(`data.shards`); `emma corpus mix` rewrites its weights.

Input: JSONL with `text` and `lang` (and optionally `source`; or both inside `metadata`, as `emma
corpus build` writes them), one document a line, or a folder of such files. Languages finished in an earlier run are
kept (their `.npy` is written atomically), so a killed pack resumes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from emma.errors import EmmaError
from emma.io import atomic_path, write_json, write_text
from emma.io import read_documents as read_io_documents
from emma.languages import normalize


def read_documents(inputs: Path) -> dict[str, list[tuple[str, str]]]:
    """{xxx_Scrp: [(source, text)]} from emma's documents JSONL (see `emma.io.read_documents`)."""
    docs: dict[str, list[tuple[str, str]]] = {}
    for lang, rows in read_io_documents(inputs, "pack").items():
        try:
            docs.setdefault(normalize(lang), []).extend(rows)
        except EmmaError as exc:
            raise EmmaError(f"pack: {inputs}: {exc}") from None
    return docs


def pack(inputs: str | Path, tokenizer_spec: str, out: str | Path, *, progress=None) -> dict:
    from transformers import AutoTokenizer

    from emma.models.load import checkpoint_path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    docs = read_documents(Path(inputs))
    path = checkpoint_path(tokenizer_spec)[1]
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise EmmaError(f"pack: cannot load a tokenizer from {tokenizer_spec} ({type(exc).__name__})") from None
    if tok.eos_token_id is None:
        raise EmmaError(f"pack: tokenizer {tokenizer_spec} has no EOS token to separate documents")
    if len(tok) >= 2**32:
        raise EmmaError("pack: vocabulary too large for uint32 shards")
    stats_path = out / "packed.yaml"
    done = (yaml.safe_load(stats_path.read_text()) or {}).get("languages", {}) if stats_path.exists() else {}
    if done and (yaml.safe_load(stats_path.read_text()) or {}).get("tokenizer") != tokenizer_spec:
        raise EmmaError(f"pack: {out} was packed with another tokenizer; use another --out")
    stats = {lang: v for lang, v in done.items() if (out / v["file"]).is_file()}
    for lang in sorted(docs):
        if lang in stats and stats[lang]["documents"] == len(docs[lang]):
            continue  # packed by an earlier run
        stream: list[int] = []
        per_source: dict[str, int] = {}
        texts = [t for _, t in docs[lang]]
        for (src, _), ids in zip(docs[lang], tok(texts, add_special_tokens=False)["input_ids"]):
            stream.extend(ids + [tok.eos_token_id])
            per_source[src] = per_source.get(src, 0) + len(ids) + 1
        file = f"{lang}.npy"
        with atomic_path(out / file) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(stream, dtype=np.uint32))
        stats[lang] = {"file": file, "tokens": len(stream), "documents": len(texts), "sources": per_source}
        write_text(stats_path, yaml.safe_dump({"tokenizer": tokenizer_spec, "languages": stats}, sort_keys=True))
        if progress:
            progress(lang, len(stream))
    total = sum(v["tokens"] for v in stats.values())
    manifest = {
        "tokenizer": tokenizer_spec,
        "strategy": "natural",
        "languages": [
            {"lang": lang, "file": v["file"], "tokens": v["tokens"], "weight": v["tokens"] / total, "sources": v["sources"]}
            for lang, v in sorted(stats.items())
        ],
    }
    write_text(out / "manifest.yaml", yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    write_json(out / "stats.json", {"tokenizer": tokenizer_spec, "languages": stats, "total_tokens": total})
    return {"languages": len(stats), "tokens": total, "out": str(out)}
