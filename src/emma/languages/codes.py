"""Normalise any language code a user or a benchmark writes to `xxx_Scrp` (ISO 639-3 + ISO 15924).

Accepted: ISO 639-1/2/3 (`sw`, `swa`, `ger`, `swh`), BCP-47 (`zh-Hant`, `sr-Latn`, `pt-BR`),
FLORES/EMMA style (`swh_Latn`), and English language names when unambiguous (`Swahili`).

Macrolanguages (documented choice): a code is never silently moved between a macrolanguage and
its members. `sw` and `swa` stay the macrolanguage `swa`; `swh` stays the individual language
`swh`; `zh` stays `zho`, `cmn` stays `cmn`. Only `resolve()` bridges the two, and only when a
benchmark or corpus offers exactly one candidate (asking for `swa_Latn` where only `swh_Latn`
exists gives `swh_Latn`). Region and variant subtags are dropped (`pt-BR` -> `por_Latn`) after
they have been used to infer the script (`zh-TW` -> `zho_Hant`).

Two CLDR aliases that merge distinct varieties are not followed, because EMMA-500, MaLA and
FLORES keep them apart: `sh`/`hbs` stays Serbo-Croatian `hbs` (not Serbian), `tl` stays Tagalog
`tgl` (not Filipino `fil`).

Script when the code has none: detected from `text` if given (GlotScript; hanzidentifier for
Simplified vs Traditional Chinese), otherwise the registry's Suppress-Script, otherwise CLDR's
likely script, otherwise Latin. Chinese text in characters common to both kinds (detected as
`Hani`) takes the language's usual script when that is a Han one (`zh` -> `zho_Hans`, `yue` ->
`yue_Hant`, `ja` -> `jpn_Jpan`) and stays `Hani` otherwise (`vi` -> `vie_Hani`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import langcodes

from emma.errors import EmmaError
from emma.languages.registry import english_name, registry

# Codes kept apart from the language CLDR would merge them into (see module docstring).
_KEEP = {"sh": ("hbs", "Latn"), "hbs": ("hbs", "Latn"), "tl": ("tgl", "Latn"), "tgl": ("tgl", "Latn")}
_NOT_LANGUAGES = {"und", "mis", "mul", "zxx"}
# Default scripts where CLDR's likely script differs from what FLORES-200 and MaLA use.
_DEFAULT_SCRIPT = {"kor": "Hang"}
# Retired ISO 639-3 codes that corpora still use (MaLA keeps Emilian-Romagnol as `eml`).
_RETIRED_KEPT = {"eml": "Latn"}
# Scripts written (partly) in Han characters: detected `Hani` text fits any of them.
_HAN_SCRIPTS = {"Hani", "Hans", "Hant", "Jpan"}
_TAG = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{1,8})*$")


def _suggest(code: str) -> str:
    reg = registry()
    pool = sorted(set(reg.alpha3.values())) + [n for n in reg.names if " " not in n]
    near = difflib.get_close_matches(code.lower(), pool, n=4, cutoff=0.6)
    shown = []
    for n in near:
        c3 = n if n in reg.alpha3.values() else sorted(reg.names[n])[0]
        shown.append(f"{c3} ({english_name(c3) or n})")
    return "; nearest valid: " + ", ".join(dict.fromkeys(shown)) if shown else ""


def _unknown(code: str, why: str) -> EmmaError:
    return EmmaError(f"unknown language code {code!r}: {why}{_suggest(code.split('_')[0].split('-')[0])}")


def _from_name(name: str) -> str:
    reg = registry()
    key = name.strip().lower()
    codes = reg.names.get(key) or reg.names.get(f"{key} (macrolanguage)")
    if not codes:
        loose = reg.names.get(f"{key} (individual language)")
        codes = loose and {reg.macro_of.get(c, c) for c in loose}
    if not codes:
        raise _unknown(name, "not an ISO 639 / BCP-47 code nor an English language name")
    if len(codes) > 1:
        raise EmmaError(f"language name {name!r} is ambiguous ({', '.join(sorted(codes))}); give a code instead")
    return next(iter(codes))


def split(code: str) -> tuple[str, str]:
    """`swh_Latn` -> (`swh`, `Latn`); the input must already be normalised."""
    lang, _, script = code.partition("_")
    return lang, script


def normalize(code: str, *, text: str | None = None) -> str:
    """Return `xxx_Scrp` for any accepted code form, or raise EmmaError naming the code."""
    if not isinstance(code, str) or not code.strip():
        raise EmmaError("empty language code; give an ISO 639 / BCP-47 code such as 'swh_Latn' or 'sw'")
    raw = code.strip()
    reg = registry()
    if not _TAG.match(raw):
        lang3, script = _from_name(raw), None
        loc = langcodes.Language.get(lang3)
    else:
        tag = raw.replace("_", "-")
        first = tag.split("-")[0].lower()
        if first in _NOT_LANGUAGES:
            raise EmmaError(f"{raw!r} is not a language ('{first}' means undetermined/multiple/none); give a real language code")
        try:
            loc = langcodes.Language.get(tag, normalize=True)
        except (LookupError, ValueError):
            raise _unknown(raw, "not a well-formed BCP-47 / ISO 639 code") from None
        script = None
        for part in tag.split("-")[1:]:
            if len(part) == 4 and part.isalpha():
                script = part.title()
                if script not in reg.scripts:
                    raise EmmaError(f"unknown script {part!r} in language code {raw!r}; use an ISO 15924 code such as Latn, Cyrl, Arab")
        if first in _KEEP:
            lang3, keep_script = _KEEP[first]
            script = script or keep_script
        elif first in _RETIRED_KEPT or (len(first) == 3 and "qaa" <= first <= "qtz"):
            lang3, script = first, script or _RETIRED_KEPT.get(first, "Latn")
        elif first in reg.languages and "Deprecated" not in reg.languages[first]:
            lang3 = reg.alpha3[first]
        elif loc.language and loc.language in reg.languages:
            lang3 = reg.alpha3[loc.language]
            script = script or loc.script
        else:
            raise _unknown(raw, "not in the ISO 639 registry")
    if script is None:
        if text and text.strip():
            from emma.languages.scripts import detect_script

            script = detect_script(text)
        if script is None or script == "Hani":
            entry = reg.languages.get(next((s for s, c in reg.alpha3.items() if c == lang3 and len(s) == 2), lang3), {})
            usual = _DEFAULT_SCRIPT.get(lang3) or entry.get("Suppress-Script") or loc.maximize().script or "Latn"
            # Han that reads as either Chinese script takes the language's usual one when that is Han too (zh -> Hans, yue -> Hant)
            script = usual if script is None or usual in _HAN_SCRIPTS else script
    return f"{lang3}_{script}"


def is_valid(code: str) -> bool:
    try:
        normalize(code)
        return True
    except EmmaError:
        return False


def language_name(code: str) -> str:
    """English name of a code's language, with its script when that is not the usual one."""
    norm = normalize(code)
    lang3, script = split(norm)
    name = english_name(lang3) or lang3
    usual = normalize(lang3)
    if usual != norm:
        name += f" ({script})"
    return name


