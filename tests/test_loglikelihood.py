import pytest
import torch

from emma.eval.loglikelihood import encode_pair, loglikelihoods

REQUESTS = [
    ("The topic of the news is", " sports"),
    ("The topic of the news is", " science/technology"),
    ("The topic of the news is ", "health"),  # trailing space moves to the continuation
    ("Kila mtu ana haki ya", " kuishi, uhuru na usalama"),
    ("", "Hello world"),  # empty context: scored after BOS
    ("A", "."),  # one-token continuation
]


def fp32_tolerance(tokens: int) -> float:
    """Two fp32 forward passes (different matmul blocking) agree to ~2e-5 a token (normaliser in float64 on both sides)."""
    return 1e-4 + 2e-5 * tokens


def plain(model, tok, context, continuation):
    from emma.eval.loglikelihood import wants_bos

    ctx, cont = encode_pair(tok, context, continuation, add_bos=wants_bos(model))
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        lp = torch.log_softmax(model(ids).logits[0].double(), -1)
    pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1)
    target = torch.tensor(cont)
    return lp[pos, target].sum().item(), bool((lp[pos].argmax(-1) == target).all())


def test_encode_pair_follows_lm_eval(smollm2):
    tok = smollm2.tokenizer
    ctx, cont = encode_pair(tok, "Answer: ", "yes")
    assert tok.decode(ctx) == "Answer:" and tok.decode(cont) == " yes"
    ctx, cont = encode_pair(tok, "", "yes")
    assert ctx == [tok.bos_token_id]
    ctx, cont = encode_pair(tok, "Answer: ", "yes", add_bos=True)
    assert ctx[0] == tok.bos_token_id and tok.decode(cont) == " yes"


