"""`emma train --executor slurm` on a real one-node Slurm (scripts/local-cluster.sh): one job, torchrun
with the c10d rendezvous on the allocation's first node, 1 node x 2 CPU processes (gloo), on the
2-layer random Llama (SmolLM2's tokenizer).

In one cluster: the job is submitted with --no-wait and cancelled once its first checkpoint is
sealed; a rerun without --resume is refused before anything is submitted; the rerun with --resume
(the flag passes through to the job) waits for the job and ends with the losses of one local process
training the same global batch (2 processes x batch 2 = batch 4: the plan is global), step by step
within 1e-5; a third run finds the run done and submits nothing.

Skipped where Slurm / unshare / root are missing, except under EMMA_REQUIRE_SLURM=1 (`.ci/run`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import ROOT

from emma.errors import EmmaError

CLUSTER = ROOT / "scripts" / "local-cluster.sh"
EMMA = str(Path(sys.executable).with_name("emma"))
STEPS = 12


def _need_slurm() -> None:
    binaries = ("sbatch", "squeue", "scancel", "slurmctld", "slurmd", "munged", "unshare", "ip")
    problems = [f"{b} not found" for b in binaries if shutil.which(b) is None]
    if os.geteuid() != 0:
        problems.append("not root (unshare -n and the daemons need it)")
    if problems:
        why = "; ".join(problems) + " (bash scripts/setup.sh --with slurm)"
        if os.environ.get("EMMA_REQUIRE_SLURM") == "1":
            pytest.fail(f"EMMA_REQUIRE_SLURM=1 but Slurm cannot run here: {why}")
        pytest.skip(f"Slurm cannot run here: {why}")


def _config(root: Path, model: Path) -> Path:
    from tests.test_train import text_dir

    cfg = {
        "model": str(model),
        "seed": 0,
        "data": {"text_dir": str(text_dir(root)), "block_size": 32, "heldout_blocks": 1},
        "steps": STEPS,
        "batch_size": 2,
        "learning_rate": 1e-3,
        "warmup_steps": 1,
        "save_steps": 2,
        "logging_steps": 1,
        "eval_steps": 6,
        "report_to": [],
        "peak_flops": 1e10,
    }
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def losses(info: dict) -> list[float]:
    return [h["loss"] for h in info["log_history"] if "loss" in h]


def test_slurm_job_killed_then_resumed_matches_one_local_process(tmp_path, tiny_model_dir):
    _need_slurm()
    from emma.train.config import load_config
    from emma.train.run import train

    cfg = _config(tmp_path, tiny_model_dir)
    ref = train(load_config(cfg, ["batch_size=4"]), tmp_path / "ref")
    out, logs = tmp_path / "S", tmp_path / "logs"
    logs.mkdir()
    command = f"{EMMA} train {cfg} --out {out} --executor slurm --gpus-per-node 0 --procs-per-node 2 --cpus 2 --time 10"
    sealed = out / "trainer" / "checkpoint-2" / "emma-checkpoint.json"
    script = f"""
