"""What `--preset emma500` needs from EMMA-500's evaluation scripts (MaLA-LM/emma-500, `evaluation/`),
shared by the generation tasks: the data those scripts carry, verbatim, and the decoding rule.

- `flores200_names()`: `evaluation/Flores-200/flores200_langs.txt` ("Name | code" a line, shipped
  unchanged beside this module as `flores200_langs.txt`): the display names EMMA-500's FLORES-200
  prompts use, with their script qualifiers ("Chinese (Simplified)", "Chinese (Traditional)").
- `XLSUM_PROMPTS`: `eval_xlsum.py`'s 45 per-language [document word, instruction] pairs
  (`_xlsum_prompts.py`, unchanged); `xlsum_prompt_language` picks the pair for a language.
- `decoding(opts, ...)`: a generation task's sampling settings, the user's where given, else
  EMMA-500's (`emma.eval.presets.EMMA500`) under the preset, else the task's own default.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any

from emma.eval.presets import EMMA500
from emma.eval.task import TaskOptions
from emma.eval.tasks._xlsum_prompts import XLSUM_PROMPTS

__all__ = ["XLSUM_PROMPTS", "decoding", "flores200_name", "flores200_names", "xlsum_prompt_language"]


@lru_cache(maxsize=1)
def flores200_names() -> dict[str, str]:
    """{FLORES-200 code: EMMA-500's display name}, from `flores200_langs.txt` as EMMA-500 reads it."""
    text = files("emma.eval.tasks").joinpath("flores200_langs.txt").read_text(encoding="utf-8")
    names = {}
    for line in text.splitlines():
        if line.strip():
            name, code = (part.strip() for part in line.split("|"))
            names[code] = name
    return names


def flores200_name(code: str) -> str:
    """EMMA-500's name for a FLORES-200 code; a code outside its list (a FLORES+ addition) gets
    emma's English name with its script where that is not the usual one."""
    names = flores200_names()
    if code in names:
        return names[code]
    from emma.languages import language_name

    return language_name(code)


def xlsum_prompt_language(lang: str) -> str:
    """The key of `XLSUM_PROMPTS` a language's summarisation prompt is taken from: the language's own;
    else the one member or macrolanguage of it with the same script (MassiveSumm's `fas_Arab` ->
    `pes_Arab`, `ara_Arab` -> `arb_Arab`, `nep_Deva` -> `npi_Deva`); else English, `eng_Latn`."""
    if lang in XLSUM_PROMPTS:
        return lang
    from emma.errors import EmmaError
    from emma.languages import resolve

    try:
        return resolve(lang, XLSUM_PROMPTS)
    except EmmaError:
        return "eng_Latn"


def decoding(
    opts: TaskOptions, *, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0, preset_task: str | None = None
) -> dict[str, Any]:
    """`GenRequest` sampling settings for a task: each of `opts.max_new_tokens`, `opts.temperature`,
    `opts.top_p` where set (the command line, or the preset as `emma.eval.presets.options_for`
    fills it in); where not, under `--preset emma500` EMMA-500's value for `preset_task` (so a task
    run directly with `TaskOptions(preset="emma500")`, or one the preset table does not list, as
    MassiveSumm, still decodes as EMMA-500 did), else the task's own default given here.
    `seed` is `opts.seed` (used only when sampling)."""
    defaults = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
    if opts.preset == "emma500" and preset_task:
        defaults |= {k: v for k, v in EMMA500.get(preset_task, {}).items() if k in defaults}
    return {
        "max_new_tokens": opts.max_new_tokens or defaults["max_new_tokens"],
        "temperature": defaults["temperature"] if opts.temperature is None else opts.temperature,
        "top_p": defaults["top_p"] if opts.top_p is None else opts.top_p,
        "seed": opts.seed,
    }
