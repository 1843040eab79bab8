"""Logging for the `emma` command line.

emma's own loggers (`emma.*`) write concise lines to stderr at INFO by default; third-party
libraries are held at WARNING, so their warnings and errors still show but their chatter does not.

| verbosity         | emma    | third-party libraries (transformers, datasets, datatrove, torch, ...) |
|-------------------|---------|------------------------------------------------------------------------|
| -1 (`-q`)         | WARNING | WARNING                                                                |
| 0 (default)       | INFO    | WARNING                                                                |
| 1 (`-v`)          | DEBUG   | WARNING                                                                |
| 2 (`-vv`)         | DEBUG   | INFO                                                                   |
| 3 (`-vvv`)        | DEBUG   | DEBUG                                                                  |

Heavy libraries are not imported here: where one is not loaded yet, its own environment variable
(TRANSFORMERS_VERBOSITY, DATASETS_VERBOSITY, HF_HUB_VERBOSITY) sets its level when it is. A value
the user exported is kept unless -v/-q was given.

Python warnings (torch's, transformers' ...) go through the `py.warnings` logger as one line each
(Python's default filter already shows a given warning once per place).

datatrove logs through loguru and re-adds a stderr sink at INFO for every task, in every worker
process; `configure_datatrove()` holds every loguru stderr sink at the third-party level instead
(through $EMMA_LOGURU_LEVEL, which worker processes inherit).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

THIRD_PARTY = (
    "transformers",
    "datasets",
    "accelerate",
    "urllib3",
    "fsspec",
    "huggingface_hub",
    "torch",
    "peft",
    "filelock",
    "httpx",
    "httpcore",
    "matplotlib",
    "PIL",
    "absl",
    "tensorboard",
    "sacrebleu",
    "numexpr",
)
# libraries with their own handler on their root logger: they must not also propagate to ours
_OWN_HANDLER = ("datasets", "huggingface_hub")
_ENV_LEVELS = {"transformers": "TRANSFORMERS_VERBOSITY", "datasets": "DATASETS_VERBOSITY", "huggingface_hub": "HF_HUB_VERBOSITY"}
LOGURU_ENV = "EMMA_LOGURU_LEVEL"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_state = {"third_party": logging.WARNING}


def emma_level(verbosity: int) -> int:
    return logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG


def third_party_level(verbosity: int) -> int:
    return logging.WARNING if verbosity < 2 else logging.INFO if verbosity == 2 else logging.DEBUG


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    logging.getLogger("py.warnings").warning("%s: %s (%s:%s)", category.__name__, message, Path(filename).name, lineno)


def setup_logging(verbosity: int = 0) -> None:
    """Configure logging for one CLI run; safe to call again (it replaces its own handler)."""
    explicit = verbosity != 0
    ours, theirs = emma_level(verbosity), third_party_level(verbosity)
    _state["third_party"] = theirs

    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_emma", False)]:
        root.removeHandler(h)
    handler = _StderrHandler()
    handler._emma = True  # type: ignore[attr-defined]
    rank = f"[rank {os.environ.get('RANK', '?')}] " if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 else ""
    handler.setFormatter(logging.Formatter(rank + FORMAT, datefmt="%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(theirs)
    logging.getLogger("emma").setLevel(ours)

    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(theirs)
    for name in _OWN_HANDLER:
        logging.getLogger(name).propagate = False
    level_name = logging.getLevelName(theirs).lower()
    for var in _ENV_LEVELS.values():
        if explicit or var not in os.environ:
            os.environ[var] = level_name
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(theirs)
    # the tokenizers library warns on every fork after it was used ("disabling parallelism")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if verbosity < 0:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if "huggingface_hub" in sys.modules:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()

    # DeepSpeed (for `strategy: zero2/zero3`), once installed, is imported with accelerate by every command and, on a
    # CPU-only torch, warns each time that it found no GPU; there it is told it runs on CPU
    if "DS_ACCELERATOR" not in os.environ and _cpu_only_torch():
        os.environ["DS_ACCELERATOR"] = "cpu"

    logging.captureWarnings(True)
    warnings.showwarning = _show_warning
    if LOGURU_ENV in os.environ:  # a datatrove run configured earlier in this process
        os.environ[LOGURU_ENV] = logging.getLevelName(theirs)


def _cpu_only_torch() -> bool:
    """Whether the installed torch is a CPU build (read from its version, without importing it)."""
    from importlib import metadata

    try:
        return metadata.version("torch").endswith("+cpu")
    except metadata.PackageNotFoundError:
        return False


def configure_datatrove() -> None:
    """Hold datatrove's (loguru's) console output at the third-party level; call before a pipeline runs."""
    from emma.procs import tie_datatrove_children

    tie_datatrove_children()  # its worker processes die with emma instead of outliving a kill
    level = logging.getLevelName(_state["third_party"])
    os.environ[LOGURU_ENV] = level
    _install_loguru_clamp()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=level)


def _install_loguru_clamp() -> None:
    """datatrove calls `logger.remove(); logger.add(sys.stderr, level="INFO")` for every task: raise the
    level of every loguru sink on stderr to $EMMA_LOGURU_LEVEL (files, e.g. datatrove's task logs, keep theirs)."""
    from loguru import logger

    cls = type(logger)
    if getattr(cls.add, "_emma_clamp", False):
        return
    original = cls.add

    def add(self, sink, *args, **kwargs):
        floor = os.environ.get(LOGURU_ENV)
        if not (sink is sys.stderr or sink is sys.__stderr__):
            # a task log file that cannot be written (disk full) raises, and the command ends with one
            # error line, instead of loguru printing its own traceback for every record it cannot write
            kwargs.setdefault("catch", False)
        if floor and (sink is sys.stderr or sink is sys.__stderr__):
            requested = kwargs.get("level", "DEBUG")
            requested_no = requested if isinstance(requested, int) else self.level(requested).no
            if requested_no < self.level(floor).no:
                kwargs["level"] = floor
            if self.level(floor).no >= self.level("WARNING").no and "filter" not in kwargs:
                # a failing task's traceback stays in its task log (and -vv shows it): the exception goes
                # on to emma's handler, which prints the one error line
                kwargs["filter"] = lambda record: record["exception"] is None
        return original(self, sink, *args, **kwargs)

    add._emma_clamp = True  # type: ignore[attr-defined]
    cls.add = add  # type: ignore[method-assign]


# datatrove's worker processes (forkserver) import the CLI afresh; there the clamp comes from the environment
if os.environ.get(LOGURU_ENV):
    try:
        _install_loguru_clamp()
    except ImportError:  # pragma: no cover - loguru comes with datatrove
        pass
