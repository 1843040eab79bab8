"""The backend contract: the three questions a task may ask a model. Tasks are written against
this protocol, not a class, so any runner (in-process, a server, a user's own) that answers them
serves every task; `emma.eval.backends` holds the ones emma ships."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from emma.eval.generation import GenRequest
from emma.eval.loglikelihood import LogLikelihood
from emma.eval.nll import SegmentScore

Progress = Callable[[int], None] | None
"""Called with how many units of work (requests, tokens) were just done; None: no progress bar."""

LLRequest = tuple[str, str]
"""(context, continuation): the log-likelihood of the continuation given the context."""


@runtime_checkable
class Backend(Protocol):
    @property
    def name(self) -> str:
        """The model's name as results record it."""
        ...

    def loglikelihood(self, requests: list[LLRequest], *, first_token_only: bool = False, progress: Progress = None) -> list[LogLikelihood]:
        """One result per request, in order; `first_token_only` scores the continuation's first token alone."""
        ...

    def nll(self, texts: list[str], *, progress: Progress = None) -> list[SegmentScore]:
        """Each text's total NLL (nats) over all of its tokens, with its token and byte counts."""
        ...

    def generate(self, requests: list[GenRequest], *, progress: Progress = None) -> list[str]:
        """One completion per request, in order, already cut at the request's stop strings."""
        ...


__all__ = ["Backend", "GenRequest", "LLRequest", "LogLikelihood", "Progress", "SegmentScore"]
