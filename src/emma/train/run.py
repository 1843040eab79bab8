"""`emma train CONFIG.yaml --out DIR [--resume]`: continual pre-training of any causal LM emma
loads, full or LoRA, on one CPU or many processes (`torchrun --nproc_per_node N`), resumable exactly.

`strategy` says how the processes share the work, through the `Trainer`'s accelerate backend: `ddp`
(each holds the whole model), `fsdp` (PyTorch FSDP2: parameters, gradients and optimizer state sharded),
`zero2` / `zero3` (DeepSpeed ZeRO-2: gradients and optimizer state; ZeRO-3: parameters too). On CPU they run
over gloo; accelerate never turns FSDP on for CPU processes (it would run DDP in its place), so emma turns
it on itself there, and refuses to run when the strategy asked for is not the one the `Trainer` runs.
Under fsdp and zero3 the final model is gathered onto rank 0 and saved whole.

Layout of DIR: `config.yaml` (the validated settings), `trainer/checkpoint-N/` (the `Trainer`'s
resumable checkpoints, each sealed by `emma-checkpoint.json` once complete; two are kept),
`vocab.json` (fertility before/after when the vocabulary is extended), `runs/` (TensorBoard),
`checkpoint/` (the final model: a plain Hugging Face directory, LoRA merged), `train.json`.

Exact resume: the data plan is fixed by the seed and read in order; the `Trainer` checkpoint
holds weights, optimiser, scheduler and RNG states and skips the batches already seen, so a run
killed at any point and resumed ends with the same weights as one never interrupted (checked
bit for bit on CPU by the tests).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from emma.errors import EmmaError
from emma.io import atomic_dir, claim_run_dir, ensure_writable_dir, write_json, write_text
from emma.train.config import TrainConfig
from emma.train.data import block_tokens, hold_out, jsonl_documents, shard_blocks, text_dir_documents, tokenize_blocks, udhr_documents
from emma.train.sampling import PlanDataset, collate_blocks, language_weights, sample_plan

if TYPE_CHECKING:
    from peft import PeftModel

    from emma.models.load import CausalLM

log = logging.getLogger(__name__)
SEAL = "emma-checkpoint.json"


# --- checkpoints ---------------------------------------------------------------------------


def seal_checkpoint(ckpt: Path) -> None:
    """Record every file's size once the Trainer has written the checkpoint: its presence marks the
    checkpoint complete, and the sizes catch a file truncated or replaced later."""
    files = {str(p.relative_to(ckpt)): p.stat().st_size for p in sorted(ckpt.rglob("*")) if p.is_file() and p.name != SEAL}
    write_json(ckpt / SEAL, {"files": files})


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why `ckpt` cannot be resumed from, or None if it can."""
    seal = ckpt / SEAL
    if not seal.is_file():
        return "not sealed (cut off while saving)"
    try:
        files = json.loads(seal.read_text())["files"]
    except (ValueError, KeyError):
        return f"unreadable {SEAL}"
    for name, size in files.items():
        p = ckpt / name
        if not p.is_file():
            return f"{name} is missing"
        if p.stat().st_size != size:
            return f"{name} has {p.stat().st_size} bytes, {size} were written"
    for st in ckpt.glob("*.safetensors"):
        try:
            from safetensors import safe_open

            with safe_open(str(st), "pt") as f:
                f.keys()
        except Exception as exc:  # safetensors raises its own error types for a bad header
            return f"{st.name} is not readable ({type(exc).__name__})"
    return None


def _checkpoints_newest_first(trainer_dir: Path) -> list[Path]:
    """The Trainer's `checkpoint-N` folders, highest N first."""
    found = [p for p in trainer_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True)


def resumable_checkpoint(trainer_dir: Path) -> str | None:
    """The newest checkpoint that is complete and intact. A broken one is moved aside to
    `corrupt-N` (kept for inspection, ignored by rotation), with a message, and the one before it is used."""
    for ckpt in _checkpoints_newest_first(trainer_dir):
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return str(ckpt)
        aside = ckpt.with_name(f"corrupt-{ckpt.name.split('-')[-1]}")
        shutil.rmtree(aside, ignore_errors=True)
        ckpt.rename(aside)
        log.warning("%s: %s; moved to %s, resuming from the checkpoint before it", ckpt, problem, aside.name)
    return None


# --- throughput ----------------------------------------------------------------------------


