"""`emma train CONFIG --out DIR --executor slurm --nodes N --gpus-per-node G`: the same training as
`torchrun -m emma.cli train CONFIG --out DIR`, as one Slurm job across N nodes.

The submitter checks the config, the model and the cluster, writes `DIR/slurm/train.sbatch` (for the
user to read, and to submit again by hand: `sbatch DIR/slurm/train.sbatch`) and submits it. The job
runs one `srun` task per node; each starts `torchrun --nnodes $SLURM_NNODES --nproc_per_node P`
with the c10d rendezvous on the first node of the allocation (`scontrol show hostnames
$SLURM_JOB_NODELIST | head -n1`) at port 29500 + job id % 1000, and torchrun starts P processes
there, each running `emma train CONFIG --out DIR` with the same `--set` and `--resume`. P is
`--procs-per-node`, by default one per GPU (`--gpus-per-node G`), or one without GPUs; on CPU the
processes talk over gloo (the trainer picks it).

By default the submitter waits (polling `squeue`; no accounting needed) and prints the same summary
as a local run from `DIR/train.json`; `--no-wait` prints the job id and returns. A job that ends
without `train.json` is one error line naming its log, `DIR/slurm/<job id>.out`; rerun with
`--resume` to continue from its last sealed checkpoint. A rerun while the run's job is still queued
or running waits for that job instead of submitting another (found in `squeue` by its comment,
`emma-train-<hash of DIR>`).

The job runs this Python (its `bin/` first on PATH), in this directory, with this environment
(Slurm's default `--export=ALL`: EMMA_CACHE, HF_HOME, HF_HUB_OFFLINE, ...), so DIR, the config and
the data must be on a file system every node mounts, at the same paths.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from emma.cluster import ALIVE, parse_time, queue, require_controller, require_slurm, sbatch
from emma.errors import EmmaError
from emma.train.config import TrainConfig

log = logging.getLogger(__name__)
SLURM_DIR = "slurm"  # inside --out: the batch script and the jobs' logs
BASE_PORT = 29500


@dataclass(frozen=True)
class TrainSlurmOptions:
    """sbatch's --nodes, --gpus-per-node, --partition, --time, --cpus-per-task (per node), --mem (per
    node); torchrun's processes per node; whether to wait for the job."""

    nodes: int = 1
    gpus_per_node: int = 0
    procs_per_node: int | None = None  # default: gpus_per_node, or 1 without GPUs
    partition: str | None = None
    time: str | None = None  # sbatch's forms; None: the partition's default limit
    cpus: int | None = None
    mem: str | None = None
    wait: bool = True
    poll_s: float = 2.0

    @property
    def procs(self) -> int:
        return self.procs_per_node or self.gpus_per_node or 1


def check(cfg: TrainConfig, options: TrainSlurmOptions) -> None:
    """Before anything is submitted: the times, the process count the strategy needs, Slurm here."""
    if options.time is not None:
        parse_time(options.time)
    world = options.nodes * options.procs
    if cfg.strategy != "ddp" and world < 2:
        raise EmmaError(
            f"strategy {cfg.strategy} shards the model across processes, and --nodes {options.nodes} x --procs-per-node {options.procs} "
            "is one: ask for more (--procs-per-node 2, or --gpus-per-node 2), or use strategy ddp"
        )
    example = "emma train CONFIG --out DIR --executor slurm --gpus-per-node 0 --procs-per-node 2"
    require_slurm(example)
    names, _ = require_controller(example)
    if options.partition is not None and options.partition not in names:
        raise EmmaError(f"--partition {options.partition!r}: this cluster has {', '.join(names)} (sinfo -s lists them)")


def tag_for(out: Path) -> str:
    return "emma-train-" + hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12]


def batch_script(config: Path, out: Path, sets: list[str], resume: bool, options: TrainSlurmOptions) -> str:
    """The sbatch script: one srun task per node, each a torchrun agent of the c10d rendezvous."""
    logs = out / SLURM_DIR
    directives = {
        "job-name": "emma-train",
        "nodes": options.nodes,
        "ntasks-per-node": 1,
        "cpus-per-task": options.cpus,
        "gpus-per-node": options.gpus_per_node or None,
        "mem": options.mem,
        "partition": options.partition,
        "time": options.time,
        "output": logs / "%j.out",
        "error": logs / "%j.out",
        "comment": tag_for(out),
    }
    emma = ["-m", "emma.cli", "train", str(config.absolute()), "--out", str(out)]  # torchrun's -m: a module, not a script
    emma += [a for s in sets for a in ("--set", s)] + (["--resume"] if resume else [])
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "$SLURM_NNODES",
        "--nproc_per_node",
        str(options.procs),
        "--rdzv_id",
        "$SLURM_JOB_ID",
        "--rdzv_backend",
        "c10d",
        "--rdzv_endpoint",
        "$MASTER_ADDR:$MASTER_PORT",
        "--max_restarts",
        "0",
    ]
    # $VARS expand in the job; everything else is quoted as it is
    command = " ".join(a if a.startswith("$") else shlex.quote(a) for a in torchrun) + " \\\n    " + " ".join(shlex.quote(a) for a in emma)
    lines = [
        "#!/bin/bash",
        f"# written by `emma train --executor slurm` ({time.strftime('%Y-%m-%d %H:%M:%S')}); submit again with: sbatch {logs / 'train.sbatch'}",
    ]
    lines += [f"#SBATCH --{k}={v}" for k, v in directives.items() if v is not None]
    lines += [
        "set -euo pipefail",
        f"cd {shlex.quote(str(Path.cwd()))}",
        f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"',
        "# the rendezvous: the first node of the allocation, a port of its own per job",
        'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
        f"export MASTER_PORT=$(({BASE_PORT} + SLURM_JOB_ID % 1000))",
        'echo "emma-train: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST ($SLURM_NNODES nodes), rendezvous $MASTER_ADDR:$MASTER_PORT"',
        f"srun --ntasks-per-node=1 --kill-on-bad-exit=1 {command}",
        "",
    ]
    return "\n".join(lines)


