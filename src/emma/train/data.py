"""Training data for `emma train`: documents per language (a folder of text files, emma's documents
JSONL, or the UDHR),
or packed token shards, cut into fixed-length blocks with a few held out per language.

Packed shards (what `emma corpus pack` writes, and what a user can write with numpy):
`<dir>/manifest.yaml` with `languages: [{lang: xxx_Scrp, file: xxx_Scrp.npy, tokens: N, weight: w}]`
(weights optional, summing to 1) and `tokenizer:` (the tokenizer the ids belong to); each `.npy` is
one flat token stream (uint32), documents separated by the tokenizer's EOS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from emma.errors import EmmaError
from emma.io import read_documents, read_text_dir
from emma.languages import normalize


def text_dir_documents(root: str | Path) -> dict[str, list[str]]:
    """`<code>.txt` (one document per non-empty line) or `<code>/*.txt` (one document per file)."""
    return _by_language(read_text_dir(root, "data.text_dir"), "data.text_dir", "name files by language code (e.g. swh_Latn.txt)")


def jsonl_documents(path: str | Path, what: str = "data.jsonl") -> dict[str, list[str]]:
    """emma's documents JSONL (`text`, `lang`): `emma corpus build`'s final/ folder, or any such file."""
    raw = {lang: [text for _, text in rows] for lang, rows in read_documents(path, what).items()}
    return _by_language(raw, what, "use xxx_Scrp codes in `lang`")


def _by_language(raw: dict[str, list[str]], what: str, fix: str) -> dict[str, list[str]]:
    docs: dict[str, list[str]] = {}
    for lang, texts in raw.items():
        try:
            code = normalize(lang)
        except EmmaError as exc:
            raise EmmaError(f"{what}: {lang}: {exc}; {fix}") from None
        if not texts:
            raise EmmaError(f"{what}: language {lang} has no text (empty language); remove it or add text")
        docs.setdefault(code, []).extend(texts)
    return docs


def udhr_documents(langs: list[str], tarball: str | None) -> dict[str, list[str]]:
    """The training articles (emma's UDHR split: every 10th article held out for evaluation)."""
    from emma.languages import resolve
    from emma.sources.udhr import find_tarball, one_per_language, read_udhr, split_declaration

    decls = one_per_language(read_udhr(find_tarball(tarball)))
    docs = {}
    for code in langs:
        lang = resolve(code, decls)
        train, _ = split_declaration(decls[lang])
        docs[lang] = [s.text for s in train]
    return docs


def tokenize_blocks(docs_by_lang: dict[str, list[str]], tokenizer, block_size: int) -> dict[str, list[list[int]]]:
    """Per language: documents joined with EOS and cut into `block_size` pieces (a shorter last
    piece is kept, so a small language is never dropped)."""
    eos = tokenizer.eos_token_id
    out = {}
    for lang, docs in docs_by_lang.items():
        stream: list[int] = []
        for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]:
            stream.extend(ids + [eos])
        out[lang] = [b for b in (stream[i : i + block_size] for i in range(0, len(stream), block_size)) if len(b) > 1]
    return out