def matmul_flops(device: torch.device, seconds: float = 0.5, dtype: torch.dtype = torch.float32) -> float:
    """Measured matmul FLOP/s on `device` in `dtype` (the MFU denominator when no peak is configured:
    bf16's under bf16 autocast, whose matmuls run in bf16)."""
    n = 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        done += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * done / (time.perf_counter() - start)


def _trainer_class():
    from transformers import Trainer

    class EmmaTrainer(Trainer):
        """The `Trainer`, logging tokens/s and an MFU estimate (6 x parameters FLOPs a token) next to the loss."""

        tokens_per_step: float = 0.0
        flops_per_token: float = 0.0
        peak_flops: float = 0.0
        _mark: tuple[float, int] | None = None

        def log(self, logs, *args, **kwargs):
            now, step = time.perf_counter(), self.state.global_step
            if "loss" in logs and self._mark is not None and step > self._mark[1]:
                rate = (step - self._mark[1]) * self.tokens_per_step / (now - self._mark[0])
                logs["tokens_per_s"] = round(rate, 1)
                if self.peak_flops:
                    logs["mfu"] = round(rate * self.flops_per_token / self.peak_flops, 4)
            if "loss" in logs or self._mark is None:
                self._mark = (now, step)
            return super().log(logs, *args, **kwargs)

        def create_accelerator_and_postprocess(self):
            super().create_accelerator_and_postprocess()
            plugin_args = getattr(self.args, "fsdp_plugin_args", None)
            if plugin_args is not None and not self.is_fsdp_enabled:
                _fsdp_on_cpu(self, plugin_args)

        def _save_checkpoint(self, model, trial):
            try:
                super()._save_checkpoint(model, trial)
            except RuntimeError as exc:  # torch.save's C++ writer reports a full disk as a RuntimeError, not an OSError
                full = shutil.disk_usage(self.args.output_dir).free < (64 << 20)
                if full and ("unexpected pos" in str(exc) or "failed writing" in str(exc)):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.args.output_dir) from None
                raise
            # every process writes its part (its RNG state; its shard under fsdp / zero): seal once all are written
            self.accelerator.wait_for_everyone()
            if self.args.should_save:
                from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

                seal_checkpoint(Path(self.args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")

    return EmmaTrainer


def _fsdp_on_cpu(trainer, plugin_args: dict) -> None:
    """accelerate makes FSDP a distributed type of accelerator devices only: CPU processes stay
    MULTI_CPU and the `Trainer` would wrap the model in DDP instead. FSDP2 itself runs on CPU over gloo
    (fully_shard on a CPU mesh), so the shared accelerate state is switched to FSDP before the model is prepared."""
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = trainer.accelerator.state
    if state.distributed_type != DistributedType.MULTI_CPU:
        return  # a GPU run where accelerate chose otherwise: the strategy check reports it
    state.fsdp_plugin = FullyShardedDataParallelPlugin(**plugin_args)
    state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP  # as AcceleratorState keeps them in step
    trainer.is_fsdp_enabled = True


# --- strategies ----------------------------------------------------------------------------


def _check_strategy(cfg: TrainConfig) -> None:
    """Before any work: a sharding strategy needs processes to shard across, and DeepSpeed for zero*;
    a launcher that asks for another strategy than the config's is refused."""
    for env, name, fits in (("ACCELERATE_USE_FSDP", "FSDP", ("fsdp",)), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed", ("zero2", "zero3"))):
        if os.environ.get(env, "false").lower() == "true" and cfg.strategy not in fits:
            raise EmmaError(
                f"the launcher asks for {name} ({env}=true, from an accelerate config) but the training config's strategy is "
                f"{cfg.strategy}: set `strategy: {fits[0]}` (--set strategy={fits[0]}), "
                "or launch with `torchrun --nproc_per_node N -m emma.cli train ...`"
            )
    if cfg.strategy == "ddp":
        return
    if _world_size() < 2:
        raise EmmaError(
            f"strategy {cfg.strategy} shards the model across processes, and this is one: launch it with "
            f"`torchrun --nproc_per_node N -m emma.cli train ...` (N >= 2), or use strategy ddp for one process"
        )
    if cfg.strategy.startswith("zero"):
        import importlib.util

        if not torch.cuda.is_available():
            os.environ.setdefault("DS_ACCELERATOR", "cpu")  # else DeepSpeed probes for accelerators and warns
        if importlib.util.find_spec("deepspeed") is None:
            raise EmmaError(f"strategy {cfg.strategy} needs DeepSpeed: pip install 'emma[deepspeed]' (or bash scripts/setup.sh --with deepspeed)")


def _base_model(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _strategy_args(cfg: TrainConfig, model) -> dict:
    """`TrainingArguments` settings for the strategy (ddp: none, the launcher's processes are enough)."""
    if cfg.strategy == "fsdp":
        layers = sorted(set(getattr(_base_model(model), "_no_split_modules", None) or []))
        fsdp_config = {
            "version": 2,  # FSDP2 (fully_shard): per-parameter sharding, what transformers and accelerate default to
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP" if layers else "NO_WRAP",
            "transformer_layer_cls_to_wrap": layers or None,  # one FSDP unit per decoder layer
            "reshard_after_forward": True,  # FULL_SHARD
            "state_dict_type": "SHARDED_STATE_DICT",  # checkpoints: each process writes its own shard
            "cpu_ram_efficient_loading": False,
        }
        return {"fsdp": True, "fsdp_config": {k: v for k, v in fsdp_config.items() if v is not None}}
    if cfg.strategy in ("zero2", "zero3"):
        return {"deepspeed": deepspeed_config(int(cfg.strategy[-1]))}
    return {}


def deepspeed_config(stage: int) -> dict:
    """The DeepSpeed config for ZeRO `stage`; "auto" values are filled in by the `Trainer` from the
    training settings (batch sizes, accumulation, clipping, bf16) and the model (bucket sizes)."""
    zero: dict = {"stage": stage, "overlap_comm": False, "contiguous_gradients": True, "reduce_bucket_size": "auto"}
    if stage == 3:
        zero |= {
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "stage3_gather_16bit_weights_on_model_save": True,  # the final save gathers the whole model (in its own dtype)
        }
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,  # the Trainer's torch AdamW, as under ddp and fsdp
        "steps_per_print": 2**31 - 1,  # the Trainer logs
        "wall_clock_breakdown": False,
    }


def _check_running(trainer, cfg: TrainConfig) -> None:
    """The `Trainer` runs what was asked for, across every process launched, or the run stops here."""
    want = {"fsdp": trainer.is_fsdp_enabled, "zero2": trainer.is_deepspeed_enabled, "zero3": trainer.is_deepspeed_enabled}
    if not want.get(cfg.strategy, True):
        import accelerate
        import transformers

        raise EmmaError(
            f"strategy {cfg.strategy}: the Trainer did not turn it on here (transformers {transformers.__version__}, "
            f"accelerate {accelerate.__version__}); not running it unsharded instead"
        )
    if trainer.accelerator.num_processes != _world_size():
        raise EmmaError(
            f"{_world_size()} processes were launched but the Trainer sees {trainer.accelerator.num_processes}: they would each train "
            "the whole run alone; launch with `torchrun --nproc_per_node N -m emma.cli train ...`"
        )


def _local_numel(t) -> int:
    if hasattr(t, "ds_tensor") and not getattr(t, "ds_persist", False):
        return t.ds_tensor.numel()  # ZeRO-3: this process's partition
    if hasattr(t, "to_local"):
        return t.to_local().numel()  # FSDP2 DTensor: this process's shard
    return t.numel()


def _sharding(trainer, strategy: str) -> dict:
    """Parameter and optimizer-state elements each process holds (every process calls this)."""
    opt = trainer.optimizer
    while hasattr(opt, "optimizer"):  # accelerate's and DeepSpeed's wrappers around the torch optimizer
        opt = opt.optimizer
    mine = {
        "parameters": sum(_local_numel(p) for p in trainer.model_wrapped.parameters()),
        "optimizer_state": sum(_local_numel(t) for st in opt.state.values() for t in st.values() if torch.is_tensor(t) and t.dim() > 0),
    }
    every = [mine]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        every = [{} for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather_object(every, mine)
    return {
        "strategy": strategy,
        "parameters_per_process": [e["parameters"] for e in every],
        "optimizer_state_per_process": [e["optimizer_state"] for e in every],
    }


def checkpoint_processes(trainer_dir: Path) -> tuple[Path, int] | None:
    """(newest sealed checkpoint, how many training processes wrote it), or None without one: the
    Trainer saves one RNG state per process (`rng_state.pth` alone, or `rng_state_<rank>.pth`)."""
    ckpt = next((p for p in _checkpoints_newest_first(trainer_dir) if (p / SEAL).is_file()), None)
    if ckpt is None:
        return None
    ranks = [p for p in ckpt.glob("rng_state_*.pth") if p.stem.split("_")[-1].isdigit()]
    return ckpt, len(ranks) if ranks else 1


def _resume_point(trainer, trainer_dir: Path) -> str | None:
    """The checkpoint to resume from, chosen by rank 0 (which moves broken ones aside) for every process."""
    last = [resumable_checkpoint(trainer_dir) if trainer.is_world_process_zero() else None]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.broadcast_object_list(last, src=0)
    return last[0]


def _plain_model(model, state: dict):
    """`model`'s architecture (a PeftModel's too) as an ordinary module holding `state`, a full state dict
    gathered from the shards: built empty (no memory, no initialisation) and given the gathered tensors."""
    import copy

    from accelerate import init_empty_weights

    def plain_class(m):  # FSDP2 turns LlamaForCausalLM into FSDPLlamaForCausalLM(FSDPModule, LlamaForCausalLM)
        from torch.distributed.fsdp import FSDPModule

        return next(c for c in type(m).__mro__ if not issubclass(c, FSDPModule))

    base = _base_model(model)
    with init_empty_weights():  # parameters on meta, buffers (rotary frequencies) real
        skeleton = plain_class(base)(copy.deepcopy(base.config))
        if base is not model:
            from peft import get_peft_model

            skeleton = get_peft_model(skeleton, copy.deepcopy(model.peft_config["default"]))
    skeleton.load_state_dict(state, strict=False, assign=True)
    _base_model(skeleton).tie_weights()
    missing = [n for n, p in skeleton.named_parameters() if p.is_meta]
    if missing:
        raise EmmaError(f"the gathered model lacks {len(missing)} weights ({missing[0]}, ...): not saving a partial model")
    return skeleton


def _save_final(trainer, model, tokenizer, cfg: TrainConfig, final: Path) -> None:
    """The final model as one plain Hugging Face directory (LoRA merged when asked). Under fsdp and zero*
    the full weights are gathered onto rank 0 first: a collective, so every process calls this."""
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    state = trainer.accelerator.get_state_dict(trainer.model_wrapped) if sharded else None
    if not trainer.is_world_process_zero():
        return
    if trainer.is_deepspeed_enabled:  # building the plain model must not go through ZeRO-3's partitioned init
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
    plain = _plain_model(model, state) if state is not None else model
    to_save = cast("PeftModel", plain).merge_and_unload() if cfg.lora.enabled and cfg.lora.merge else plain
    with atomic_dir(final) as tmp:
        to_save.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))


# --- the run -------------------------------------------------------------------------------


def _documents(cfg: TrainConfig) -> dict[str, list[str]]:
    if cfg.data.text_dir:
        return text_dir_documents(cfg.data.text_dir)
    if cfg.data.jsonl:
        return jsonl_documents(cfg.data.jsonl)
    return udhr_documents(cfg.data.udhr or [], cfg.data.udhr_path)


def auto_mixed_precision() -> str:
    """ "bf16" where bf16 autocast is fast (a CUDA GPU with bf16, or a CPU with AVX-512 BF16 or AMX:
    1.5-2.3x here), else "no" (elsewhere CPU bf16 is emulated and slower than fp32)."""
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "no"
    fast = [getattr(torch.cpu, name, lambda: False) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return "bf16" if any(f() for f in fast) else "no"


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False) -> dict:
    """Run (or resume, or find already done) the training `cfg` describes into `out`; returns what
    `train.json` records. Refuses a folder that holds a run with other settings."""
    from transformers import TrainingArguments

    from emma.models import load_model

    _check_strategy(cfg)
    out = ensure_writable_dir(out)
    rank = int(os.environ.get("RANK", "0"))
    trainer_dir = out / "trainer"
    settings = cfg.model_dump(mode="json")
    if settings["strategy"] == "ddp":  # the default, recorded only when another: run folders from before it existed stay valid
        del settings["strategy"]
    if (out / "train.json").is_file() and json.loads((out / "train.json").read_text()).get("config") == settings:
        log.info("%s is already trained with these settings; nothing to do", out)
        return json.loads((out / "train.json").read_text())
    hint = "use another --out, or delete it"
    claim_run_dir(out, settings, what="training", hint=hint, write=False)  # checked now, written once model and data are read
    if trainer_dir.is_dir() and any(trainer_dir.glob("checkpoint-*")) and not resume:
        raise EmmaError(f"{out} has checkpoints from an earlier run; pass --resume to continue it, or choose another --out")
    written = checkpoint_processes(trainer_dir) if resume and trainer_dir.is_dir() else None
    if written and written[1] != _world_size():
        # Each process's data order, RNG state and (sharded) optimizer state are in the checkpoint: another count cannot continue it exactly.
        raise EmmaError(
            f"{written[0]} was written by {written[1]} training process(es) and {_world_size()} were launched; "
            f"resume with {written[1]} (e.g. torchrun --nproc_per_node {written[1]}), or train into another --out"
        )

    torch.manual_seed(cfg.seed)
    lm = load_model(cfg.model, dtype=cfg.dtype)
    model: CausalLM | PeftModel = lm.model
    tokenizer = lm.tokenizer
    vocab_report = None
    blocks: Mapping[str, Sequence]
    if cfg.data.shards:
        if cfg.vocab.extend:
            raise EmmaError("vocab.extend needs text (data.text_dir or data.udhr): packed shards are already token ids")
        blocks, manifest_weights, shard_tok, max_ids = shard_blocks(cfg.data.shards, cfg.data.block_size)
        if shard_tok and shard_tok not in (cfg.model, lm.source, lm.name):
            log.warning("shards were packed with tokenizer %s, training %s: check they share a vocabulary", shard_tok, cfg.model)
        too_big = max(max_ids.values())
        if too_big >= cast(torch.Tensor, model.get_input_embeddings().weight).shape[0]:
            raise EmmaError(f"shards hold token id {too_big}, beyond {cfg.model}'s vocabulary: they were packed for another tokenizer")
    else:
        docs = _documents(cfg)
        if cfg.vocab.extend:
            from emma.train.vocab import extend_vocabulary

            vocab_report = extend_vocabulary(
                model,
                tokenizer,
                docs,
                threshold=cfg.vocab.fertility_threshold,
                max_new=cfg.vocab.max_new_tokens,
                min_frequency=cfg.vocab.min_frequency,
            )
            if rank == 0:
                write_json(out / "vocab.json", vocab_report)
        blocks, manifest_weights = tokenize_blocks(docs, tokenizer, cfg.data.block_size), None
    if cfg.data.heldout_jsonl:  # held-out documents of their own (the demo's held-out articles)
        train_blocks, held = blocks, tokenize_blocks(jsonl_documents(cfg.data.heldout_jsonl, "data.heldout_jsonl"), tokenizer, cfg.data.block_size)
    else:
        train_blocks, held = hold_out(blocks, cfg.data.heldout_blocks)
    counts = {lang: block_tokens(bl) for lang, bl in train_blocks.items()}
    weights = manifest_weights or language_weights(counts, cfg.data.alpha)
    per_step = cfg.batch_size * cfg.grad_accum * _world_size()
    plan = sample_plan(train_blocks, weights, cfg.steps * per_step, cfg.seed)
    if rank == 0:  # the model and the data are good: record the settings (a bad model or data leaves no config behind)
        claim_run_dir(out, settings, what="training", hint=hint)
        write_text(out / "config.yaml", _yaml(settings))

    if cfg.gradient_checkpointing:
        model.config.use_cache = False
        if cfg.lora.enabled:
            model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need an input that requires grad
    if cfg.lora.enabled:
        from peft import LoraConfig, get_peft_model

        extra = ["embed_tokens", "lm_head"] if vocab_report and vocab_report["added"] else None
        model = get_peft_model(
            model,
            LoraConfig(
                r=cfg.lora.r,
                lora_alpha=cfg.lora.alpha,
                lora_dropout=cfg.lora.dropout,
                target_modules=cfg.lora.target_modules,
                modules_to_save=extra,
                task_type="CAUSAL_LM",
            ),
        )
    cpu = not torch.cuda.is_available()
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "runs")  # this run's folder, also when a process trains twice
    report_to: list[str] = [r for r in cfg.report_to if _installed(r)]
    args = TrainingArguments(
        output_dir=str(trainer_dir),
        max_steps=cfg.steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        bf16=cfg.mixed_precision == "bf16" or (cfg.dtype == "bfloat16" and not cpu),
        **_checkpointing_arg(TrainingArguments, cfg.gradient_checkpointing),
        logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        eval_strategy="steps" if (cfg.eval_steps and held) else "no",
        eval_steps=cfg.eval_steps,
        eval_on_start=bool(cfg.eval_steps and held and not resume),
        report_to=report_to,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=cpu,
        ddp_backend="gloo" if cpu and _world_size() > 1 else None,
        dataloader_num_workers=0,
        train_sampling_strategy="sequential",
        remove_unused_columns=False,
        disable_tqdm=False,
        **_strategy_args(cfg, model),
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=PlanDataset(train_blocks, plan),
        eval_dataset={lang: PlanDataset(held, [(lang, i) for i in range(len(bl))]) for lang, bl in held.items()} or None,
        data_collator=collate_blocks(tokenizer.pad_token_id),
    )
    _check_running(trainer, cfg)
    trainer.tokens_per_step = sum(len(train_blocks[lang][b]) for lang, b in plan) / cfg.steps
    n_params = sum(p.numel() for p in model.parameters())
    trainer.flops_per_token = 6 * n_params
    compute_dtype = torch.bfloat16 if cfg.mixed_precision == "bf16" or cfg.dtype == "bfloat16" else torch.float32
    trainer.peak_flops = cfg.peak_flops or matmul_flops(args.device, dtype=compute_dtype) * _world_size()
    last = _resume_point(trainer, trainer_dir) if resume else None
    if resume and last is None and any(trainer_dir.glob("c*-*")):  # checkpoint-N or corrupt-N: there was something
        log.warning("no intact checkpoint in %s: starting from the beginning", trainer_dir)
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    wall = time.perf_counter() - started
    at_end = {k: v for h in trainer.state.log_history if h.get("step") == trainer.state.global_step for k, v in h.items()}
    final_eval = at_end if set(_eval_losses(at_end)) == set(held) else (trainer.evaluate() if held else {})
    sharding = _sharding(trainer, cfg.strategy)
    log.info(
        "parameters / optimizer-state elements per process: %s / %s", sharding["parameters_per_process"], sharding["optimizer_state_per_process"]
    )
    info = {
        "config": settings,
        "resumed_from": last,
        "steps": trainer.state.global_step,
        "world_size": _world_size(),
        "train_loss": result.training_loss,
        "train_runtime_s": round(wall, 2),
        "tokens_trained": int(trainer.tokens_per_step * cfg.steps),
        "tokens_per_s": round(trainer.tokens_per_step * (cfg.steps - _step_of(last)) / wall, 1),
        "parameters": n_params,
        "trainable_parameters": sum(p.ds_numel if hasattr(p, "ds_numel") else p.numel() for p in model.parameters() if p.requires_grad),
        "sharding": sharding,
        "peak_flops": trainer.peak_flops,
        "weights": weights,
        "train_tokens_per_language": _planned(train_blocks, plan),
        "available_tokens_per_language": counts,
        "train_loss_first": next((h["loss"] for h in trainer.state.log_history if "loss" in h), None),
        "train_loss_last": next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), None),
        "heldout_loss_start": _eval_losses({k: v for h in trainer.state.log_history if h.get("step") == 0 for k, v in h.items()}),
        "heldout_loss": _eval_losses(final_eval),
        "log_history": trainer.state.log_history,
        "vocab": {k: v for k, v in (vocab_report or {}).items() if k != "examples"} or None,
    }
    final = out / "checkpoint"
    _save_final(trainer, model, tokenizer, cfg, final)
    if trainer.is_world_process_zero():
        info["checkpoint"] = str(final)
        write_json(out / "train.json", info)  # written last: marks the run done
        if not cfg.keep_checkpoints:  # the final model is saved: the resumable ones (~12 bytes a parameter) can go
            shutil.rmtree(trainer_dir, ignore_errors=True)
    return info


def _checkpointing_arg(args_class, on: bool) -> dict:
    """transformers 5 renamed gradient_checkpointing to activation_checkpointing."""
    import inspect

    params = inspect.signature(args_class.__init__).parameters
    return {"activation_checkpointing" if "activation_checkpointing" in params else "gradient_checkpointing": on}


def _eval_losses(metrics: dict) -> dict[str, float]:
    return {k.removeprefix("eval_").removesuffix("_loss"): v for k, v in metrics.items() if k.startswith("eval_") and k.endswith("_loss")}


def _step_of(ckpt: str | None) -> int:
    return int(ckpt.rsplit("-", 1)[-1]) if ckpt else 0


def _planned(blocks, plan) -> dict[str, int]:
    out = {lang: 0 for lang in blocks}
    for lang, b in plan:
        out[lang] += len(blocks[lang][b])
    return out


def _installed(name: str) -> bool:
    import importlib.util

    module = {"tensorboard": "tensorboard", "wandb": "wandb"}[name]
    if importlib.util.find_spec(module) is None:
        log.warning("report_to %s: %s is not installed; not logging there", name, module)
        return False
    return True


def _yaml(settings: dict) -> str:
    import yaml

    return yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)
