"""Evaluation presets: named bundles of per-task settings.

`default` is emma's own behaviour (lm-evaluation-harness's prompts and scoring where it has the
task). `emma500` reproduces EMMA-500's evaluation scripts (repository MaLA-LM/emma-500, folder
`evaluation/`): the settings below, and in each task module the prompt strings, shot selection
(pools, counts, seeds and RNG calls in their order) and scoring that `opts.preset == "emma500"`
switches on. A setting the user gives on the command line wins over the preset's (`explicit`).

Where EMMA-500's numbers cannot be reproduced bit for bit it says so in the task's docstring: its
generation ran on vLLM with the engine's own sampler, so sampled outputs match in distribution, not
token for token.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from emma.eval.task import TaskOptions

# task -> TaskOptions fields, from EMMA-500's eval_*.py defaults and eval_*.sh arguments
EMMA500: dict[str, dict[str, Any]] = {
    # eval_sib200.sh / eval_taxi1500.sh: NUM_EXAMPLES=3, --seed 42; train-split shots per item
    "sib200": {"shots": 3, "seed": 42},
    "taxi1500": {"shots": 3, "seed": 42},
    # eval_flores200.sh: N_shots=3, --seed 42; SamplingParams(temperature=0.6, top_p=0.9, max_tokens=2048, stop="\n")
    "flores200": {"shots": 3, "seed": 42, "temperature": 0.6, "top_p": 0.9, "max_new_tokens": 2048},
    # eval_xlsum.py: zero-shot, SamplingParams(temperature=0.6, top_p=0.9, max_tokens=64)
    "xlsum": {"shots": 0, "temperature": 0.6, "top_p": 0.9, "max_new_tokens": 64},
    # no MassiveSumm script in evaluation/: XL-Sum's settings
    "massivesumm_long": {"shots": 0, "temperature": 0.6, "top_p": 0.9, "max_new_tokens": 64},
    "massivesumm_short": {"shots": 0, "temperature": 0.6, "top_p": 0.9, "max_new_tokens": 64},
    # eval_polywrite.py: SamplingParams(temperature=0.6, top_p=0.9, max_tokens=512)
    "polywrite": {"shots": 0, "temperature": 0.6, "top_p": 0.9, "max_new_tokens": 512},
    # eval_aya.py: SamplingParams(temperature=0.6, top_p=0.9, max_tokens=256)
    "aya": {"shots": 0, "temperature": 0.6, "top_p": 0.9, "max_new_tokens": 256},
}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {"default": {}, "emma500": EMMA500}


def options_for(task: str, base: TaskOptions, preset: str | None, explicit: Collection[str] = ()) -> TaskOptions:
    """`base` with `preset`'s settings for `task` filled in, except the fields in `explicit` (given by the user)."""
    if not preset or preset == "default":
        return base
    settings = {k: v for k, v in PRESETS[preset].get(task, {}).items() if k not in explicit}
    return replace(base, preset=preset, **settings)


def preset_tasks(preset: str) -> list[str]:
    return sorted(PRESETS[preset])
