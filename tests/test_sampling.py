import pytest

from emma.errors import EmmaError
from emma.train.data import tokenize_blocks
from emma.train.sampling import language_weights, sample_plan


def test_temperature_weights():
    counts = {"a": 1000, "b": 10}
    w1 = language_weights(counts, 1.0)
    assert w1["a"] == pytest.approx(1000 / 1010)
    w0 = language_weights(counts, 0.0)
    assert w0 == {"a": 0.5, "b": 0.5}
    w3 = language_weights(counts, 0.3)
    assert sum(w3.values()) == pytest.approx(1.0)
    assert w1["b"] < w3["b"] < w0["b"]  # lower alpha, more weight to the small language
    assert "c" not in language_weights({**counts, "c": 0}, 0.3)
    with pytest.raises(EmmaError):
        language_weights({}, 0.3)
    with pytest.raises(EmmaError):
        language_weights(counts, -1)


def test_plan_is_deterministic_and_cycles_blocks():
    blocks = {"a": [[1, 2]] * 3, "b": [[3, 4]] * 2}
    weights = {"a": 0.5, "b": 0.5}
    p1 = sample_plan(blocks, weights, 40, seed=1)
    assert p1 == sample_plan(blocks, weights, 40, seed=1)
    assert p1 != sample_plan(blocks, weights, 40, seed=2)
    # every block of a language is used once before any is repeated
    first_b = [i for lang, i in p1 if lang == "b"][:2]
    assert sorted(first_b) == [0, 1]


def test_blocks_keep_small_languages(smollm2):
    blocks = tokenize_blocks({"eng": ["Hello world. " * 50], "tiny": ["Hi"]}, smollm2.tokenizer, 16)
    assert all(len(b) == 16 for b in blocks["eng"][:-1])
    assert blocks["tiny"] == [smollm2.tokenizer("Hi", add_special_tokens=False)["input_ids"] + [smollm2.tokenizer.eos_token_id]]
