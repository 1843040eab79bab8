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


def plain(model, tok, context, continuation):
    from emma.eval.loglikelihood import wants_bos

    ctx, cont = encode_pair(tok, context, continuation, add_bos=wants_bos(model))
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        lp = torch.log_softmax(model(ids).logits[0].float(), -1)
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


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_equals_a_plain_forward_pass_smollm2(smollm2, batch_size):
    got = loglikelihoods(smollm2.model, smollm2.tokenizer, REQUESTS, batch_size=batch_size)
    for (c, x), g in zip(REQUESTS, got):
        want, greedy = plain(smollm2.model, smollm2.tokenizer, c, x)
        assert g.logprob == pytest.approx(want, abs=1e-4)
        assert g.is_greedy == greedy


@pytest.mark.slow
def test_equals_a_plain_forward_pass_gemma3():
    """Gemma 3: sliding-window layers in the shared cache, tied 262k head."""
    from emma.models import load_model

    lm = load_model("gemma3-270m")
    got = loglikelihoods(lm.model, lm.tokenizer, REQUESTS, batch_size=4)
    for (c, x), g in zip(REQUESTS, got):
        want, greedy = plain(lm.model, lm.tokenizer, c, x)
        assert g.logprob == pytest.approx(want, abs=1e-4)
        assert g.is_greedy == greedy


def test_real_model_prefers_the_right_continuation(smollm2):
    good, bad = loglikelihoods(smollm2.model, smollm2.tokenizer, [("The capital of France is", " Paris"), ("The capital of France is", " Lima")])
    assert good.logprob > bad.logprob
