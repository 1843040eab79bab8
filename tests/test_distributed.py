"""`emma train` under `torchrun --nproc_per_node 2` on CPU (gloo), one strategy at a time: ddp, fsdp
(FSDP2), zero2 and zero3 (DeepSpeed). Each launch runs inside a private network namespace (only
loopback: the rendezvous and gloo listen on 127.0.0.1 and nothing else can reach them), through
scripts/local-cluster.sh where it is there, else `unshare -n` directly.

Checked, on the 2-layer random Llama (SmolLM2's tokenizer) for speed, 8 steps logged one by one:
- the per-step losses match one process training the same global batch (batch_size 2 x 2 processes
  = one process with batch_size 4: the plan is global and each process reads every other batch of
  it) within 1e-5, and so do the final weights;
- fsdp and zero3 really shard (each process holds about half of the parameters, zero2 half of the
  optimizer state), read from train.json's `sharding`, which every process reports;
- the final checkpoint is whole: plain `AutoModelForCausalLM.from_pretrained` loads it;
- SIGKILL of every process (torchrun and its workers) once the first checkpoint is sealed, then
  `--resume`, ends with weights bit-identical to the uninterrupted sharded run (fsdp, zero3);
- LoRA trains and merges under fsdp and zero3.

Skipped, with the reason, where `unshare`/`ip`/root or DeepSpeed (zero*) are missing; under
EMMA_REQUIRE_DISTRIBUTED=1 (`.ci/run`) that is a failure. DeepSpeed JIT-builds a small C++ op on its
first CPU run (g++ + ninja); it is kept in $TORCH_EXTENSIONS_DIR (default: emma's cache), so only the
first run pays for it."""

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
import yaml

from conftest import ROOT
from emma.errors import EmmaError
from emma.train.config import load_config
from emma.train.run import train

REQUIRE = os.environ.get("EMMA_REQUIRE_DISTRIBUTED") == "1"
CLUSTER = ROOT / "scripts" / "local-cluster.sh"
STEPS = 8
LORA = ["lora.enabled=true", "lora.r=4", "lora.alpha=8", "learning_rate=5e-3", "gradient_checkpointing=true"]


def _unavailable(why: str) -> None:
    if REQUIRE:
        pytest.fail(f"EMMA_REQUIRE_DISTRIBUTED=1 but {why}")
    pytest.skip(why)


def _need_launch() -> None:
    problems = [f"{b} not found" for b in ("unshare", "ip") if shutil.which(b) is None]
    if os.geteuid() != 0:
        problems.append("not root (unshare -n needs it)")
    if not problems and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        problems.append("unshare -n is refused here")
    if importlib.util.find_spec("torch.distributed.run") is None:
        problems.append("torch.distributed.run (torchrun) is missing")
    if problems:
        _unavailable("2-process training cannot be launched in a private network namespace: " + "; ".join(problems))


def _need(strategy: str) -> None:
    _need_launch()
    if strategy.startswith("zero") and importlib.util.find_spec("deepspeed") is None:
        _unavailable(f"strategy {strategy} needs DeepSpeed (pip install 'emma[deepspeed]', or bash scripts/setup.sh --with deepspeed)")


def _env() -> dict:
    from emma.models.load import cache_dir

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.setdefault("TORCH_EXTENSIONS_DIR", str(cache_dir() / "torch_extensions"))  # DeepSpeed's shm op: built once
    return env


def _command(cfg: Path, out: Path, sets: list[str], resume: bool) -> list[str]:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", "29517"]
    emma = ["-m", "emma.cli", "train", str(cfg), "--out", str(out), *(a for s in sets for a in ("--set", s))] + (["--resume"] if resume else [])
    # a namespace of its own per launch: the fixed port is always free there
    if CLUSTER.is_file():
        return ["bash", str(CLUSTER), "--", *torchrun, *emma]
    return ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "ns", *torchrun, *emma]


def launch(cfg: Path, out: Path, sets: list[str], *, resume: bool = False) -> dict:
    proc = subprocess.run(_command(cfg, out, sets, resume), capture_output=True, text=True, timeout=600, env=_env(), start_new_session=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / "train.json").read_text())


def _netns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def launch_and_kill(cfg: Path, out: Path, sets: list[str], sealed: Path) -> None:
    """Launch, wait for `sealed`, then SIGKILL every process of the launch: torchrun starts each worker
    in a session of its own, so they are found by their network namespace (the launch's own)."""
    proc = subprocess.Popen(_command(cfg, out, sets, False), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), start_new_session=True)
    deadline = time.time() + 300
    while not sealed.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    ns = _netns(proc.pid)
    assert ns and ns != _netns(os.getpid()), "the launch is not in a network namespace of its own"
    for _ in range(50):
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _netns(int(p.name)) == ns]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    proc.wait(timeout=60)
    err = proc.stderr.read() if proc.stderr else ""
    assert sealed.exists(), f"no checkpoint was sealed: {err[-3000:]}"
    assert not (out / "train.json").exists(), "the run finished before it could be killed"


def losses(info: dict) -> list[float]:
    return [h["loss"] for h in info["log_history"] if "loss" in h]


