"""`emma corpus build --executor slurm|ray`: the same datatrove stages as a local build, run by
datatrove's own SlurmPipelineExecutor or RayPipelineExecutor, with what they need set up for them.

The executor comes from the config's `executor: {type, options}`; the command line's flags win over
it (`--partition`, `--time`, `--cpus`, `--mem-per-cpu`, `--ray-address`). `options` are the datatrove
executor's own keyword arguments, checked by name before any work; emma fills in the ones a build
needs and datatrove does not default usefully:

Slurm (each stage one job array, each depending on the one before, `afterok`, plus datatrove's
`merge_stats` job per stage):
- `partition`: the cluster's default partition when not given; `time` (sbatch's forms) is required;
- `env_command`: puts this Python's `bin/` first on PATH in every job (datatrove runs
  `launch_pickled_pipeline` and `merge_stats` from PATH), unless `venv_path`, `condaenv` or
  `env_command` is given;
- `qos`: the cluster's default (datatrove's default `normal` is refused where no QOS has that name);
- `sbatch_args.comment`: `emma-corpus-<hash of the output folder>`, by which a rerun finds this
  build's jobs in `squeue` (job ids are reused, folders are not);
- logs: `OUT/logs/<stage>/slurm_logs/<job>_<task>.out` (sbatch's) and `OUT/logs/<stage>/logs/`
  (datatrove's). OUT must be on a file system every node mounts, at the same path.
The submitter waits by default (polling `squeue` and datatrove's completion files; no accounting
needed), then counts; `--no-wait` prints the job ids and returns. A rerun of the same command first
cancels this build's jobs that can never start (their dependency failed), waits for those still
queued or running instead of submitting them again, and submits only the stages with unfinished
tasks (datatrove skips finished tasks within a stage).

Ray: the stages run one after the other in this process, a Ray task per datatrove task, on the
cluster at `--ray-address` / `options.address` / $RAY_ADDRESS (never a new local one). Workers start
in the directory `ray start` ran in, so every path is made absolute; their `TMPDIR` is
`OUT/logs/ray_tmp` (datatrove writes task logs under `$TMPDIR/ray_logs` before copying them to
`OUT/logs/<stage>/logs/`: a folder of this build's, not one shared with every other build).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from emma.cluster import Job, parse_time, queue, require_controller, require_slurm, scancel
from emma.errors import EmmaError

log = logging.getLogger(__name__)

# set by emma for every stage: not executor options
RESERVED = {"pipeline", "tasks", "logging_dir", "depends", "depends_job_id", "skip_completed", "slurm_logs_folder"}
EXAMPLE = "emma corpus build CONFIG --out DIR --executor slurm"
Stage = tuple[str, list, int]  # (name, pipeline, tasks)


def _executor_class(kind: str):
    from datatrove.executor import RayPipelineExecutor, SlurmPipelineExecutor

    return SlurmPipelineExecutor if kind == "slurm" else RayPipelineExecutor


def merge_flags(kind: str, options: dict, flags: dict[str, Any]) -> dict:
    """The config's executor options with the command line's flags over them (flags win)."""
    names = {"partition": "partition", "time": "time", "cpus": "cpus_per_task", "mem_per_cpu": "mem_per_cpu_gb", "ray_address": "address"}
    merged = dict(options)
    for flag, value in flags.items():
        if value is not None:
            merged[names[flag]] = value
    return merged


def check(kind: str, options: dict) -> dict:
    """Everything a cluster build needs, checked before any work; the executor options to use
    (Slurm: with the default partition filled in)."""
    options = dict(options)
    cls = _executor_class(kind)
    known = set(inspect.signature(cls.__init__).parameters) - {"self"} - RESERVED
    extra = {"address"} if kind == "ray" else set()
    for key in options:
        if key in RESERVED:
            raise EmmaError(f"executor.options.{key}: emma sets it for every stage; leave it out")
        if key not in known | extra:
            raise EmmaError(f"executor.options.{key}: not an option of datatrove's {cls.__name__} (it takes {', '.join(sorted(known | extra))})")
    if kind == "slurm":
        if options.get("time") in (None, ""):
            raise EmmaError("executor slurm needs a time limit per job: --time 4:00:00 (or executor.options.time)")
        options["time"] = str(options["time"]).strip()
        parse_time(options["time"])
        require_slurm(EXAMPLE + " --time 1:00:00")
        names, default = require_controller(EXAMPLE + " --time 1:00:00")
        if options.get("partition") is None:
            if default is None:
                raise EmmaError(f"executor slurm: this cluster has no default partition; give --partition (one of {', '.join(names)})")
            options["partition"] = default
        elif options["partition"] not in names:
            raise EmmaError(f"--partition {options['partition']!r}: this cluster has {', '.join(names)} (sinfo -s lists them)")
        return options
    if importlib.util.find_spec("ray") is None:
        raise EmmaError("--executor ray needs Ray: pip install 'emma[ray]' (or bash scripts/setup.sh --with ray)")
    address = options.get("address") or os.environ.get("RAY_ADDRESS")
    if not address:
        raise EmmaError(
            "--executor ray needs a running Ray cluster: start one (`ray start --head`) and pass its address with --ray-address HOST:PORT "
            "or $RAY_ADDRESS (or try it here: scripts/local-cluster.sh --ray -- emma corpus build ...)"
        )
    _reachable(str(address))
    options["address"] = str(address)
    return options


def _reachable(address: str) -> None:
    """A plain HOST:PORT must accept a connection (Ray's own client would retry for a minute first)."""
    if "://" in address or address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise EmmaError(f"--ray-address {address!r}: write HOST:PORT of the Ray head (e.g. 127.0.0.1:6379), or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise EmmaError(f"--ray-address {address}: no Ray head answers there ({exc.strerror or exc}); start one with `ray start --head`") from None


def _complete(out: Path, name: str, tasks: int) -> int:
    folder = out / "logs" / name / "completions"
    return sum(1 for _ in folder.glob("*")) if folder.is_dir() else 0


def unfinished(out: Path, stages: list[Stage]) -> list[Stage]:
    return [s for s in stages if _complete(out, s[0], s[2]) < s[2]]


# --- Slurm ---------------------------------------------------------------------------------


def tag_for(out: Path) -> str:
    return "emma-corpus-" + hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12]


def _ours(tag: str) -> list[Job] | None:
    jobs = queue()
    return None if jobs is None else [j for j in jobs if j.comment == tag]


@contextlib.contextmanager
def _stderr_captured(caught: list[str]) -> Iterator[None]:
    """datatrove runs sbatch with stderr inherited: catch it (and datatrove's log lines) at the file
    descriptor, so a refusal can be one line; what was caught is appended to `caught`."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            caught.append(tmp.read().decode("utf-8", "replace"))


def _submit(stages: list[Stage], out: Path, options: dict, tag: str) -> dict[str, str]:
    """The chain of stages as datatrove Slurm jobs (finished stages are skipped by datatrove); {stage: job id}."""
    from datatrove.executor import SlurmPipelineExecutor

    opts = dict(options)
    prefix = opts.pop("job_name", "emma")
    opts.setdefault("qos", "")
    if not {"env_command", "venv_path", "condaenv"} & set(opts):
        opts["env_command"] = f'export PATH="{Path(sys.executable).parent}:$PATH"'
    opts["sbatch_args"] = {"comment": tag, **(opts.get("sbatch_args") or {})}
    chain: list[tuple[str, Any]] = []
    previous = None
    for name, pipeline, tasks in stages:
        previous = SlurmPipelineExecutor(
            pipeline=pipeline, tasks=tasks, logging_dir=str(out / "logs" / name), depends=previous, job_name=f"{prefix}_{name}", **opts
        )
        chain.append((name, previous))
    assert previous is not None
    caught: list[str] = []
    try:
        with _stderr_captured(caught):
            previous.run()
    except subprocess.CalledProcessError as exc:
        lines = [ln.strip().removeprefix("sbatch: error: ") for ln in "".join(caught).splitlines() if ln.strip().startswith("sbatch:")]
        scancel(str(ex.job_id) for _, ex in chain if ex.job_id not in (None, -1))  # a chain cut short must not run half
        raise EmmaError(f"sbatch refused a job of the chain: {lines[-1] if lines else f'exit status {exc.returncode}'}") from None
    if "".join(caught).strip() and log.isEnabledFor(logging.DEBUG):
        sys.stderr.write("".join(caught))
    return {name: str(ex.job_id) for name, ex in chain if ex.job_id not in (None, -1)}


def on_slurm(stages: list[Stage], out: Path, options: dict, *, wait: bool = True, poll_s: float = 2.0) -> bool:
    """Run the stages on Slurm (or wait for this build's jobs already there); True once every task
    has finished, False with `wait` off while jobs are queued or running."""
    tag = tag_for(out)
    order = {f"{options.get('job_name', 'emma')}_{name}": i for i, (name, _, _) in enumerate(stages)}  # job name -> stage
    submitted: dict[str, str] = {}
    seen: dict[str, set[str]] = {}  # job id (an array's, not its tasks') -> its tasks' states at the last poll that listed it
    announced = False
    reported = {name for name, _, tasks in stages if _complete(out, name, tasks) >= tasks}
    failures = 0
    gone_since: float | None = None
    while True:
        jobs = _ours(tag)
        if jobs is None:
            failures += 1
            if failures > 30:
                raise EmmaError("squeue keeps failing: cannot follow the build's jobs; rerun the same command once Slurm answers")
            time.sleep(poll_s)
            continue
        failures = 0
        now: dict[str, set[str]] = {}
        for j in jobs:
            now.setdefault(j.base, set()).add(j.state)
        seen.update(now)
        stuck = [j for j in jobs if j.stuck]
        if stuck:  # a job before them failed or was cancelled: every job queued from the first of their stages on is doomed too
            first = min(order.get(j.name, 0) for j in stuck)
            doomed = {j.base for j in jobs if j.state == "PENDING" and order.get(j.name, len(order)) >= first}
            log.info("cancelling %d job(s) of this build queued behind a failed or cancelled one: %s", len(doomed), ",".join(sorted(doomed, key=int)))
            scancel(doomed)
            jobs = [j for j in jobs if j.base not in doomed]
        alive = [j for j in jobs if j.alive]
        for name, _, tasks in stages:
            if name not in reported and _complete(out, name, tasks) >= tasks:
                reported.add(name)
                log.info("stage %s: %d of %d tasks done", name, tasks, tasks)
        left = unfinished(out, stages)
        if not left and (not alive or not wait):
            return True
        if alive:
            gone_since = None
            ids = sorted({j.base for j in alive}, key=int)
            if not wait:
                print(",".join(ids))
                log.info("not waiting (--no-wait): once job(s) %s are done, rerun the same command to count (or resubmit what failed)", ",".join(ids))
                return False
            if not submitted and not announced:
                announced = True
                log.info("%d job(s) of an earlier submission are queued or running (%s): waiting for them, not resubmitting", len(ids), ",".join(ids))
            time.sleep(poll_s)
            continue
        if submitted:  # our own jobs are gone and tasks are missing: give the file system a moment, then say which
            gone_since = gone_since or time.time()
            if time.time() - gone_since < 10:
                time.sleep(poll_s)
                continue
            name, _, tasks = left[0]
            job = submitted.get(name) or next(iter(submitted.values()))
            states = sorted(seen.get(job, set()) - {"COMPLETED"}) or ["gone from the queue"]
            raise EmmaError(
                f"stage {name}: {_complete(out, name, tasks)} of {tasks} tasks finished; its Slurm job {job} ended {'/'.join(states)}; "
                f"logs: {out / 'logs' / name / 'slurm_logs'} and {out / 'logs' / name / 'logs'}; fix it and rerun the same command "
                "(finished tasks are kept)"
            )
        submitted = _submit(left, out, options, tag)
        if not submitted:
            raise EmmaError(f"datatrove submitted no job for the unfinished stage(s) {', '.join(s[0] for s in left)}; see {out / 'logs'}")
        log.info(
            "submitted %d stage(s) to Slurm: %s (jobs %s, each followed by datatrove's merge_stats job); logs in %s/<stage>/slurm_logs",
            len(submitted),
            ", ".join(submitted),
            ",".join(submitted.values()),
            out / "logs",
        )


# --- Ray -------------------------------------------------------------------------------------


def on_ray(stages: list[Stage], out: Path, options: dict, timed: Callable[[str, Callable[[], None]], None]) -> None:
    """Run the stages one after the other on the Ray cluster at options['address']."""
    import ray
    from datatrove.executor import RayPipelineExecutor
    from loguru import logger

    opts = dict(options)
    address = opts.pop("address")
    tmp = out / "logs" / "ray_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    level = os.environ.get("EMMA_LOGURU_LEVEL", "WARNING")
    chatty = logging.getLevelName(level) <= logging.INFO
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(
                address=address,
                runtime_env={"env_vars": {"TMPDIR": str(tmp)}},
                log_to_driver=chatty,
                logging_level=logging.INFO if chatty else logging.WARNING,
            )
        except ConnectionError as exc:
            raise EmmaError(f"--ray-address {address}: cannot connect to Ray there ({' '.join(str(exc).split())[:300]})") from None
    logger.disable("datatrove.executor.ray")  # a warning per stage that the logging dir is local: it is meant to be
    try:
        for name, pipeline, tasks in stages:
            if _complete(out, name, tasks) >= tasks:
                continue
            executor = RayPipelineExecutor(pipeline=pipeline, tasks=tasks, logging_dir=str(out / "logs" / name), **opts)
            timed(name, executor.run)
            done = _complete(out, name, tasks)
            if done < tasks:
                raise EmmaError(
                    f"stage {name}: {tasks - done} of {tasks} Ray tasks failed; their logs: {out / 'logs' / name / 'logs'}; "
                    "fix it and rerun the same command (finished tasks are kept)"
                )
            log.info("stage %s: %d of %d tasks done", name, tasks, tasks)
    finally:
        logger.enable("datatrove.executor.ray")
        if started_here:
            ray.shutdown()