@pytest.mark.parametrize("path", ["rows", "cached contexts"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_equals_a_plain_forward_pass_smollm2(smollm2, batch_size, path, monkeypatch):
    """Both ways of running a context (a row per long continuation, batched across items; once, its
    cache shared by its continuations)."""
    from emma.eval import loglikelihood

    monkeypatch.setattr(loglikelihood, "FLAT_RECOMPUTE_TOKENS", 10**9 if path == "rows" else 0)
    calls = []
    once = loglikelihood._context_then_continuations
    monkeypatch.setattr(loglikelihood, "_context_then_continuations", lambda *a, **k: calls.append(a[2]) or once(*a, **k))
    got = loglikelihoods(smollm2.model, smollm2.tokenizer, REQUESTS, batch_size=batch_size)
    contexts = {c.rstrip() for c, _ in REQUESTS}
    assert len(calls) == (0 if path == "rows" else len(contexts))
    for (c, x), g in zip(REQUESTS, got):
        want, greedy = plain(smollm2.model, smollm2.tokenizer, c, x)
        assert g.logprob == pytest.approx(want, abs=fp32_tolerance(g.tokens))
        assert g.is_greedy == greedy


def test_the_head_a_vocabulary_slice_at_a_time_equals_a_plain_forward_pass(smollm2, monkeypatch):
    """The LM head in 1024-token slices of the vocabulary (49 for SmolLM2): the same log-likelihoods
    and greedy flags as one softmax over all of it."""
    from emma.eval import loglikelihood

    monkeypatch.setattr(loglikelihood, "HEAD_BLOCK_FLOATS", 1)
    reqs = [*REQUESTS, ("one two three, one two three, one two", " three")]  # greedy
    got = loglikelihoods(smollm2.model, smollm2.tokenizer, reqs)
    for (c, x), g in zip(reqs, got):
        want, greedy = plain(smollm2.model, smollm2.tokenizer, c, x)
        assert g.logprob == pytest.approx(want, abs=fp32_tolerance(g.tokens)) and g.is_greedy == greedy
    assert any(g.is_greedy for g in got)  # the greedy flag is tested both ways


def test_a_shared_last_position_meets_the_head_once(smollm2, monkeypatch):
    """Every choice's first token is predicted at the context's last position: one head row for all
    seven one-token choices, plus one per further token of a longer choice."""
    from emma.eval import loglikelihood

    rows = []
    add = loglikelihood._HeadScorer.add
    monkeypatch.setattr(loglikelihood._HeadScorer, "add", lambda self, h, picks: rows.append(len(h)) or add(self, h, picks))
    labels = [" sports", " health", " travel", " politics", " science/technology", " music", " food"]
    reqs = [("The topic of the news is", x) for x in labels]
    tok = smollm2.tokenizer
    tokens = [len(encode_pair(tok, c, x)[1]) for c, x in reqs]
    got = loglikelihoods(smollm2.model, tok, reqs)
    assert sum(rows) == 1 + sum(t - 1 for t in tokens) < sum(tokens)
    for (c, x), g in zip(reqs, got):
        assert g.logprob == pytest.approx(plain(smollm2.model, tok, c, x)[0], abs=fp32_tolerance(g.tokens))


@pytest.mark.slow
def test_equals_a_plain_forward_pass_gemma3():
    """Gemma 3: sliding-window layers in the shared cache, tied 262k head."""
    from emma.models import load_model

    lm = load_model("gemma3-270m")
    got = loglikelihoods(lm.model, lm.tokenizer, REQUESTS, batch_size=4)
    for (c, x), g in zip(REQUESTS, got):
        want, greedy = plain(lm.model, lm.tokenizer, c, x)
        assert g.logprob == pytest.approx(want, abs=fp32_tolerance(g.tokens))
        assert g.is_greedy == greedy


def test_real_model_prefers_the_right_continuation(smollm2):
    good, bad = loglikelihoods(smollm2.model, smollm2.tokenizer, [("The capital of France is", " Paris"), ("The capital of France is", " Lima")])
    assert good.logprob > bad.logprob


def fewshot_requests(shot_words: int) -> list[tuple[str, str]]:
    """k-shot contexts as the tasks build them: shared examples, then a distinct item; some items
    extend another's context, some share only part of the examples."""
    shots = [f"Text: {' '.join(['river', 'stone', 'light', 'wind'][i % 4] for _ in range(shot_words))} {i}\nLabel: nature\n\n" for i in range(3)]
    reqs = []
    for k, item in enumerate(["The match ended in a draw.", "The match ended", "Doctors advise rest.", "Prices rose again."]):
        prefix = "".join(shots if k != 2 else shots[:1] + shots[2:])
        for label in (" sports", " health", " economy"):
            reqs.append((f"{prefix}Text: {item}\nLabel:", label))
    return reqs


@pytest.mark.parametrize("batch_size", [1, 4])
def test_shared_few_shot_prefixes_equal_plain_forward_smollm2(smollm2, batch_size):
    reqs = fewshot_requests(20)
    got = loglikelihoods(smollm2.model, smollm2.tokenizer, reqs, batch_size=batch_size)
    for (c, x), g in zip(reqs, got):
        want, greedy = plain(smollm2.model, smollm2.tokenizer, c, x)
        assert g.logprob == pytest.approx(want, abs=fp32_tolerance(g.tokens)) and g.is_greedy == greedy


@pytest.mark.slow
def test_shared_prefixes_past_gemma3s_sliding_window():
    """Prefixes of ~700 tokens: longer than Gemma 3's 512-token sliding window."""
    from emma.models import load_model

    lm = load_model("gemma3-270m")
    reqs = fewshot_requests(200)
    assert len(lm.tokenizer(reqs[0][0])["input_ids"]) > 600
    got = loglikelihoods(lm.model, lm.tokenizer, reqs, batch_size=4)
    for (c, x), g in zip(reqs, got):
        want, greedy = plain(lm.model, lm.tokenizer, c, x)
        assert g.logprob == pytest.approx(want, abs=fp32_tolerance(g.tokens)) and g.is_greedy == greedy


def _resident_share(tensor: torch.Tensor) -> float:
    """The share of the pages under `tensor` that are mapped into this process (pagemap's present bit)."""
    import numpy as np

    page = 4096
    first, last = tensor.data_ptr() // page, (tensor.data_ptr() + tensor.numel() * tensor.element_size() - 1) // page
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(first * 8)
        entries = np.frombuffer(f.read((last - first + 1) * 8), dtype=np.uint64)
    return float(((entries >> np.uint64(63)) & np.uint64(1)).mean())


def test_the_head_and_embeddings_come_from_the_weights_file_with_the_same_numbers(smollm2, monkeypatch):
    """The loaded checkpoint's safetensors are memory-mapped: its tied table is found in its file, and
    scoring from the file gives the numbers scoring through the mapping gives."""
    from emma.eval import loglikelihood

    head = smollm2.model.get_output_embeddings().weight
    path, offset, _ = loglikelihood._file_backing(head)
    assert path.endswith(".safetensors")
    with open(path, "rb") as f:
        f.seek(offset + 7 * head.shape[1] * 4)
        assert torch.equal(torch.frombuffer(bytearray(f.read(head.shape[1] * 4)), dtype=torch.float32), head[7])
    reqs = [*REQUESTS, *fewshot_requests(5)]
    from_file = loglikelihoods(smollm2.model, smollm2.tokenizer, reqs, batch_size=4)
    monkeypatch.setattr(loglikelihood, "_file_backing", lambda weight: None)
    mapped = loglikelihoods(smollm2.model, smollm2.tokenizer, reqs, batch_size=4)
    for a, b in zip(from_file, mapped):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-6) and a.is_greedy == b.is_greedy and a.tokens == b.tokens


def test_an_anonymous_copy_is_not_taken_for_the_file(smollm2):
    """A table in ordinary memory (a cast, a copy, a weight written to) has no file to read from."""
    from emma.eval import loglikelihood

    head = smollm2.model.get_output_embeddings().weight
    assert loglikelihood._file_backing(head.detach().clone()) is None
    assert loglikelihood._file_backing(head[:, :3]) is None  # not contiguous


@pytest.mark.parametrize("through", ["the file", "the mapping"])
def test_scoring_leaves_the_mapped_table_out_of_the_resident_set(through, monkeypatch):
    """Read from the file, the embedding table's pages stay out of the process (the peak RSS of
    Gemma 3 270M's evaluation falls by its 0.67 GB); read through the mapping, scoring maps nearly all
    of them: the lookups' fault-around and the head's normaliser."""
    from emma.eval import loglikelihood
    from emma.models import load_model

    if through == "the mapping":
        monkeypatch.setattr(loglikelihood, "_file_backing", lambda weight: None)
    lm = load_model("smollm2-135m")  # a fresh mapping: nothing of it resident yet
    table = lm.model.get_output_embeddings().weight
    loglikelihoods(lm.model, lm.tokenizer, [*REQUESTS, *fewshot_requests(20)], batch_size=4)
    share = _resident_share(table)
    assert share < 0.05 if through == "the file" else share > 0.9
