"""Backends answer the tasks' questions: log-likelihood of a continuation given a context,
NLL of a text, and generation. Scoring code is shared by all tasks; a backend only runs a model.

- `hf`: a Hugging Face model in this process (CPU or GPU).
- `vllm`: vLLM in this process (optional extra `emma[vllm]`, GPU), for generation at scale.
- `openai`: any OpenAI-compatible completions server (vLLM, llama.cpp, TGI, ...): generation,
  and log-likelihood where the server echoes prompt logprobs.

Each implements `emma.eval.backend.Backend`, the protocol tasks are written against, and
`emma.eval.backend.NextTokenScorer` (EMMA-500's classification scoring: the log-probability of
given token ids right after a prompt tokenised by a plain `tokenizer(prompt)` call).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from emma.errors import EmmaError
from emma.eval.backend import Backend, LLRequest, Progress
from emma.eval.generation import GenRequest, generate
from emma.eval.loglikelihood import LogLikelihood, encode_pair, encode_prompt, loglikelihoods, move_trailing_space, next_token_logprobs
from emma.eval.nll import SegmentScore, score_segments
from emma.models import LoadedModel


@dataclass
class HFBackend:
    lm: LoadedModel
    batch_size: int = 8

    @property
    def name(self) -> str:
        return self.lm.name

    def loglikelihood(self, requests: list[LLRequest], *, first_token_only: bool = False, progress: Progress = None) -> list[LogLikelihood]:
        return loglikelihoods(
            self.lm.model, self.lm.tokenizer, requests, batch_size=self.batch_size, first_token_only=first_token_only, progress=progress
        )

    def nll(self, texts: list[str], *, progress: Progress = None) -> list[SegmentScore]:
        return score_segments(self.lm.model, self.lm.tokenizer, texts, progress=progress)

    def generate(self, requests: list[GenRequest], *, progress: Progress = None) -> list[str]:
        return generate(self.lm.model, self.lm.tokenizer, requests, batch_size=self.batch_size, progress=progress)

    def tokenize(self, text: str) -> list[int]:
        return encode_prompt(self.lm.tokenizer, text)

    def next_token_logprobs(
        self, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress: Progress = None
    ) -> list[list[float]]:
        return next_token_logprobs(self.lm.model, self.lm.tokenizer, contexts, token_ids, max_length=max_length, progress=progress)


@dataclass
class VLLMBackend:
    """vLLM offline engine. Log-likelihoods come from `prompt_logprobs` over context+continuation
    tokenised exactly as the hf backend does, so both give the same numbers up to kernel precision."""

    model: str
    batch_size: int = 8

    def __post_init__(self):
        try:
            import vllm
        except ImportError:
            raise EmmaError("backend vllm needs `pip install 'emma[vllm]'` (vLLM, Linux + GPU); or use --backend hf") from None
        from emma.models.load import checkpoint_path

        self._vllm = vllm
        self.engine = vllm.LLM(model=str(checkpoint_path(self.model)[1]), seed=0)
        self.tokenizer = self.engine.get_tokenizer()
        self._bos = str(self.engine.llm_engine.model_config.hf_config.model_type).startswith("gemma")

    @property
    def name(self) -> str:
        return self.model

    def loglikelihood(self, requests: list[LLRequest], *, first_token_only: bool = False, progress: Progress = None) -> list[LogLikelihood]:
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=1, temperature=0.0)
        out = []
        for start in range(0, len(requests), 256):
            chunk = requests[start : start + 256]
            pairs = [encode_pair(self.tokenizer, c, x, add_bos=self._bos) for c, x in chunk]
            if first_token_only:
                pairs = [(ctx, cont[:1]) for ctx, cont in pairs]
            prompts = [{"prompt_token_ids": ctx + cont} for ctx, cont in pairs]
            for (ctx, cont), res in zip(pairs, self.engine.generate(prompts, params, use_tqdm=False)):
                total, greedy = 0.0, True
                for pos, tok in enumerate(cont, len(ctx)):
                    scored = res.prompt_logprobs[pos]
                    total += scored[tok].logprob
                    greedy &= max(scored.values(), key=lambda lp: lp.logprob) is scored[tok]
                out.append(LogLikelihood(total, greedy, len(cont)))
            if progress:
                progress(len(chunk))
        return out

    def nll(self, texts: list[str], *, progress: Progress = None) -> list[SegmentScore]:
        return nll_from_loglikelihood(self, texts, progress)

    def tokenize(self, text: str) -> list[int]:
        return encode_prompt(self.tokenizer, text)

    def next_token_logprobs(
        self, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress: Progress = None
    ) -> list[list[float]]:
        """Prompt logprobs of context + token, one prompt per (context, token); vLLM's prefix cache runs
        each context's shared tokens once."""
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=1, temperature=0.0)
        out: list[list[float]] = []
        for start in range(0, len(contexts), 256):
            chunk = list(zip(contexts[start : start + 256], token_ids[start : start + 256]))
            encoded = [(encode_prompt(self.tokenizer, c, max_length=max_length), ids) for c, ids in chunk]
            prompts = [{"prompt_token_ids": ctx + [t]} for ctx, ids in encoded for t in ids]
            results = iter(self.engine.generate(prompts, params, use_tqdm=False))
            for ctx, ids in encoded:
                out.append([next(results).prompt_logprobs[len(ctx)][t].logprob for t in ids])
            if progress:
                progress(len(chunk))
        return out

    def generate(self, requests: list[GenRequest], *, progress: Progress = None) -> list[str]:
        from emma.eval.generation import cut_at_stops

        params = [
            self._vllm.SamplingParams(
                max_tokens=r.max_new_tokens,
                temperature=r.temperature,
                top_p=r.top_p,
                seed=r.seed if r.temperature > 0 else None,
                stop=[s for s in r.until if s],
            )
            for r in requests
        ]
        results = self.engine.generate([r.context for r in requests], params, use_tqdm=False)
        if progress:
            progress(len(requests))
        return [cut_at_stops(res.outputs[0].text, r.until) for res, r in zip(results, requests)]


