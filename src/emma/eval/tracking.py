"""`emma eval --report-to tensorboard|wandb`: each model's scores, as scores.json holds them, logged to
the trackers `emma train` logs to, so training and evaluation sit side by side in one dashboard.

Tags are `<task>/<metric>/<key>` for every language (or direction), `<task>/<metric>/_overall` and
`<task>/<metric>/group/<group>` for the macro-averages, all at step 0; the model's identity is the
run's config. TensorBoard writes `OUT/<model>/runs/eval-<time>/`; W&B a run named after the model in
project `$WANDB_PROJECT` (default `emma-eval`), under `OUT/<model>/` (`WANDB_MODE=offline`: no network).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from datetime import datetime
from pathlib import Path

from emma.errors import EmmaError

log = logging.getLogger(__name__)
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}  # tracker -> the module it needs
INSTALL = {"tensorboard": "pip install tensorboard", "wandb": "pip install 'emma[wandb]'"}


def parse_report_to(values: list[str] | None) -> list[str]:
    """`--report-to` values (repeated or comma-separated) checked before any work: known, installed; `none` alone means none."""
    names = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in (*TRACKERS, "none")]
    if unknown:
        raise EmmaError(f"--report-to {unknown[0]}: unknown; use tensorboard, wandb or none")
    if "none" in names and len(set(names)) > 1:
        raise EmmaError("--report-to none cannot be combined with a tracker; give one or the other")
    chosen = [n for n in dict.fromkeys(names) if n != "none"]
    for name in chosen:
        if importlib.util.find_spec(TRACKERS[name]) is None:
            raise EmmaError(f"--report-to {name}: {TRACKERS[name]} is not installed; {INSTALL[name]}, or leave --report-to out")
    return chosen


def flat_scores(scores: dict) -> dict[str, float]:
    """{tag: value} of one model's scores.json (finite numbers only; counts left out)."""
    out: dict[str, float] = {}
    for task, entry in scores.items():
        if task.startswith("_") or not isinstance(entry, dict):
            continue
        for key, values in entry.items():
            if key in ("_overall",):
                items = {f"{task}/{m}/_overall": v for m, v in values.items()}
            elif key == "_groups":
                items = {f"{task}/{m}/group/{g}": v for g, vs in values.items() for m, v in vs.items()}
            elif key.startswith("_") or not isinstance(values, dict):
                continue
            else:
                items = {f"{task}/{m}/{key}": v for m, v in values.items()}
            for tag, v in items.items():
                metric = tag.split("/")[1]
                if metric not in ("n", "languages") and isinstance(v, (int, float)) and math.isfinite(v):
                    out[tag] = float(v)
    return out


def report_scores(out: str | Path, all_scores: dict[str, dict], report_to: list[str]) -> None:
    """Log every model's scores (`evaluate`'s return: {model folder: {task: entry}}) to each tracker."""
    out = Path(out)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for model, tasks in all_scores.items():
        folder = out / model
        identity: dict = {}
        try:
            import json

            identity = json.loads((folder / "scores.json").read_text(encoding="utf-8")).get("_model") or {}
        except (OSError, ValueError):
            pass
        values = flat_scores(tasks)
        if "tensorboard" in report_to:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(folder / "runs" / f"eval-{stamp}"))
            for tag, v in values.items():
                writer.add_scalar(tag, v, 0)
            writer.add_text("model", "\n".join(f"- {k}: {v}" for k, v in identity.items()), 0)
            writer.close()
            log.info("%s: %d scores logged to TensorBoard in %s", model, len(values), folder / "runs")
        if "wandb" in report_to:
            import wandb

            run = wandb.init(
                project=os.environ.get("WANDB_PROJECT", "emma-eval"), name=model, dir=str(folder), config={"model": identity}, job_type="eval"
            )
            run.log(values, step=0)
            run.summary.update(values)
            run.finish()
            log.info("%s: %d scores logged to W&B (%s)", model, len(values), os.environ.get("WANDB_MODE", "online"))
    if "wandb" in report_to:
        import wandb

        wandb.teardown()  # waits for W&B's writer process: the run's files are complete when emma returns
