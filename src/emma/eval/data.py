"""Task data: local files in each benchmark's upstream layout (read by `emma.io`'s readers), or the
Hugging Face hub. `TaskOptions` and `first_n_shots` live in `emma.eval.task` (re-exported here)."""

from __future__ import annotations

from pathlib import Path

from emma.errors import EmmaError
from emma.eval.task import TaskOptions, first_n_shots

__all__ = ["TaskOptions", "first_n_shots", "hub_rows", "require"]


def require(path: Path, task: str, layout: str) -> Path:
    if not path.is_file():
        raise EmmaError(f"{task}: {path} not found; --data-dir must hold {layout}")
    return path


def hub_rows(dataset: str, config: str | None, split: str, task: str) -> list[dict]:
    """Rows of a Hugging Face dataset split (needs `datasets` and the hub)."""
    try:
        import datasets
    except ImportError:
        raise EmmaError(f"{task}: loading {dataset} from the hub needs `pip install datasets`; or give --data-dir") from None
    try:
        return [dict(r) for r in datasets.load_dataset(dataset, config, split=split)]
    except Exception as exc:  # network, gated repo, unknown config: one line, with the way out
        raise EmmaError(
            f"{task}: could not load {dataset} ({config}, {split}) from the hub: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; give --data-dir with local files"
        ) from None
