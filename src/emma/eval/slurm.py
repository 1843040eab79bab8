"""`emma eval --executor slurm`: the same evaluation as a local run, as one Slurm job array (submitit).

The submitting process resolves each task's languages (it reads the task data for that), skips every
(model, task, language) whose files already stand for this run (`harness.finished_record`: the same
settings, model and backend), and submits the rest as ONE job array, an array task per (model, task,
shard of `--langs-per-job` languages). Each array task runs `harness.evaluate` on its shard with
`write_summary=False`: it writes its languages' `<lang>.jsonl` / `<lang>.json` and nothing shared,
so concurrent tasks never rebuild a model's `scores.json` from a part of its languages. When the
array has finished (default: wait, with progress), the submitter runs the local `evaluate` over all
languages: it finds every language done, loads no model, and writes `scores.json` and
`results_<date>.json` exactly as a local run would.

Bookkeeping lives in `OUT/.slurm/`: a folder per submission (`<date>-<time>-<random>/`) with
submitit's files per array task (`<job>_<i>_0_log.out` / `.err`, the pickled call and its result),
and `submitted.jsonl`: which array task runs which languages, so a rerun while the array is still
queued waits for those tasks instead of submitting them again (a task counts as that one when
Slurm lists it alive with its batch script in that folder: job ids that a cluster reuses are not
taken for another's).

The job's Python is this interpreter (submitit runs `sys.executable`) and Slurm exports this
environment to the job by default (EMMA_CACHE, HF_HOME, HF_HUB_OFFLINE, ...). Slurm accounting
(`sacct`) is not needed: a task is done when its result file is there; `squeue` tells running from
ended (a task that left the queue without a result was cancelled, timed out or ran out of memory).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from emma.cluster import ALIVE, check_partition, require_slurm
from emma.cluster import check_mem as check_mem  # re-exported: the CLI and tests take them from here
from emma.cluster import parse_time as parse_time
from emma.errors import EmmaError
from emma.eval.backend import BackendOptions
from emma.eval.harness import console, evaluate, finished_record, select_languages
from emma.eval.task import TaskOptions

SLURM_DIR = ".slurm"  # inside --out


@dataclass(frozen=True)
class SlurmOptions:
    """Where and how the array runs: sbatch's --partition, --time (minutes), --cpus-per-task,
    --gpus-per-node, --mem, the array's %parallelism; languages per array task; wait for the end."""

    partition: str | None = None
    time_min: int = 60
    cpus: int | None = None
    gpus: int | None = None
    mem: str | None = None
    array_parallelism: int | None = None
    langs_per_job: int = 1
    wait: bool = True
    poll_s: float = 2.0


def check_slurm(partition: str | None = None) -> None:
    """`--executor slurm` can run here: submitit installed, sbatch and squeue on PATH, the partition known."""
    if importlib.util.find_spec("submitit") is None:
        raise EmmaError("--executor slurm needs submitit: pip install 'emma[slurm]' (or bash scripts/setup.sh --with slurm)")
    require_slurm("emma eval ...")
    check_partition(partition)


def job_backends(backend: str, options: BackendOptions, slurm: SlurmOptions) -> tuple[BackendOptions, BackendOptions]:
    """(the array tasks' backend options, the submitter's for the final merge), so that both record
    the same dtype. For hf the device follows --gpus (cuda with GPUs, else cpu, even on a node that
    has GPUs); `--dtype auto` on a GPU depends on the GPU, which the submitting node cannot tell, so
    it must be named. The merge loads no model: its cpu device only makes it record the same dtype."""
    if backend != "hf":
        return options, options
    if options.device != "auto":
        raise EmmaError("--device with --executor slurm: the array tasks' device follows --gpus (cuda with --gpus N, else cpu); leave --device out")
    if slurm.gpus and options.dtype == "auto":
        raise EmmaError(
            "--executor slurm --gpus with --dtype auto: name the dtype the GPU jobs use "
            "(--dtype bfloat16 or float16); it is recorded with the results"
        )
    return replace(options, device="cuda" if slurm.gpus else "cpu"), replace(options, device="cpu")


@dataclass(frozen=True)
class Pending:
    model: str  # the spec, as given
    name: str  # its result folder
    task: str
    lang: str


