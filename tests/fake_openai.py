"""A small fake OpenAI-compatible server and the openai backend's failure paths against it, run by
tests/test_openai_backend.py inside a private network namespace (`unshare -n`): the server listens on
127.0.0.1 there and nowhere else.

    python tests/fake_openai.py CONFIG.json OUT.json    # CONFIG: {"sib": SIB-200 folder, "out": folder}

Modes (switched between scenarios): `nologprobs` (completions, but echo requests come back without
logprobs, as TGI's and hosted chat models' do), `chatonly` (404 on /completions, /chat/completions
answers), `flaky` (the first N requests answer 503, then 429 with Retry-After, then success), `slow`
(the first request waits longer than the client's timeout). Every answer is text made from the prompt,
so the client's ordering can be checked; the server counts requests and the most in flight at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATE: dict = {"mode": "nologprobs", "requests": 0, "in_flight": 0, "max_in_flight": 0, "fail": 0, "delay": 0.0, "slow_first": 0.0}
LOCK = threading.Lock()


def answer(prompt) -> str:
    return f" got {len(prompt)}\nrest"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with LOCK:
            STATE["requests"] += 1
            n = STATE["requests"]
            STATE["in_flight"] += 1
            STATE["max_in_flight"] = max(STATE["max_in_flight"], STATE["in_flight"])
        try:
            if STATE["slow_first"] and n == 1:
                time.sleep(STATE["slow_first"])
            time.sleep(STATE["delay"])
            self.route(body, n)
        finally:
            with LOCK:
                STATE["in_flight"] -= 1

    def route(self, body: dict, n: int) -> None:
        mode = STATE["mode"]
        if mode == "flaky" and n <= STATE["fail"]:
            if n == STATE["fail"]:
                return self.reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
            return self.reply(503, {"error": {"message": "warming up"}})
        if self.path.endswith("/chat/completions"):
            content = body["messages"][-1]["content"]
            return self.reply(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer(content)}}]})
        if mode == "chatonly":
            return self.reply(404, {"error": {"message": "This is a chat model and not supported in the v1/completions endpoint."}})
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if body.get("echo"):  # nologprobs: the prompt back, no logprobs
            return self.reply(200, {"choices": [{"index": i, "text": p, "logprobs": None} for i, p in enumerate(prompts)]})
        return self.reply(200, {"choices": [{"index": i, "text": answer(p)} for i, p in enumerate(prompts)]})


def emma_eval(*args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "emma.cli", "eval", *args], capture_output=True, text=True, timeout=600)
    return {"rc": r.returncode, "stderr": r.stderr, "stdout": r.stdout}


def expect_error(call) -> str:
    from emma.errors import EmmaError

    started = time.time()
    try:
        call()
    except EmmaError as exc:
        return f"{exc} [{time.time() - started:.1f} s]"
    return "no error"


def main(config: dict, out_path: Path) -> None:
    from emma.eval.backend import BackendOptions
    from emma.eval.backends import OpenAIBackend
    from emma.eval.generation import GenRequest

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    out = Path(config["out"])
    sib = ["--data-dir", config["sib"], "--backend", "openai", "--limit", "2"]
    result: dict = {}

    def reset(mode: str, **kw) -> None:
        deadline = time.time() + 30
        while STATE["in_flight"] and time.time() < deadline:  # requests a client gave up on, still sleeping
            time.sleep(0.1)
        STATE.update({"mode": mode, "requests": 0, "max_in_flight": 0, "fail": 0, "delay": 0.0, "slow_first": 0.0, **kw})

    reset("nologprobs")
    result["nologprobs_ll"] = emma_eval("-m", f"fake@{url}", "--tasks", "sib200", "--langs", "eng_Latn", *sib, "--out", str(out / "a"))
    result["nologprobs_gen"] = emma_eval(
        "-m", f"fake@{url}", "--tasks", "flores200", "--langs", "fra_Latn", "--max-new-tokens", "8", *sib, "--out", str(out / "b")
    )
    reset("chatonly")
    result["chatonly_ll"] = emma_eval("-m", f"fake@{url}", "--tasks", "sib200", "--langs", "eng_Latn", *sib, "--out", str(out / "c"))
    flores = ["--tasks", "flores200", "--langs", "fra_Latn", "--max-new-tokens", "8"]
    result["chatonly_gen"] = emma_eval("-m", f"fake@{url}", "--model-args", "api=chat", *flores, *sib, "--out", str(out / "d"))
    gen = [GenRequest(f"prompt number {i}" + "x" * i, max_new_tokens=4) for i in range(9)]
    chat = OpenAIBackend(f"fake@{url}", BackendOptions(model_args={"api": "chat"}))
    result["chat_ll_api"] = expect_error(lambda: chat.loglikelihood([("a", " b")]))
    result["chatonly_completions_gen"] = expect_error(lambda: OpenAIBackend(f"fake@{url}").generate(gen[:1]))

    reset("flaky", fail=3)
    result["flaky_ok"] = OpenAIBackend(f"fake@{url}", BackendOptions(max_retries=3)).generate(gen[:1])
    result["flaky_ok_requests"] = STATE["requests"]
    reset("flaky", fail=3)
    result["flaky_no_retries"] = expect_error(lambda: OpenAIBackend(f"fake@{url}", BackendOptions(max_retries=1)).generate(gen[:1]))
    result["flaky_no_retries_requests"] = STATE["requests"]

    reset("nologprobs", slow_first=4.0)
    result["slow_ok"] = OpenAIBackend(f"fake@{url}", BackendOptions(timeout=1, max_retries=1)).generate(gen[:1])
    reset("nologprobs", slow_first=4.0)
    result["slow_timeout"] = expect_error(lambda: OpenAIBackend(f"fake@{url}", BackendOptions(timeout=1, max_retries=0)).generate(gen[:1]))

    for concurrent in (1, 3):
        reset("nologprobs", delay=0.3)
        done: list[int] = []
        be = OpenAIBackend(f"fake@{url}", BackendOptions(batch_size=1, num_concurrent=concurrent))
        started = time.time()
        result[f"concurrent_{concurrent}"] = {
            "texts": be.generate(gen, progress=done.append),
            "max_in_flight": STATE["max_in_flight"],
            "progress": sum(done),
            "seconds": time.time() - started,
        }
    result["expected_texts"] = [answer(r.context).split("\n")[0] for r in gen]
    server.shutdown()
    server.server_close()  # nothing listens on the port now
    result["refused"] = expect_error(lambda: OpenAIBackend(f"fake@{url}", BackendOptions(max_retries=0, timeout=30)).generate(gen[:1]))
    out_path.write_text(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
