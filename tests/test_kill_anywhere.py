"""Kill anywhere, lose nothing: `emma eval`, `emma corpus build`, `emma corpus pack`, `emma lid
train` and `emma train` are SIGKILLed (the whole process group, workers included) at seeded points,
then rerun (train with --resume) until they finish; the result must be identical to an uninterrupted
run: the same samples and scores, documents, rejects and counts, shards, LID model bytes, and
bit-identical final weights.

Half the points are atomic writes (`EMMA_KILL_AT_WRITE=N`: the process kills itself at its N-th
atomic write, the temporary file complete and not yet renamed, drawn over the writes a clean run
makes, so result, checkpoint and shard writes are all hit); the other half are moments drawn over
a clean run's wall time. `KILL_POINTS` (default 10; env `EMMA_KILL_POINTS`) per command; each
command's tally (points tried, points that really killed the run, survived) is printed and appended
to `$EMMA_KILL_REPORT` when set (benchmarks/RESULTS.md quotes it)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.conftest import SIB200, UDHR, need

KILL_POINTS = int(os.environ.get("EMMA_KILL_POINTS", "10"))


@dataclass
class Case:
    name: str
    argv: Callable[[Path], list[str]]  # the command for an output folder
    snapshot: Callable[[Path], dict[str, bytes]]  # what must be identical
    resume: tuple[str, ...] = ()  # added to reruns


def files(root: Path, *, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not skip(p.relative_to(root))}


def session_members(sid: int) -> list[int]:
    """Processes still in session `sid` (the command and everything it started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def run(argv: list[str], *, env: dict | None = None, kill_after: float | None = None, timeout: float = 600) -> int | None:
    """The command in its own session. With `kill_after`, the whole group is SIGKILLed then (None if
    it had already ended). Without, it must succeed, unless `EMMA_KILL_AT_WRITE` makes it kill itself:
    then no process it started may outlive it (datatrove's Manager and Pool used to)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "emma.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    if kill_after is not None:
        try:
            proc.wait(kill_after)
            return None  # finished before the kill point
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return -9
    code = proc.wait(timeout=timeout)
    if code == -signal.SIGKILL and (env or {}).get("EMMA_KILL_AT_WRITE"):
        deadline = time.monotonic() + 15
        while (left := session_members(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
        assert not left, f"emma {' '.join(argv)} killed itself at a write, and {len(left)} of its processes outlived it"
        return -9
    assert code == 0, f"emma {' '.join(argv)} failed ({code}); rerun it by hand to see why"
    return None if (env or {}).get("EMMA_KILL_AT_WRITE") else 0


def kill_and_resume(case: Case, tmp: Path, seed: int) -> dict:
    """A clean run, then KILL_POINTS killed-and-resumed runs compared with it."""
    ref = tmp / f"{case.name}-ref"
    log = tmp / f"{case.name}-writes.log"
    start = time.perf_counter()
    run(case.argv(ref), env={"EMMA_WRITE_LOG": str(log)})
    wall = time.perf_counter() - start
    writes = len(log.read_text().splitlines())  # over all processes; a worker counts its own, so some points land later or not at all
    want = case.snapshot(ref)
    rng = random.Random(seed)
    tally = {"command": case.name, "points": KILL_POINTS, "killed": 0, "survived": 0, "writes_in_clean_run": writes, "clean_wall_s": round(wall, 1)}
    for i in range(KILL_POINTS):
        out = tmp / f"{case.name}-{i}"
        if i % 2 == 0:
            n = rng.randint(1, max(1, writes))
            point = f"write {n}"
            killed = run(case.argv(out), env={"EMMA_KILL_AT_WRITE": str(n)}) is not None
        else:
            at = rng.uniform(0.1, 0.9) * wall
            point = f"{at:.1f} s"
            killed = run(case.argv(out), kill_after=at) is not None
        tally["killed"] += bool(killed)
        run(case.argv(out) + list(case.resume))
        got = case.snapshot(out)
        assert got.keys() == want.keys(), f"{case.name} killed at {point}: files differ: {sorted(set(got) ^ set(want))}"
        differ = [k for k in want if got[k] != want[k]]
        assert not differ, f"{case.name} killed at {point}: after the rerun these differ from an uninterrupted run: {differ}"
        tally["survived"] += 1
    line = json.dumps(tally)
    print(line)
    if report := os.environ.get("EMMA_KILL_REPORT"):
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return tally


# --- the five commands ---------------------------------------------------------------------


def eval_case(tiny: Path) -> Case:
    sib = need(SIB200)
    args = ["eval", "-m", str(tiny), "--tasks", "sib200,flores200", "--langs", "eng_Latn,swh_Latn,fra_Latn", "--limit", "4"]
    args += ["--max-new-tokens", "6", "--data-dir", str(sib)]
    return Case(
        "eval",
        lambda out: [*args, "--out", str(out)],
        lambda out: files(out, skip=lambda p: p.name.startswith("results_")),  # results_<date>.json names the time of the call
    )


def corpus_case(tmp: Path, tiny: Path) -> Case:
    docs = tmp / "corpus-in.jsonl"
    from emma.io import read_sib_tsv

    rows = []
    for lang in ("eng_Latn", "swh_Latn", "fra_Latn"):
        rows += [{"text": r["text"], "lang": lang} for r in read_sib_tsv(need(SIB200) / lang / "dev.tsv", "test")[:60]]
    rows += rows[:20]  # duplicates for the dedup stages
    docs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cfg = tmp / "corpus.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "sources": [{"name": "docs", "type": "jsonl", "path": str(docs)}],
                "clean": {"min_chars": 20},
                "tokenizer": str(tiny),
                "tasks": 2,
                "workers": 1,
            }
        )
    )

    def snapshot(out: Path) -> dict[str, bytes]:
        keep = files(out, skip=lambda p: p.parts[0] in ("logs",) or p.name in ("timings.json", "stats.png"))
        return {k: v.replace(str(out).encode(), b"<OUT>") for k, v in keep.items()}  # datatrove's metadata names its input files

    return Case("corpus build", lambda out: ["corpus", "build", str(cfg), "--out", str(out)], snapshot)


def pack_case(tmp: Path, tiny: Path) -> Case:
    folder = tmp / "pack-in"
    folder.mkdir()
    for k in range(4):
        rows = [{"text": f"Part {k} line {i}: the river runs past the old stone house.", "lang": ("eng", "swh", "fra")[i % 3]} for i in range(120)]
        (folder / f"part{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return Case(
        "corpus pack",
        lambda out: ["corpus", "pack", str(folder), "--tokenizer", str(tiny), "--out", str(out), "--tasks", "3"],
        lambda out: files(out),
    )


def lid_case(tmp: Path) -> Case:
    sib = need(SIB200)
    data = tmp / "lid.jsonl"
    from emma.io import read_sib_tsv

    rows = [
        {"text": r["text"], "lang": lang}
        for lang in ("eng_Latn", "swh_Latn", "fra_Latn", "deu_Latn")
        for r in read_sib_tsv(sib / lang / "train.tsv", "t")
    ]
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return Case(
        "lid train",
        lambda out: ["lid", "train", "--data-dir", str(data), "--out", str(out / "lid.bin"), "--threads", "1", "--epoch", "5", "--dim", "16"],
        lambda out: files(out),
    )


def train_case(tmp: Path, tiny: Path) -> Case:
    need(UDHR)
    cfg = {
        "model": str(tiny),
        "seed": 0,
        "data": {"udhr": ["eng_Latn", "swh_Latn"], "block_size": 32, "heldout_blocks": 1},
        "steps": 8,
        "batch_size": 2,
        "learning_rate": 1e-3,
        "warmup_steps": 1,
        "save_steps": 2,
        "logging_steps": 1,
        "eval_steps": 4,
        "report_to": [],
        "peak_flops": 1e10,
    }
    path = tmp / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))

    def snapshot(out: Path) -> dict[str, bytes]:
        from safetensors.numpy import load_file

        tensors = load_file(str(out / "checkpoint" / "model.safetensors"))
        return {name: array.tobytes() for name, array in sorted(tensors.items())}  # bit-identical weights

    return Case("train", lambda out: ["train", str(path), "--out", str(out)], snapshot, resume=("--resume",))


@pytest.mark.slow
@pytest.mark.parametrize("command", ["eval", "corpus pack", "lid train", "train", "corpus build"])
def test_killed_anywhere_the_rerun_ends_identical(command, tmp_path, tiny_model_dir):
    case = {
        "eval": lambda: eval_case(tiny_model_dir),
        "corpus build": lambda: corpus_case(tmp_path, tiny_model_dir),
        "corpus pack": lambda: pack_case(tmp_path, tiny_model_dir),
        "lid train": lambda: lid_case(tmp_path),
        "train": lambda: train_case(tmp_path, tiny_model_dir),
    }[command]()
    tally = kill_and_resume(case, tmp_path, seed=sum(map(ord, command)))
    assert tally["survived"] == KILL_POINTS and tally["killed"] >= KILL_POINTS // 2, tally
