"""Log-likelihood of a continuation given a context: the one question every multiple-choice and
classification task asks a model (lm-evaluation-harness's `loglikelihood` request).

Savings over scoring each (context, continuation) as one sequence, as lm-eval's HF backend does:
a prefix shared by several contexts (few-shot examples) runs once and its KV cache is shared; on
top of it each context's own tokens run as one row per continuation of two or more tokens, or one
row if all are one token long (all are predicted at its last position), rows of many items batched
together, longest first, as lm-eval batches (long contexts with several long choices run once
instead, their cache repeated per choice); and
only the positions that predict continuation tokens go through the LM head, each position once
(for Gemma 3 the 262k x 640 head is most of the model). Results equal a plain forward pass.

Tokenisation follows lm-eval, so per-item numbers are comparable: trailing whitespace of the
context moves to the continuation, and the continuation's tokens are those of
context+continuation after the context's own tokens. An empty context is the BOS (or EOS) token. BOS is prepended for Gemma
models only, as lm-eval does (`add_bos` overrides).
"""

from __future__ import annotations

import copy
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

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
"""A context's continuations of two or more tokens each need their own positions run. Up to this many
repeated context tokens, each such continuation gets its own row (the context's tokens after the
shared prefix, then the continuation's), batched with other items' rows; past it (long contexts
with many long choices) the context runs once and its KV cache is repeated for its continuations."""


CALL_TOKENS = 1024
"""Rows in one forward pass hold at most this many tokens, the shared prefix counted once per row
(its KV cache is repeated per row): 38 MB of KV cache for Gemma 3 270M, 46 MB for SmolLM2 in fp32.
Eight rows of a 3-shot SIB-200 context held 0.1 GB. Contexts of a few hundred tokens each (shots
sampled per item) then go a few rows at a time, short ones up to `batch_size` rows."""


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


HEAD_BLOCK_FLOATS = 32 * 262_144
"""Logits held at once while scoring (34 MB in fp32): a block of positions meets the LM head a slice
of the vocabulary at a time, so that blocks can be large (weights streamed once per 128 positions:
a third less time per position than 32 on Gemma 3 here) without a 128 x 262k logits matrix."""


HEAD_READ_BYTES = 16 * 2**20
"""A head read from its file (`_file_backing`) comes a slice of this many bytes at a time, into one
reused buffer: 6,553 of Gemma 3's 262k vocabulary rows in fp32."""

_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ (\d+)(?:\s+(.*))?$")  # an smaps header


def _file_backing(weight: torch.Tensor) -> tuple[str, int, int] | None:
    """(path, byte offset, inode) of the file a CPU tensor is memory-mapped from, when no page of that
    mapping has been written to (its smaps `Anonymous:` is 0), so the file holds exactly the tensor's
    bytes. transformers maps safetensors weights; reading a mapped head's rows from the file a slice at a
    time instead of through the mapping gives the same numbers without Gemma 3's 0.67 GB embedding
    entering the resident set (page cache is not RSS). Read from /proc: no library says this."""
    if weight.device.type != "cpu" or not weight.is_contiguous() or not sys.platform.startswith("linux"):
        return None
    start = weight.data_ptr()
    end = start + weight.numel() * weight.element_size()
    try:
        with open("/proc/self/smaps") as f:
            found = None
            for line in f:
                header = _MAPPING.match(line)
                if header:
                    if found:  # the mapping ended without an `Anonymous:` line
                        return None
                    lo, hi = int(header[1], 16), int(header[2], 16)
                    if lo <= start and end <= hi:
                        found = (header[5], start - lo + int(header[3], 16), int(header[4]))
                elif found and line.startswith("Anonymous:"):
                    path = found[0] or ""
                    clean = int(line.split()[1]) == 0 and os.path.isabs(path) and not path.endswith(" (deleted)")
                    return found if clean else None
    except OSError:
        return None
    return None


