"""Log-likelihood of a continuation given a context: the one question every multiple-choice and
classification task asks a model (lm-evaluation-harness's `loglikelihood` request).

Two savings over scoring each (context, continuation) as one sequence, as lm-eval's HF backend
does: each distinct context runs through the model once and its KV cache is shared by all of its
continuations; and only the positions that predict continuation tokens go through the LM head
(for Gemma 3 the 262k x 640 head is most of the model). Results equal a plain forward pass.

Tokenisation follows lm-eval, so per-item numbers are comparable: trailing whitespace of the
context moves to the continuation, and the continuation's tokens are those of
context+continuation after the context's own tokens. An empty context is the BOS (or EOS) token. BOS is prepended for Gemma
models only, as lm-eval does (`add_bos` overrides).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch


@dataclass
class LogLikelihood:
    logprob: float  # sum over the continuation's tokens, nats
    is_greedy: bool  # every continuation token is the argmax
    tokens: int


def move_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval's rule: the context's trailing whitespace belongs to the continuation."""
    spaces = len(context) - len(context.rstrip())
    return (context[:-spaces], context[-spaces:] + continuation) if spaces else (context, continuation)


def encode_pair(tokenizer, context: str, continuation: str, *, add_bos: bool = False) -> tuple[list[int], list[int]]:
    context, continuation = move_trailing_space(context, continuation)
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
    cont = whole[len(ctx) :]
    if add_bos and tokenizer.bos_token_id is not None:
        ctx = [tokenizer.bos_token_id] + ctx
    if not ctx:
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        ctx = [prefix]
    return ctx, cont


MIN_SHARED_PREFIX = 8  # tokens; shorter shared prefixes are not worth a cache copy
FLAT_RECOMPUTE_TOKENS = 64
"""A context sharing no long prefix with another is run once per continuation, as whole sequences
batched across items (lm-eval's way), when that repeats fewer context tokens than this: zero-shot
tasks with short contexts and few choices (XCOPA) spend more on the cached path's per-context calls
and cache copies than its sharing saves. Longer or many-choice contexts keep the cached path."""


EXPANDED_CACHE_TOKENS = 1024
"""A context's KV cache is repeated once per continuation in a batch; rows are capped so that the
repeated cache holds at most this many context tokens (37 MB for Gemma 3 270M, 46 MB for SmolLM2 in
fp32), where eight rows of a 3-shot SIB-200 context held 0.1 GB. The continuations themselves are
a few tokens, so more, smaller calls cost little."""


def _common_prefix(a, b) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def wants_bos(model) -> bool:
    """lm-eval's rule: BOS is added for Gemma models (they degrade without it), not otherwise."""
    return str(getattr(model.config, "model_type", "")).startswith("gemma")


def _backbone_and_head(model):
    backbone = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    head = model.get_output_embeddings()
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return backbone, head, getattr(config, "final_logit_softcapping", None)


class _HeadScorer:
    """Projects continuation positions through the LM head in blocks of ~`rows` positions: one
    large matmul streams the head's weights once (Gemma 3's are 670 MB in fp32), where one call
    per continuation would stream them every time."""

    def __init__(self, head, softcap, out: list, rows: int = 32):
        self.head, self.softcap, self.out, self.rows = head, softcap, out, rows
        self.pending: list[tuple[int, torch.Tensor, list[int]]] = []
        self.count = 0

    def add(self, index: int, hidden: torch.Tensor, targets: list[int]) -> None:
        self.pending.append((index, hidden, targets))
        self.count += len(targets)
        if self.count >= self.rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with torch.inference_mode():
            hidden = torch.cat([h for _, h, _ in self.pending])
            target = torch.tensor([t for _, _, ts in self.pending for t in ts], device=hidden.device)
            logits = self.head(hidden).float()
            if self.softcap:  # in place: these blocks are rows x vocab (32 x 262k floats for Gemma 3)
                logits.div_(self.softcap).tanh_().mul_(self.softcap)
            greedy = logits.argmax(-1) == target
            picked = logits.gather(1, target[:, None])[:, 0].double()
            # Normaliser accumulated in float64 (summing 262k fp32 exponentials loses ~3e-5 a token over
            # long continuations), computed in place; `sum(dtype=float64)` makes a float64 copy of what it
            # sums, so it sums 4 rows at a time (8 MB for Gemma 3, not 64 MB for the block).
            top = logits.max(dim=-1, keepdim=True).values
            logits.sub_(top).exp_()
            total = torch.cat([part.sum(dim=-1, dtype=torch.float64) for part in logits.split(4)])
            picked -= total.log() + top[:, 0].double()
        start = 0
        for index, _, ts in self.pending:
            end = start + len(ts)
            self.out[index] = LogLikelihood(float(picked[start:end].sum()), bool(greedy[start:end].all()), len(ts))
            start = end
        self.pending, self.count = [], 0


