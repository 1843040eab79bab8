"""Backends answer the tasks' questions: log-likelihood of a continuation given a context,
NLL of a text, and generation. Scoring code is shared by all tasks; a backend only runs a model.

- `hf`: a Hugging Face model in this process (CPU or GPU).
- `vllm`: vLLM's engine in this process (`bash scripts/setup.sh --with vllm`; GPU, or its CPU
  build): `emma.eval.backends_vllm`.
- `openai`: any OpenAI-compatible server (vLLM, llama.cpp, TGI, ...) through the `openai` SDK:
  generation, and log-likelihood where the server echoes prompt logprobs: `emma.eval.backends_openai`.

Each implements `emma.eval.backend.Backend`, the protocol tasks are written against, and
`emma.eval.backend.NextTokenScorer` (EMMA-500's classification scoring: the log-probability of
given token ids right after a prompt tokenised by a plain `tokenizer(prompt)` call).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from emma.errors import EmmaError
from emma.eval.backend import Backend, BackendOptions, LLRequest, Progress, resolve_device, resolve_dtype
from emma.eval.backends_openai import OpenAIBackend
from emma.eval.backends_vllm import VLLMBackend
from emma.eval.generation import GenRequest, generate
from emma.eval.loglikelihood import LogLikelihood, encode_prompt, loglikelihoods, next_token_logprobs
from emma.eval.nll import SegmentScore, score_segments
from emma.models import LoadedModel

__all__ = ["HFBackend", "OpenAIBackend", "VLLMBackend", "make_backend", "nll_from_loglikelihood", "run_dtype"]

log = logging.getLogger(__name__)
T = TypeVar("T")


AUTO_BATCH_START = {"cpu": 8, "cuda": 64}
"""Where `--batch-size auto` starts. On a GPU it halves on out-of-memory; on the CPU running out of
memory is the kernel's kill, not an exception, so auto there is the default batch."""


@dataclass
class HFBackend:
    lm: LoadedModel
    batch_size: int | None = 8  # None: auto (the largest batch that fits, found by halving on out-of-memory)

    def __post_init__(self):
        self._auto = AUTO_BATCH_START["cpu" if self.lm.model.device.type == "cpu" else "cuda"]

    @property
    def name(self) -> str:
        return self.lm.name

    @property
    def current_batch_size(self) -> int:
        return self.batch_size or self._auto

    def _batched(self, call: Callable[[int, Progress], T], progress: Progress) -> T:
        """Run `call(batch_size, progress)`; under auto, an out-of-memory error halves the batch and reruns
        the call, reporting to `progress` only the work past what the failed attempt already reported."""
        shown = 0  # work already reported to `progress` by failed attempts
        while True:
            size, count = self.current_batch_size, [0]

            def tick(n: int, count=count, shown=shown) -> None:
                before = count[0]
                count[0] += n
                fresh = count[0] - max(before, shown)
                if progress and fresh > 0:
                    progress(fresh)

            try:
                return call(size, tick)
            except torch_oom() as exc:
                shown = max(shown, count[0])
                if self.batch_size is not None or size == 1:
                    raise EmmaError(
                        f"out of memory on {self.lm.model.device} at batch size {size} ({str(exc).splitlines()[0][:120]}); "
                        + ("use a smaller --batch-size, or auto" if size > 1 else "use a smaller model, --dtype bfloat16, or a bigger device")
                    ) from None
                self._auto = size // 2
                log.warning("out of memory at batch size %d; retrying at %d", size, self._auto)
                empty_device_cache()

    def loglikelihood(self, requests: list[LLRequest], *, first_token_only: bool = False, progress: Progress = None) -> list[LogLikelihood]:
        return self._batched(
            lambda size, tick: loglikelihoods(
                self.lm.model, self.lm.tokenizer, requests, batch_size=size, first_token_only=first_token_only, progress=tick
            ),
            progress,
        )

    def nll(self, texts: list[str], *, progress: Progress = None) -> list[SegmentScore]:
        return self._batched(lambda size, tick: score_segments(self.lm.model, self.lm.tokenizer, texts, progress=tick), progress)

    def generate(self, requests: list[GenRequest], *, progress: Progress = None) -> list[str]:
        return self._batched(lambda size, tick: generate(self.lm.model, self.lm.tokenizer, requests, batch_size=size, progress=tick), progress)

    def tokenize(self, text: str) -> list[int]:
        return encode_prompt(self.lm.tokenizer, text)

    def next_token_logprobs(
        self, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress: Progress = None
    ) -> list[list[float]]:
        return next_token_logprobs(self.lm.model, self.lm.tokenizer, contexts, token_ids, max_length=max_length, progress=progress)


def nll_from_loglikelihood(backend: Backend, texts: list[str], progress: Progress = None) -> list[SegmentScore]:
    """A text's NLL as the log-likelihood of the whole text after BOS: for backends without a
    windowed scorer of their own."""
    lls = backend.loglikelihood([("", t) for t in texts], progress=progress)
    return [SegmentScore(nll=-ll.logprob, tokens=ll.tokens, bytes=len(t.encode("utf-8"))) for ll, t in zip(lls, texts)]


def torch_oom() -> type[BaseException]:
    import torch

    return torch.OutOfMemoryError


def empty_device_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_dtype(kind: str, options: BackendOptions) -> str | None:
    """The dtype a run records and loads: resolved before loading (hf: float32 on the CPU), vLLM's
    own `auto` passed through, none for a server (it chose its dtype when it started)."""
    if kind == "hf":
        return resolve_dtype(options.dtype, resolve_device(options.device))
    if kind == "vllm":
        return str(options.model_args.get("dtype", options.dtype))
    return None


def make_backend(kind: str, model: str, options: BackendOptions | None = None) -> Backend:
    options = options or BackendOptions()
    if kind == "hf":
        from emma.models import load_model

        device = resolve_device(options.device)
        lm = load_model(model, dtype=resolve_dtype(options.dtype, device), device=device, model_args=options.model_args)
        return HFBackend(lm, batch_size=options.batch_size)
    if kind == "vllm":
        return VLLMBackend(model, options=options)
    if kind == "openai":
        return OpenAIBackend(model, options=options)
    raise EmmaError(f"unknown backend {kind!r}; use hf, vllm or openai")
