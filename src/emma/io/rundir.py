"""One run per output folder: a folder remembers the settings it was started with, and a later
command with other settings is refused instead of mixing two runs' files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emma.errors import EmmaError
from emma.io.atomic import write_json

SETTINGS_FILE = "config.json"


def claim_run_dir(
    out: Path, settings: dict[str, Any], *, what: str, ignore: tuple[str, ...] = (), hint: str = "use another --out", write: bool = True
) -> None:
    """Refuse `out` if it holds a `what` run whose settings differ (keys in `ignore` may differ:
    paths to the same inputs); else record `settings` there."""
    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            theirs = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise EmmaError(f"{path} is unreadable; delete {out} or {hint}") from None
        changed = sorted(k for k in set(settings) | set(theirs) if k not in ignore and theirs.get(k) != settings.get(k))
        if changed:
            raise EmmaError(f"{out} holds a {what} run with other settings ({', '.join(changed)}); {hint}")
    if write:
        write_json(path, settings)