def plan(
    models: list[str],
    tasks: list[str],
    out: Path,
    *,
    langs: str | None,
    data_dir: str | None,
    options: TaskOptions,
    backend: str,
    groups: dict[str, str],
    preset: str | None,
    explicit: Collection[str],
    dtype: str | None,
) -> list[Pending]:
    """Every (model, task, language) the run asks for that has no result standing for it yet, in
    the order a local run would take them. Another model's folder is refused here, before submitting."""
    from emma.eval.presets import options_for
    from emma.eval.registry import get_task
    from emma.eval.results import check_folder, model_identity

    todo: list[Pending] = []
    for model in models:
        identity = model_identity(model, backend, dtype)
        model_dir = out / identity["name"]
        check_folder(model_dir, identity)
        for task_name in tasks:
            task = get_task(task_name)
            settings = asdict(options_for(task_name, options, preset, explicit))
            chosen = select_languages(task, data_dir, langs, groups)
            if not chosen:
                raise EmmaError(f"{task_name}: no language selected by --langs {langs!r}")
            todo += [
                Pending(model, model_dir.name, task_name, lang)
                for lang in chosen
                if finished_record(model_dir, task_name, lang, identity, settings) is None
            ]
    return todo


def run_shard(call: dict[str, Any]) -> list[str]:
    """One array task: `evaluate` on one model, one task and its languages, without the model's summary
    files. Its threads are torch's own choice, as in a local run: where Slurm binds the task to its
    CPUs (task/affinity, cgroups), torch's OpenMP sees only those."""
    evaluate([call["model"]], [call["task"]], call["out"], langs=",".join(call["langs"]), write_summary=False, **call["kwargs"])
    return list(call["langs"])


@dataclass
class ArrayTask:
    job_id: str  # 12_3 (an array of one is a plain job: 12)
    folder: Path  # its submission's folder
    model: str
    name: str
    task: str
    langs: list[str]
    started: float = 0.0
    gone_since: float | None = None
    state: str = "PENDING"
    outcome: str | None = None  # success | error | lost
    message: str = ""

    def paths(self):
        from submitit.core.utils import JobPaths

        return JobPaths(self.folder, job_id=self.job_id, task_id=0)

    def label(self) -> str:
        return f"{self.job_id} ({self.name} {self.task} {','.join(self.langs)})"


