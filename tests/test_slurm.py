"""`emma eval --executor slurm` on a real (one-node) Slurm: scripts/local-cluster.sh brings up munge,
slurmctld and slurmd in a private network namespace; the same evaluation run locally and as a job
array must give the same files, a rerun must submit only the languages that are missing, and bad
input is one error line. Skipped where Slurm, unshare or root is missing, except under
EMMA_REQUIRE_SLURM=1 (`.ci/run`), where that is a failure.

Files that legitimately differ between the two runs: `results_<date>.json` is named by the time it
was written, and in it `date` (when that `emma eval` call started) and `total_evaluation_time_seconds`
(how long it ran: the Slurm submitter's merge evaluates nothing itself) differ. Everything else,
per-sample JSONL, per-language records and scores.json, is byte for byte the same: the array tasks
run the same code on the same machine with the same torch threads (one: OMP_NUM_THREADS=1, exported
to the jobs as Slurm exports the environment)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import ROOT, SIB200, need

from emma.eval.slurm import check_mem, parse_time

CLUSTER = ROOT / "scripts" / "local-cluster.sh"
EMMA = str(Path(sys.executable).with_name("emma"))
LANGS = ["eng_Latn", "fra_Latn", "deu_Latn"]
VARIES = {"date", "total_evaluation_time_seconds"}  # in results_<date>.json, see the module docstring


def _need_slurm() -> None:
    problems = [f"{b} not found" for b in ("sbatch", "squeue", "slurmctld", "slurmd", "munged", "unshare", "ip") if shutil.which(b) is None]
    if importlib.util.find_spec("submitit") is None:
        problems.append("submitit not installed")
    if os.geteuid() != 0:
        problems.append("not root (unshare -n and the daemons need it)")
    if problems:
        why = "; ".join(problems) + " (bash scripts/setup.sh --with slurm)"
        if os.environ.get("EMMA_REQUIRE_SLURM") == "1":
            pytest.fail(f"EMMA_REQUIRE_SLURM=1 but Slurm cannot run here: {why}")
        pytest.skip(f"Slurm cannot run here: {why}")


def _need_model() -> None:
    from emma.models import ALIASES

    if importlib.util.find_spec(ALIASES["smollm2-135m"].package) is None:
        pytest.skip("smollm2-135m's weights package is not installed")


def _run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run in its own process group; on a timeout it gets SIGTERM, so local-cluster.sh tears its cluster down."""
    # one torch thread, here and in each array task (--cpus 1): the same arithmetic, and two tasks
    # side by side on two cores without oversubscribing them; COLUMNS: rich wraps no line the asserts read
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"{' '.join(argv)} ran past {timeout} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _eval(out: Path, *extra: str) -> list[str]:
    langs = ",".join(LANGS)
    return [
        EMMA,
        "eval",
        "-m",
        "smollm2-135m",
        "--tasks",
        "sib200",
        "--langs",
        langs,
        "--limit",
        "2",
        "--data-dir",
        str(SIB200),
        "--out",
        str(out),
        *extra,
    ]


def _on_slurm(argv: list[str]) -> subprocess.CompletedProcess:
    return _run(["bash", str(CLUSTER), "--slurm", "--", *argv])


def _files(folder: Path) -> dict[str, Path]:
    """Every result file under `folder` by its relative path (results_<date>.json as results_*.json), not .slurm's."""
    found = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and rel.parts[0] != ".slurm":
            found[str(rel.parent / "results_*.json") if p.name.startswith("results_") else str(rel)] = p
    return found


