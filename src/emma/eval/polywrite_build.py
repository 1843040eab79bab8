"""`emma polywrite build`: a PolyWrite-style dataset from English prompts, with the translator you
bring. PolyWrite (EMMA-500) machine-translated 155 English writing prompts into 240 languages,
translated each back to English, and kept a translation only where the back-translation scored
BLEU >= 20 against the original; this runs the same recipe with any model emma can load or serve.

Per language: every prompt is translated eng_Latn -> L and back L -> eng_Latn by the translator;
the back-translation is scored against the English prompt with sacrebleu's sentence BLEU
(`BLEU(effective_order=True)`, what `sacrebleu.sentence_bleu` computes) and chrF++
(`CHRF(word_order=2)`); a prompt is kept when its BLEU is at least `min_bleu` and its translation
is really in L: not the English prompt copied (a small LLM often copies its input, and a copy
back-translates perfectly), in L's script (GlotScript), and with a LID model (`lid_model`) labelled L.
A dropped prompt records why (`dropped`: `bleu`, `copy`, `script`, `language`).

Translators (`translator_setup`):
- an LLM (any spec `emma eval` takes, `--backend hf|vllm|openai`): FLORES-200's prompt and decoding
  from `emma.eval.tasks.flores` (lm-eval's "<Source> phrase: <text>\\n<Target> phrase:", or
  `--prompt instruct`; greedy, 256 new tokens, stop at the end of the line), zero-shot; the prompt's
  white space is collapsed to one line first, as that prompt needs;
- a seq2seq MT model (`is_encoder_decoder` in its config, `--backend hf`): NLLB-style,
  `AutoModelForSeq2SeqLM` with the tokenizer's `src_lang` set and the target's language token
  forced as the first generated token (NLLB's codes are FLORES-200's `xxx_Scrp`); beam search.
  emma's tests cannot run this path (no seq2seq model can be had offline here);
- an OpenAI-compatible server (`--backend openai`, `-m name@url`): the LLM path over HTTP.

Layout of `out/`:
- `<xxx_Scrp>.jsonl`: the kept prompts, one a line, in PolyWrite's schema (`category`, `name`,
  `prompt_en`, `lang_script`, `prompt_translated`, `prompt_backtranslated`, `bleu`, `chrf++`), which
  the `polywrite` task reads (`emma eval --tasks polywrite --data-dir out`); a language with no
  prompt kept gets no file, so `--langs all` there does not stop on an empty one;
- `build/<xxx_Scrp>.jsonl`: every prompt, kept or not, with `kept`, `dropped`, `in_script` (and
  `lid`, `in_language`);
- `build/<xxx_Scrp>.json`: the language's counts, keep rate, means, the settings that made it;
  written last, it marks the language done;
- `summary.json`, `summary.md`: per language prompts, kept, keep rate, mean BLEU and chrF++.

Resuming: a language whose record names the same translator (its weights fingerprint), prompts,
prompt and decoding is skipped; with another `min_bleu` or LID model only the filter is rerun
(no translation); a folder built with another translator or other prompts is refused before any
work. Every file is written atomically and nothing depends on the clock, so a killed run, rerun,
ends with the files an uninterrupted run writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from emma.errors import EmmaError
from emma.eval import fidelity
from emma.eval.backend import Backend, BackendOptions, Progress
from emma.eval.generation import GenRequest
from emma.eval.task import TaskOptions, sample_items
from emma.io import ensure_writable_dir, read_json_or_jsonl, read_jsonl, write_json, write_jsonl, write_text

SOURCE = "eng_Latn"
FIELDS = ("category", "name", "prompt_en", "lang_script", "prompt_translated", "prompt_backtranslated", "bleu", "chrf++")
"""PolyWrite's own columns (MaLA-LM/PolyWrite), in its order: what the dataset files hold."""
PROMPTS_FILE = "polywrite_prompts_en.jsonl"

__all__ = [
    "FIELDS",
    "LLMTranslator",
    "Seq2SeqTranslator",
    "Translator",
    "build",
    "check_inputs",
    "default_prompts",
    "read_prompts",
    "select_languages",
    "sentence_scores",
    "translator_setup",
]


class Translator(Protocol):
    def translate(self, texts: list[str], src: str, tgt: str, *, progress: Progress = None) -> list[str]:
        """One translation of each text from `src` to `tgt` (`xxx_Scrp`), in order."""
        ...


# --- inputs --------------------------------------------------------------------------------------


