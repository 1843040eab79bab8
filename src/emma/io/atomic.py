"""Atomic file writes: a crash or kill never leaves a half-written output behind (temporary file
beside the target, renamed onto it; the umask decides the final permissions)."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emma.errors import EmmaError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_writable_dir(path: str | Path) -> Path:
    """Create `path` (and parents) or fail with one clear line."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".emma-probe-", delete=True)
        probe.close()
    except OSError as exc:
        raise EmmaError(f"output directory {path} is not writable ({exc.strerror}); choose another with --out") from None
    return path


_writes = 0


def _fault_point(path: Path) -> None:
    """Fault injection for the kill-anywhere tests (tests/test_kill_anywhere.py): `EMMA_WRITE_LOG=F`
    appends each atomic write's target to F; `EMMA_KILL_AT_WRITE=N` makes the process SIGKILL itself
    at its N-th atomic write, the temporary file complete and not yet renamed onto its target."""
    global _writes
    if not (os.environ.get("EMMA_KILL_AT_WRITE") or os.environ.get("EMMA_WRITE_LOG")):
        return
    _writes += 1
    if log := os.environ.get("EMMA_WRITE_LOG"):
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {_writes} {path}\n")
    if os.environ.get("EMMA_KILL_AT_WRITE") == str(_writes):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _clear_leftovers(path: Path) -> None:
    """Remove the temporaries a killed writer of `path` left beside it: their names carry the
    writer's pid, and only those of processes that are gone are removed (a live writer keeps its own)."""
    for old in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = old.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix + ".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; the final file gets what open() would give it
    try:
        yield tmp_path
        _fault_point(path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def scratch_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary file beside `path` for work towards it (fastText's training text), removed after
    the block; named like `atomic_path`'s temporaries, so one a kill left behind is cleared by the
    next write of `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix + ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def strict_json(obj: Any) -> Any:
    """`obj` with NaN and infinities as null: JSON has no NaN, and strict readers (jq, JavaScript,
    many JSON libraries) reject Python's `NaN` token."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(strict_json(obj), ensure_ascii=False, indent=2, allow_nan=False) + "\n")


def write_jsonl(path: str | Path, rows) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(strict_json(row), ensure_ascii=False, allow_nan=False) + "\n")


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one record and fsync it: used for per-item progress logs that resume after a kill."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        _fault_point(path)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
