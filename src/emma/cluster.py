"""What every stage that runs on Slurm shares (foundation: imports no stage): sbatch's time and memory
forms checked before anything is submitted, whether Slurm's commands are here, the partitions the
cluster has, and this user's queue as `squeue` lists it.

Slurm accounting (`sacct`) is never needed: a job's work is done when the files it writes are there,
and `squeue -t all` tells queued and running jobs from ended ones (a finished job stays listed for
the cluster's MinJobAge, 300 s by default). A job that left the queue without its files was
cancelled, timed out, ran out of memory or failed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

from emma.errors import EmmaError

# squeue states of a job that may still run (or is running)
ALIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "RESIZING", "STAGE_OUT", "SIGNALING"}
# squeue's reason for a job whose dependency failed: it will never start
NEVER = "DependencyNeverSatisfied"
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_MEM = re.compile(r"\d+[KMGT]?B?", re.IGNORECASE)


def parse_time(text: str) -> int:
    """Slurm's time forms (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in whole minutes, rounded up."""
    m = _TIME.fullmatch(str(text).strip())
    if not m:
        raise EmmaError(f"--time {text!r}: write minutes (90), HH:MM:SS (1:30:00) or D-HH:MM:SS (1-00:00:00), as sbatch takes it")
    days, *rest = m.groups()
    parts = [int(x) for x in rest if x is not None]
    # D-HH[:MM[:SS]] counts from hours; without days: MM, MM:SS, HH:MM:SS
    weights = (3600, 60, 1) if days is not None else {1: (60,), 2: (60, 1), 3: (3600, 60, 1)}[len(parts)]
    seconds = int(days or 0) * 86400 + sum(v * w for v, w in zip(parts, weights))
    if seconds <= 0:
        raise EmmaError(f"--time {text!r}: give a time limit above zero")
    return -(-seconds // 60)


def check_mem(text: str) -> str:
    if not _MEM.fullmatch(text.strip()) or int(re.sub(r"\D", "", text)) <= 0:
        raise EmmaError(f"--mem {text!r}: write memory per array task as sbatch takes it, e.g. 16G or 4000M (a bare number is megabytes)")
    return text.strip()


def require_slurm(example: str) -> None:
    """sbatch and squeue are on PATH (else one line saying where to run `example`)."""
    missing = [b for b in ("sbatch", "squeue") if shutil.which(b) is None]
    if missing:
        raise EmmaError(
            f"--executor slurm: {' and '.join(missing)} not found on PATH; run on a Slurm login node "
            f"(or try it here: scripts/local-cluster.sh --slurm -- {example})"
        )


def partitions() -> tuple[list[str], str | None] | None:
    """(the cluster's partitions, its default one) from sinfo; None where sinfo cannot tell."""
    if shutil.which("sinfo") is None:
        return None
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = done.stdout.split()
    if done.returncode != 0 or not names:
        return None
    default = next((n.rstrip("*") for n in names if n.endswith("*")), None)
    return [n.rstrip("*") for n in names], default


def require_controller(example: str) -> tuple[list[str], str | None]:
    """The cluster's controller answers (sinfo lists partitions): (partitions, the default one)."""
    found = partitions()
    if found is None:
        raise EmmaError(
            "--executor slurm: sinfo cannot reach the cluster's controller (run `sinfo` to see why); run on a Slurm login node "
            f"(or try it here: scripts/local-cluster.sh --slurm -- {example})"
        )
    return found


def check_partition(partition: str | None) -> None:
    """`partition` is one the cluster has (not checked where sinfo cannot tell)."""
    found = partitions() if partition is not None else None
    if found and partition not in found[0]:
        raise EmmaError(f"--partition {partition!r}: this cluster has {', '.join(found[0])} (sinfo -s lists them)")


@dataclass(frozen=True)
class Job:
    """One row of `squeue -r`: an array task (12_3) or a plain job (12)."""

    id: str
    state: str
    reason: str
    comment: str
    name: str

    @property
    def base(self) -> str:
        return self.id.split("_")[0]

    @property
    def alive(self) -> bool:
        return self.state in ALIVE and not self.stuck

    @property
    def stuck(self) -> bool:
        """Pending on a dependency that failed: it never starts."""
        return self.state == "PENDING" and NEVER in self.reason


def queue() -> list[Job] | None:
    """This user's jobs that Slurm still lists, ended ones too (array tasks one by one); None when squeue fails."""
    try:
        done = subprocess.run(
            ["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T|%r|%k|%j"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    rows = [line.split("|", 4) for line in done.stdout.splitlines() if line.count("|") >= 4]
    return [Job(*(x.strip() for x in r)) for r in rows]


def scancel(ids: Iterable[str]) -> None:
    ids = sorted(set(ids))
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, text=True, timeout=60, check=False)


def sbatch(script: str, *args: str) -> str:
    """Submit `script` (a file); its job id. A refusal is one line with sbatch's own complaint."""
    try:
        done = subprocess.run(["sbatch", "--parsable", *args, script], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmmaError(f"sbatch failed: {exc}") from None
    if done.returncode != 0:
        lines = [re.sub(r"^sbatch: (error|fatal): ", "", ln.strip()) for ln in done.stderr.splitlines() if ln.strip()]
        raise EmmaError(f"sbatch refused {script}: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout.strip().split(";")[0]