class StreamBlocks(Sequence):
    """A token stream on disk (a 1-D `.npy`) seen as `block_size` blocks (a shorter last one kept, a
    one-token tail dropped), each read from the file when asked for: a 74B-token corpus is never
    copied into Python objects, and memory does not grow with it. The header comes from `np.load(...,
    mmap_mode="r")`; blocks are read with `os.pread`, not through the mapping, because a mapping keeps
    every page it touched (and the kernel's read-around neighbours) resident: 2,000 random blocks of
    three 120 MB streams left 355 MB mapped. Slicing gives a view of a range of blocks (held-out blocks)."""

    def __init__(self, path: str | Path, block_size: int, start: int = 0, stop: int | None = None):
        self.path, self.block_size = Path(path), block_size
        header = np.load(self.path, mmap_mode="r")
        self.dtype, self.offset, self.tokens_in_file = header.dtype, int(getattr(header, "offset", 0)), int(header.size)
        del header
        self._fd: int | None = None
        n = (self.tokens_in_file + block_size - 1) // block_size
        if n and self.tokens_in_file - (n - 1) * block_size < 2:
            n -= 1
        self.start, self.stop = start, n if stop is None else stop

    def _read(self, first: int, count: int) -> np.ndarray:
        if self._fd is None:  # opened lazily, so a pickled view (a DataLoader worker) opens its own
            self._fd = os.open(self.path, os.O_RDONLY)
        size = self.dtype.itemsize
        raw = os.pread(self._fd, count * size, self.offset + first * size)
        return np.frombuffer(raw, dtype=self.dtype)

    def __getstate__(self):
        return {**self.__dict__, "_fd": None}

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, index):
        if isinstance(index, slice):
            lo, hi, step = index.indices(len(self))
            if step != 1:
                raise ValueError("StreamBlocks slices take every block")
            view = StreamBlocks.__new__(StreamBlocks)
            view.__dict__.update({**self.__dict__, "_fd": None})
            view.start, view.stop = self.start + lo, self.start + max(lo, hi)
            return view
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        at = (self.start + index) * self.block_size
        return self._read(at, min(self.block_size, self.tokens_in_file - at)).astype(np.int64)

    def tokens(self) -> int:
        """Tokens in these blocks (for the language mix), without reading them."""
        if not len(self):
            return 0
        return min(self.stop * self.block_size, self.tokens_in_file) - self.start * self.block_size

    def max_id(self, chunk: int = 1 << 22) -> int:
        """The largest id in the file, read in chunks."""
        best = 0
        for first in range(0, self.tokens_in_file, chunk):
            best = max(best, int(self._read(first, min(chunk, self.tokens_in_file - first)).max()))
        return best


def block_tokens(blocks) -> int:
    return blocks.tokens() if isinstance(blocks, StreamBlocks) else sum(len(b) for b in blocks)


def shard_blocks(root: str | Path, block_size: int) -> tuple[dict[str, StreamBlocks], dict[str, float] | None, str | None, dict[str, int]]:
    """(blocks per language, the manifest's weights or None, the manifest's tokenizer, the largest
    token id per language: the manifest's `max_id` where `emma corpus pack` recorded it, else read)."""
    import yaml

    root = Path(root)
    manifest_path = root / "manifest.yaml"
    if not manifest_path.is_file():
        raise EmmaError(f"data.shards {root} has no manifest.yaml; point it at an `emma corpus pack` output")
    manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8")) or {}
    entries = manifest.get("languages") or []
    if not entries:
        raise EmmaError(f"{manifest_path} lists no languages")
    blocks, weights, max_ids = {}, {}, {}
    for e in entries:
        lang, file = normalize(str(e.get("lang"))), root / str(e.get("file"))
        try:
            stream = np.load(file, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise EmmaError(f"{file}: not a readable .npy token stream ({exc}); re-run the pack step") from None
        if stream.ndim != 1 or stream.size < 2 or stream.dtype.kind not in "iu":
            raise EmmaError(f"{file}: expected a non-empty 1-D stream of integer token ids, got shape {stream.shape} {stream.dtype}")
        blocks[lang] = StreamBlocks(file, block_size)
        max_ids[lang] = int(e["max_id"]) if isinstance(e.get("max_id"), int) else blocks[lang].max_id()
        if e.get("weight") is not None:
            weights[lang] = float(e["weight"])
    if weights:
        if set(weights) != set(blocks) or abs(sum(weights.values()) - 1) > 1e-6:
            raise EmmaError(f"{manifest_path}: weights must be given for every language and sum to 1 (sum {sum(weights.values()):.6f})")
    return blocks, (weights or None), manifest.get("tokenizer"), max_ids


def hold_out(blocks: Mapping[str, Sequence], n: int) -> tuple[dict, dict]:
    """(train, held-out): the last `n` blocks of each language that has more than `n` + 1."""
    train, held = {}, {}
    for lang, bl in blocks.items():
        if n and len(bl) > n + 1:
            train[lang], held[lang] = bl[:-n], bl[-n:]
        else:
            train[lang] = bl
    return train, held
