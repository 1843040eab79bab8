"""The openai backend against a local OpenAI-compatible completions server (a few lines of
http.server around the same tiny model), checked against the hf backend; vLLM's import guard;
every backend meeting the `Backend` protocol, signature for signature."""

from __future__ import annotations

import inspect
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from emma.errors import EmmaError
from emma.eval.backend import Backend, BackendOptions
from emma.eval.backends import HFBackend, OpenAIBackend, VLLMBackend, make_backend
from emma.eval.generation import GenRequest, cut_at_stops
from emma.models import LoadedModel, load_model


def serve(lm, *, echo_logprobs: bool = True):
    """A minimal /v1/completions: echo + logprobs with text offsets (as vLLM answers), and greedy text."""
    model, tok = lm.model, lm.tokenizer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            choices = []
            for i, prompt in enumerate(prompts):
                ids = tok(prompt, add_special_tokens=False)["input_ids"]
                if body.get("echo"):
                    with torch.inference_mode():
                        lp = model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
                    values = [None] + [float(lp[k - 1, ids[k]]) for k in range(1, len(ids))]
                    top = [None] + [{tok.decode([int(lp[k - 1].argmax())]): float(lp[k - 1].max())} for k in range(1, len(ids))]
                    logprobs = {
                        "tokens": [tok.decode([t]) for t in ids],
                        "token_logprobs": values,
                        "top_logprobs": top,
                        "text_offset": [len(tok.decode(ids[:k])) for k in range(len(ids))],
                    }
                    choices.append({"index": i, "text": prompt, "logprobs": logprobs if echo_logprobs else None})
                else:
                    with torch.inference_mode():
                        new = model.generate(torch.tensor([ids]), max_new_tokens=body["max_tokens"], do_sample=False, pad_token_id=tok.eos_token_id)[
                            0, len(ids) :
                        ]
                    choices.append({"index": i, "text": cut_at_stops(tok.decode(new, skip_special_tokens=True), body.get("stop") or ())})
            data = json.dumps({"choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_openai_backend_equals_hf_backend(tiny):
    server = serve(tiny)
    try:
        remote = OpenAIBackend(f"tiny@http://127.0.0.1:{server.server_port}/v1", BackendOptions(batch_size=3))
        local = HFBackend(tiny)
        requests = [
            ("The label of [a storm] is", " weather"),
            ("Question: 2+2?\nAnswer:", " 4"),
            ("Frage: Wie viel?\nAntwort: ", "18 Euro"),
            ("The label of [a storm] is", " sports"),
        ]
        for r, h in zip(remote.loglikelihood(requests), local.loglikelihood(requests)):
            assert r.logprob == pytest.approx(h.logprob, abs=1e-4) and r.tokens == h.tokens
        gen = [GenRequest("One, two, three,", max_new_tokens=5, until=("\n",)), GenRequest("Hello", max_new_tokens=4, until=())]
        assert remote.generate(gen) == local.generate(gen)
    finally:
        server.shutdown()


def test_openai_backend_errors_are_one_line(tiny):
    with pytest.raises(EmmaError, match="<name>@<base_url>"):
        make_backend("openai", "just-a-name")
    with pytest.raises(EmmaError, match="cannot reach"):
        OpenAIBackend("m@http://127.0.0.1:9/v1", BackendOptions(timeout=2, max_retries=0)).generate([GenRequest("x", max_new_tokens=1)])
    server = serve(tiny, echo_logprobs=False)
    try:
        with pytest.raises(EmmaError, match="does not return prompt logprobs"):
            OpenAIBackend(f"m@http://127.0.0.1:{server.server_port}/v1").loglikelihood([("a", " b")])
    finally:
        server.shutdown()


def test_vllm_backend_needs_its_extra(monkeypatch):
    """Without vLLM (here: hidden from import), one line naming the way to install it; tests/test_vllm.py runs the real one."""
    with pytest.raises(EmmaError, match="unknown backend"):
        make_backend("tgi", "x")
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(EmmaError, match=r"needs vLLM, which is not installed here: bash scripts/setup.sh --with vllm .*emma\[vllm\]"):
        make_backend("vllm", "smollm2-135m")


def test_every_backend_implements_the_protocol(tiny):
    """isinstance on a runtime_checkable Protocol only sees that the members exist; the names, kinds,
    defaults and types of every method's parameters are compared with the protocol's too."""
    from typing import get_type_hints

    vllm = object.__new__(VLLMBackend)  # without its engine (and without vLLM installed): only the interface is checked
    vllm.model = "some/model"
    for be in (HFBackend(tiny), OpenAIBackend("m@http://127.0.0.1:9/v1"), vllm):
        assert isinstance(be, Backend), type(be).__name__
        for method in ("loglikelihood", "nll", "generate"):
            want, got = getattr(Backend, method), getattr(type(be), method)
            shape = [(p.name, p.kind, p.default) for p in inspect.signature(got).parameters.values()]
            assert shape == [(p.name, p.kind, p.default) for p in inspect.signature(want).parameters.values()], (type(be), method)
            assert get_type_hints(got) == get_type_hints(want), (type(be), method)
        assert get_type_hints(type(be).name.fget)["return"] is str and isinstance(be.name, str)
    assert get_type_hints(HFBackend)["lm"] is LoadedModel
    assert not isinstance(object(), Backend)
