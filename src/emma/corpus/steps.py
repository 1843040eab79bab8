"""emma's own datatrove pipeline blocks, for what datatrove lacks: readers for the UDHR and the
SIB-200/FLORES layout and a JSONL reader that rejects (never skips) bad lines, language-code
normalisation, script checking, LID with a local fastText model, and heuristic cleaning whose
thresholds can differ per script. Every dropped document goes to the block's exclusion writer
with its reason (datatrove's `filter_reason`), so nothing is lost silently.

Documents carry `metadata["lang"]` (the declared, then normalised `xxx_Scrp` code) and
`metadata["source"]`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.word_tokenizers import WordTokenizer

from emma.errors import EmmaError
from emma.io import jsonl_records, read_sib_tsv, read_text, write_jsonl
from emma.io.readers import describe
from emma.text import UNSPACED_SCRIPTS, script_matches, sentences, words


class _Reader(PipelineStep):
    """A small source read by one task: rank r takes every world_size-th document."""

    type = "📖 - READER"

    def __init__(self, source: str, rejects_dir: str | None = None):
        super().__init__()
        self.source, self.rejects_dir = source, rejects_dir
        self.rejected: list[dict] = []

    def documents(self):
        raise NotImplementedError

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        self.rejected = []
        for n, doc in enumerate(self.documents()):
            if n % world_size == rank:
                self.stat_update("documents")
                yield doc
        if self.rejects_dir and self.rejected:  # written once the task's reading is done: a rerun rewrites, never duplicates
            mine = [r for k, r in enumerate(self.rejected) if k % world_size == rank]
            write_jsonl(Path(self.rejects_dir) / f"read_{self.source}_{rank:05d}.jsonl", mine)


class UDHRReader(_Reader):
    name = "📜 UDHR"

    def __init__(self, source: str, tarball: str | None = None):
        super().__init__(source)
        self.tarball = tarball

    def documents(self):
        from emma.sources.udhr import find_tarball, read_udhr, variety_key

        for d in read_udhr(find_tarball(self.tarball)):
            meta = {"lang": d.code, "source": self.source, "bcp47": d.bcp47}
            if variety := variety_key(d):  # a dialect, old spelling or regional edition: labelled, not hidden
                meta["variety"] = variety
            for s in d.segments:
                yield Document(text=s.text, id=f"{Path(d.file).stem}/{s.section}", metadata=dict(meta))


class SIBReader(_Reader):
    """The Davlan/sib200 (FLORES) layout: `<xxx_Scrp>/<split>.tsv` with `index_id, category, text`."""

    name = "🌸 SIB-200/FLORES"

    def __init__(self, source: str, path: str, split: str = "train"):
        super().__init__(source)
        self.path, self.split = path, split

    def documents(self):
        for folder in sorted(p for p in Path(self.path).iterdir() if (p / f"{self.split}.tsv").is_file()):
            for r in read_sib_tsv(folder / f"{self.split}.tsv", "corpus", pandas_na=False):
                yield Document(
                    text=r["text"], id=f"{folder.name}/{self.split}/{r.get('index_id')}", metadata={"lang": folder.name, "source": self.source}
                )


class JsonlSourceReader(_Reader):
    """JSON lines (`text_key`, `lang_key` or a fixed `lang`). datatrove's JsonlReader logs and skips
    a malformed line; this one writes it to the rejects with the reason and goes on."""

    name = "🐿 JSONL (rejecting)"

    def __init__(
        self, source: str, paths: list[str], text_key: str = "text", lang_key: str = "lang", lang: str | None = None, rejects_dir: str | None = None
    ):
        super().__init__(source, rejects_dir)
        self.paths, self.text_key, self.lang_key, self.lang = paths, text_key, lang_key, lang

    def documents(self):
        for path in self.paths:
            for n, raw, row in jsonl_records(path):
                where = f"{path}:{n}"
                if isinstance(row, UnicodeDecodeError):
                    self._reject(where, raw, f"invalid_utf8 (byte {row.start})")
                    continue
                if isinstance(row, Exception):
                    self._reject(where, raw, f"malformed_json ({describe(row)})")
                    continue
                text, lang = row.get(self.text_key), self.lang or row.get(self.lang_key)
                if not isinstance(text, str) or not lang:
                    self._reject(where, raw, f"malformed_json (needs a string `{self.text_key}` and `{self.lang_key}`)")
                    continue
                yield Document(text=text, id=str(row.get("id", where)), metadata={"lang": str(lang), "source": self.source})

    def _reject(self, where: str, raw: bytes, reason: str) -> None:
        self.stat_update("rejected")
        self.rejected.append({"id": where, "source": self.source, "reason": reason, "text": raw.decode("utf-8", "replace")[:2000]})


class TextSourceReader(_Reader):
    """Plain text: `<code>.txt` files (the language from the file name, or a fixed `lang`), one
    document per non-empty line, or per file with `per_file`."""

    name = "📄 text"

    def __init__(self, source: str, paths: list[str], lang: str | None = None, per_file: bool = False, rejects_dir: str | None = None):
        super().__init__(source, rejects_dir)
        self.paths, self.lang, self.per_file = paths, lang, per_file

    def documents(self):
        for path in self.paths:
            lang = self.lang or Path(path).stem
            try:
                text = read_text(path)
            except EmmaError as exc:
                self.rejected.append({"id": path, "source": self.source, "reason": f"invalid_utf8 ({exc})", "text": ""})
                continue
            for n, chunk in enumerate([text] if self.per_file else text.splitlines(), 1):
                if chunk.strip():
                    yield Document(text=chunk.strip(), id=f"{path}:{n}", metadata={"lang": lang, "source": self.source})


class NormalizeLanguage(BaseFilter):
    """Declared code -> `xxx_Scrp` (emma.languages); empty documents and unknown codes are rejected."""

    name = "🏷 normalise language"

    def filter(self, doc: Document):
        from emma.languages import normalize

        if not doc.text or not doc.text.strip():
            return False, "empty_document"
        declared = str(doc.metadata.get("lang") or "")
        try:
            doc.metadata["declared_lang"] = declared
            # The label's usual script, not the text's: ScriptCheck then decides whether they disagree.
            doc.metadata["lang"] = normalize(declared)
        except EmmaError:
            return False, "unknown_language_code"
        return True


class ScriptCheck(BaseFilter):
    """GlotScript's main script against the label's: `drop` the document, or `relabel` it with the
    detected script when that makes a valid code (e.g. Serbian in Latin labelled Cyrillic)."""

    name = "🔤 script check"

    def __init__(self, action: str = "drop", exclusion_writer=None):
        super().__init__(exclusion_writer)
        if action not in ("drop", "relabel"):
            raise EmmaError(f"script.action must be drop or relabel, not {action!r}")
        self.action = action

    def filter(self, doc: Document):
        from emma.languages import detect_script, is_valid

        lang, want = doc.metadata["lang"].split("_")
        got = detect_script(doc.text)
        if script_matches(want, got):
            return True
        if got in ("Zyyy", "Zinh", "Zzzz"):
            return False, "no_script"
        if self.action == "relabel" and is_valid(f"{lang}_{got}"):
            doc.metadata["lang"] = f"{lang}_{got}"
            self.stat_update("relabelled")
            return True
        return False, "script_mismatch"


class LIDCheck(BaseFilter):
    """Keep documents whose fastText LID label agrees with the declared language at >= threshold.
    Takes the model by path (GlotLID's `model.bin` or `emma lid train`'s): datatrove's
    LanguageFilter downloads its model from a URL and has no path argument."""

    name = "🌍 LID agreement"

    def __init__(self, model_path: str, threshold: float = 0.5, exclusion_writer=None):
        super().__init__(exclusion_writer, batch_size=512)  # fastText predicts a list much faster than one text at a time
        if not Path(model_path).is_file():
            raise EmmaError(f"lid.model {model_path} not found; train one with `emma lid train` or give GlotLID's model.bin")
        self.model_path, self.threshold, self._model = model_path, threshold, None

    def filter_batch(self, batch: list[Document]):
        from emma.lid import load_lid, predict

        if self._model is None:
            self._model = load_lid(self.model_path)
        return [self.decide(doc, label, prob) for doc, (label, prob) in zip(batch, predict(self._model, [d.text for d in batch]))]

    def filter(self, doc: Document):
        return self.filter_batch([doc])[0]

    def decide(self, doc: Document, label: str, prob: float):
        doc.metadata["lid"], doc.metadata["lid_prob"] = label, round(prob, 4)
        if label != doc.metadata["lang"]:
            return False, "lid_disagrees"
        if prob < self.threshold:
            return False, "lid_low_confidence"
        return True


class HeuristicClean(BaseFilter):
    """Length, character-class ratios, repetition and boilerplate. Character-based, so it works for
    every script without a word tokenizer (datatrove's Gopher filters need spaCy/NLTK ones).
    `min_chars` is divided by 3 for scripts written without spaces, which say more per character;
    `overrides` sets any threshold per script (`Hani`) or language (`swh_Latn`)."""

    name = "🧹 heuristic clean"

    def __init__(
        self,
        min_chars: int = 20,
        max_digit_ratio: float = 0.3,
        max_punct_ratio: float = 0.3,
        max_duplicate_line_ratio: float = 0.3,
        max_top_char_ratio: float = 0.4,
        boilerplate: tuple[str, ...] = ("lorem ipsum", "javascript is disabled", "enable cookies", "all rights reserved"),
        overrides: dict[str, dict] | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.base = {
            "min_chars": min_chars,
            "max_digit_ratio": max_digit_ratio,
            "max_punct_ratio": max_punct_ratio,
            "max_duplicate_line_ratio": max_duplicate_line_ratio,
            "max_top_char_ratio": max_top_char_ratio,
        }
        self.overrides = overrides or {}  # per language (xxx_Scrp) or per script (Scrp): some of the thresholds above
        self.boilerplate = re.compile("|".join(map(re.escape, boilerplate)), re.I) if boilerplate else None

    def thresholds(self, lang: str) -> dict:
        script = lang.split("_")[-1]
        t = dict(self.base)
        if script in UNSPACED_SCRIPTS:
            t["min_chars"] = t["min_chars"] // 3
        return t | self.overrides.get(script, {}) | self.overrides.get(lang, {})

    def filter(self, doc: Document):
        text = doc.text.strip()
        t = self.thresholds(doc.metadata.get("lang", "und_Zyyy"))
        letters = [c for c in text if not c.isspace()]
        if len(letters) < t["min_chars"]:
            return False, "too_short"
        n = len(letters)
        if sum(c.isdigit() for c in letters) / n > t["max_digit_ratio"]:
            return False, "too_many_digits"
        if sum(unicodedata.category(c)[0] in "PS" for c in letters) / n > t["max_punct_ratio"]:
            return False, "too_much_punctuation"
        top = Counter(letters).most_common(1)[0][1]
        if n >= 50 and top / n > t["max_top_char_ratio"]:
            return False, "repeated_characters"
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if len(lines) >= 3 and 1 - len(set(lines)) / len(lines) > t["max_duplicate_line_ratio"]:
            return False, "repeated_lines"
        if self.boilerplate and self.boilerplate.search(text):
            return False, "boilerplate"
        return True


class UnicodeWordTokenizer(WordTokenizer):
    """Words for MinHash shingles in any script: split at spaces, punctuation and symbols; scripts
    written without spaces split into characters. (datatrove's word tokenizers load spaCy/NLTK
    models per language, which a 500-language corpus cannot depend on.)"""

    def __init__(self):
        super().__init__("multilingual")

    def word_tokenize(self, text: str) -> list[str]:
        return words(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return sentences(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans, start = [], 0
        for s in self.sent_tokenize(text):
            i = text.find(s, start)
            spans.append((i, i + len(s)))
            start = i + len(s)
        return spans