def _job(tag: str, job_id: str | None = None):
    jobs = queue()
    if jobs is None:
        return None
    mine = [j for j in jobs if j.comment == tag and (job_id is None or j.base == job_id)]
    return mine


def train_on_slurm(cfg: TrainConfig, config: Path, out: str | Path, sets: list[str], *, resume: bool, options: TrainSlurmOptions) -> dict | None:
    """Submit (or find queued) the run's job, wait for it, return `train.json`'s record (None with
    `options.wait` False while the job is queued or running)."""
    from emma.io import ensure_writable_dir

    check(cfg, options)
    out = Path(out).absolute()
    done = _finished(out, cfg)
    if done is not None:
        log.info("%s is already trained with these settings; nothing to submit", out)
        return done
    trainer_dir = out / "trainer"
    if trainer_dir.is_dir() and any(trainer_dir.glob("checkpoint-*")) and not resume:
        raise EmmaError(f"{out} has checkpoints from an earlier run; pass --resume to continue it, or choose another --out")
    tag = tag_for(out)
    running = [j for j in (_job(tag) or []) if j.state in ALIVE]
    if running:
        job_id = running[0].base
        log.info("job %s for %s is already queued or running: waiting for it, not submitting another", job_id, out)
    else:
        ensure_writable_dir(out / SLURM_DIR)
        script = out / SLURM_DIR / "train.sbatch"
        from emma.io import write_text

        write_text(script, batch_script(config, out, sets, resume, options))
        try:
            job_id = sbatch(str(script))
        except EmmaError:  # nothing was submitted: nothing left behind
            script.unlink()
            if not any(script.parent.iterdir()):
                script.parent.rmdir()
            raise
        world = options.nodes * options.procs
        log.info(
            "submitted Slurm job %s: %d node(s) x %d process(es) (%s); script %s, log %s",
            job_id,
            options.nodes,
            options.procs,
            f"{options.gpus_per_node} GPU(s) per node" if options.gpus_per_node else f"CPU, gloo, world size {world}",
            script,
            out / SLURM_DIR / f"{job_id}.out",
        )
    if not options.wait:
        print(job_id)
        log.info("not waiting (--no-wait): job %s trains into %s; rerun the same command to wait for it", job_id, out)
        return None
    return _wait(job_id, tag, out, cfg, options)


def _finished(out: Path, cfg: TrainConfig) -> dict | None:
    """`train.json`'s record where it holds a finished run of `cfg` (read back through the config's
    model: the run may record defaults or not), else None."""
    try:
        record = json.loads((out / "train.json").read_text(encoding="utf-8"))
        return record if TrainConfig.model_validate(record.get("config") or {}) == cfg else None
    except (OSError, ValueError):
        return None


def _wait(job_id: str, tag: str, out: Path, cfg: TrainConfig, options: TrainSlurmOptions) -> dict:
    state, started, gone_since, failures = "PENDING", time.time(), None, 0
    while True:
        jobs = _job(tag, job_id)
        if jobs is None:
            failures += 1
            if failures > 30:
                raise EmmaError(f"squeue keeps failing: cannot follow job {job_id}; rerun the same command once Slurm answers")
        else:
            failures = 0
            now = jobs[0].state if jobs else ""
            if now != state and now:
                if now == "RUNNING":
                    log.info("job %s running (%.0f s after it was queued)", job_id, time.time() - started)
                state = now
            if now not in ALIVE:
                gone_since = gone_since or time.time()
                record = _finished(out, cfg)
                if record is not None:
                    log.info("job %s done in %.0f s", job_id, time.time() - started)
                    return record
                if time.time() - gone_since > 10:  # gone, without train.json even after the file system had a moment
                    logfile = out / SLURM_DIR / f"{job_id}.out"
                    tail = _last_error(logfile)
                    raise EmmaError(
                        f"Slurm job {job_id} ended {now or 'gone from the queue'} without finishing the run"
                        f"{': ' + tail if tail else ''}; its log: {logfile}; fix it and rerun with --resume (it continues from the last checkpoint)"
                    )
        time.sleep(options.poll_s)


def _last_error(logfile: Path) -> str:
    """The job's own error: emma's one line where there is one, else the first exception a process
    raised (torchrun's summary that a child failed says less), else the log's last line."""
    try:
        lines = [ln.strip() for ln in logfile.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln.split("emma: error: ", 1)[1] for ln in lines if "emma: error: " in ln]
    raised = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln) and "ChildFailedError" not in ln]
    return (errors[-1] if errors else raised[0] if raised else lines[-1] if lines else "")[:300]
