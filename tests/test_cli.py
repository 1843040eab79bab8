"""The command line's contract: `--version`; bad input of any kind is one line `emma: error: ...` on
stderr with exit code 2 (no traceback, no usage box, nothing on stdout); task names and model paths
are checked before any work; every command's --help has examples; -q/-v set what the log shows.

Most tests run `python -m emma.cli` as a subprocess (the real `main()`, stderr and exit code); none
loads a model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}  # never reach the network, even by mistake


def emma(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emma.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=ENV)


def one_error_line(r: subprocess.CompletedProcess, *fragments: str) -> str:
    """The run failed as bad input must: exit 2, exactly one `emma: error:` line, nothing else."""
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("emma: error: "), r.stderr
    assert "Traceback" not in r.stderr
    assert "Usage:" not in r.stderr + r.stdout and "╭" not in r.stderr  # no usage box, no rich error panel
    assert r.stdout == ""  # no partial output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_version():
    from importlib.metadata import version

    r = emma("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"emma {version('emma')}\n"


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["eval", "--bogus"], ["No such option: --bogus", "see 'emma eval --help'"]),
        (["generate"], ["Missing argument", "see 'emma generate --help'"]),
        (["generate", "some text"], ["Missing option '--model'"]),
        (["eval", "-m", "smollm2-135m", "--tasks", "sib200", "--out", "OUT", "--backend", "vlm"], ["'--backend'", "'vlm'", "vllm"]),
        (["demo", "--steps", "many", "--out", "OUT"], ["'--steps'", "integer"]),
        (["demo", "--mixed-precision", "fp8", "--out", "OUT"], ["'--mixed-precision'", "'fp8'", "bf16"]),
        (["eval", "-m", "smollm2-135m", "--tasks", "sib200", "--out", "OUT", "--shots", "-1"], ["'--shots'"]),
        (["corpus", "mix", "OUT", "--strategy", "uni"], ["'--strategy'", "unimax", "see 'emma corpus mix --help'"]),
        (["nosuchcommand"], ["No such command 'nosuchcommand'", "see 'emma --help'"]),
        (["lid", "nosuch"], ["No such command 'nosuch'", "see 'emma lid --help'"]),
        (["lang", "sw", "-q"], ["No such option: -q", "global option", "before the command"]),
        (["-v", "-q", "lang", "sw"], ["not both"]),
    ],
)
def test_usage_errors_are_one_line(tmp_path, args, fragments):
    out = tmp_path / "out"
    r = emma(*[str(out) if a == "OUT" else a for a in args])
    one_error_line(r, *fragments)
    assert not out.exists()


@pytest.mark.parametrize("args", [[], ["corpus"], ["lid"]])
def test_no_command_shows_help(args):
    """A group without a command prints its help; the exit code is typer's (click's) 2, as for any usage error."""
    r = emma(*args)
    assert r.returncode == 2, r.stderr
    assert "Usage:" in r.stdout and "Commands" in r.stdout
    assert "emma: error" not in r.stderr and "Traceback" not in r.stderr


def test_help_exits_zero_through_main():
    r = emma("eval", "--help")
    assert r.returncode == 0, r.stderr
    assert "Examples" in r.stdout and "--backend" in r.stdout and r.stderr == ""


def _commands():
    """Every command and group, walked from the app itself (a new command is covered without editing this)."""
    import typer

    from emma import cli

    def walk(cmd, path):
        yield path, cmd
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(cli.app), []))


def test_every_help_has_examples(monkeypatch):
    from typer.testing import CliRunner

    from emma import cli

    monkeypatch.setattr(cli, "setup_logging", lambda verbosity: None)  # keep this process's logging as it is
    commands = _commands()
    assert {"demo", "eval", "corpus build", "lid eval"} <= {" ".join(p) for p, _ in commands}
    runner = CliRunner()
    for path, cmd in commands:
        r = runner.invoke(cli.app, [*path, "--help"], env={"COLUMNS": "100"})
        assert r.exit_code == 0, (path, r.output)
        assert "Examples" in r.output, f"emma {' '.join(path)} --help has no Examples section"
        body = cmd.epilog.split("\n", 2)[2]
        assert "emma " in body, path
        # short enough not to be wrapped mid-command in an 80-column terminal
        assert all(len(line) <= 78 for line in body.splitlines()), (path, [line for line in body.splitlines() if len(line) > 78])


def test_examples_use_files_that_exist():

    epilogs = "\n".join(cmd.epilog or "" for _, cmd in _commands())
    for name in ("configs/train_tiny.yaml", "configs/corpus_tiny.yaml"):
        assert name in epilogs and (ROOT / name).is_file()


def test_unknown_task_refused_before_work(tmp_path):
    """A hub id (org/name, not a local path) passes the model check; the task name is checked before
    anything is loaded or written (HF_HUB_OFFLINE: loading would fail differently)."""
    out = tmp_path / "out"
    r = emma("eval", "-m", "HuggingFaceTB/SmolLM2-135M", "--tasks", "sib200,nosuchtask", "--out", str(out))
    one_error_line(r, "unknown task 'nosuchtask'", "available: ")
    assert not out.exists()
    line = one_error_line(emma("eval", "-m", "smollm2-135m", "--tasks", "sib20", "--out", str(out)), "'sib20'")
    assert "sib200" in line  # the names there are
    one_error_line(emma("eval", "-m", "smollm2-135m", "--tasks", ",", "--out", str(out)), "--tasks is empty")


@pytest.mark.parametrize(
    "args, spec",
    [
        (["generate", "-m", "./no-such-model", "hello"], "./no-such-model"),
        (["generate", "-m", "runs/no/such/checkpoint", "hello"], "runs/no/such/checkpoint"),
        (["eval", "-m", "smollm2-135m", "-m", "no-such.gguf", "--tasks", "sib200", "--out", "OUT"], "no-such.gguf"),
        (["demo", "--model", "./no-such-model", "--out", "OUT"], "./no-such-model"),
    ],
)
def test_missing_model_path_refused_before_work(tmp_path, args, spec):
    out = tmp_path / "out"
    r = emma(*[str(out) if a == "OUT" else a for a in args])
    one_error_line(r, f"model {spec} not found", "does not exist")
    assert not out.exists()


def test_missing_tokenizer_and_bad_model_dir(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"text": "Kila mtu ana haki", "lang": "swh_Latn"}\n')
    out = tmp_path / "shards"
    one_error_line(emma("corpus", "pack", str(docs), "--tokenizer", "./no-such-tok", "--out", str(out)), "tokenizer ./no-such-tok not found")
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    # there, but not a model: the loader's own message, still before any work
    one_error_line(emma("generate", "-m", str(not_a_model), "hello"), "no config.json")
    assert not out.exists()


def test_openai_models_are_name_at_url(tmp_path):
    out = tmp_path / "out"
    one_error_line(emma("eval", "--backend", "openai", "-m", "my-model", "--tasks", "sib200", "--out", str(out)), "<name>@<base_url>", "'my-model'")
    # name@url is not checked as a path: the run gets past the model check to the task check
    one_error_line(
        emma("eval", "--backend", "openai", "-m", "./org/x/model@http://127.0.0.1:9/v1", "--tasks", "nosuch", "--out", str(out)), "'nosuch'"
    )
    assert not out.exists()


@pytest.fixture()
def packed(tmp_path) -> Path:
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "packed.yaml").write_text("languages:\n  eng_Latn: {tokens: 1000}\n  swh_Latn: {tokens: 100}\n")
    return shards


def test_info_lines_by_default_and_quiet_hides_them(packed):
    r = emma("corpus", "mix", str(packed))
    assert r.returncode == 0, r.stderr
    assert "INFO emma.cli: planned a temperature mix over 2 languages" in r.stderr
    assert "wrote " in r.stdout
    q = emma("-q", "corpus", "mix", str(packed))
    assert q.returncode == 0, q.stderr
    assert "INFO" not in q.stderr and q.stderr.strip() == ""
    assert q.stdout == r.stdout  # -q changes the log, not the results


def test_info_lines_never_come_before_an_error(packed):
    """Default logging does not break the one-line rule: the library's own check (here the epoch cap) is the only line."""
    one_error_line(emma("corpus", "mix", str(packed), "--budget", "1e9", "--max-epochs", "1"), "--max-epochs")
    assert not (packed / "manifest.yaml").exists()


