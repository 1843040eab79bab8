"""`emma train`: exact resume after SIGKILL, corrupt checkpoints, LoRA + merge, vocabulary
extension, packed shards, 2-process DDP (gloo), config errors. Tiny random model for speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import UDHR, need
from emma.errors import EmmaError
from emma.train.config import load_config
from emma.train.run import resumable_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]


def text_dir(tmp_path) -> Path:
    root = tmp_path / "text"
    root.mkdir()
    words = {
        "eng_Latn": "river stone light wind house road".split(),
        "swh_Latn": "mto jiwe mwanga upepo nyumba barabara".split(),
        "fra_Latn": "rivière pierre lumière vent maison route".split(),
    }
    for lang, w in words.items():
        lines = [" ".join(w[(i * k) % len(w)] for k in range(1, 12)) + f" {i}." for i in range(60)]
        (root / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_config(tmp_path, model, data: dict, **over) -> Path:
    cfg = {
        "model": str(model),
        "seed": 0,
        "data": {"block_size": 32, "heldout_blocks": 1, **data},
        "steps": 8,
        "batch_size": 2,
        "learning_rate": 1e-3,
        "warmup_steps": 1,
        "save_steps": 2,
        "logging_steps": 1,
        "eval_steps": 4,
        "report_to": [],
        "peak_flops": 1e10,
        **over,
    }
    path = tmp_path / f"cfg-{len(list(tmp_path.glob('cfg-*')))}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "checkpoint" / "model.safetensors"))


def emma_train(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "emma.cli", "train", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def test_sigkill_then_resume_ends_bit_identical(tmp_path, tiny_model_dir):
    cfg_path = write_config(tmp_path, tiny_model_dir, {"text_dir": str(text_dir(tmp_path))}, steps=16)
    whole = train(load_config(cfg_path), tmp_path / "whole")
    assert whole["steps"] == 16 and whole["resumed_from"] is None
    killed = tmp_path / "killed"
    proc = emma_train(cfg_path, "--out", killed)
    sealed = killed / "trainer" / "checkpoint-4" / "emma-checkpoint.json"
    deadline = time.time() + 240
    while not sealed.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "train.json").exists(), "the run finished before it could be killed"
    again = emma_train(cfg_path, "--out", killed)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 2 and "pass --resume" in err.strip().splitlines()[-1]
    resumed = train(load_config(cfg_path), killed, resume=True)
    assert resumed["resumed_from"] and int(resumed["resumed_from"].rsplit("-", 1)[-1]) >= 4
    a, b = weights(tmp_path / "whole"), weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k] == b[k]).all(), f"{k} differs after kill + resume"


def test_corrupt_newest_checkpoint_falls_back(tmp_path, tiny_model_dir, caplog):
    cfg_path = write_config(tmp_path, tiny_model_dir, {"text_dir": str(text_dir(tmp_path))}, steps=4)
    run = tmp_path / "run"
    train(load_config(cfg_path), run)
    trainer_dir = run / "trainer"
    newest = trainer_dir / "checkpoint-4" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    assert resumable_checkpoint(trainer_dir) == str(trainer_dir / "checkpoint-2")
    assert (trainer_dir / "corrupt-4").is_dir() and "checkpoint-4" in caplog.text and "bytes" in caplog.text
    (trainer_dir / "checkpoint-2" / "emma-checkpoint.json").unlink()  # cut off before sealing
    assert resumable_checkpoint(trainer_dir) is None


def test_lora_run_merges_into_a_plain_checkpoint(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    cfg_path = write_config(
        tmp_path,
        tiny_model_dir,
        {"text_dir": str(text_dir(tmp_path))},
        steps=4,
        lora={"enabled": True, "r": 4, "alpha": 8},
        learning_rate=5e-3,
        gradient_checkpointing=True,
    )
    info = train(load_config(cfg_path), tmp_path / "lora")
    assert 0 < info["trainable_parameters"] < info["parameters"]
    assert set(info["heldout_loss_start"]) == set(info["heldout_loss"]) == {"eng_Latn", "swh_Latn", "fra_Latn"}
    merged = weights(tmp_path / "lora")
    assert not any("lora" in k for k in merged)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    changed = [k for k in merged if k in base and not (merged[k] == base[k]).all()]
    assert changed and all("proj" in k for k in changed)  # only the adapted linear layers moved
    AutoModelForCausalLM.from_pretrained(tmp_path / "lora" / "checkpoint")


def test_vocabulary_extension_on_a_badly_split_script(tmp_path, smollm2):
    import copy

    from emma.train.data import udhr_documents
    from emma.train.vocab import extend_vocabulary

    need(UDHR)
    docs = udhr_documents(["amh_Ethi", "eng_Latn"], str(UDHR))
    model, tok = copy.deepcopy(smollm2.model), copy.deepcopy(smollm2.tokenizer)
    emb_before = model.get_input_embeddings().weight.detach().clone()
    report = extend_vocabulary(model, tok, docs, threshold=3.0, max_new=300)
    assert report["languages"] == ["amh_Ethi"] and report["added"] > 50
    before, after = report["fertility_before"]["amh_Ethi"], report["fertility_after"]["amh_Ethi"]
    assert after["tokens_per_word"] < before["tokens_per_word"] / 2
    assert report["fertility_after"]["eng_Latn"]["tokens"] <= report["fertility_before"]["eng_Latn"]["tokens"]
    word = report["examples"][0]
    pieces = smollm2.tokenizer(word, add_special_tokens=False)["input_ids"]
    new_id = tok.convert_tokens_to_ids(word)
    emb = model.get_input_embeddings().weight
    assert new_id >= len(smollm2.tokenizer) and np.allclose(emb[new_id].detach(), emb_before[pieces].mean(0), atol=1e-6)
    assert (emb[: len(smollm2.tokenizer)] == emb_before).all()  # old rows untouched


def test_packed_shards_with_manifest_weights(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    shards = tmp_path / "shards"
    shards.mkdir()
    entries = []
    for lang, text, w in (("eng_Latn", "the river runs by the stone house", 0.25), ("swh_Latn", "mto unapita karibu na nyumba", 0.75)):
        ids = (tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]) * 40
        np.save(shards / f"{lang}.npy", np.array(ids, dtype=np.uint32))
        entries.append({"lang": lang, "file": f"{lang}.npy", "tokens": len(ids), "weight": w})
    (shards / "manifest.yaml").write_text(yaml.safe_dump({"tokenizer": str(tiny_model_dir), "languages": entries}))
    info = train(
        load_config(write_config(tmp_path, tiny_model_dir, {"shards": str(shards)}, steps=4, gradient_checkpointing=True, grad_accum=2)),
        tmp_path / "run",
    )
    assert info["tokens_trained"] == 4 * 2 * 2 * 32  # steps x batch x accumulation x block
    assert info["weights"] == {"eng_Latn": 0.25, "swh_Latn": 0.75}
    entries[0]["weight"] = 0.5
    (shards / "manifest.yaml").write_text(yaml.safe_dump({"languages": entries}))
    with pytest.raises(EmmaError, match="sum to 1"):
        train(load_config(write_config(tmp_path, tiny_model_dir, {"shards": str(shards)}, steps=4)), tmp_path / "run2")


def test_two_process_ddp_on_cpu(tmp_path, tiny_model_dir):
    cfg_path = write_config(tmp_path, tiny_model_dir, {"text_dir": str(text_dir(tmp_path))}, steps=4)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29533",
            "-m",
            "emma.cli",
            "train",
            str(cfg_path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads((out / "train.json").read_text())
    assert info["world_size"] == 2 and info["steps"] == 4
    assert info["tokens_trained"] == pytest.approx(4 * 2 * 2 * 32, rel=0.2)  # steps x batch x processes x block


def test_config_errors_are_one_line(tmp_path, tiny_model_dir):
    with pytest.raises(EmmaError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(EmmaError, match=r"stepz: Extra inputs are not permitted"):
        load_config(write_config(tmp_path, tiny_model_dir, {"text_dir": "x"}, stepz=3))
    with pytest.raises(EmmaError, match="exactly one of data.text_dir"):
        load_config(write_config(tmp_path, tiny_model_dir, {"text_dir": "x", "udhr": ["eng"]}))
    with pytest.raises(EmmaError, match="learning_rate"):
        load_config(write_config(tmp_path, tiny_model_dir, {"text_dir": "x"}), ["learning_rate=-1"])
    with pytest.raises(EmmaError, match="not a folder"):
        train(load_config(write_config(tmp_path, tiny_model_dir, {"text_dir": str(tmp_path / "missing")})), tmp_path / "o")


def test_shipped_tiny_config_is_valid():
    cfg = load_config(ROOT / "configs" / "train_tiny.yaml")
    assert cfg.model == "smollm2-135m" and cfg.steps <= 20
    for name in ("ddp_cpu", "fsdp", "deepspeed_zero2"):
        assert yaml.safe_load((ROOT / "configs" / "accelerate" / f"{name}.yaml").read_text())["distributed_type"]


def test_set_mixed_precision_no_survives_yaml():
    """`--set mixed_precision=no`: YAML reads a bare `no` as false, the config takes it as "no"."""
    from emma.train.config import load_config

    root = Path(__file__).resolve().parents[1]
    assert load_config(root / "configs" / "train_tiny.yaml", ["mixed_precision=no"]).mixed_precision == "no"
    assert load_config(root / "configs" / "train_tiny.yaml", ["mixed_precision=bf16"]).mixed_precision == "bf16"


def test_resume_with_another_process_count_is_refused(tmp_path, tiny_model_dir):
    """A checkpoint written by 2 processes holds 2 RNG states and per-process data positions: one
    process cannot continue it exactly, so the resume is refused before the model loads."""
    from emma.train.run import SEAL, checkpoint_processes

    cfg_path = write_config(tmp_path, tiny_model_dir, {"text_dir": str(text_dir(tmp_path))}, steps=4)
    trainer = tmp_path / "run" / "trainer"
    for step, ranks in ((2, ["rng_state_0.pth", "rng_state_1.pth"]), (1, ["rng_state.pth"])):
        ckpt = trainer / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        for name in ranks:
            (ckpt / name).write_bytes(b"x")
        (ckpt / SEAL).write_text("{}")
    (trainer / "checkpoint-3").mkdir()  # newer but not sealed: not what a resume would use
    assert checkpoint_processes(trainer) == (trainer / "checkpoint-2", 2)
    proc = emma_train(cfg_path, "--out", tmp_path / "run", "--resume")
    _, err = proc.communicate(timeout=300)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("emma: error:"), err
    assert "checkpoint-2 was written by 2 training process(es) and 1 were launched" in last and "Traceback" not in err
    assert sorted(p.name for p in trainer.iterdir()) == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    (trainer / "checkpoint-2" / "rng_state_1.pth").unlink()
    (trainer / "checkpoint-2" / "rng_state_0.pth").rename(trainer / "checkpoint-2" / "rng_state.pth")
    assert checkpoint_processes(trainer) == (trainer / "checkpoint-2", 1)