def default_prompts() -> Path:
    """emma's own English prompts (20, 11 writing categories), shipped with the package."""
    return Path(str(files("emma.eval.tasks").joinpath(PROMPTS_FILE)))


def read_prompts(path: str | Path) -> list[dict[str, str]]:
    """The English prompts, checked: each line an object with non-empty `prompt_en` (or `prompt`,
    `text`), `category` and `name` strings; names unique (they name a prompt across languages)."""
    path = Path(path)
    rows = read_json_or_jsonl(path, "--prompts")
    if not rows:
        raise EmmaError(f"--prompts {path}: no prompts in the file; give one JSON object a line with prompt_en, category and name")
    out, seen = [], set()
    for n, r in enumerate(rows, 1):
        if not isinstance(r, dict):
            raise EmmaError(f"--prompts {path}:{n} is not a JSON object")
        text = next((r[k] for k in ("prompt_en", "prompt", "text") if isinstance(r.get(k), str) and r[k].strip()), None)
        missing = [k for k in ("category", "name") if not isinstance(r.get(k), str) or not r[k].strip()]
        if text is None or missing:
            need = ["prompt_en"] * (text is None) + missing
            raise EmmaError(f"--prompts {path}:{n} needs non-empty {', '.join(need)} (strings)")
        if r["name"] in seen:
            raise EmmaError(f"--prompts {path}:{n}: name {r['name']!r} is used twice; each prompt needs its own name")
        seen.add(r["name"])
        out.append({"category": r["category"], "name": r["name"], "prompt_en": text})
    return out


def select_languages(langs: str) -> list[str]:
    """`--langs`: `all` (the FLORES-200 languages but English) or codes in any form, as `xxx_Scrp`."""
    from emma.eval.tasks._emma500 import flores200_names
    from emma.languages import normalize

    if langs.strip() == "all":
        return [code for code in flores200_names() if code != SOURCE]
    codes = [normalize(c.strip()) for c in langs.split(",") if c.strip()]
    if not codes:
        raise EmmaError("--langs is empty; give L1,L2 (any code form) or all (the FLORES-200 languages)")
    if SOURCE in codes:
        raise EmmaError(f"--langs: {SOURCE} is the prompts' own language; name the languages to translate them into")
    return list(dict.fromkeys(codes))


# --- translators ---------------------------------------------------------------------------------


@dataclass
class LLMTranslator:
    """An LLM behind any emma backend, asked with the FLORES-200 task's prompt and decoding."""

    backend: Backend
    options: TaskOptions = TaskOptions()

    @property
    def settings(self) -> dict[str, Any]:
        from emma.eval.tasks._emma500 import decoding

        return {"kind": "llm", "prompt": self.options.prompt, "decoding": decoding(self.options, max_new_tokens=256)}

    def translate(self, texts: list[str], src: str, tgt: str, *, progress: Progress = None) -> list[str]:
        from emma.eval.tasks.flores import make_prompt

        gen = self.settings["decoding"]
        requests = [GenRequest(make_prompt(self.options.prompt, src, tgt, " ".join(t.split())), until=("\n",), **gen) for t in texts]
        return [o.strip() for o in self.backend.generate(requests, progress=progress)]