def macrolanguage(code: str) -> str | None:
    """`swh_Latn` -> `swa`; None when the language belongs to no macrolanguage."""
    return registry().macro_of.get(split(normalize(code))[0])


def members(macro: str) -> list[str]:
    """ISO 639-3 codes of a macrolanguage's individual languages (`swa` -> [`swc`, `swh`])."""
    m = split(normalize(macro))[0]
    return sorted(c for c, mac in registry().macro_of.items() if mac == m)


def resolve(code: str, available: Iterable[str]) -> str:
    """Find `code` among `available` normalised codes, bridging macrolanguage <-> member when
    exactly one candidate has the same script; otherwise a clear error listing near ones."""
    available = list(available)
    norm = normalize(code)
    if norm in available:
        return norm
    lang3, script = split(norm)
    reg = registry()
    related = {reg.macro_of.get(lang3)} | {c for c, m in reg.macro_of.items() if m == lang3}
    hits = [a for a in available if split(a)[1] == script and split(a)[0] in related]
    if len(hits) == 1:
        return hits[0]
    near = hits or [a for a in available if split(a)[0] == lang3] or difflib.get_close_matches(norm, available, n=4)
    hint = f"; available near it: {', '.join(near)}" if near else ""
    raise EmmaError(f"language {code!r} ({norm}) is not available here{hint}")
