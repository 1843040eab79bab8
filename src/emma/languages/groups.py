"""Resource groups: EMMA-500's token thresholds, or its own published grouping."""

from __future__ import annotations

import json
from pathlib import Path

from emma.errors import EmmaError

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


def load_resource_groups(path: str | Path) -> dict[str, str]:
    """Read `{"high": ["fra_Latn", ...], ...}` (EMMA-500's file) into `{code: group}`."""
    from emma.languages.codes import normalize

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
    return out
