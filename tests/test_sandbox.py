"""The sandbox that runs model-written code (emma.eval.sandbox), both kinds: each hostile program
must end (the run returns), fail, and change nothing outside its folder. Each program exits 0 only
when it got what it tried, so a hole in the sandbox shows as a `passed` outcome.

bwrap's tests skip where bubblewrap is missing, or fail there with EMMA_REQUIRE_CODE_TOOLCHAINS=1 (CI)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from emma.errors import EmmaError
from emma.eval import sandbox

REQUIRE = os.environ.get("EMMA_REQUIRE_CODE_TOOLCHAINS") == "1"


@pytest.fixture(params=["bwrap", "rlimit"])
def kind(request) -> str:
    if request.param == "bwrap" and not sandbox.bwrap_works():
        if REQUIRE:
            pytest.fail("bubblewrap is missing or cannot create namespaces here (bash scripts/setup.sh --with code)")
        pytest.skip("bubblewrap is missing or cannot create namespaces here")
    return request.param


def run_py(code: str, kind: str, timeout: float = 3.0, **limits) -> sandbox.Outcome:
    step = sandbox.Step((sandbox.python_executable(), "main.py"), sandbox.Limits(timeout=timeout, **limits))
    return sandbox.run({"main.py": code}, [step], kind=kind)


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line holds `marker` (zombies aside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_good_program_passes_and_a_bad_one_fails(kind):
    assert run_py("print('hello')", kind).status == "passed"
    failed = run_py("assert 1 + 1 == 3", kind)
    assert failed.status == "failed" and "AssertionError" in failed.detail
    assert run_py("raise ValueError('boom')", kind).status == "error"


def test_infinite_loop_is_stopped_by_the_timeout(kind):
    started = time.monotonic()
    out = run_py("while True:\n    pass", kind, timeout=1.5)
    assert out.status in ("timeout", "cpu_time")
    assert time.monotonic() - started < 10


def test_timeout_kills_the_whole_process_group(kind):
    marker = f"emma-sleeper-{uuid.uuid4().hex}"
    code = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', '{marker}'])\ntime.sleep(60)\n"
    out = run_py(code, kind, timeout=1.5)
    assert out.status == "timeout"
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []


def test_fork_bomb_is_contained(kind):
    marker = f"emma-bomb-{uuid.uuid4().hex}"  # the program's file name: in every bomb process's command line
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    step = sandbox.Step((sandbox.python_executable(), f"{marker}.py"), sandbox.Limits(timeout=2))
    out = sandbox.run({f"{marker}.py": code}, [step], kind=kind)
    assert not out.passed
    assert time.monotonic() - started < 20
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []


def test_process_limit_holds(kind):
    code = (
        "import os, sys, time\n"
        "n = 0\n"
        "for _ in range(300):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(5)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "print(n)\n"
        "sys.exit(0 if n >= 300 else 1)\n"
    )
    out = run_py(code, kind, timeout=3, processes=32)
    assert not out.passed


def test_ten_gigabytes_is_refused(kind):
    out = run_py("x = bytearray(10 * 1024 ** 3)\nprint(len(x))", kind)
    assert out.status == "memory", out


def test_file_size_limit(kind):
    out = run_py("open('big', 'wb').write(b'x' * (64 << 20))", kind, file_size=1 << 20)
    assert not out.passed
    assert out.status in ("error", "file_size")


def test_writes_outside_the_folder_change_nothing(kind, tmp_path):
    outside = tmp_path / "outside.txt"
    home = Path(os.path.expanduser("~")) / f"emma-sandbox-probe-{uuid.uuid4().hex}"
    existing = tmp_path / "keep.txt"
    existing.write_text("original")
    code = (
        "import sys\n"
        "wrote = 0\n"
        f"for path in [{str(outside)!r}, {str(home)!r}, {str(existing)!r}]:\n"
        "    try:\n"
        "        with open(path, 'w') as fh:\n"
        "            fh.write('pwned')\n"
        "        wrote += 1\n"
        "    except OSError as exc:\n"
        "        print(path, exc, file=sys.stderr)\n"
        "sys.exit(0 if wrote else 1)\n"
    )
    try:
        out = run_py(code, kind)
        assert not out.passed
        assert not outside.exists()
        assert not home.exists()
        assert existing.read_text() == "original"
    finally:
        home.unlink(missing_ok=True)


def test_the_folder_itself_is_writable_and_thrown_away(kind, monkeypatch):
    import shutil
    import tempfile

    base = tempfile.mkdtemp(prefix="emma-sbx-test-", dir="/tmp")  # reachable by the test's uid
    os.chmod(base, 0o755)
    monkeypatch.setenv("EMMA_SANDBOX_DIR", base)
    try:
        code = "open('scratch.txt', 'w').write('x')\nassert open('scratch.txt').read() == 'x'\n"
        assert run_py(code, kind).passed
        assert os.listdir(base) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_no_network(kind):
    """A server on 127.0.0.1 outside the sandbox: the sandboxed program must not reach it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(6)
    port = server.getsockname()[1]
    accepted = []

    def serve():
        try:
            conn, _ = server.accept()
            accepted.append(conn)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'hi')\n"
    try:
        out = run_py(code, kind)
        assert not out.passed
        assert out.status == "error"
        thread.join(timeout=7)
        assert accepted == []
    finally:
        for c in accepted:
            c.close()
        server.close()


def test_describe_says_what_holds(kind):
    d = sandbox.describe(kind)
    assert d["kind"] == kind
    if kind == "rlimit" and os.geteuid() == 0:
        assert "unprivileged uid" in d["user_files"]
    assert sandbox.describe_line(kind).startswith(f"sandbox: {kind}")


def test_choose_reads_the_environment(monkeypatch):
    monkeypatch.setenv(sandbox.ENV_VAR, "rlimit")
    assert sandbox.choose() == "rlimit"
    monkeypatch.setenv(sandbox.ENV_VAR, "docker")
    with pytest.raises(EmmaError, match="bwrap, rlimit or auto"):
        sandbox.choose()
    monkeypatch.delenv(sandbox.ENV_VAR)
    assert sandbox.choose() == ("bwrap" if sandbox.bwrap_works() else "rlimit")


def test_bwrap_asked_for_where_it_cannot_run(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_works", lambda: False)
    with pytest.raises(EmmaError, match="EMMA_SANDBOX=rlimit"):
        sandbox.choose("bwrap")
    assert sandbox.choose("auto") == "rlimit"
