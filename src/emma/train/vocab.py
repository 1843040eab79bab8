"""Vocabulary extension, MaLA-500 style: measure how badly the tokenizer splits each language
(fertility: tokens per word and per UTF-8 byte), learn new tokens from the corpus of the languages
above a threshold, add them, and initialise each new embedding as the mean of the embeddings of
the old tokens it used to be split into, so the model starts from what it already knew.

New tokens are learnt with the `tokenizers` library's BPE trainer on those languages' text (split
on whitespace and punctuation, so tokens never span words) and added as tokens of the existing
tokenizer; the old vocabulary and every old id stay as they were.
"""

from __future__ import annotations

import torch

from emma.errors import EmmaError
from emma.text import count_words


def fertility(tokenizer, docs_by_lang: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Per language: tokens per word (`emma.text.count_words`: a character in scripts written without
    spaces) and tokens per UTF-8 byte."""
    out = {}
    for lang, docs in docs_by_lang.items():
        tokens = sum(len(ids) for ids in tokenizer(docs, add_special_tokens=False)["input_ids"])
        words = sum(count_words(d) for d in docs)
        nbytes = sum(len(d.encode("utf-8")) for d in docs)
        out[lang] = {"tokens_per_word": tokens / max(1, words), "tokens_per_byte": tokens / max(1, nbytes), "tokens": tokens}
    return out


def learn_tokens(tokenizer, texts: list[str], *, max_new: int, min_frequency: int) -> list[str]:
    """Candidate tokens from a BPE trained on `texts`: those the current tokenizer splits into
    more than one piece, most useful (earliest learnt) first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)])
    trainer = trainers.BpeTrainer(vocab_size=max_new * 4 + 1000, min_frequency=min_frequency, show_progress=False)
    bpe.train_from_iterator(texts, trainer=trainer)
    vocab = sorted(bpe.get_vocab().items(), key=lambda kv: kv[1])  # ids follow learning order
    existing = set(tokenizer.get_vocab())
    picked = []
    for token, _ in vocab:
        if len(token) < 2 or token in existing:
            continue
        if len(tokenizer(token, add_special_tokens=False)["input_ids"]) > 1:
            picked.append(token)
        if len(picked) >= max_new:
            break
    return picked


def extend_vocabulary(model, tokenizer, docs_by_lang: dict[str, list[str]], *, threshold: float, max_new: int, min_frequency: int = 2) -> dict:
    """Add tokens for the languages above `threshold` tokens per word; resize and initialise the
    embeddings. Returns the report: fertility before and after, languages extended, tokens added."""
    before = fertility(tokenizer, docs_by_lang)
    chosen = sorted(lang for lang, f in before.items() if f["tokens_per_word"] > threshold)
    report = {"threshold_tokens_per_word": threshold, "languages": chosen, "fertility_before": before, "added": 0}
    if not chosen:
        report["fertility_after"] = before
        return report
    texts = [d for lang in chosen for d in docs_by_lang[lang]]
    new_tokens = learn_tokens(tokenizer, texts, max_new=max_new, min_frequency=min_frequency)
    if not new_tokens:
        report["fertility_after"] = before
        return report
    pieces = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in new_tokens]
    old_size = len(tokenizer)
    added = tokenizer.add_tokens(new_tokens)
    if added != len(new_tokens):
        raise EmmaError(f"vocabulary extension: the tokenizer took {added} of {len(new_tokens)} new tokens")
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        for k, ids in enumerate(pieces):
            emb[old_size + k] = emb[ids].mean(0)
        out = model.get_output_embeddings()
        if out is not None and out.weight.data_ptr() != emb.data_ptr():
            for k, ids in enumerate(pieces):
                out.weight[old_size + k] = out.weight[ids].mean(0)
    report |= {
        "added": added,
        "vocab_before": old_size,
        "vocab_after": len(tokenizer),
        "examples": new_tokens[:20],
        "fertility_after": fertility(tokenizer, docs_by_lang),
    }
    return report
