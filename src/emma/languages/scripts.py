"""Script detection with GlotScript (ISO 15924 codes, as the `_Scrp` half of a language code)."""

from __future__ import annotations

from GlotScript import sp

# GlotScript reports Chinese as Hani; a code needs the Simplified/Traditional split.
_HANS_ONLY = set("们这来个说时为们会没还对么发学经进动种现见长问门")
_HANT_ONLY = set("們這來個說時為們會沒還對麼發學經進動種現見長問門")


def script_shares(text: str) -> dict[str, float]:
    """Share of the text's letters in each script."""
    _, _, meta = sp(text)
    return dict(meta.get("details", {}))


def detect_script(text: str) -> str:
    """Main script of `text` as an ISO 15924 code (`Latn`, `Cyrl`, `Hans`, `Hant`, `Jpan`, ...)."""
    script, _, meta = sp(text)
    if not script:
        return "Zyyy"
    if script == "Hani":
        hans = sum(ch in _HANS_ONLY for ch in text)
        hant = sum(ch in _HANT_ONLY for ch in text)
        return "Hant" if hant > hans else "Hans"
    return script
