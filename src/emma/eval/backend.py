"""The backend contract: the three questions a task may ask a model. Tasks are written against
this protocol, not a class, so any runner (in-process, a server, a user's own) that answers them
serves every task; `emma.eval.backends` holds the ones emma ships.

`NextTokenScorer` is an optional fourth question, asked only by EMMA-500's own classification
scoring (`--preset emma500` on SIB-200 and Taxi-1500): the log-probability of given token ids right
after a prompt. emma's three backends answer it; a backend without it serves every other task."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from emma.errors import EmmaError
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


@dataclass(frozen=True)
class BackendOptions:
    """How a backend runs its model (not which model, not what it is asked). `batch_size` None is
    `--batch-size auto`: the largest batch that fits, found by halving on out-of-memory."""

    batch_size: int | None = 8
    device: str = "auto"  # auto | cpu | cuda | cuda:N (hf); vLLM and servers place their own
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    model_args: dict[str, Any] = field(default_factory=dict)  # hf: from_pretrained kwargs; vllm: vllm.LLM kwargs
    num_concurrent: int = 1  # openai: requests in flight at once
    timeout: float = 600.0  # openai: seconds per request
    max_retries: int = 3  # openai: retries (with exponential backoff) of a failed request


DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


def parse_model_args(text: str | None) -> dict[str, Any]:
    """`k=v,k2=v2` (lm-eval's --model_args form) to a dict; values are Python literals where they
    parse as one (numbers, True/False/None, quoted strings), else plain strings."""
    out: dict[str, Any] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise EmmaError(f"--model-args {text!r}: {part!r} is not key=value; write e.g. attn_implementation=sdpa,revision=main")
        value = value.strip()
        lowered = {"true": "True", "false": "False", "none": "None"}.get(value.lower(), value)
        try:
            out[key.strip()] = ast.literal_eval(lowered)
        except (ValueError, SyntaxError):
            out[key.strip()] = value
    return out


def resolve_device(device: str) -> str:
    """`auto` is the first GPU where torch sees one, else the CPU; a GPU asked for and absent is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        index = device.partition(":")[2]
        if index and not index.isdigit():
            raise EmmaError(f"--device {device!r}: write cuda or cuda:N (N a number)")
        if not torch.cuda.is_available():
            raise EmmaError(f"--device {device}: torch sees no CUDA GPU here ({torch.__version__}); use --device cpu or auto")
        if index and int(index) >= torch.cuda.device_count():
            raise EmmaError(f"--device {device}: torch sees {torch.cuda.device_count()} GPU(s); use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return device
    raise EmmaError(f"--device {device!r}: use auto, cpu, cuda or cuda:N")


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto`: float32 on the CPU (emma's and lm-eval's CPU numbers are fp32), bfloat16 on a GPU that
    supports it, else float16. Decided before loading, so the dtype results record is known up front."""
    if dtype not in DTYPE_NAMES:
        raise EmmaError(f"--dtype {dtype!r}: use one of {', '.join(DTYPE_NAMES)}")
    if dtype != "auto":
        return dtype
    if device == "cpu":
        return "float32"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


__all__ = ["Backend", "BackendOptions", "GenRequest", "LLRequest", "LogLikelihood", "NextTokenScorer", "Progress", "SegmentScore"]
