"""The backend contract: the three questions a task may ask a model. Tasks are written against
this protocol, not a class, so any runner (in-process, a server, a user's own) that answers them
serves every task; `emma.eval.backends` holds the ones emma ships.

`NextTokenScorer` is an optional fourth question, asked only by EMMA-500's own classification
scoring (`--preset emma500` on SIB-200 and Taxi-1500): the log-probability of given token ids right
after a prompt. emma's three backends answer it; a backend without it serves every other task."""

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


@runtime_checkable
class NextTokenScorer(Protocol):
    def tokenize(self, text: str) -> list[int]:
        """The model tokenizer's ids for `text` as a plain `tokenizer(text).input_ids` gives them (its special tokens included)."""
        ...

    def next_token_logprobs(
        self, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress: Progress = None
    ) -> list[list[float]]:
        """For each context, tokenised as `tokenize` does (with `max_length`: truncated as `truncation=True,
        max_length=...` does), the log-probability of each of its token ids at the position right after it."""
        ...


__all__ = ["Backend", "GenRequest", "LLRequest", "LogLikelihood", "NextTokenScorer", "Progress", "SegmentScore"]
