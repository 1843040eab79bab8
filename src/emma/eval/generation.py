"""Batched generation for the generative tasks (MT, summarisation, PolyWrite, MGSM) on a
Hugging Face model: prompts sorted by length and left-padded, so a batch wastes little compute
and every row's new tokens start at the same position; stop strings cut the text as lm-eval does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from emma.eval.loglikelihood import wants_bos


@dataclass(frozen=True)
class GenRequest:
    context: str
    max_new_tokens: int = 128
    until: tuple[str, ...] = ("\n",)  # the text is cut at the first of these
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int = 0


def cut_at_stops(text: str, until) -> str:
    for stop in until:
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


def generate(model, tokenizer, requests: list[GenRequest], *, batch_size: int = 8, progress=None) -> list[str]:
    """One completion per request, in request order. Rows of a batch share sampling settings."""
    add_bos = wants_bos(model)
    device = next(model.parameters()).device
    limit = (
        getattr(model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config, "max_position_embeddings", None) or 4096
    )
    encoded = []
    for r in requests:
        ids = tokenizer(r.context, add_special_tokens=False)["input_ids"]
        if add_bos and tokenizer.bos_token_id is not None:
            ids = [tokenizer.bos_token_id] + ids
        # A prompt is cut (from the left: the end is where the task is asked) only when it does not fit
        # the window with room for one new token; generation then stops at the window, as vLLM does.
        encoded.append(ids[-(limit - 1) :])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[str | None] = [None] * len(requests)
    # Same settings together, then longest first, so left padding stays small.
    order = sorted(range(len(requests)), key=lambda i: (_settings(requests[i]), -len(encoded[i])))
    start = 0
    while start < len(order):
        key = _settings(requests[order[start]])
        batch = [order[start]]
        while len(batch) < batch_size and start + len(batch) < len(order) and _settings(requests[order[start + len(batch)]]) == key:
            batch.append(order[start + len(batch)])
        start += len(batch)
        req = requests[batch[0]]
        width = max(len(encoded[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
            mask[row, width - len(encoded[i]) :] = 1
        sampling = req.temperature > 0
        if sampling:
            torch.manual_seed(req.seed)
        kwargs = dict(do_sample=True, temperature=req.temperature, top_p=req.top_p) if sampling else dict(do_sample=False)
        stops = [s for s in req.until if s]
        with torch.inference_mode():
            new = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max(1, min(req.max_new_tokens, limit - width)),
                pad_token_id=pad,
                stop_strings=stops or None,
                tokenizer=tokenizer if stops else None,
                top_k=None,
                **kwargs,
            )[:, width:]
        for row, i in enumerate(batch):
            out[i] = cut_at_stops(tokenizer.decode(new[row], skip_special_tokens=True), req.until)
        if progress:
            progress(len(batch))
    return out  # type: ignore[return-value]


def _settings(r: GenRequest) -> tuple:
    return (r.max_new_tokens, r.until, r.temperature, r.top_p, r.seed)