def test_verbose_shows_debug(tmp_path):
    r = emma("-v", "eval", "-m", "HuggingFaceTB/SmolLM2-135M", "--tasks", "nosuch", "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "DEBUG emma.cli: model HuggingFaceTB/SmolLM2-135M: hub" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("emma: error: unknown task 'nosuch'")


LOG_PROBE = """
import logging, os, sys, warnings
from emma.log import configure_datatrove, setup_logging
setup_logging(int(sys.argv[1]))
logging.getLogger("emma.probe").info("emma info line")
logging.getLogger("emma.probe").debug("emma debug line")
logging.getLogger("urllib3.connectionpool").info("library chatter")
logging.getLogger("urllib3.connectionpool").warning("library warning")
warnings.warn("a python warning", UserWarning)
configure_datatrove()
from loguru import logger
logger.remove(); logger.add(sys.stderr, level="INFO")  # what datatrove does for every task
logger.info("datatrove chatter")
logger.warning("datatrove warning")
print(os.environ["TRANSFORMERS_VERBOSITY"])
"""


@pytest.mark.parametrize(
    "verbosity, shown, hidden, transformers",
    [
        (-1, ["library warning", "a python warning", "datatrove warning"], ["emma info line", "library chatter", "datatrove chatter"], "warning"),
        (0, ["emma info line", "library warning", "datatrove warning"], ["emma debug line", "library chatter", "datatrove chatter"], "warning"),
        (1, ["emma debug line", "library warning"], ["library chatter", "datatrove chatter"], "warning"),
        (2, ["emma debug line", "library chatter", "datatrove chatter", "datatrove warning"], [], "info"),
    ],
)
def test_log_levels(verbosity, shown, hidden, transformers):
    env = {k: v for k, v in ENV.items() if k != "TRANSFORMERS_VERBOSITY"}
    r = subprocess.run([sys.executable, "-c", LOG_PROBE, str(verbosity)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    for text in shown:
        assert text in r.stderr, (text, r.stderr)
    for text in hidden:
        assert text not in r.stderr, (text, r.stderr)
    assert "WARNING py.warnings: UserWarning: a python warning" in r.stderr  # one concise line
    assert r.stdout.strip() == transformers


def test_demo_passes_mixed_precision(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import emma.recipes.demo as demo
    from emma import cli

    seen = []
    monkeypatch.setattr(cli, "setup_logging", lambda verbosity: None)
    monkeypatch.setattr(demo, "run_demo", lambda cfg, out: seen.append(cfg))
    monkeypatch.setattr(cli, "_check_model", lambda spec, what="model": None)  # the alias's weights need not be here
    from emma.train import auto_mixed_precision

    runner = CliRunner()
    for args, want in [([], auto_mixed_precision()), (["--mixed-precision", "no"], "no"), (["--mixed-precision", "bf16"], "bf16")]:
        r = runner.invoke(cli.app, ["demo", "--out", str(tmp_path / "d"), "--langs", "sw", *args])
        assert r.exit_code == 0, r.output
        assert seen[-1].mixed_precision == want and seen[-1].languages == ["sw"]


def test_ctrl_c_says_how_to_resume():
    """Ctrl-C inside a command (typer turns it into exit code 130) ends with one line on how to resume."""
    code = (
        "import emma.languages as languages\n"
        "def interrupted(code): raise KeyboardInterrupt\n"
        "languages.normalize = interrupted\n"
        "from emma.cli import main\n"
        "main(['lang', 'sw'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 130, r.stderr
    assert r.stderr.strip() == "emma: interrupted; rerun the same command to resume where it stopped"


def test_os_errors_are_one_line_and_debug_shows_the_traceback(tmp_path):
    """An unwritable or impossible --out is the user's to fix: one line naming the path, exit 2;
    EMMA_DEBUG=1 shows where it came from."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    packed = tmp_path / "packed.yaml"
    packed.write_text("languages: {eng_Latn: {tokens: 10}}\n")
    args = [sys.executable, "-m", "emma.cli", "corpus", "mix", str(packed), "--out", str(blocker / "sub" / "mix.yaml")]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.startswith("emma: error:")]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert str(blocker) in lines[0] and ("not a folder" in lines[0] or "already exists" in lines[0]), lines
    r = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, "EMMA_DEBUG": "1"})
    assert r.returncode != 0 and "Traceback" in r.stderr
