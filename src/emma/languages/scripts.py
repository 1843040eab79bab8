"""Script detection with GlotScript (ISO 15924 codes, as the `_Scrp` half of a language code).

GlotScript reports Chinese characters as `Hani`; Simplified (`Hans`) vs Traditional (`Hant`) is
decided by `chinese_script` with hanzidentifier (CC-CEDICT's character lists, shipped offline in
`zhon`). Much Chinese text, short strings above all, is written only in characters the two share
(人人生而自由): there `detect_script` answers `Hani`, which `emma.text.script_matches` accepts for
a `Hans` and a `Hant` label alike, so an ambiguous string never contradicts its label.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

import hanzidentifier
from GlotScript import sp

ChineseScript = Literal["Hans", "Hant", "both"]


def script_shares(text: str) -> dict[str, float]:
    """Share of the text's letters in each script."""
    _, _, meta = sp(text)
    return dict(meta.get("details", {}))


def chinese_script(text: str) -> ChineseScript | None:
    """Simplified (`Hans`) or Traditional (`Hant`) Chinese, by hanzidentifier.

    - every Chinese character is one both scripts use (人人生而自由) -> `both`;
    - besides shared characters, only Simplified-only ones -> `Hans`, only Traditional-only -> `Hant`;
    - both kinds (a stray variant, a quotation) -> the kind with at least twice as many
      occurrences as the other, otherwise `both`;
    - no Chinese character CC-CEDICT knows -> None.
    """
    kind = hanzidentifier.identify(text)
    if kind == hanzidentifier.UNKNOWN:
        return None
    if kind == hanzidentifier.BOTH:
        return "both"
    if kind == hanzidentifier.SIMPLIFIED:
        return "Hans"
    if kind == hanzidentifier.TRADITIONAL:
        return "Hant"
    simp = trad = 0
    for ch, n in Counter(text).items():
        one = hanzidentifier.identify(ch)
        if one == hanzidentifier.SIMPLIFIED:
            simp += n
        elif one == hanzidentifier.TRADITIONAL:
            trad += n
    if simp >= 2 * trad:
        return "Hans"
    if trad >= 2 * simp:
        return "Hant"
    return "both"


def detect_script(text: str) -> str:
    """Main script of `text` as an ISO 15924 code (`Latn`, `Cyrl`, `Hans`, `Hant`, `Jpan`, ...).

    Chinese is `Hans` or `Hant` when `chinese_script` can tell, and `Hani` (Han, either kind)
    when it cannot: text in characters common to both, or an even mixture."""
    script, _, _ = sp(text)
    if not script:
        return "Zyyy"
    if script == "Hani":
        which = chinese_script(text)
        return which if which in ("Hans", "Hant") else "Hani"
    return script