def _read_rows(fd: int, buffer: torch.Tensor, offset: int) -> None:
    """Fill `buffer` (contiguous, CPU) with the bytes of the file from `offset` on."""
    view = buffer.view(-1).view(torch.uint8).numpy().data
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise OSError(f"short read from the model's weights file at byte {offset + done}")
        done += got


class _EmbeddingsFromFile:
    """Runs the backbone on the input embeddings of its ids read from the weights file, when the
    embedding table is file-backed (`_file_backing`), instead of looked up through the mapping: each
    lookup there maps 64 KB of the file around its row (the kernel's fault-around), so a few thousand
    distinct tokens bring all of Gemma 3's 0.67 GB table into the resident set. The embedding module
    itself runs (on just the rows needed), so a scaled embedding such as Gemma's stays scaled."""

    def __init__(self, backbone, embedding: torch.nn.Embedding, backing: tuple[str, int, int]):
        self.backbone, self.embedding, self.backing = backbone, embedding, backing

    def __call__(self, *, input_ids: torch.Tensor, **kwargs):
        fd = _open_backing(self.backing)
        if fd is None:  # the file is no longer the one mapped: look up through the mapping
            return self.backbone(input_ids=input_ids, **kwargs)
        weight = self.embedding.weight
        unique, inverse = torch.unique(input_ids, return_inverse=True)
        padding = self.embedding.padding_idx  # only for gradients, but it must index a row of the table given
        rows = torch.zeros(max(len(unique), 0 if padding is None else padding + 1), weight.shape[1], dtype=weight.dtype)
        row_bytes = weight.shape[1] * weight.element_size()
        try:
            for k, token in enumerate(unique.tolist()):
                _read_rows(fd, rows[k], self.backing[1] + token * row_bytes)
        finally:
            os.close(fd)
        embeds = torch.func.functional_call(self.embedding, {"weight": rows}, (inverse,))
        return self.backbone(inputs_embeds=embeds, **kwargs)


def _reading_embeddings_from_file(backbone):
    """`backbone`, or a wrapper of it that reads input embeddings from the weights file (see above)."""
    embedding = backbone.get_input_embeddings() if hasattr(backbone, "get_input_embeddings") else None
    if not isinstance(embedding, torch.nn.Embedding) or embedding.max_norm is not None:
        return backbone  # max_norm renormalises the table in place: leave such a lookup alone
    backing = _file_backing(embedding.weight)
    return backbone if backing is None else _EmbeddingsFromFile(backbone, embedding, backing)


def _open_backing(backing: tuple[str, int, int] | None) -> int | None:
    """A descriptor on a weights file, or None where there is none or the file at that path is no
    longer the one mapped (replaced since it was loaded)."""
    if backing is None:
        return None
    try:
        fd = os.open(backing[0], os.O_RDONLY)
    except OSError:
        return None
    if os.fstat(fd).st_ino != backing[2]:
        os.close(fd)
        return None
    return fd