def _assert_same(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    assert len(fa) == 2 + 2 * len(LANGS)  # scores.json, results_*.json, a .jsonl and a .json per language
    for rel in fa:
        if rel.endswith("results_*.json"):
            da, db = (json.loads(p.read_text()) for p in (fa[rel], fb[rel]))
            assert VARIES <= set(da)
            assert {k: v for k, v in da.items() if k not in VARIES} == {k: v for k, v in db.items() if k not in VARIES}, rel
        else:
            assert fa[rel].read_bytes() == fb[rel].read_bytes(), rel


def test_slurm_array_matches_a_local_run_and_resubmits_only_what_is_missing(tmp_path):
    _need_slurm()
    need(SIB200)
    _need_model()
    started = time.time()
    local = _run(_eval(tmp_path / "B"))
    assert local.returncode == 0, local.stderr[-3000:]
    local_s = time.time() - started

    started = time.time()
    first = _on_slurm(_eval(tmp_path / "A", "--executor", "slurm", "--cpus", "1"))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "local-cluster: up in" in first.stderr
    assert f"3 array tasks for {len(LANGS)} (model, task, language)" in first.stderr
    assert "3 of 3 array tasks done, 0 failed" in first.stderr
    slurm_s = time.time() - started
    _assert_same(tmp_path / "A", tmp_path / "B")
    runs = sorted(p for p in (tmp_path / "A" / ".slurm").iterdir() if p.is_dir())
    assert len(runs) == 1 and len(list(runs[0].glob("*_result.pkl"))) == 3

    # a language lost: a rerun (in a fresh cluster, whose job ids start again at 1) submits it alone
    for p in (tmp_path / "A" / "smollm2-135m" / "sib200").glob("fra_Latn.*"):
        p.unlink()
    again = _on_slurm(_eval(tmp_path / "A", "--executor", "slurm", "--cpus", "1"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 array task for 1 (model, task, language)" in again.stderr
    runs = sorted(p for p in (tmp_path / "A" / ".slurm").iterdir() if p.is_dir())
    assert len(runs) == 2
    new = next(r for r in runs if len(list(r.glob("*_result.pkl"))) == 1)  # the other holds the first array's 3
    assert any("fra_Latn" in p.read_text() for p in new.glob("*_log.err"))
    rows = [json.loads(line) for line in (tmp_path / "A" / ".slurm" / "submitted.jsonl").read_text().splitlines()]
    assert [r["langs"] for r in rows] == [[lang] for lang in LANGS] + [["fra_Latn"]]
    _assert_same(tmp_path / "A", tmp_path / "B")

    # everything there: nothing is submitted, the merge runs at once
    done = _on_slurm(_eval(tmp_path / "A", "--executor", "slurm", "--cpus", "1"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "has its results already: merging" in done.stderr and "submitted" not in done.stderr
    assert len([p for p in (tmp_path / "A" / ".slurm").iterdir() if p.is_dir()]) == 2
    print(f"local {local_s:.0f} s, slurm {slurm_s:.0f} s")


INTERRUPT = """
import json, signal, subprocess, sys, time
argv = json.loads(sys.argv[1])
p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
said = []
for line in p.stderr:  # Ctrl-C once the array is submitted and the wait has begun
    said.append(line)
    if "submitted Slurm job" in line:
        break
time.sleep(2)
p.send_signal(signal.SIGINT)
said.append(p.stderr.read())
rc = p.wait()
queue = subprocess.run(["squeue", "--me", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True).stdout
again = subprocess.run(argv, capture_output=True, text=True)
print(json.dumps({"rc": rc, "said": "".join(said), "queue": queue, "again_rc": again.returncode, "again": again.stderr}))
"""


def test_ctrl_c_while_waiting_leaves_the_array_running_and_a_rerun_waits_for_it(tmp_path):
    """Ctrl-C stops the wait, not the user's jobs: exit 130 with a line saying how to wait again or
    cancel; the array is still queued; the same command then waits for it (submitting nothing) and merges."""
    _need_slurm()
    need(SIB200)
    _need_model()
    argv = _eval(tmp_path / "A", "--executor", "slurm", "--cpus", "1")
    res = _on_slurm([sys.executable, "-c", INTERRUPT, json.dumps(argv)])
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["rc"] == 130, got["said"][-3000:]
    assert "keeps running (3 array tasks not finished)" in got["said"] and "scancel 1" in got["said"]
    assert "Traceback" not in got["said"]
    assert got["queue"].count("1_") == 3, got["queue"]  # the array's three tasks, still listed
    assert got["again_rc"] == 0, got["again"][-3000:]
    assert "3 array tasks submitted earlier still queued or running" in got["again"] and "submitted Slurm job" not in got["again"]
    assert json.loads((tmp_path / "A" / "smollm2-135m" / "scores.json").read_text())["sib200"].keys() >= set(LANGS)
    assert len([p for p in (tmp_path / "A" / ".slurm").iterdir() if p.is_dir()]) == 1


def test_slurm_failed_array_task_is_one_error_line_with_its_log(tmp_path):
    """A language whose data has no items fails in its array task: exit 2, one line naming the task and its log."""
    _need_slurm()
    need(SIB200)
    _need_model()
    data = tmp_path / "data"
    (data / "fra_Latn").mkdir(parents=True)
    shutil.copytree(SIB200 / "eng_Latn", data / "eng_Latn")
    for split in ("train", "dev", "test"):
        (data / "fra_Latn" / f"{split}.tsv").write_text("index_id\tcategory\ttext\n")
    argv = [EMMA, "eval", "-m", "smollm2-135m", "--tasks", "sib200", "--langs", "fra_Latn", "--limit", "2", "--data-dir", str(data)]
    res = _on_slurm([*argv, "--out", str(tmp_path / "out"), "--executor", "slurm"])
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("emma: error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr
    assert "1 of 1 Slurm array tasks failed" in errors[0] and "fra_Latn has no items to score" in errors[0]
    log = Path(errors[0].split("its log: ")[1].split(";")[0])
    assert log.is_file() and "EmmaError" in log.read_text()


def test_executor_slurm_without_sbatch_is_one_error_line(tmp_path):
    """No Slurm on PATH: refused before any work (nothing written), whatever this machine has installed."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    res = subprocess.run(
        [EMMA, "eval", "-m", "smollm2-135m", "--tasks", "sib200", "--out", str(tmp_path / "out"), "--executor", "slurm"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("emma: error: --executor slurm:"), res.stderr
    assert "not found on PATH" in lines[0] or "submitit" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90", 90), ("1:30", 2), ("1:30:00", 90), ("0:0:30", 1), ("2-0", 2880), ("1-2:30", 1590), ("1-00:00:01", 1441)],
)
def test_parse_time_takes_sbatch_forms(text, minutes):
    assert parse_time(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "1h", "0", "0:00:00", "1:2:3:4", "-5"])
def test_parse_time_refuses_the_rest(text):
    from emma.errors import EmmaError

    with pytest.raises(EmmaError, match="--time"):
        parse_time(text)


def test_check_mem():
    from emma.errors import EmmaError

    assert check_mem("16G") == "16G" and check_mem("4000M") == "4000M" and check_mem("2048") == "2048"
    for bad in ("", "16X", "lots", "0G", "-1G", "1.5G"):
        with pytest.raises(EmmaError, match="--mem"):
            check_mem(bad)
