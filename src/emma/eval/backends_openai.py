"""The `openai` backend: any OpenAI-compatible server (vLLM's, llama.cpp's, TGI's, a hosted API)
through the `openai` SDK (`pip install 'emma[openai]'`; `setup.sh` installs it).

`-m <name>@<base_url>` (`my-model@http://127.0.0.1:8000/v1`); the key comes from $OPENAI_API_KEY.

- **Log-likelihood** (multiple choice, classification, NLL): `/v1/completions` with `echo: true,
  logprobs: 1, max_tokens: 0` (lm-eval's `local-completions` request; vLLM answers it without
  generating) and the prompt's own token log-probabilities read back. Where the served model's
  tokenizer is at hand (an emma alias, a local folder, a hub id in the local cache, or `--model-args
  tokenizer=<id or path>`), prompts go as token ids tokenised exactly as the hf backend does
  (`encode_pair`, BOS by lm-eval's rule), so the numbers are the hf backend's up to kernel precision;
  otherwise as text, the continuation's tokens found by the server's `text_offset`s.
  `--model-args tokenized_requests=False` forces text.
- **Generation**: `/v1/completions` (the same prompt tokens as the hf backend where the tokenizer is
  at hand), cut at the request's stop strings; with `--model-args api=chat` through
  `/v1/chat/completions` instead, the prompt as one user message, for chat-only APIs, which cannot
  answer log-likelihood requests (those fail with one line saying so; generation tasks run).
- **Throughput and failures**: `--batch-size` prompts per request, `--num-concurrent` requests in
  flight (results kept in order), `--timeout` seconds per request, and `--max-retries` retries with
  exponential backoff (0.5 s doubling to 8 s, with jitter; the server's Retry-After honoured) after
  connection errors, timeouts, 408/409/429 and 5xx answers: the SDK's own retry loop.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

from emma.errors import EmmaError
from emma.eval.backend import BackendOptions, LLRequest, Progress
from emma.eval.generation import GenRequest, cut_at_stops
from emma.eval.loglikelihood import LogLikelihood, encode_pair, encode_prompt, move_trailing_space
from emma.eval.nll import SegmentScore

log = logging.getLogger(__name__)
T = TypeVar("T")

AUTO_BATCH = 8  # prompts per request under --batch-size auto
MODEL_ARGS = {
    "api": "completions (default) or chat (/v1/chat/completions: generation only)",
    "tokenizer": "the served model's tokenizer, a hub id or local path (default: the served name, where it is local)",
    "tokenized_requests": "True: token-id prompts (needs the tokenizer); False: text prompts",
}
NO_LOGPROBS = (
    "log-likelihood tasks (sib200, xcopa, belebele, nll, ...) need a /v1/completions server that echoes prompt "
    "log-probabilities (vLLM's, llama.cpp's); generation tasks (flores200, xlsum, mgsm, ...) run without"
)


@dataclass
class OpenAIBackend:
    """An OpenAI-compatible server: see the module docstring. `next_token_logprobs` (EMMA-500's
    classification scoring) needs the served model's tokenizer: `<name>` its hub id or local path,
    or `--model-args tokenizer=...`."""

    model: str
    options: BackendOptions = field(default_factory=BackendOptions)

    def __post_init__(self) -> None:
        if "@" not in self.model:
            raise EmmaError(f"backend openai needs --model <name>@<base_url>, e.g. my-model@http://localhost:8000/v1; got {self.model!r}")
        self.served, base_url = self.model.rsplit("@", 1)
        self.base_url = base_url.rstrip("/")
        args = dict(self.options.model_args)
        unknown = sorted(set(args) - set(MODEL_ARGS))
        if unknown:
            known = "; ".join(f"{k}: {v}" for k, v in MODEL_ARGS.items())
            raise EmmaError(f"--model-args {', '.join(unknown)}: not an openai backend setting (its settings: {known})")
        self.api = str(args.get("api", "completions"))
        if self.api not in ("completions", "chat"):
            raise EmmaError(f"--model-args api={self.api}: use completions or chat")
        self.tokenizer_source = args.get("tokenizer")
        self.tokenized = args.get("tokenized_requests")  # None: token ids where a tokenizer is at hand
        if self.tokenized not in (None, True, False):
            raise EmmaError(f"--model-args tokenized_requests={self.tokenized}: use True or False")
        self.batch_size = self.options.batch_size or AUTO_BATCH
        self._client: Any = None
        self._tokenizer: Any = None
        self._tokenizer_tried = False
        self._bos = False
        self._echo_tokens = 0  # max_tokens of a log-likelihood request: 0, or 1 for a server that refuses 0

    @property
    def name(self) -> str:
        return self.served

    @property
    def current_batch_size(self) -> int:
        return self.batch_size

    # --- the SDK ------------------------------------------------------------------------------

    def _api(self):
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise EmmaError("backend openai needs the openai SDK: pip install 'emma[openai]' (bash scripts/setup.sh installs it)") from None
            self._openai = openai
            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=os.environ.get("OPENAI_API_KEY") or "EMPTY",
                timeout=self.options.timeout,
                max_retries=self.options.max_retries,
            )
        return self._client

    def _post(self, payload: dict, *, logprobs: bool = False) -> dict:
        """One request (retried by the SDK); its JSON body. Failures become one EmmaError line."""
        client = self._api()
        openai = self._openai
        endpoint = client.chat.completions if self.api == "chat" else client.completions
        tries = f"{self.options.max_retries} retr{'y' if self.options.max_retries == 1 else 'ies'}"
        try:
            raw = endpoint.with_raw_response.create(model=self.served, **payload)
            body = json.loads(raw.text)
        except openai.APITimeoutError:
            raise EmmaError(
                f"openai backend: {self.base_url} gave no answer within --timeout {self.options.timeout:g} s ({tries}); "
                "raise --timeout or --max-retries, or lower --num-concurrent"
            ) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise EmmaError(
                f"openai backend: cannot reach {self.base_url} ({type(cause).__name__}: {cause}; {tries}); is the server running?"
            ) from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, logprobs=logprobs) from None
        except json.JSONDecodeError:
            raise EmmaError(f"openai backend: {self.base_url} answered with something that is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise EmmaError(f"openai backend: {self.base_url} answered without `choices`: {str(body)[:160]}")
        return body

    def _status_error(self, exc, *, logprobs: bool) -> EmmaError:
        code = exc.status_code
        try:
            detail = exc.response.text
            parsed = json.loads(detail)
            if isinstance(parsed, dict):
                inner = parsed.get("error", parsed)
                detail = str(inner.get("message", inner) if isinstance(inner, dict) else inner)
        except Exception:
            detail = str(getattr(exc, "message", exc))
        detail = " ".join(detail.split())[:200].rstrip(".")
        path = "/chat/completions" if self.api == "chat" else "/completions"
        retried = f" after {self.options.max_retries} retries" if code in (408, 409, 429) or code >= 500 else ""
        text = f"openai backend: {self.base_url}{path} answered HTTP {code}{retried}: {detail}"
        if logprobs and (code in (404, 405, 501) or any(w in detail.lower() for w in ("echo", "logprob"))):
            return EmmaError(f"{text}; the server cannot return prompt log-probabilities: {NO_LOGPROBS}")
        if code == 404 and self.api == "completions":
            return EmmaError(f"{text}; a chat-only API? --model-args api=chat runs generation tasks through /chat/completions")
        return EmmaError(text)

    def _map(self, calls: list[Callable[[], T]], progress: Progress, weights: list[int]) -> list[T]:
        """Run `calls` with --num-concurrent in flight; results in order. The first failure cancels the rest."""
        if self.options.num_concurrent <= 1 or len(calls) <= 1:
            out = []
            for call, weight in zip(calls, weights):
                out.append(call())
                if progress:
                    progress(weight)
            return out
        results: list[Any] = [None] * len(calls)
        with ThreadPoolExecutor(max_workers=self.options.num_concurrent, thread_name_prefix="emma-openai") as pool:
            pending = {pool.submit(call): i for i, call in enumerate(calls)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    i = pending.pop(future)
                    if future.exception() is not None:
                        for other in pending:
                            other.cancel()
                        raise future.exception()  # type: ignore[misc]
                    results[i] = future.result()
                    if progress:
                        progress(weights[i])
        return results

    # --- tokenizer ----------------------------------------------------------------------------

    def _load_tokenizer(self, *, download: bool):
        """The served model's tokenizer from `tokenizer=` or the served name; None where there is none
        (only `tokenizer=` and `download` look beyond this machine)."""
        from transformers import AutoConfig, AutoTokenizer

        from emma.models.load import checkpoint_path

        source = self.tokenizer_source or self.served
        local = not (download or self.tokenizer_source)
        try:
            try:
                where = str(checkpoint_path(source)[1])  # aliases and .gguf files as emma loads them
            except EmmaError:
                where = source
            tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
        except Exception as exc:
            if self.tokenizer_source or download:
                raise EmmaError(
                    "openai backend: tokenising prompts here needs the served model's tokenizer; "
                    f"cannot load one from {source!r} ({type(exc).__name__}): "
                    "give --model <hub id or local path>@<base_url>, or --model-args tokenizer=<hub id or path>"
                ) from None
            return None
        try:
            model_type = str(getattr(AutoConfig.from_pretrained(where, local_files_only=True), "model_type", ""))
        except Exception:
            model_type = type(tokenizer).__name__.lower()
        self._bos = model_type.startswith("gemma")  # lm-eval's rule (emma.eval.loglikelihood.wants_bos)
        return tokenizer

    def _prompt_tokenizer(self):
        """The tokenizer for token-id prompts, or None: text prompts."""
        if self.tokenized is False:
            return None
        if not self._tokenizer_tried:
            self._tokenizer_tried = True
            self._tokenizer = self._load_tokenizer(download=self.tokenized is True)
            if self._tokenizer is None:
                log.info(
                    "openai backend: no local tokenizer for %r; sending text prompts (continuations split at the server's token offsets). "
                    "--model-args tokenizer=<hub id or path> sends the hf backend's exact tokens",
                    self.served,
                )
        return self._tokenizer

    def _local_tokenizer(self):
        """The served model's tokenizer, loaded from the hub if need be (EMMA-500's scoring needs it)."""
        if self._tokenizer is None:
            self._tokenizer_tried = True
            self._tokenizer = self._load_tokenizer(download=True)
        return self._tokenizer

    # --- the questions ------------------------------------------------------------------------

    def _no_chat(self, what: str) -> None:
        if self.api == "chat":
            raise EmmaError(f"openai backend: a chat API (--model-args api=chat) cannot return prompt log-probabilities for {what}; {NO_LOGPROBS}")

    def _echo(self, prompts: list) -> Callable[[], list[dict]]:
        """A call returning each prompt's echoed `logprobs` dict, in order."""

        def call() -> list[dict]:
            payload = {"prompt": prompts, "max_tokens": self._echo_tokens, "echo": True, "logprobs": 1, "temperature": 0}
            try:
                resp = self._post(payload, logprobs=True)
            except EmmaError as exc:
                if self._echo_tokens == 0 and "max_tokens" in str(exc):  # a server that wants at least one new token
                    self._echo_tokens = 1
                    resp = self._post(payload | {"max_tokens": 1}, logprobs=True)
                else:
                    raise
            choices = sorted(resp["choices"], key=lambda ch: ch.get("index", 0))
            if len(choices) != len(prompts):
                raise EmmaError(f"openai backend: {self.base_url} returned {len(choices)} choices for {len(prompts)} prompts")
            out = []
            for choice in choices:
                lp = choice.get("logprobs") or {}
                if not isinstance(lp, dict) or not lp.get("token_logprobs"):
                    raise EmmaError(f"openai backend: {self.base_url} does not return prompt logprobs (echo); {NO_LOGPROBS}")
                out.append(lp)
            return out

        return call

    def _batches(self, n: int, size: int) -> list[range]:
        return [range(s, min(s + size, n)) for s in range(0, n, size)]

    def loglikelihood(self, requests: list[LLRequest], *, first_token_only: bool = False, progress: Progress = None) -> list[LogLikelihood]:
        self._no_chat("log-likelihood requests")
        tok = self._prompt_tokenizer()
        batches = self._batches(len(requests), self.batch_size)
        if tok is not None:
            pairs = [encode_pair(tok, c, x, add_bos=self._bos) for c, x in requests]
            if first_token_only:
                pairs = [(ctx, cont[:1]) for ctx, cont in pairs]
            calls = [self._echo([pairs[i][0] + pairs[i][1] for i in b]) for b in batches]
        else:
            moved = [move_trailing_space(c, x) for c, x in requests]
            calls = [self._echo([moved[i][0] + moved[i][1] for i in b]) for b in batches]
        answers = [lp for batch in self._map(calls, progress, [len(b) for b in batches]) for lp in batch]
        out = []
        for i, lp in enumerate(answers):
            values, top = lp.get("token_logprobs") or [], lp.get("top_logprobs")
            if tok is not None:
                start, end = len(pairs[i][0]), len(pairs[i][0]) + len(pairs[i][1])
                if len(values) < end:
                    raise EmmaError(f"openai backend: {self.base_url} echoed {len(values)} token logprobs for a prompt of {end} tokens")
                picked = list(range(start, end))
                if any(values[k] is None for k in picked):
                    raise EmmaError(f"openai backend: {self.base_url} left a continuation token without a logprob; {NO_LOGPROBS}")
            else:
                offsets = lp.get("text_offset")
                if not offsets:
                    raise EmmaError(f"openai backend: {self.base_url} does not return text offsets with its logprobs; {NO_LOGPROBS}")
                context, continuation = moved[i]
                end = len(context) + len(continuation)  # offsets past the prompt are generated tokens
                # a token without a logprob (the prompt's first, or a BOS the server added) is not scored
                picked = [k for k, off in enumerate(offsets) if len(context) <= off < end and k < len(values) and values[k] is not None]
                if first_token_only:
                    picked = picked[:1]
            top = top or [None] * len(values)
            total = sum(float(values[k]) for k in picked)
            greedy = all(not top[k] or values[k] >= max(top[k].values()) - 1e-6 for k in picked)
            out.append(LogLikelihood(total, bool(greedy), len(picked)))
        return out

    def nll(self, texts: list[str], *, progress: Progress = None) -> list[SegmentScore]:
        from emma.eval.backends import nll_from_loglikelihood

        return nll_from_loglikelihood(self, texts, progress)

    def tokenize(self, text: str) -> list[int]:
        return encode_prompt(self._local_tokenizer(), text)

    def next_token_logprobs(
        self, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress: Progress = None
    ) -> list[list[float]]:
        """Echoed prompt logprobs of context + token (token-id prompts), the token's own logprob read at its position."""
        self._no_chat("EMMA-500's next-token scoring")
        tok = self._local_tokenizer()
        encoded = [encode_prompt(tok, c, max_length=max_length) for c in contexts]
        flat = [(i, encoded[i] + [int(t)]) for i, ids in enumerate(token_ids) for t in ids]
        batches = self._batches(len(flat), self.batch_size)
        calls = [self._echo([flat[k][1] for k in b]) for b in batches]
        # progress counts contexts: a batch reports the contexts whose last prompt it holds
        last = {i: k for k, (i, _) in enumerate(flat)}
        weights = [sum(1 for k in b if last[flat[k][0]] == k) for b in batches]
        answers = [lp for batch in self._map(calls, progress, weights) for lp in batch]
        out: list[list[float]] = [[] for _ in contexts]
        for (i, _), lp in zip(flat, answers):
            values = lp.get("token_logprobs") or []
            at = len(encoded[i])
            if len(values) <= at or values[at] is None:
                raise EmmaError(
                    f"openai backend: {self.base_url} does not return prompt logprobs (echo) for token-id prompts; "
                    "EMMA-500's scoring needs a server that does (vLLM, llama.cpp)"
                )
            out[i].append(float(values[at]))
        if progress:
            progress(sum(1 for ids in token_ids if not ids))  # contexts asking about no token
        return out

    def generate(self, requests: list[GenRequest], *, progress: Progress = None) -> list[str]:
        tok = self._prompt_tokenizer() if self.api == "completions" else None
        prompts: list[Any] = []
        for r in requests:
            if tok is None:
                prompts.append(r.context)
            else:  # the hf backend's prompt tokens: no special tokens but Gemma's BOS
                ids = tok(r.context, add_special_tokens=False)["input_ids"]
                prompts.append(([tok.bos_token_id] if self._bos and tok.bos_token_id is not None else []) + ids)
        # consecutive requests with the same settings share a request (chat: one prompt per request)
        groups: list[list[int]] = []
        for i, r in enumerate(requests):
            if groups and self.api == "completions" and len(groups[-1]) < self.batch_size and _settings(requests[groups[-1][0]]) == _settings(r):
                groups[-1].append(i)
            else:
                groups.append([i])

        def call(group: list[int]) -> Callable[[], list[str]]:
            def run() -> list[str]:
                r = requests[group[0]]
                payload: dict[str, Any] = {"max_tokens": r.max_new_tokens, "temperature": r.temperature, "top_p": r.top_p, "seed": r.seed}
                stops = [s for s in r.until if s][:4]  # the OpenAI API takes up to 4; all are cut below
                if stops:
                    payload["stop"] = stops
                if self.api == "chat":
                    resp = self._post(payload | {"messages": [{"role": "user", "content": prompts[group[0]]}]})
                    return [str((resp["choices"][0].get("message") or {}).get("content") or "")]
                resp = self._post(payload | {"prompt": [prompts[i] for i in group] if len(group) > 1 else prompts[group[0]]})
                choices = sorted(resp["choices"], key=lambda ch: ch.get("index", 0))
                if len(choices) != len(group):
                    raise EmmaError(f"openai backend: {self.base_url} returned {len(choices)} choices for {len(group)} prompts")
                return [str(ch.get("text") or "") for ch in choices]

            return run

        texts = [t for batch in self._map([call(g) for g in groups], progress, [len(g) for g in groups]) for t in batch]
        order = [i for g in groups for i in g]
        out = [""] * len(requests)
        for i, text in zip(order, texts):
            out[i] = cut_at_stops(text, requests[i].until)
        return out


def _settings(r: GenRequest) -> tuple:
    return (r.max_new_tokens, r.until, r.temperature, r.top_p, r.seed)
