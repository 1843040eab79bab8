"""The IANA language subtag registry (shipped by `language_data`), indexed for code checks.

Read once and cached: it is the authority on which ISO 639 codes and ISO 15924 scripts exist,
which individual languages belong to which macrolanguage, and their English names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import langcodes
from language_data.registry_parser import parse_file
from language_data.util import data_filename


@dataclass
class Registry:
    languages: dict[str, dict] = field(default_factory=dict)  # subtag (2 or 3 letters) -> entry
    scripts: dict[str, str] = field(default_factory=dict)  # "Latn" -> "Latin"
    alpha3: dict[str, str] = field(default_factory=dict)  # any valid language subtag -> ISO 639-3
    macro_of: dict[str, str] = field(default_factory=dict)  # individual ISO 639-3 -> macrolanguage ISO 639-3
    names: dict[str, set[str]] = field(default_factory=dict)  # lower-cased English name -> ISO 639-3 codes


def _to_alpha3(subtag: str) -> str:
    if len(subtag) == 3:
        return subtag
    try:
        return langcodes.Language.get(subtag, normalize=False).to_alpha3()
    except (LookupError, ValueError):
        return subtag


@lru_cache(maxsize=1)
def registry() -> Registry:
    reg = Registry()
    with open(data_filename("language-subtag-registry.txt"), encoding="utf-8") as f:
        entries = list(parse_file(f))
    for e in entries:
        kind, subtag = e.get("Type"), e.get("Subtag")
        if kind == "script" and subtag and ".." not in subtag:
            reg.scripts[subtag] = e["Description"][0]
        elif kind == "language" and subtag and ".." not in subtag:
            reg.languages[subtag] = e
    for subtag in reg.languages:
        reg.alpha3[subtag] = _to_alpha3(subtag)
    for subtag, e in reg.languages.items():
        code3 = reg.alpha3[subtag]
        if "Macrolanguage" in e:
            reg.macro_of[code3] = reg.alpha3.get(e["Macrolanguage"], e["Macrolanguage"])
        if "Deprecated" in e:
            continue
        for name in e.get("Description", []):
            reg.names.setdefault(name.lower(), set()).add(code3)
    return reg


def is_language(code3: str) -> bool:
    """True when `code3` is an ISO 639-3 code in the registry (directly or via its 2-letter form)."""
    reg = registry()
    return code3 in reg.languages or code3 in set(reg.alpha3.values())


def english_name(code3: str) -> str | None:
    reg = registry()
    for subtag, c3 in reg.alpha3.items():
        if c3 == code3:
            return reg.languages[subtag]["Description"][0]
    return None