set -u
cd {ROOT}
{command} --no-wait >{logs}/1.out 2>{logs}/1.err; echo $? >{logs}/1.rc
job=$(cat {logs}/1.out)
for i in $(seq 1200); do [ -f {sealed} ] && break; squeue -h -j "$job" -o %T | grep -qE 'PENDING|RUNNING|CONFIGURING' || break; sleep 0.1; done
[ -f {sealed} ] && echo sealed >{logs}/at-cancel
[ -f {out}/train.json ] && echo finished >>{logs}/at-cancel
scancel "$job"
while squeue -h -j "$job" -o %T | grep -qE 'PENDING|RUNNING|CONFIGURING|COMPLETING'; do sleep 0.2; done
cp {out}/slurm/train.sbatch {logs}/first.sbatch
{command} >{logs}/2.out 2>{logs}/2.err; echo $? >{logs}/2.rc
{command} --resume >{logs}/3.out 2>{logs}/3.err; echo $? >{logs}/3.rc
{command} --resume >{logs}/4.out 2>{logs}/4.err; echo $? >{logs}/4.rc
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    proc = subprocess.Popen(
        ["bash", str(CLUSTER), "--slurm", "--", "bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        pytest.fail(f"the Slurm training ran past 480 s:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-3000:]

    def step(n: int) -> tuple[int, str, str]:
        return int((logs / f"{n}.rc").read_text()), (logs / f"{n}.out").read_text(), (logs / f"{n}.err").read_text()

    rc, job, err = step(1)
    assert rc == 0 and job.strip().isdigit(), err[-3000:]
    assert "submitted Slurm job" in err and "not waiting (--no-wait)" in err
    at_cancel = (logs / "at-cancel").read_text().split() if (logs / "at-cancel").exists() else []
    assert at_cancel == ["sealed"], f"the job was not cancelled between its first checkpoint and its end: {at_cancel}"
    first = (logs / "first.sbatch").read_text()
    for part in (
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --time=10",
        'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
        "srun --ntasks-per-node=1",
        "--nnodes $SLURM_NNODES --nproc_per_node 2",
        "--rdzv_backend c10d --rdzv_endpoint $MASTER_ADDR:$MASTER_PORT",
        f"-m emma.cli train {cfg} --out {out}",
    ):
        assert part in first, part
    assert "--gpus-per-node" not in first and "--resume" not in first

    rc, _, err = step(2)  # checkpoints there, no --resume: refused before submitting
    errors = [line for line in err.splitlines() if line.startswith("emma: error:")]
    assert rc == 2 and len(errors) == 1 and "pass --resume" in errors[0] and "submitted" not in err, err[-3000:]

    rc, out_text, err = step(3)
    assert rc == 0, err[-3000:]
    assert f"trained {STEPS} steps" in out_text and "submitted Slurm job" in err
    assert (out / "slurm" / "train.sbatch").read_text().rstrip().endswith("--resume")
    info = json.loads((out / "train.json").read_text())
    assert info["world_size"] == 2 and info["steps"] == STEPS and info["resumed_from"]
    assert 2 <= int(info["resumed_from"].rsplit("-", 1)[-1]) < STEPS
    a, b = losses(ref), losses(info)
    assert len(a) == len(b) == STEPS
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-5, (a, b)
    assert info["tokens_trained"] == ref["tokens_trained"]

    rc, out_text, err = step(4)
    assert rc == 0 and "already trained" in err and "submitted" not in err and f"trained {STEPS} steps" in out_text, err[-3000:]


def test_the_batch_script_for_a_gpu_cluster(tmp_path):
    """4 nodes x 8 GPUs: a task per node, 8 processes each, GPUs asked per node; --resume passes through."""
    from emma.train.slurm import TrainSlurmOptions, batch_script

    opts = TrainSlurmOptions(nodes=4, gpus_per_node=8, partition="gpu", time="2-00:00:00", cpus=64, mem="512G")
    text = batch_script(tmp_path / "my.yaml", tmp_path / "run", ["strategy=fsdp", "steps=1000"], True, opts)
    for part in (
        "#SBATCH --nodes=4",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --cpus-per-task=64",
        "#SBATCH --mem=512G",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=2-00:00:00",
        f"#SBATCH --output={tmp_path / 'run' / 'slurm'}/%j.out",
        "--nnodes $SLURM_NNODES --nproc_per_node 8 --rdzv_id $SLURM_JOB_ID --rdzv_backend c10d",
        "--set strategy=fsdp --set steps=1000 --resume",
    ):
        assert part in text, part
    assert TrainSlurmOptions(gpus_per_node=4).procs == 4 and TrainSlurmOptions().procs == 1
    assert TrainSlurmOptions(gpus_per_node=4, procs_per_node=2).procs == 2


def test_sharding_on_one_process_is_refused_before_submitting(tmp_path):
    from emma.train.config import TrainConfig
    from emma.train.slurm import TrainSlurmOptions, check

    cfg = TrainConfig.model_validate({"model": "smollm2-135m", "data": {"udhr": ["eng_Latn"]}, "steps": 2, "strategy": "fsdp"})
    with pytest.raises(EmmaError, match="strategy fsdp shards the model"):
        check(cfg, TrainSlurmOptions())
    with pytest.raises(EmmaError, match="--time"):
        check(cfg, TrainSlurmOptions(procs_per_node=2, time="soon"))