def loglikelihoods(
    model,
    tokenizer,
    requests: list[tuple[str, str]],
    *,
    batch_size: int = 8,
    first_token_only: bool = False,
    add_bos: bool | None = None,
    progress=None,
) -> list[LogLikelihood]:
    """Score each (context, continuation); contexts shared by several requests run once.
    `first_token_only` scores just the continuation's first token (EMMA-500's SIB-200 script did)."""
    add_bos = wants_bos(model) if add_bos is None else add_bos
    encoded = [encode_pair(tokenizer, c, x, add_bos=add_bos) for c, x in requests]
    if first_token_only:
        encoded = [(ctx, cont[:1]) for ctx, cont in encoded]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (context_ids, _) in enumerate(encoded):
        groups.setdefault(tuple(context_ids), []).append(i)
    backbone, head, softcap = _backbone_and_head(model)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[LogLikelihood | None] = [None] * len(requests)
    scorer = _HeadScorer(head, softcap, out)
    contexts = sorted(groups)  # lexicographic: contexts sharing a prefix (few-shot examples) are neighbours
    common = [_common_prefix(a, b) for a, b in zip(contexts, contexts[1:])]
    flat = [
        i
        for n, ctx in enumerate(contexts)
        if max(common[n - 1] if n else 0, common[n] if n < len(common) else 0) < MIN_SHARED_PREFIX
        and (len(groups[ctx]) - 1) * len(ctx) < FLAT_RECOMPUTE_TOKENS
        for i in groups.pop(ctx)
    ]
    _score_whole_sequences(backbone, scorer, encoded, flat, batch_size=batch_size, pad=pad, device=device, progress=progress)
    contexts = sorted(groups)
    anchors: list[tuple[tuple[int, ...], object]] = []  # trie path of (prefix, its KV cache), shortest first
    for n, ctx in enumerate(contexts):
        members = groups[ctx]
        # Few-shot contexts share long prefixes: run each shared prefix once and keep its KV cache.
        while anchors and ctx[: len(anchors[-1][0])] != anchors[-1][0]:
            anchors.pop()
        base = len(anchors[-1][0]) if anchors else 0
        shared_next = _common_prefix(ctx, contexts[n + 1]) if n + 1 < len(contexts) else 0
        shared_next = min(shared_next, len(ctx) - 1)  # the context's own last position is always run
        if shared_next - base >= MIN_SHARED_PREFIX:
            cache = copy.deepcopy(anchors[-1][1]) if anchors else None
            with torch.inference_mode():
                step = backbone(input_ids=torch.tensor([ctx[base:shared_next]], device=device), past_key_values=cache, use_cache=True)
            anchors.append((ctx[:shared_next], step.past_key_values))
            base = shared_next
        cache = copy.deepcopy(anchors[-1][1]) if anchors else None
        with torch.inference_mode():
            ctx_out = backbone(input_ids=torch.tensor([ctx[base:]], device=device), past_key_values=cache, use_cache=True)
        cache, last = ctx_out.past_key_values, ctx_out.last_hidden_state[:, -1:]
        members = sorted(members, key=lambda i: -len(encoded[i][1]))
        rows = max(1, min(batch_size, EXPANDED_CACHE_TOKENS // len(ctx)))
        for start in range(0, len(members), rows):
            batch = members[start : start + rows]
            conts = [encoded[i][1] for i in batch]
            width = max(len(c) for c in conts) - 1  # the last token is predicted, never fed
            hidden = last.expand(len(batch), 1, -1)
            if width > 0:
                ids = torch.full((len(batch), width), pad, dtype=torch.long, device=device)
                mask = torch.zeros((len(batch), len(ctx) + width), dtype=torch.long, device=device)
                mask[:, : len(ctx)] = 1
                for r, c in enumerate(conts):
                    ids[r, : len(c) - 1] = torch.tensor(c[:-1], device=device)
                    mask[r, len(ctx) : len(ctx) + len(c) - 1] = 1
                shared = copy.deepcopy(cache)
                shared.batch_repeat_interleave(len(batch))
                with torch.inference_mode():
                    h = backbone(input_ids=ids, attention_mask=mask, past_key_values=shared, use_cache=True).last_hidden_state
                hidden = torch.cat([hidden, h], dim=1)
            for r, (i, c) in enumerate(zip(batch, conts)):
                # Only the positions that predict this continuation's tokens meet the LM head.
                scorer.add(i, hidden[r, : len(c)], c)
            if progress:
                progress(len(batch))
    scorer.flush()
    return out  # type: ignore[return-value]


def _score_whole_sequences(backbone, scorer: _HeadScorer, encoded, indices: list[int], *, batch_size: int, pad: int, device, progress) -> None:
    """Context + continuation as one sequence per request, longest first in right-padded batches (lm-eval's
    way); the positions predicting the continuation go to the LM head."""
    order = sorted(indices, key=lambda i: -(len(encoded[i][0]) + len(encoded[i][1])))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        rows = [encoded[i][0] + encoded[i][1][:-1] for i in batch]  # the last token is predicted, never fed
        ids = torch.full((len(batch), len(rows[0])), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
        with torch.inference_mode():
            hidden = backbone(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        for r, i in enumerate(batch):
            ctx, cont = encoded[i]
            scorer.add(i, hidden[r, len(ctx) - 1 : len(ctx) - 1 + len(cont)], cont)
        if progress:
            progress(len(batch))


# --- the next token after a prompt (EMMA-500's classification scoring) ----------------------------


def encode_prompt(tokenizer, text: str, *, max_length: int | None = None) -> list[int]:
    """`tokenizer(text).input_ids` as a plain call writes it: the tokenizer's own special tokens (BOS for
    Llama), and with `max_length` truncated as `truncation=True, max_length=...` does (from the
    tokenizer's `truncation_side`, right by default: the first `max_length` tokens are kept)."""
    kwargs = {"truncation": True, "max_length": max_length} if max_length is not None else {}
    return [int(t) for t in tokenizer(text, **kwargs)["input_ids"]]


def next_token_logprobs(
    model, tokenizer, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress=None
) -> list[list[float]]:
    """For each context (tokenised by `encode_prompt`), the log-probability of each of its `token_ids`
    as the token right after it. One context per forward pass, unpadded, as a plain
    `model(**tokenizer(context, return_tensors="pt")).logits[0, -1]` runs it; only the last position
    meets the LM head. Log-softmax at one position keeps the order of that position's logits, ties
    included (equal logits give equal log-probabilities), so an argmax over the returned values is
    the argmax over the raw logits."""
    import inspect

    device = next(model.parameters()).device
    keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    out = []
    for context, ids in zip(contexts, token_ids):
        enc = encode_prompt(tokenizer, context, max_length=max_length)
        input_ids = torch.tensor([enc], device=device)
        with torch.inference_mode():
            logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **keep).logits[0, -1]
            lp = logits.double().log_softmax(-1)
        out.append([float(lp[t]) for t in ids])
        if progress:
            progress(1)
    return out
