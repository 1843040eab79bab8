"""The task registry: one small module per task family, each exposing `run(backend, lang, cfg)`."""

from __future__ import annotations

from emma.errors import EmmaError
from emma.eval.tasks import nll, sib200

TASKS = {
    "nll": nll,
    "sib200": sib200,
}


def get_task(name: str):
    try:
        return TASKS[name]
    except KeyError:
        raise EmmaError(f"unknown task {name!r}; available: {', '.join(sorted(TASKS))}") from None
