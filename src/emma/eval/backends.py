"""Backends answer two questions for the tasks: log-likelihood of a continuation given a context,
and (later) generation. Scoring code is shared; a backend only runs the model."""

from __future__ import annotations

from dataclasses import dataclass

from emma.eval.loglikelihood import LogLikelihood, loglikelihoods
from emma.eval.nll import SegmentScore, score_segments


@dataclass
class HFBackend:
    """A Hugging Face model in this process (CPU or GPU)."""

    lm: object  # emma.models.LoadedModel
    batch_size: int = 8

    @property
    def name(self) -> str:
        return self.lm.name

    def loglikelihood(self, requests: list[tuple[str, str]], *, first_token_only: bool = False, progress=None) -> list[LogLikelihood]:
        return loglikelihoods(self.lm.model, self.lm.tokenizer, requests, batch_size=self.batch_size,
                              first_token_only=first_token_only, progress=progress)

    def nll(self, texts: list[str], *, progress=None) -> list[SegmentScore]:
        return score_segments(self.lm.model, self.lm.tokenizer, texts, progress=progress)


def make_backend(kind: str, model: str, *, batch_size: int = 8):
    from emma.errors import EmmaError

    if kind != "hf":
        raise EmmaError(f"backend {kind!r} is not available yet; use --backend hf")
    from emma.models import load_model

    return HFBackend(load_model(model), batch_size=batch_size)
