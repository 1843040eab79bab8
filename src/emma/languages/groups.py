"""Resource groups: EMMA-500's token thresholds, or its own published grouping.

EMMA-500's `resource_groups.json` files much of a macrolanguage's data under the macrolanguage's
code: most Arabic under `ara_Arab`, most Swahili under `swa_Latn`, most Kurmanji under
`kur_Latn`, leaving the individual codes (`arb_Arab`, `swh_Latn`, `kmr_Latn`) a small remainder.
`resource_group` is the one rule every lookup goes through (`load_resource_groups` returns a
`ResourceGroups` table whose `[]`, `.get`, `in` and copies all answer by it): a language gets its
macrolanguage's group, same script, when

- CLDR names it the macrolanguage's main language (its "macrolanguage" aliases, as langcodes'
  `prefer_macrolanguage` reads them: `arb` -> `ar`, `swh` -> `sw`, `cmn` -> `zh`, `kmr` -> `ku`), and
- its own code is absent from the file or at least two groups below the macrolanguage's.

Other members keep their own group (Hakka `hak_Hani` stays unseen although `zho_Hani` is medium:
the Chinese data is Mandarin, not Hakka), and so does a main language within one group of its
macrolanguage (`zsm_Latn` medium beside `msa_Latn` medium-high). The file writes Chinese as `Hani`,
so `Hans`/`Hant` codes are looked up as `Hani` where the file has no entry of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TypeVar, overload

import langcodes

from emma.errors import EmmaError
from emma.languages.codes import macrolanguage, normalize, split
from emma.languages.registry import registry

_T = TypeVar("_T")

# EMMA-500 (Ji et al., 2024), Table 1: groups by tokens available in the MaLA corpus.
THRESHOLDS: list[tuple[str, int]] = [
    ("high", 1_000_000_000),
    ("medium-high", 100_000_000),
    ("medium", 10_000_000),
    ("medium-low", 1_000_000),
    ("low", 100_000),
]
GROUPS: list[str] = [g for g, _ in THRESHOLDS] + ["unseen"]


def group_for_tokens(n_tokens: int) -> str:
    for group, floor in THRESHOLDS:
        if n_tokens >= floor:
            return group
    return "unseen"


def _in_file(code: str, table: Mapping[str, str]) -> tuple[str | None, str | None]:
    """`code`'s group and the key it is filed under; Chinese `Hans`/`Hant` fall back to the file's `Hani`."""
    lang3, script = split(code)
    for key in [code] + ([f"{lang3}_Hani"] if script in ("Hans", "Hant") else []):
        if key in table:
            return table[key], key
    return None, None


@lru_cache(maxsize=4096)
def is_main_member(lang3: str) -> bool:
    """Whether CLDR names `lang3` the main language of its macrolanguage (`arb`, `swh`, `cmn`; not `hak`, `prs`)."""
    macro = registry().macro_of.get(lang3)
    if macro is None:
        return False
    subtag = next((s for s, c in registry().alpha3.items() if c == lang3 and len(s) == 2), lang3)
    preferred = langcodes.Language.make(language=subtag).prefer_macrolanguage().language
    return preferred is not None and preferred != subtag and registry().alpha3.get(preferred, preferred) == macro


def resource_group(lang: str, table: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The group of `lang` in `table` (a groups file's own `{code: group}`), and a note when it is
    bridged to its macrolanguage's group (module docstring: the policy); (None, None) when neither has one."""
    try:
        code = normalize(lang)
    except EmmaError:
        return table.get(lang), None
    own = table.get(lang)
    if own is None:
        own, _ = _in_file(code, table)
    lang3, script = split(code)
    macro = macrolanguage(code)
    if macro is None or not is_main_member(lang3):
        return own, None
    group, key = _in_file(f"{macro}_{script}", table)
    if group is None or (own is not None and GROUPS.index(own) - GROUPS.index(group) < 2):
        return own, None
    where = f"{own} in the groups file" if own else "not in the groups file"
    return group, f"{code}: {where}; its macrolanguage {key} is {group}, and CLDR makes {lang3} its main language: bridged"


class ResourceGroups(dict[str, str]):
    """`{code: group}` for a groups file's codes (as spelled there and normalised), every answer
    given by `resource_group`: `table["arb_Arab"]` is `ara_Arab`'s group. Codes the file lacks
    answer too when they are bridged (`table.get("cmn_Hans")`, `"cmn_Hans" in table`); iterating,
    `len` and `dict(table)` cover the file's codes. `file` holds the file's own groups, `bridged`
    the notes for its codes, `note(lang)` the note for any code."""

    def __init__(self, file: Mapping[str, str]) -> None:
        super().__init__()
        self.file: dict[str, str] = dict(file)
        self.bridged: dict[str, str] = {}
        for code in self.file:
            group, note = resource_group(code, self.file)
            if group is not None:
                super().__setitem__(code, group)
            if note:
                self.bridged[code] = note

    def lookup(self, lang: str) -> tuple[str | None, str | None]:
        """(group, note), as `resource_group` gives them."""
        if super().__contains__(lang):
            return super().__getitem__(lang), self.bridged.get(lang)
        return resource_group(lang, self.file)

    def note(self, lang: str) -> str | None:
        return self.lookup(lang)[1]

    def __missing__(self, lang: str) -> str:
        group = self.lookup(lang)[0]
        if group is None:
            raise KeyError(lang)
        return group

    def __contains__(self, lang: object) -> bool:
        return super().__contains__(lang) or (isinstance(lang, str) and self.lookup(lang)[0] is not None)

    @overload
    def get(self, lang: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, lang: str, default: str, /) -> str: ...
    @overload
    def get(self, lang: str, default: _T, /) -> str | _T: ...
    def get(self, lang, default=None, /):
        group = self.lookup(lang)[0] if isinstance(lang, str) else None
        return default if group is None else group


def load_resource_groups(path: str | Path) -> ResourceGroups:
    """Read `{"high": ["fra_Latn", ...], ...}` (EMMA-500's file) into a `ResourceGroups` table."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmmaError(f"{path}: resource-group file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EmmaError(f'{path}: not a JSON resource-group file ({exc}); expected {{"high": ["fra_Latn", ...]}}') from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise EmmaError(f"{path}: expected an object mapping group names to lists of language codes")
    out: dict[str, str] = {}
    for group, codes in data.items():
        if group not in GROUPS:
            raise EmmaError(f"{path}: unknown resource group {group!r}; expected one of {', '.join(GROUPS)}")
        for code in codes:
            out[code] = group  # keep the file's own spelling as key...
            try:
                out.setdefault(normalize(code), group)  # ...and the normalised one
            except EmmaError:
                pass
    return ResourceGroups(out)