@dataclass
class OpenAIBackend:
    """An OpenAI-compatible `/v1/completions` endpoint. `model` is `<name>@<base_url>`
    (e.g. `meta-llama/Llama-2-7b-hf@http://localhost:8000/v1`); the key comes from $OPENAI_API_KEY.
    Log-likelihood uses `echo` + `logprobs` with `max_tokens=0` and the tokens' text offsets, as
    lm-eval's `local-completions` does; servers that do not echo prompt logprobs get a clear error.
    `next_token_logprobs` (EMMA-500's classification scoring) sends token-id prompts, tokenised here
    by the served model's own tokenizer: `<name>` must be its hub id or local path."""

    model: str
    batch_size: int = 8
    timeout: float = 600.0

    def __post_init__(self):
        import os

        if "@" not in self.model:
            raise EmmaError(f"backend openai needs --model <name>@<base_url>, e.g. my-model@http://localhost:8000/v1; got {self.model!r}")
        self.served, self.base_url = self.model.rsplit("@", 1)
        self.base_url = self.base_url.rstrip("/")
        self.key = os.environ.get("OPENAI_API_KEY", "EMPTY")
        self._tokenizer = None

    @property
    def name(self) -> str:
        return self.served

    def _post(self, payload: dict) -> dict:
        body = json.dumps({"model": self.served, **payload}).encode()
        req = urllib.request.Request(
            f"{self.base_url}/completions",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise EmmaError(f"openai backend: {self.base_url} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise EmmaError(f"openai backend: cannot reach {self.base_url} ({getattr(exc, 'reason', exc)}); is the server running?") from None

    def loglikelihood(self, requests: list[LLRequest], *, first_token_only: bool = False, progress: Progress = None) -> list[LogLikelihood]:
        out = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            moved = [move_trailing_space(c, x) for c, x in chunk]
            resp = self._post({"prompt": [c + x for c, x in moved], "max_tokens": 0, "echo": True, "logprobs": 1, "temperature": 0})
            choices = sorted(resp.get("choices", []), key=lambda ch: ch.get("index", 0))
            if len(choices) != len(chunk):
                raise EmmaError(f"openai backend: {self.base_url} returned {len(choices)} choices for {len(chunk)} prompts")
            for (context, _), choice in zip(moved, choices):
                lp = choice.get("logprobs") or {}
                offsets, values = lp.get("text_offset"), lp.get("token_logprobs")
                if not offsets or values is None:
                    raise EmmaError(
                        f"openai backend: {self.base_url} does not return prompt logprobs (echo); "
                        "log-likelihood tasks need a server that does (vLLM, llama.cpp); generation tasks work without"
                    )
                picked = [k for k, off in enumerate(offsets) if off >= len(context)]
                if first_token_only:
                    picked = picked[:1]
                top = lp.get("top_logprobs") or [None] * len(offsets)
                total = sum(values[k] for k in picked if values[k] is not None)
                greedy = all(top[k] is None or values[k] >= max(top[k].values()) - 1e-6 for k in picked)
                out.append(LogLikelihood(float(total), bool(greedy), len(picked)))
            if progress:
                progress(len(chunk))
        return out

    def nll(self, texts: list[str], *, progress: Progress = None) -> list[SegmentScore]:
        return nll_from_loglikelihood(self, texts, progress)

    def _local_tokenizer(self):
        if self._tokenizer is None:
            try:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(self.served)
            except Exception as exc:
                raise EmmaError(
                    f"openai backend: EMMA-500's scoring tokenises prompts here and needs the served model's tokenizer; "
                    f"cannot load one from {self.served!r} ({type(exc).__name__}): give --model <hub id or local path>@<base_url>"
                ) from None
        return self._tokenizer

    def tokenize(self, text: str) -> list[int]:
        return encode_prompt(self._local_tokenizer(), text)

    def next_token_logprobs(
        self, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress: Progress = None
    ) -> list[list[float]]:
        """Echoed prompt logprobs of context + token (token-id prompts), the token's own logprob read at its position."""
        out: list[list[float]] = []
        for start in range(0, len(contexts), self.batch_size):
            chunk = list(zip(contexts[start : start + self.batch_size], token_ids[start : start + self.batch_size]))
            encoded = [(encode_prompt(self._local_tokenizer(), c, max_length=max_length), ids) for c, ids in chunk]
            prompts = [ctx + [t] for ctx, ids in encoded for t in ids]
            resp = self._post({"prompt": prompts, "max_tokens": 0, "echo": True, "logprobs": 1, "temperature": 0})
            choices = sorted(resp.get("choices", []), key=lambda ch: ch.get("index", 0))
            if len(choices) != len(prompts):
                raise EmmaError(f"openai backend: {self.base_url} returned {len(choices)} choices for {len(prompts)} prompts")
            answers = iter(choices)
            for ctx, ids in encoded:
                row = []
                for _ in ids:
                    values = (next(answers).get("logprobs") or {}).get("token_logprobs") or []
                    if len(values) <= len(ctx) or values[len(ctx)] is None:
                        raise EmmaError(
                            f"openai backend: {self.base_url} does not return prompt logprobs (echo) for token-id prompts; "
                            "EMMA-500's scoring needs a server that does (vLLM, llama.cpp)"
                        )
                    row.append(float(values[len(ctx)]))
                out.append(row)
            if progress:
                progress(len(chunk))
        return out

    def generate(self, requests: list[GenRequest], *, progress: Progress = None) -> list[str]:
        from emma.eval.generation import cut_at_stops

        out = []
        for r in requests:
            resp = self._post(
                {
                    "prompt": r.context,
                    "max_tokens": r.max_new_tokens,
                    "temperature": r.temperature,
                    "top_p": r.top_p,
                    "seed": r.seed,
                    "stop": [s for s in r.until if s][:4] or None,
                }
            )
            out.append(cut_at_stops(resp["choices"][0]["text"], r.until))
            if progress:
                progress(1)
        return out


def nll_from_loglikelihood(backend: Backend, texts: list[str], progress: Progress = None) -> list[SegmentScore]:
    """A text's NLL as the log-likelihood of the whole text after BOS: for backends without a
    windowed scorer of their own."""
    lls = backend.loglikelihood([("", t) for t in texts], progress=progress)
    return [SegmentScore(nll=-ll.logprob, tokens=ll.tokens, bytes=len(t.encode("utf-8"))) for ll, t in zip(lls, texts)]


def make_backend(kind: str, model: str, *, batch_size: int = 8) -> Backend:
    if kind == "hf":
        from emma.models import load_model

        return HFBackend(load_model(model), batch_size=batch_size)
    if kind == "vllm":
        return VLLMBackend(model, batch_size=batch_size)
    if kind == "openai":
        return OpenAIBackend(model, batch_size=batch_size)
    raise EmmaError(f"unknown backend {kind!r}; use hf, vllm or openai")