class _HeadScorer:
    """Projects positions through the LM head in blocks of ~`rows` positions: one large matmul
    streams the head's weights once (Gemma 3's are 670 MB in fp32), where one call per continuation
    would stream them every time. A position several continuations are scored at (a context's last
    one, where every choice's first token is predicted) goes through the head once."""

    def __init__(self, head, softcap, n: int, rows: int = 128, *, backing: tuple[str, int, int] | None = None):
        """`backing`: the head weight's `_file_backing` where the caller has it (a table tied to the input
        embeddings), else looked up here."""
        self.head, self.softcap, self.rows = head, softcap, rows
        weight = getattr(head, "weight", None) if isinstance(head, torch.nn.Linear) else None
        self.backing = backing or (_file_backing(weight) if weight is not None else None)
        self.hidden: list[torch.Tensor] = []
        self.picks: list[tuple[int, int, int]] = []  # (request, row in the pending block, target token)
        self.count = 0
        self.logprob, self.greedy, self.tokens = [0.0] * n, [True] * n, [0] * n

    def add(self, hidden: torch.Tensor, picks: list[tuple[int, int, int]]) -> None:
        """`hidden`: positions x model width; `picks`: (request, position in `hidden`, its target there)."""
        self.picks += [(i, self.count + p, t) for i, p, t in picks]
        self.hidden.append(hidden)
        self.count += len(hidden)
        if self.count >= self.rows:
            self.flush()

    def _logit_slices(self, hidden: torch.Tensor):
        """(first vocabulary id, logits of `hidden` for a slice of the vocabulary), softcapped, in fp32."""
        weight = getattr(self.head, "weight", None)
        if not isinstance(self.head, torch.nn.Linear) or weight is None:
            yield 0, self.head(hidden).float()  # a head of another kind: all of it at once
            return
        step = max(1024, HEAD_BLOCK_FLOATS // len(hidden))
        fd = _open_backing(self.backing)
        base = self.backing[1] if self.backing else 0
        if fd is not None:  # the head's rows come from its file, a bounded slice at a time
            row_bytes = weight.shape[1] * weight.element_size()
            step = max(1, min(step, HEAD_READ_BYTES // row_bytes))
            buffer = torch.empty(min(step, weight.shape[0]), weight.shape[1], dtype=weight.dtype)
        try:
            for start in range(0, weight.shape[0], step):
                bias = None if self.head.bias is None else self.head.bias[start : start + step]
                if fd is None:
                    rows = weight[start : start + step]
                else:
                    rows = buffer[: min(step, weight.shape[0] - start)]
                    _read_rows(fd, rows, base + start * row_bytes)
                logits = torch.nn.functional.linear(hidden, rows, bias).float()
                if self.softcap:  # in place: rows x a vocabulary slice
                    logits.div_(self.softcap).tanh_().mul_(self.softcap)
                yield start, logits
        finally:
            if fd is not None:
                os.close(fd)

    def flush(self) -> None:
        if not self.hidden:
            return
        with torch.inference_mode():
            hidden = torch.cat(self.hidden)
            rows = torch.tensor([p for _, p, _ in self.picks], device=hidden.device)
            target = torch.tensor([t for _, _, t in self.picks], device=hidden.device)
            picked = torch.zeros(len(rows), dtype=torch.float64, device=hidden.device)
            best = torch.full((len(hidden),), -torch.inf, device=hidden.device)
            best_id = torch.zeros(len(hidden), dtype=torch.long, device=hidden.device)
            top = torch.full((len(hidden),), -torch.inf, dtype=torch.float64, device=hidden.device)
            total = torch.zeros(len(hidden), dtype=torch.float64, device=hidden.device)
            for start, logits in self._logit_slices(hidden):
                width = logits.shape[1]
                value, index = logits.max(dim=-1)
                better = value > best  # strictly: on a tie the lower id, as one argmax over the vocabulary gives
                best, best_id = torch.where(better, value, best), torch.where(better, index + start, best_id)
                inside = (target >= start) & (target < start + width)
                picked[inside] = logits[rows[inside], target[inside] - start].double()
                # Normaliser accumulated in float64 (summing 262k fp32 exponentials loses ~3e-5 a token over
                # long continuations), from exponentials computed in place; `sum(dtype=float64)` makes a
                # float64 copy of what it sums, so it sums 4 rows at a time.
                logits.sub_(value[:, None]).exp_()
                part = torch.cat([chunk.sum(dim=-1, dtype=torch.float64) for chunk in logits.split(4)])
                new_top = torch.maximum(top, value.double())
                total = total * (top - new_top).exp() + part * (value.double() - new_top).exp()
                top = new_top
            greedy = best_id[rows] == target
            picked -= (total.log() + top)[rows]
        for (i, _, _), lp, g in zip(self.picks, picked.tolist(), greedy.tolist()):
            self.logprob[i] += lp
            self.greedy[i] = self.greedy[i] and g
            self.tokens[i] += 1
        self.hidden, self.picks, self.count = [], [], 0

    def results(self) -> list[LogLikelihood]:
        self.flush()
        return [LogLikelihood(*x) for x in zip(self.logprob, self.greedy, self.tokens)]


@dataclass
class _Row:
    """Tokens run after a shared prefix, and the continuations scored on them: (request, position
    predicting its first token, its tokens)."""

    ids: list[int]
    picks: list[tuple[int, int, list[int]]]


@dataclass
class _Anchor:
    """A shared prefix run once, its KV cache, and the rows waiting to run on top of it."""

    prefix: tuple[int, ...]
    cache: Any  # a transformers Cache, or None for the empty prefix
    rows: list[_Row]


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
    """Score each (context, continuation); prefixes shared by several contexts run once.
    `first_token_only` scores just the continuation's first token (EMMA-500's SIB-200 script did)."""
    add_bos = wants_bos(model) if add_bos is None else add_bos
    encoded = [encode_pair(tokenizer, c, x, add_bos=add_bos) for c, x in requests]
    if first_token_only:
        encoded = [(ctx, cont[:1]) for ctx, cont in encoded]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (context_ids, _) in enumerate(encoded):
        groups.setdefault(tuple(context_ids), []).append(i)
    backbone, head, softcap = _backbone_and_head(model)
    backbone = _reading_embeddings_from_file(backbone)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    tied = isinstance(backbone, _EmbeddingsFromFile) and backbone.embedding.weight is getattr(head, "weight", None)
    scorer = _HeadScorer(head, softcap, len(requests), backing=backbone.backing if tied else None)
    run = dict(backbone=backbone, scorer=scorer, batch_size=batch_size, pad=pad, device=device, progress=progress)
    contexts = sorted(groups)  # lexicographic: contexts sharing a prefix (few-shot examples) are neighbours
    root = _Anchor((), None, [])
    anchors: list[_Anchor] = [root]  # trie path of shared prefixes, shortest first
    for n, ctx in enumerate(contexts):
        while len(anchors) > 1 and ctx[: len(anchors[-1].prefix)] != anchors[-1].prefix:
            _run_rows(anchors.pop(), **run)
        base = len(anchors[-1].prefix)
        shared_next = _common_prefix(ctx, contexts[n + 1]) if n + 1 < len(contexts) else 0
        shared_next = min(shared_next, len(ctx) - 1)  # the context's own last position is always run
        if shared_next - base >= MIN_SHARED_PREFIX:
            # Few-shot contexts share long prefixes: run each shared prefix once and keep its KV cache.
            cache = copy.deepcopy(anchors[-1].cache)
            with torch.inference_mode():
                step = backbone(input_ids=torch.tensor([ctx[base:shared_next]], device=device), past_key_values=cache, use_cache=True)
            anchors.append(_Anchor(ctx[:shared_next], step.past_key_values, []))
            base = shared_next
        suffix, members = list(ctx[base:]), groups[ctx]
        longer = sorted((i for i in members if len(encoded[i][1]) > 1), key=lambda i: -len(encoded[i][1]))
        if max(len(longer) - 1, 0) * len(suffix) < FLAT_RECOMPUTE_TOKENS:
            # One row per continuation of 2+ tokens (one-token continuations are predicted at the
            # context's last position, which every row has: they ride on the first row).
            last = len(suffix) - 1
            ones = [(i, last, encoded[i][1]) for i in members if len(encoded[i][1]) == 1]
            rows = [_Row(suffix + encoded[i][1][:-1], [(i, last, encoded[i][1])] + (ones if k == 0 else [])) for k, i in enumerate(longer)]
            anchors[-1].rows += rows or ([_Row(suffix, ones)] if ones else [])
            lone = [i for i in members if not encoded[i][1]]  # empty continuations: nothing to score
            if progress and lone:
                progress(len(lone))
        else:
            _context_then_continuations(anchors[-1], suffix, members, encoded, **run)
    while anchors:
        _run_rows(anchors.pop(), **run)
    return scorer.results()


def _batches(rows: list, width, prefix: int, batch_size: int) -> list[list]:
    """Consecutive runs of `rows` (longest first) for one forward pass each: at most `batch_size`
    rows, and at most CALL_TOKENS tokens (prefix included) unless a row alone holds more."""
    out: list[list] = []
    for row in rows:
        if out and len(out[-1]) < batch_size and (len(out[-1]) + 1) * (prefix + width(out[-1][0])) <= CALL_TOKENS:
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _on_prefix(backbone, anchor: _Anchor, ids: torch.Tensor, mask: torch.Tensor):
    """Hidden states of right-padded rows run after the anchor's prefix (its cache repeated per row)."""
    cache = None
    if anchor.prefix:
        cache = copy.deepcopy(anchor.cache)
        if len(ids) > 1:
            cache.batch_repeat_interleave(len(ids))
        mask = torch.cat([torch.ones((len(ids), len(anchor.prefix)), dtype=mask.dtype, device=mask.device), mask], dim=1)
    with torch.inference_mode():
        return backbone(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=cache is not None).last_hidden_state


def _run_rows(anchor: _Anchor, *, backbone, scorer: _HeadScorer, batch_size: int, pad: int, device, progress) -> None:
    """An anchor's rows, longest first in right-padded batches (lm-eval's order); each row's scored
    positions go to the LM head, a position shared by several continuations once."""
    rows, anchor.rows = sorted(anchor.rows, key=lambda r: -len(r.ids)), []
    for batch in _batches(rows, lambda r: len(r.ids), len(anchor.prefix), batch_size):
        ids = torch.full((len(batch), len(batch[0].ids)), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, row in enumerate(batch):
            ids[r, : len(row.ids)] = torch.tensor(row.ids)
            mask[r, : len(row.ids)] = 1
        hidden = _on_prefix(backbone, anchor, ids.to(device), mask.to(device))
        for r, row in enumerate(batch):
            _score_positions(scorer, hidden[r], row.picks)
        if progress:
            progress(sum(len(row.picks) for row in batch))


def _score_positions(scorer: _HeadScorer, hidden: torch.Tensor, picks: list[tuple[int, int, list[int]]]) -> None:
    """Send the positions that predict `picks`' tokens (each position once) to the LM head."""
    positions = sorted({p + j for _, p, cont in picks for j in range(len(cont))})
    where = {p: k for k, p in enumerate(positions)}
    scorer.add(hidden[positions], [(i, where[p + j], t) for i, p, cont in picks for j, t in enumerate(cont)])


def _context_then_continuations(
    anchor: _Anchor, suffix: list[int], members: list[int], encoded, *, backbone, scorer, batch_size, pad, device, progress
) -> None:
    """A long context with several long continuations: the context runs once, and its KV cache is
    repeated for batches of its continuations."""
    cache = copy.deepcopy(anchor.cache)
    with torch.inference_mode():
        out = backbone(input_ids=torch.tensor([suffix], device=device), past_key_values=cache, use_cache=True)
    context = _Anchor(anchor.prefix + tuple(suffix), out.past_key_values, [])
    last = out.last_hidden_state[0, -1:]
    ones = [(i, 0, encoded[i][1]) for i in members if len(encoded[i][1]) == 1]
    if ones:
        _score_positions(scorer, last, ones)
    longer = sorted((i for i in members if len(encoded[i][1]) > 1), key=lambda i: -len(encoded[i][1]))
    for batch in _batches(longer, lambda i: len(encoded[i][1]) - 1, len(context.prefix), batch_size):
        conts = [encoded[i][1] for i in batch]
        ids = torch.full((len(batch), len(conts[0]) - 1), pad, dtype=torch.long)  # the last token is predicted, never fed
        mask = torch.zeros_like(ids)
        for r, c in enumerate(conts):
            ids[r, : len(c) - 1] = torch.tensor(c[:-1])
            mask[r, : len(c) - 1] = 1
        hidden = torch.cat([last.expand(len(batch), 1, -1), _on_prefix(backbone, context, ids.to(device), mask.to(device))], dim=1)
        for r, (i, c) in enumerate(zip(batch, conts)):
            _score_positions(scorer, hidden[r], [(i, 0, c)])
        if progress:
            progress(len(batch))
    if progress:
        progress(len(members) - len(longer))


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