class Seq2SeqTranslator:
    """An NLLB-style encoder-decoder MT model (transformers): source language set on the tokenizer,
    the target's language token forced first. Not exercised by emma's tests (no such model offline)."""

    def __init__(self, spec: str, options: BackendOptions, *, num_beams: int = 4, max_new_tokens: int = 256):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from emma.eval.backend import resolve_device, resolve_dtype

        self.device = resolve_device(options.device)
        dtype = resolve_dtype(options.dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(spec)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(spec, dtype=getattr(torch, dtype), **options.model_args).to(self.device).eval()
        self.batch_size = options.batch_size or 8
        self.num_beams, self.max_new_tokens = num_beams, max_new_tokens

    def _token(self, code: str) -> int:
        tok = self.tokenizer
        token_id = tok.convert_tokens_to_ids(code)
        if not isinstance(token_id, int) or token_id == tok.unk_token_id:
            raise EmmaError(f"the translator's tokenizer has no language token {code!r} (NLLB's codes are FLORES-200's xxx_Scrp)")
        return token_id

    def translate(self, texts: list[str], src: str, tgt: str, *, progress: Progress = None) -> list[str]:
        import torch

        self._token(src)
        forced = self._token(tgt)
        self.tokenizer.src_lang = src
        out: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=512).to(self.device)
            with torch.inference_mode():
                ids = self.model.generate(**enc, forced_bos_token_id=forced, num_beams=self.num_beams, max_new_tokens=self.max_new_tokens)
            out += [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
            if progress:
                progress(len(batch))
        return out


def is_seq2seq(spec: str) -> bool:
    """Whether a model spec names an encoder-decoder model (its config's `is_encoder_decoder`):
    a local folder's config.json, or a hub id's config as transformers finds it; GGUF files and
    aliases are decoder-only LLMs."""
    from emma.models.load import resolve_model_source

    kind, where = resolve_model_source(spec)
    if kind == "gguf":
        return False
    if kind == "dir":
        try:
            return bool(json.loads((Path(where) / "config.json").read_text(encoding="utf-8")).get("is_encoder_decoder"))
        except (OSError, ValueError):
            return False
    try:
        from transformers import AutoConfig

        return bool(getattr(AutoConfig.from_pretrained(spec), "is_encoder_decoder", False))
    except Exception:  # not reachable or not cached: loading it as an LLM says what is wrong
        return False


def translator_setup(
    spec: str, backend: str = "hf", backend_options: BackendOptions | None = None, options: TaskOptions | None = None, *, num_beams: int = 4
) -> tuple[dict, Callable[[], Translator]]:
    """(who translates and how, as recorded and compared on resume; a function that loads it).
    Nothing is loaded here, so a finished build reruns without loading the model."""
    from emma.eval.backends import make_backend, run_dtype
    from emma.eval.results import model_identity
    from emma.eval.tasks._emma500 import decoding

    backend_options = backend_options or BackendOptions()
    options = options or TaskOptions()
    if options.prompt not in ("lm-eval", "default", "instruct"):
        raise EmmaError(f"--prompt {options.prompt!r}: the FLORES-200 prompts are lm-eval and instruct")
    identity = model_identity(spec, backend, run_dtype(backend, backend_options))
    if backend == "hf" and is_seq2seq(spec):
        max_new = options.max_new_tokens or 256
        settings: dict[str, Any] = {"kind": "seq2seq", "num_beams": num_beams, "max_new_tokens": max_new}
        return {"model": identity, **settings}, lambda: Seq2SeqTranslator(spec, backend_options, num_beams=num_beams, max_new_tokens=max_new)
    settings = {"kind": "llm", "prompt": options.prompt, "decoding": decoding(options, max_new_tokens=256)}
    return {"model": identity, **settings}, lambda: LLMTranslator(make_backend(backend, spec, backend_options), options)


# --- scoring and filtering -----------------------------------------------------------------------


def sentence_scores(hypothesis: str, reference: str) -> tuple[float, float]:
    """(BLEU, chrF++) of one back-translation against its English prompt, sacrebleu's sentence level."""
    import sacrebleu

    return (
        sacrebleu.BLEU(effective_order=True).sentence_score(hypothesis, [reference]).score,
        sacrebleu.CHRF(word_order=2).sentence_score(hypothesis, [reference]).score,
    )


def signatures() -> dict[str, str]:
    """sacrebleu's signatures of the two sentence scores (it tells them only after scoring: one reference)."""
    import sacrebleu

    out = {}
    for name, metric in (("bleu", sacrebleu.BLEU(effective_order=True)), ("chrf++", sacrebleu.CHRF(word_order=2))):
        metric.sentence_score("a", ["a"])
        out[name] = str(metric.get_signature())
    return out


def _copied(translation: str, english: str) -> bool:
    return " ".join(translation.split()).casefold() == " ".join(english.split()).casefold()


def apply_filter(rows: list[dict], lang: str, min_bleu: float, lid=None) -> list[dict]:
    """Each row with `kept` and, if not, why (`dropped`): BLEU under `min_bleu`, the English copied,
    not in the language's script, or (with a LID model) not labelled as the language."""
    checked = fidelity.check([r["prompt_translated"] for r in rows], lang, lid)
    out = []
    for r, check in zip(rows, checked):
        r = {k: v for k, v in r.items() if k not in ("kept", "dropped", "in_script", "lid", "in_language")} | check
        why = next(
            (
                reason
                for reason, bad in (
                    ("copy", _copied(r["prompt_translated"], r["prompt_en"])),
                    ("script", not check["in_script"]),
                    ("language", lid is not None and not check["in_language"]),
                    ("bleu", r["bleu"] < min_bleu),
                )
                if bad
            ),
            None,
        )
        out.append(r | {"kept": why is None, "dropped": why})
    return out


def language_stats(rows: list[dict]) -> dict[str, Any]:
    from emma.eval.task import mean

    kept = sum(r["kept"] for r in rows)
    return {
        "prompts": len(rows),
        "kept": kept,
        "keep_rate": kept / len(rows) if rows else float("nan"),
        "bleu": mean(r["bleu"] for r in rows),
        "chrf++": mean(r["chrf++"] for r in rows),
        "in_script": mean(r["in_script"] for r in rows),
        "dropped": {
            why: sum(r["dropped"] == why for r in rows) for why in ("bleu", "copy", "script", "language") if any(r["dropped"] == why for r in rows)
        },
    }


# --- the build -----------------------------------------------------------------------------------


def check_inputs(langs: str, prompts: str | Path | None, min_bleu: float, limit: int | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """The languages and prompts, every input checked before any model is looked at (one EmmaError each)."""
    import math

    if not isinstance(min_bleu, (int, float)) or math.isnan(min_bleu) or not 0 <= min_bleu <= 100:
        raise EmmaError(f"--min-bleu {min_bleu}: BLEU is between 0 and 100; PolyWrite kept >= 20")
    if limit is not None and limit < 1:
        raise EmmaError(f"--limit {limit}: give at least 1 prompt")
    chosen = select_languages(langs)
    return chosen, read_prompts(Path(prompts) if prompts else default_prompts())


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def _record(out: Path, lang: str) -> dict | None:
    path = out / "build" / f"{lang}.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict) or not (out / "build" / f"{lang}.jsonl").exists():
        raise EmmaError(f"{path}: not a polywrite build record (or its build/{lang}.jsonl is gone); delete it to rebuild {lang}")
    return data


def _same_translator(a: dict, b: dict) -> bool:
    """The same translation settings, the same weights (backend and dtype included)."""
    from emma.eval.results import same_run

    def rest(s: dict) -> dict:
        return {**s, "translator": {k: v for k, v in s.get("translator", {}).items() if k != "model"}}

    ma, mb = a.get("translator", {}).get("model"), b.get("translator", {}).get("model")
    # the same weights named another way (an alias, its path) are the same translator; no location: only itself
    models_match = ma == mb or (isinstance(ma, dict) and isinstance(mb, dict) and ma.get("location") is not None and same_run(ma, mb))
    return models_match and rest(a) == rest(b)


def build(
    out: str | Path,
    langs: str,
    translator: dict,
    load: Callable[[], Translator],
    *,
    prompts: str | Path | None = None,
    min_bleu: float = 20.0,
    limit: int | None = None,
    seed: int = 1234,
    lid_model: str | None = None,
    console=None,
) -> dict:
    """Build (or resume) the dataset in `out` for `langs` (see the module docstring); `translator`
    is who translates and how (`translator_setup`'s first value), `load` makes the translator when
    a language needs it. Returns the summary (also `out/summary.json`)."""
    chosen, all_prompts = check_inputs(langs, prompts, min_bleu, limit)
    picked = sample_items(all_prompts, limit, seed, "category")
    settings = {"source": SOURCE, "translator": translator, "prompts": _digest([r for _, r in picked]), "n_prompts": len(picked)}
    filter_settings = {"min_bleu": float(min_bleu), "lid_model": str(Path(lid_model).resolve()) if lid_model else None}
    lid = fidelity.load(lid_model)
    root = ensure_writable_dir(out)
    done: dict[str, dict] = {}
    for lang in sorted(p.stem for p in (root / "build").glob("*.json")) if (root / "build").is_dir() else []:
        record = _record(root, lang)
        if record is not None and not _same_translator(record["settings"], settings):
            raise EmmaError(
                f"{root} was built with another translator or other prompts ({lang}: {_describe(record['settings'])}); "
                f"choose another --out, or delete {root} to rebuild"
            )
        if record is not None:
            done[lang] = record

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    console = console or Console(stderr=True)
    engine: Translator | None = None
    with Bar(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console
    ) as bar:
        todo = bar.add_task("polywrite build", total=len(chosen))
        step = bar.add_task("  translations", total=2 * len(picked))
        for lang in chosen:
            record = done.get(lang)
            if record is not None and record["filter"] == filter_settings:
                bar.advance(todo)
                continue
            if record is not None:  # the same translations, another filter: no model needed
                rows = read_jsonl(root / "build" / f"{lang}.jsonl", "polywrite build")
            else:
                engine = engine or load()
                bar.update(todo, description=f"polywrite build {lang}")
                bar.reset(step, total=2 * len(picked))
                english = [r["prompt_en"] for _, r in picked]
                forward = engine.translate(english, SOURCE, lang, progress=lambda n: bar.advance(step, n))
                back = engine.translate(forward, lang, SOURCE, progress=lambda n: bar.advance(step, n))
                rows = []
                for (i, r), translated, backtranslated in zip(picked, forward, back):
                    b, c = sentence_scores(backtranslated, r["prompt_en"])
                    rows.append(
                        {
                            "id": i,
                            **r,
                            "lang_script": lang,
                            "prompt_translated": translated,
                            "prompt_backtranslated": backtranslated,
                            "bleu": b,
                            "chrf++": c,
                        }
                    )
            rows = apply_filter(rows, lang, min_bleu, lid)
            write_jsonl(root / "build" / f"{lang}.jsonl", rows)
            dataset = root / f"{lang}.jsonl"
            kept = [{k: r[k] for k in FIELDS} for r in rows if r["kept"]]
            if kept:
                write_jsonl(dataset, kept)
            elif dataset.exists():
                dataset.unlink()  # an earlier, laxer filter's file: none is kept now
            done[lang] = {"settings": settings, "filter": filter_settings, "signatures": signatures(), **language_stats(rows)}
            write_json(root / "build" / f"{lang}.json", done[lang])  # written last: marks the language done
            bar.advance(todo)
    summary = _summary(root, done, settings, filter_settings)
    write_json(root / "summary.json", summary)
    write_text(root / "summary.md", summary_markdown(summary))
    return summary


def _describe(settings: dict) -> str:
    t = settings.get("translator", {})
    model = t.get("model", {})
    who = model.get("spec") or model.get("location") or model.get("name") if isinstance(model, dict) else model
    return f"translator {who}, {t.get('kind')}, {settings.get('n_prompts')} prompts {settings.get('prompts')}"


def _summary(root: Path, done: dict[str, dict], settings: dict, filter_settings: dict) -> dict:
    """Every language built in `root` (an earlier run's too), with the overall keep rate."""
    langs = {lang: {k: r[k] for k in ("prompts", "kept", "keep_rate", "bleu", "chrf++", "in_script", "dropped")} for lang, r in sorted(done.items())}
    prompts = sum(v["prompts"] for v in langs.values())
    kept = sum(v["kept"] for v in langs.values())
    filters = {json.dumps(r["filter"], sort_keys=True) for r in done.values()}
    return {
        "settings": settings,
        "filter": filter_settings if len(filters) <= 1 else "mixed: see build/<lang>.json",
        "signatures": signatures(),
        "languages": langs,
        "overall": {"languages": len(langs), "prompts": prompts, "kept": kept, "keep_rate": kept / prompts if prompts else float("nan")},
    }


def summary_markdown(summary: dict) -> str:
    """The summary as a Markdown table, one row per language, then all languages together."""
    t = summary["settings"]["translator"]
    model = t.get("model", {})
    who = model.get("spec") or model.get("name") if isinstance(model, dict) else model
    f = summary["filter"]
    rule = f"BLEU >= {f['min_bleu']:g}" + (", LID" if f.get("lid_model") else "") if isinstance(f, dict) else str(f)
    lines = [
        "# PolyWrite build",
        "",
        f"Translator `{who}` ({t.get('kind')}); kept: {rule}, not a copy of the English, in the language's script.",
        "",
        "| language | prompts | kept | keep rate | BLEU | chrF++ | in script | dropped for |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for lang, v in summary["languages"].items():
        why = ", ".join(f"{k} {n}" for k, n in v["dropped"].items()) or "-"
        lines.append(
            f"| {lang} | {v['prompts']} | {v['kept']} | {v['keep_rate']:.2f} | {v['bleu']:.1f} | {v['chrf++']:.1f} | {v['in_script']:.2f} | {why} |"
        )
    o = summary["overall"]
    lines.append(f"| all ({o['languages']}) | {o['prompts']} | {o['kept']} | {o['keep_rate']:.2f} | | | | |")
    return "\n".join(lines) + "\n"


def summary_lines(summary: dict) -> list[str]:
    """The summary for the terminal: one line per language."""
    out = []
    for lang, v in summary["languages"].items():
        why = ", ".join(f"{k} {n}" for k, n in v["dropped"].items())
        out.append(
            f"{lang}: kept {v['kept']}/{v['prompts']} ({v['keep_rate']:.0%}), BLEU {v['bleu']:.1f}, chrF++ {v['chrf++']:.1f}"
            + (f"; dropped: {why}" if why else "")
        )
    o = summary["overall"]
    out.append(f"all {o['languages']} languages: kept {o['kept']}/{o['prompts']} ({o['keep_rate']:.0%})")
    return out