def _queue() -> dict[str, tuple[str, str, str]] | None:
    """{job id: (state, reason, batch script)} of this user's jobs Slurm still lists (array tasks one
    by one); None when squeue fails."""
    try:
        done = subprocess.run(
            ["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%r|%o"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    rows = [line.split("|", 3) for line in done.stdout.splitlines() if line.count("|") >= 3]
    return {r[0].strip(): (r[1].strip(), r[2].strip(), r[3].strip()) for r in rows}


def _in_flight(root: Path) -> list[ArrayTask]:
    """Array tasks submitted earlier (submitted.jsonl) that Slurm still has queued or running."""
    record = root / "submitted.jsonl"
    if not record.exists():
        return []
    queue = _queue() or {}
    found = []
    for line in record.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            task = ArrayTask(
                str(row["job_id"]), root / row["folder"], row["model"], row["name"], row["task"], list(row["langs"]), started=time.time()
            )
        except (ValueError, TypeError, KeyError):
            continue
        state, _, script = queue.get(task.job_id, ("", "", ""))
        if state in ALIVE and Path(script).parent.resolve() == task.folder.resolve():
            found.append(task)
    return found


def _n(k: int, what: str) -> str:
    return f"{k} {what}" if k == 1 or what.startswith("(") else f"{k} {what}s"


def _shards(todo: list[Pending], size: int) -> list[tuple[str, str, str, list[str]]]:
    by: dict[tuple[str, str, str], list[str]] = {}
    for p in todo:
        by.setdefault((p.model, p.name, p.task), []).append(p.lang)
    return [(model, name, task, langs[i : i + size]) for (model, name, task), langs in by.items() for i in range(0, len(langs), size)]


def _submit(root: Path, shards: list[tuple[str, str, str, list[str]]], out: Path, kwargs: dict, slurm: SlurmOptions) -> list[ArrayTask]:
    import submitit
    from submitit.core.utils import UncompletedJobError

    folder = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"
    folder.mkdir(parents=True)
    executor = submitit.SlurmExecutor(folder=folder)
    params: dict[str, Any] = {"job_name": "emma-eval", "time": slurm.time_min}
    for key, value in (("partition", slurm.partition), ("cpus_per_task", slurm.cpus), ("gpus_per_node", slurm.gpus or None), ("mem", slurm.mem)):
        if value is not None:
            params[key] = value
    if slurm.array_parallelism:
        params["array_parallelism"] = slurm.array_parallelism
    executor.update_parameters(**params)
    calls = [{"model": model, "task": task, "langs": langs, "out": str(out), "kwargs": kwargs} for model, _, task, langs in shards]
    said = io.StringIO()  # submitit prints sbatch's complaint to stderr: it goes into the one error line instead
    try:
        with contextlib.redirect_stderr(said):
            jobs = executor.map_array(run_shard, calls)
    except (UncompletedJobError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)  # nothing was submitted: no bookkeeping left behind
        if not any(root.iterdir()):
            root.rmdir()
        lines = [ln.strip().removeprefix("sbatch: error: ") for ln in (said.getvalue() + str(exc)).splitlines() if ln.strip().startswith("sbatch:")]
        raise EmmaError(f"sbatch refused the job array: {lines[-1] if lines else ' '.join(str(exc).split())}") from None
    now = time.time()
    tasks = [ArrayTask(job.job_id, folder, model, name, task, langs, started=now) for job, (model, name, task, langs) in zip(jobs, shards)]
    with (root / "submitted.jsonl").open("a", encoding="utf-8") as f:
        for t in tasks:
            row = {"job_id": t.job_id, "folder": folder.name, "model": t.model, "name": t.name, "task": t.task, "langs": t.langs, "submitted": now}
            f.write(json.dumps(row) + "\n")
    return tasks


def _outcome(t: ArrayTask) -> bool:
    """Read the task's result file where it is there; True once the task has an outcome."""
    from submitit.core.utils import pickle_load

    result = t.paths().result_pickle
    if not result.exists():
        return False
    try:
        outcome, value = pickle_load(result)
    except Exception:  # written but not complete yet: read it at the next poll
        return False
    t.outcome = "success" if outcome == "success" else "error"
    if t.outcome == "error":
        lines = [ln.strip() for ln in str(value).splitlines() if ln.strip()]
        t.message = lines[-1] if lines else "failed"
        t.message = re.sub(r"^emma\.errors\.EmmaError: ", "", t.message)
    return True


def _poll(tasks: list[ArrayTask], slurm: SlurmOptions, ids: list[str]) -> None:
    """Poll result files and `squeue` until every task has an outcome, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        row = bar.add_task(f"slurm job {','.join(ids)}", total=len(tasks))
        last_poll = 0.0
        while True:
            open_ = [t for t in tasks if t.outcome is None]
            for t in open_:
                if _outcome(t):
                    bar.advance(row)
                    tail = f" in {time.time() - t.started:.0f} s" if t.outcome == "success" else f": {t.message}"
                    console.print(f"{'done' if t.outcome == 'success' else 'failed'} {t.label()}{tail}")
            open_ = [t for t in open_ if t.outcome is None]
            if not open_:
                bar.update(row, description=f"slurm job {','.join(ids)}")
                break
            if time.time() - last_poll >= slurm.poll_s:
                last_poll = time.time()
                queue = _queue()
                if queue is not None:
                    for t in open_:
                        state, reason, _ = queue.get(t.job_id, ("", "", ""))
                        if state in ALIVE:
                            if state == "RUNNING" and t.state != "RUNNING":
                                t.started = time.time()
                            t.state, t.gone_since = state, None
                        else:  # ended (or forgotten by Slurm) without a result file yet: give the file system a moment
                            t.gone_since = t.gone_since or time.time()
                            if time.time() - t.gone_since > 15:
                                t.outcome = "lost"
                                why = f" ({reason})" if reason and reason != "None" else ""
                                t.message = f"ended as {state or 'gone from the queue'}{why} without a result"
                                bar.advance(row)
                                console.print(f"failed {t.label()}: {t.message}")
                running = sum(t.state == "RUNNING" for t in tasks if t.outcome is None)
                waiting = sum(t.state != "RUNNING" for t in tasks if t.outcome is None)
                bar.update(row, description=f"slurm job {','.join(ids)}: {running} running, {waiting} queued")
            time.sleep(0.5)


def _watch(tasks: list[ArrayTask], slurm: SlurmOptions) -> None:
    """Wait until every task has an outcome, showing how many are pending, running and done."""
    ids = sorted({t.job_id.split("_")[0] for t in tasks}, key=int)
    start = time.time()
    try:
        _poll(tasks, slurm, ids)
    except KeyboardInterrupt:
        # The array is the user's compute: stopping the wait does not cancel it (scancel does, if asked).
        left = sum(t.outcome is None for t in tasks)
        print(
            f"emma: stopped waiting; Slurm job {','.join(ids)} keeps running ({_n(left, 'array task')} not finished): "
            f"rerun the same command to wait for it and merge (nothing is submitted twice), or `scancel {' '.join(ids)}` to stop it",
            file=sys.stderr,
        )
        raise
    failed = [t for t in tasks if t.outcome != "success"]
    took = time.time() - start
    console.print(f"slurm job {','.join(ids)}: {len(tasks) - len(failed)} of {len(tasks)} array tasks done, {len(failed)} failed, in {took:.0f} s")
    if failed:
        first, more = failed[0], [t.job_id for t in failed[1:]]
        others = f" (and {len(more)} more: {', '.join(more[:5])}{' ...' if len(more) > 5 else ''})" if more else ""
        raise EmmaError(
            f"{len(failed)} of {len(tasks)} Slurm array tasks failed: {first.label()}: {first.message}; its log: {first.paths().stderr}{others}; "
            "fix it and rerun the same command (finished languages are kept)"
        )


def evaluate_on_slurm(
    models: list[str],
    tasks: list[str],
    out: str | Path,
    *,
    slurm: SlurmOptions,
    langs: str | None = None,
    data_dir: str | None = None,
    options: TaskOptions | None = None,
    backend: str = "hf",
    groups: dict[str, str] | None = None,
    preset: str | None = None,
    explicit: Collection[str] = (),
    backend_options: BackendOptions | None = None,
    **more: Any,
) -> dict | None:
    """`harness.evaluate` as one Slurm job array, then the local merge; returns evaluate's scores,
    or None with `slurm.wait` False while array tasks are still queued or running."""
    from emma.eval.backends import run_dtype
    from emma.io import ensure_writable_dir

    check_slurm()
    job_options, merge_options = job_backends(backend, backend_options or BackendOptions(), slurm)
    dtype = run_dtype(backend, merge_options)
    out = ensure_writable_dir(out).absolute()
    options = options or TaskOptions()
    groups = groups or {}
    common: dict[str, Any] = {
        "data_dir": data_dir,
        "options": options,
        "backend": backend,
        "groups": groups,
        "preset": preset,
        "explicit": list(explicit),
    }
    todo = plan(models, tasks, out, langs=langs, dtype=dtype, **common)
    planned, common = common, {**common, **more}  # evaluate's other keywords: for the array tasks and the merge alike
    folder = out / SLURM_DIR
    wanted = {(p.name, p.task, p.lang) for p in todo}
    running = [t for t in _in_flight(folder) if any((t.name, t.task, lang) in wanted for lang in t.langs)] if todo else []
    covered = {(t.name, t.task, lang) for t in running for lang in t.langs}
    new = [p for p in todo if (p.name, p.task, p.lang) not in covered]
    submitted: list[ArrayTask] = []
    if new:
        folder.mkdir(parents=True, exist_ok=True)
        submitted = _submit(folder, _shards(new, slurm.langs_per_job), out, {**common, "backend_options": job_options}, slurm)
        array = submitted[0].job_id.split("_")[0]
        where = submitted[0].folder
        console.print(
            f"submitted Slurm job {array}: {_n(len(submitted), 'array task')} for {_n(len(new), '(model, task, language)')}; logs in {where}"
        )
    if running:
        listed = ", ".join(t.job_id for t in running[:6]) + (" ..." if len(running) > 6 else "")
        console.print(f"{_n(len(running), 'array task')} submitted earlier still queued or running ({listed}): waiting for them, not resubmitting")
    if not todo:
        console.print("every (model, task, language) has its results already: merging")
    watched = submitted + running
    if watched and not slurm.wait:
        ids = sorted({t.job_id.split("_")[0] for t in watched}, key=int)
        print(",".join(ids))
        console.print(
            f"not waiting (--no-wait): rerun the same command when job {','.join(ids)} has finished; "
            "it merges the results, or resubmits only what is missing"
        )
        return None
    if watched:
        _watch(watched, slurm)
        left = plan(models, tasks, out, langs=langs, dtype=dtype, **planned)
        if left:
            raise EmmaError(
                f"the array finished, but {len(left)} (model, task, language) still have no result standing for this run "
                f"(first: {left[0].name} {left[0].task} {left[0].lang}); see the logs in {folder} and rerun the same command"
            )
    return evaluate(models, tasks, out, langs=langs, backend_options=merge_options, **common)
