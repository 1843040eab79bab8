"""Text rules every stage shares: what a word is, which scripts are written without spaces, and
which detected scripts count as a label's script. One definition each, so the corpus cleaner, the
vocabulary's fertility, MinHash shingles, ROUGE and PolyWrite's script check agree."""

from __future__ import annotations

import re
import unicodedata

# Scripts written without spaces between words: a word is a character there.
UNSPACED_SCRIPTS = frozenset({"Hani", "Hans", "Hant", "Jpan", "Thai", "Laoo", "Khmr", "Mymr", "Tibt"})
_UNSPACED_CHAR = re.compile(r"([\u0E00-\u0EFF\u1000-\u109F\u1780-\u17FF\u0F00-\u0FFF\u3040-\u30FF\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF])")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？።])\s+")

# Scripts a detector may report for text written in a composite script (ISO 15924: Jpan = Han +
# Hiragana + Katakana, Kore = Hangul + Han); Hans/Hant are Han told apart by emma.languages.
_SAME_SCRIPT = {
    "Jpan": {"Jpan", "Hani", "Hira", "Kana", "Hans", "Hant"},
    "Kore": {"Kore", "Hang", "Hani"},
    "Hans": {"Hans", "Hani"},
    "Hant": {"Hant", "Hani"},
}


def words(text: str) -> list[str]:
    """Lower-cased words in any script: split at spaces, punctuation, symbols and control
    characters; scripts written without spaces split into characters."""
    spaced = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text.lower())
    return _UNSPACED_CHAR.sub(r" \1 ", spaced).split()


def count_words(text: str) -> int:
    return len(words(text))


def clip_words(text: str, n: int) -> str:
    """The start of `text` holding its first `n` words (by `words`' rule), as written."""
    count, inside = 0, False
    for i, ch in enumerate(text):
        sep = unicodedata.category(ch)[0] in "PSZC"
        unspaced = not sep and _UNSPACED_CHAR.match(ch) is not None
        if not sep and (unspaced or not inside):
            count += 1
            if count > n:
                return text[:i].rstrip()
        inside = not sep and not unspaced
    return text


def sentences(text: str) -> list[str]:
    """Split after sentence-final punctuation (Latin, CJK, Ethiopic) followed by space."""
    return [s for s in _SENTENCE_END.split(text) if s]


def script_matches(label_script: str, detected: str) -> bool:
    """Whether text detected as `detected` is written in `label_script` (a language code's script)."""
    return detected == label_script or detected in _SAME_SCRIPT.get(label_script, ())
