import math

import pytest
import torch
import torch.nn.functional as F

from emma.eval.nll import _windows, score_segments, summarize

TEXTS = [
    "All human beings are born free and equal in dignity and rights.",
    "Kila mtu ana haki ya kuishi, uhuru na usalama wa nafsi yake.",
    "ሁሉም የሰው ልጆች ሲወለዱ ነጻና በክብርና በመብትም እኩልነት ያላቸው ናቸው።",
    "x",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from emma.models import load_model

    return load_model(str(tiny_model_dir))


def manual_nll(model, tok, text):
    ids = torch.tensor([[tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits = model(ids).logits
    return F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()


@pytest.mark.parametrize("n, window, stride", [(1, 8, 4), (7, 8, 4), (8, 8, 4), (9, 8, 4), (100, 16, 5), (100, 16, 15)])
def test_windows_score_every_token_once(n, window, stride):
    ids = list(range(n + 1))  # position 0 is the BOS prefix, never a target
    scored = []
    for w in _windows(0, ids, window, stride):
        assert len(w.ids) <= window
        begin = ids.index(w.ids[0])
        scored += [begin + k for k in range(w.first_target, len(w.ids))]
        assert w.first_target >= 1 or begin == 0 and w.first_target == 1
    assert scored == list(range(1, n + 1))


def test_scores_equal_a_plain_forward_pass(tiny):
    scores = score_segments(tiny.model, tiny.tokenizer, TEXTS, window=512)
    for text, s in zip(TEXTS, scores):
        assert s.nll == pytest.approx(manual_nll(tiny.model, tiny.tokenizer, text), rel=1e-5)
        assert s.bytes == len(text.encode("utf-8"))
        assert s.tokens == len(tiny.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_batching_and_padding_do_not_change_scores(tiny):
    together = score_segments(tiny.model, tiny.tokenizer, TEXTS, window=512)
    alone = [score_segments(tiny.model, tiny.tokenizer, [t], window=512)[0] for t in TEXTS]
    one_by_one = score_segments(tiny.model, tiny.tokenizer, TEXTS, window=512, max_batch_tokens=1)
    for a, b, c in zip(together, alone, one_by_one):
        assert a.nll == pytest.approx(b.nll, rel=1e-5) == pytest.approx(c.nll, rel=1e-5)


def test_long_text_is_windowed_not_truncated(tiny):
    text = " ".join(TEXTS[:3]) * 20
    n_tokens = len(tiny.tokenizer(text, add_special_tokens=False)["input_ids"])
    assert n_tokens > 300
    full = score_segments(tiny.model, tiny.tokenizer, [text], window=1024)[0]
    windowed = score_segments(tiny.model, tiny.tokenizer, [text], window=64, stride=32)[0]
    assert windowed.tokens == full.tokens == n_tokens
    # every token is scored in both; only the amount of context differs
    assert windowed.nll == pytest.approx(full.nll, rel=0.05)
    short = score_segments(tiny.model, tiny.tokenizer, [TEXTS[0]], window=64)[0]
    assert windowed.nll > 10 * short.nll


def test_summarize():
    from emma.eval.nll import SegmentScore

    s = summarize([SegmentScore(10.0, 5, 20), SegmentScore(30.0, 7, 20)])
    assert s["nll"] == 20.0 and s["tokens"] == 12 and s["bytes"] == 40
    assert s["bpb"] == pytest.approx(40 / math.log(2) / 40)


def test_real_model_prefers_real_english(smollm2):
    """SmolLM2 is English-centric: English reads cheaper per byte than Amharic or shuffled English."""
    eng = TEXTS[0] * 3
    shuffled = " ".join(sorted(eng.split(), key=lambda w: hash(w) % 97))
    s_eng, s_shuf, s_amh = score_segments(smollm2.model, smollm2.tokenizer, [eng, shuffled, TEXTS[2]])
    bpb = lambda s: s.nll / math.log(2) / s.bytes  # noqa: E731
    assert bpb(s_eng) < 0.5 * bpb(s_shuf)
    assert bpb(s_eng) < bpb(s_amh)


def test_progress_counts_each_scored_token_once(tiny):
    text = " ".join(TEXTS[:3]) * 10
    seen = []
    scores = score_segments(tiny.model, tiny.tokenizer, [text, TEXTS[0]], window=64, stride=16, progress=seen.append)
    assert sum(seen) == sum(s.tokens for s in scores)