def plain_weights(run: Path) -> dict:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(run / "checkpoint")  # a whole model, as any transformers code loads it
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_close(a: dict, b: dict, atol: float) -> float:
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= atol, f"weights differ by {worst}"
    return worst


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_model_dir):
    """The config, and per-run results shared by the tests (the one-process references, the sharded runs)."""
    from test_train import text_dir

    root = tmp_path_factory.mktemp("distributed")
    cfg = {
        "model": str(tiny_model_dir),
        "seed": 0,
        "data": {"text_dir": str(text_dir(root)), "block_size": 32, "heldout_blocks": 1},
        "steps": STEPS,
        "batch_size": 2,
        "learning_rate": 1e-3,
        "warmup_steps": 1,
        "save_steps": 2,
        "logging_steps": 1,
        "eval_steps": 4,
        "report_to": [],
        "peak_flops": 1e10,
    }
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return {"root": root, "cfg": path, "runs": {}}


def reference(setup, lora: bool) -> tuple[dict, dict]:
    """One process, batch 4 (= 2 processes x batch 2): losses and weights the 2-process runs must match."""
    key = "one-lora" if lora else "one"
    if key not in setup["runs"]:
        out = setup["root"] / key
        info = train(load_config(setup["cfg"], ["batch_size=4", *(LORA if lora else [])]), out)
        setup["runs"][key] = (info, plain_weights(out))
    return setup["runs"][key]


def sharded(setup, strategy: str) -> tuple[dict, Path]:
    if strategy not in setup["runs"]:
        out = setup["root"] / strategy
        setup["runs"][strategy] = (launch(setup["cfg"], out, [f"strategy={strategy}"]), out)
    return setup["runs"][strategy]


@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "zero2", "zero3"])
def test_two_processes_match_one(setup, strategy):
    _need(strategy)
    ref_info, ref_weights = reference(setup, lora=False)
    info, out = sharded(setup, strategy)
    assert info["world_size"] == 2 and info["steps"] == STEPS and info["tokens_trained"] == ref_info["tokens_trained"]
    a, b = losses(ref_info), losses(info)
    assert len(a) == len(b) == STEPS
    assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-5, (a, b)
    assert_close(ref_weights, plain_weights(out), atol=1e-5)
    share = info["sharding"]
    assert share["strategy"] == strategy and len(share["parameters_per_process"]) == 2
    full, state = info["parameters"], 2 * info["parameters"]  # AdamW: two moments per parameter
    per_param = [n / full for n in share["parameters_per_process"]]
    per_state = [n / state for n in share["optimizer_state_per_process"]]
    if strategy in ("fsdp", "zero3"):  # parameters sharded (zero3 keeps the tiny norm weights whole), and so the moments
        assert all(0.45 < f < 0.55 for f in per_param + per_state), share
    elif strategy == "zero2":  # whole parameters, half the optimizer state each
        assert per_param == [1.0, 1.0] and all(0.45 < f < 0.55 for f in per_state), share
    else:
        assert per_param == per_state == [1.0, 1.0], share


@pytest.mark.parametrize("strategy", ["fsdp", "zero3"])
def test_sigkill_of_every_rank_then_resume_is_bit_identical(setup, strategy):
    _need(strategy)
    _, whole = sharded(setup, strategy)
    killed = setup["root"] / f"{strategy}-killed"
    launch_and_kill(setup["cfg"], killed, [f"strategy={strategy}"], killed / "trainer" / "checkpoint-2" / "emma-checkpoint.json")
    info = launch(setup["cfg"], killed, [f"strategy={strategy}"], resume=True)
    assert info["resumed_from"] and 2 <= int(info["resumed_from"].rsplit("-", 1)[-1]) < STEPS
    a, b = plain_weights(whole), plain_weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] == b[k]).all(), f"{k} differs after kill + resume under {strategy}"


@pytest.mark.parametrize("strategy", ["fsdp", "zero3"])
def test_lora_under_sharding_merges_to_the_one_process_result(setup, strategy):
    _need(strategy)
    ref_info, ref_weights = reference(setup, lora=True)
    out = setup["root"] / f"{strategy}-lora"
    info = launch(setup["cfg"], out, [f"strategy={strategy}", *LORA])
    assert 0 < info["trainable_parameters"] < info["parameters"] and info["trainable_parameters"] == ref_info["trainable_parameters"]
    assert max(abs(x - y) for x, y in zip(losses(ref_info), losses(info))) <= 1e-5
    merged = plain_weights(out)
    assert not any("lora" in k for k in merged)
    assert_close(ref_weights, merged, atol=1e-5)


def test_sharding_strategies_need_processes(setup, tiny_model_dir):
    """One process: fsdp / zero* is one clear error, before any work (nothing written)."""
    for strategy in ("fsdp", "zero3"):
        out = setup["root"] / f"one-{strategy}"
        with pytest.raises(EmmaError, match=rf"strategy {strategy} shards the model across processes.*torchrun"):
            train(load_config(setup["cfg"], [f"strategy={strategy}"]), out)
        assert not (out / "config.yaml").exists()
    proc = subprocess.run(
        [sys.executable, "-m", "emma.cli", "train", str(setup["cfg"]), "--out", str(setup["root"] / "one-cli"), "--set", "strategy=zero2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("emma: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "torchrun" in errors[0], proc.stderr[-2000:]
    with pytest.raises(EmmaError, match="strategy"):
        load_config(setup["cfg"], ["strategy=fsdp1"])
