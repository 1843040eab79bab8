"""FLORES-200 machine translation (NLLB Team, 2022): any direction, including X->Y between two
non-English languages, k-shot with shots from the dev split, their ids recorded per item. Results
are keyed `<src>-<tgt>`, each language pair's sacrebleu signatures recorded with its scores.

Two presets (`--preset`); every setting below is the default preset's unless marked EMMA-500:
- default (lm-eval's): prompt `lm-eval` "<Source> phrase: <text>\\n<Target> phrase:" (as lm-eval's
  translation tasks) or `--prompt instruct` "Translate the following sentence from <Source> to
  <Target>.\\n[<Source>]: <text>\\n[<Target>]:", language names without script; shots drawn
  (seeded, one RNG in item order) from the dev split, each "<prompt> <reference>" followed by a blank
  line; greedy decoding, 256 new tokens, stop at the end of the line, output stripped; metrics `bleu`
  (sacrebleu defaults, 13a: lm-eval's `bleu`) and `chrf` (chrF++: lm-eval's `chrf++`).
- `emma500` (EMMA-500's eval_flores200.py, eval_flores200.sh and evaluate.py):
  - names: EMMA-500's flores200_langs.txt, with script qualifiers ("Chinese (Simplified)");
  - prompt: the shots as "[<Source>]: <src>\\n[<Target>]: <tgt>\\n", concatenated, then
    "Translate the following sentence from <Source> to <Target>\\n[<Source>]: <text>\\n[<Target>]:"
    (no full stop after the instruction; it comes after the shots);
  - shots: 3 (`--shots`), `--seed` 42; per direction `seeds = [randint(0, 1000) for each devtest
    sentence]` from `Random(seed)`, and item i's shots are dev pairs `randint(0, len(dev) - 1)` drawn
    `--shots` times from `Random(seeds[i])`, with replacement: Python's `random`, the calls in
    EMMA-500's order, so an item gets EMMA-500's shots on the same data, and the same shots under
    `--limit` as in the full run (the seeds cover every devtest sentence in file order);
  - sentences read as EMMA-500 reads them (`readlines()`, each `.strip()`ed);
  - decoding: sampling, temperature 0.6, top-p 0.9, up to 2048 new tokens, stop "\\n", seeded with
    `--seed` (each overridable: --temperature, --top-p, --max-new-tokens); the output scored as
    generated (not stripped; the stop string excluded, as vLLM returns it);
  - metrics `spbleu` (`BLEU(tokenize="flores200")`, EMMA-500's BLEU) and `chrf` (chrF++), and `bleu`
    (13a) beside them. spBLEU needs sacrebleu's flores200 SentencePiece model: sacrebleu downloads it
    into its cache on first use; without network, `EMMA_FLORES200_SPM=/path/to/flores200sacrebleuspm`
    gives a local copy (`emma.eval.metrics.ensure_flores200_spm`); checked before generating.
  EMMA-500 generated with vLLM: sampled outputs match its in distribution, not token for token.
  `--prompt` and `--shot-pool` do not apply under this preset.
Both presets: `in_script` (and `in_language` with `--lid-model`), the share of outputs in the
target's script and language (`emma.eval.fidelity`): a model that answers in the source language
gets some chrF for names and numbers, and 0 here.

`--langs`: `xxx_Scrp` means both directions with English (eng_Latn-xxx_Scrp, xxx_Scrp-eng_Latn);
`src-tgt` (`fra_Latn-deu_Latn`) or `src->tgt` in any code form (`fr->de`) one direction; `all` every language
with English both ways (EMMA-500's `--tgt_lang all` and `--tgt_lang eng_Latn` runs together).
The resource-group tables count a pair for its non-English side. An item's id is its FLORES sentence
id (line number in the FLORES layout); `--limit` takes a seeded sample over the whole split.

Data (`--data-dir`), either layout:
- the FLORES-200 release, as EMMA-500's script reads it: `{dev,devtest}/<xxx_Scrp>.{dev,devtest}`,
  one sentence a line, aligned across languages; devtest is evaluated, dev gives shots;
- SIB-200 (`<xxx_Scrp>/{dev,test}.tsv`): FLORES sentences, rows with the same `index_id` are
  translations; `test` is evaluated, `dev` gives shots.
Hub: `openlanguagedata/flores_plus` (dev / devtest).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

from emma.errors import EmmaError
from emma.eval import fidelity, metrics
from emma.eval.data import hub_rows
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, sample_items, sample_shots
from emma.eval.tasks._emma500 import decoding, flores200_name
from emma.io import read_sib_tsv

METRICS = ["bleu", "chrf", "spbleu", "in_script", "in_language"]  # spbleu: --preset emma500; in_language: --lid-model
PIVOT = "eng_Latn"
_PAIR = re.compile(r"[a-z]{2,3}_[A-Z][a-z]{3}-[a-z]{2,3}_[A-Z][a-z]{3}")


def _layout(data_dir) -> str:
    root = Path(data_dir)
    if not root.is_dir():
        raise EmmaError(f"flores200: --data-dir {root} is not a folder")
    return "flores" if (root / "devtest").is_dir() else "sib"


def languages(data_dir: DataDir) -> list[str] | None:
    if data_dir is None:
        return None
    root = Path(data_dir)
    if _layout(root) == "flores":
        return sorted(p.name.removesuffix(".devtest") for p in (root / "devtest").glob("*.devtest"))
    return sorted(p.name for p in root.iterdir() if (p / "test.tsv").is_file())


def select(data_dir: DataDir, langs: str | None, available: list[str] | None, groups: dict[str, str]) -> list[str]:
    from emma.languages import normalize, resolve

    def one(code: str) -> str:
        return resolve(code, available) if available is not None else normalize(code)

    if not langs or langs == "all" or langs.startswith("group:"):
        if available is None:
            raise EmmaError("flores200 from the hub: name the languages with --langs (xxx_Scrp or src-tgt)")
        chosen = [x for x in available if x != PIVOT]
        if langs and langs.startswith("group:"):
            chosen = [x for x in chosen if groups.get(x) == langs.removeprefix("group:")]
        return [p for x in chosen for p in (f"{PIVOT}-{x}", f"{x}-{PIVOT}")]
    pairs = []
    for code in (c.strip() for c in langs.split(",") if c.strip()):
        if "->" in code or _PAIR.fullmatch(code):
            src, tgt = code.split("->") if "->" in code else code.split("-")
            pairs.append(f"{one(src.strip())}-{one(tgt.strip())}")
        else:
            x = one(code)
            pairs += [f"{PIVOT}-{x}", f"{x}-{PIVOT}"] if x != PIVOT else []
    if not pairs:
        raise EmmaError(f"flores200: --langs {langs!r} names no translation direction")
    return pairs


def group_key(pair: str) -> str:
    src, tgt = pair.split("-", 1)
    return src if tgt == PIVOT else tgt


def _sentences(data_dir, lang: str, split: str, *, strip: bool = False) -> dict[str, str]:
    """{sentence id: text} for one language and split ('dev' or 'test'); `strip`: each sentence
    `.strip()`ed and the FLORES files read line by line as `readlines()` splits them (EMMA-500's reading)."""
    if data_dir is None:
        rows = hub_rows("openlanguagedata/flores_plus", lang, "devtest" if split == "test" else "dev", "flores200")
        return {str(r["id"]): r["text"].strip() if strip else r["text"] for r in rows}
    root = Path(data_dir)
    if _layout(root) == "flores":
        name = "devtest" if split == "test" else "dev"
        path = root / name / f"{lang}.{name}"
        if not path.is_file():
            raise EmmaError(f"flores200: {path} not found; --data-dir must hold {{dev,devtest}}/<xxx_Scrp>.{{dev,devtest}}")
        try:
            if strip:
                with path.open(encoding="utf-8") as f:
                    lines = [line.strip() for line in f.readlines()]
            else:
                lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise EmmaError(f"flores200: {path} is not valid UTF-8 (byte {exc.start})") from None
        return {str(i): line for i, line in enumerate(lines)}
    path = root / lang / f"{split}.tsv"
    if not path.is_file():
        raise EmmaError(f"flores200: {path} not found; --data-dir must hold <xxx_Scrp>/{{dev,test}}.tsv (SIB-200 layout)")
    return {r["index_id"]: r["text"].strip() if strip else r["text"] for r in read_sib_tsv(path, "flores200", pandas_na=False)}


def _parallel(data_dir, src: str, tgt: str, split: str, *, strip: bool = False) -> list[tuple[str, str, str]]:
    """(id, source, target) for the ids both languages have, in the source's order."""
    a, b = _sentences(data_dir, src, split, strip=strip), _sentences(data_dir, tgt, split, strip=strip)
    pairs = [(k, a[k], b[k]) for k in a if k in b]
    if not pairs:
        raise EmmaError(f"flores200: {src} and {tgt} share no sentence ids in the {split} split")
    return pairs


def _name(code: str) -> str:
    from emma.languages import language_name

    return language_name(code).split(" (")[0]


def make_prompt(style: str, src: str, tgt: str, text: str) -> str:
    s, t = _name(src), _name(tgt)
    if style in ("lm-eval", "default"):
        return f"{s} phrase: {text}\n{t} phrase:"
    if style == "instruct":
        return f"Translate the following sentence from {s} to {t}.\n[{s}]: {text}\n[{t}]:"
    raise EmmaError(f"flores200: unknown --prompt {style!r}; use lm-eval or instruct")


def emma500_shot(src_name: str, tgt_name: str, source: str, target: str) -> str:
    """One shot of EMMA-500's FLORES-200 prompt."""
    return f"[{src_name}]: {source}\n[{tgt_name}]: {target}\n"


def emma500_query(src_name: str, tgt_name: str, source: str) -> str:
    """The item's part of EMMA-500's FLORES-200 prompt, after the shots."""
    return f"Translate the following sentence from {src_name} to {tgt_name}\n[{src_name}]: {source}\n[{tgt_name}]:"


def emma500_shot_indices(n_items: int, n_pool: int, shots: int, seed: int) -> list[list[int]]:
    """Each devtest item's dev indices, as EMMA-500 draws them: `random.seed(seed)`, one
    `randint(0, 1000)` per item, then per item `random.seed(seeds[i])` and `shots` times
    `randint(0, n_pool - 1)` (with replacement). `random.Random(x)` is the same generator as the
    module's after `random.seed(x)`, without touching the global one."""
    seeder = random.Random(seed)
    seeds = [seeder.randint(0, 1000) for _ in range(n_items)]
    out = []
    for s in seeds:
        rnd = random.Random(s)
        out.append([rnd.randint(0, n_pool - 1) for _ in range(shots)])
    return out


def _score(outputs: list[str], items: list[dict], *, spbleu: bool) -> dict:
    bleu, chrf = metrics.bleu(), metrics.chrf()
    refs = [[it["reference"] for it in items]]
    scores = {"bleu": bleu.corpus_score(outputs, refs).score, "chrf": chrf.corpus_score(outputs, refs).score}
    signatures = {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())}
    if spbleu:
        sp = metrics.spbleu()
        scores["spbleu"] = sp.corpus_score(outputs, refs).score
        signatures["spbleu"] = str(sp.get_signature())
    return {**scores, "signatures": signatures}


def run(backend: Backend, data_dir: DataDir, pair: str, opts: TaskOptions, progress: Progress = None) -> Result:
    if opts.preset == "emma500":
        return _run_emma500(backend, data_dir, pair, opts, progress)
    src, tgt = pair.split("-", 1)
    lid = fidelity.load(opts.lid_model)  # before generating: a bad path fails fast
    full = _parallel(data_dir, src, tgt, "test")
    test = [t for _, t in sample_items(full, opts.limit, opts.seed, mode=opts.limit_mode)]
    pool = _parallel(data_dir, src, tgt, "dev") if opts.shots else []
    rnd = random.Random(opts.seed)
    gen = decoding(opts, max_new_tokens=256)
    requests: list[GenRequest] = []
    items: list[dict] = []
    for sid, source, reference in test:
        shots = sample_shots(pool, opts.shots, rnd)
        head = "".join(make_prompt(opts.prompt, src, tgt, s) + f" {r}\n\n" for _, s, r in shots)
        context = head + make_prompt(opts.prompt, src, tgt, source)
        items.append(_item(sid, source, reference, context, shots))
        requests.append(GenRequest(context, until=("\n",), **gen))
    outputs = [o.strip() for o in backend.generate(requests, progress=progress)]
    return _result(items, outputs, len(full), gen, spbleu=False, tgt=tgt, lid=lid)


def _run_emma500(backend: Backend, data_dir: DataDir, pair: str, opts: TaskOptions, progress: Progress = None) -> Result:
    """EMMA-500's eval_flores200.py for one direction (see the module docstring)."""
    # EMMA_FLORES200_SPM=off: no spBLEU (the model cannot be had here), the rest as EMMA-500 did it; recorded
    no_spbleu = os.environ.get(metrics.FLORES200_SPM_ENV, "").strip().lower() == "off"
    if not no_spbleu:
        metrics.ensure_flores200_spm()  # before any generation: a missing model fails fast, in one line
    src, tgt = pair.split("-", 1)
    lid = fidelity.load(opts.lid_model)
    full = _parallel(data_dir, src, tgt, "test", strip=True)
    pool = _parallel(data_dir, src, tgt, "dev", strip=True) if opts.shots else []
    draws = emma500_shot_indices(len(full), len(pool), opts.shots, opts.seed)
    s_name, t_name = flores200_name(src), flores200_name(tgt)
    gen = decoding(opts, max_new_tokens=256, preset_task="flores200")
    requests: list[GenRequest] = []
    items: list[dict] = []
    for i, (sid, source, reference) in sample_items(full, opts.limit, opts.seed, mode=opts.limit_mode):
        shots = [pool[j] for j in draws[i]]
        context = "".join(emma500_shot(s_name, t_name, s, t) for _, s, t in shots) + emma500_query(s_name, t_name, source)
        items.append(_item(sid, source, reference, context, shots))
        requests.append(GenRequest(context, until=("\n",), **gen))
    outputs = backend.generate(requests, progress=progress)  # as generated: EMMA-500 scores outputs[0].text
    samples, scores = _result(items, outputs, len(full), gen, spbleu=not no_spbleu, tgt=tgt, lid=lid)
    if no_spbleu:
        scores["spbleu_skipped"] = f"{metrics.FLORES200_SPM_ENV}=off: spBLEU not computed"
    return samples, scores


def _item(sid: str, source: str, reference: str, context: str, shots: list[tuple[str, str, str]]) -> dict:
    """One translation item as its per-sample row records it (the shots by id, from the dev split)."""
    return {
        "id": sid,
        "source": source,
        "reference": reference,
        "context": context,
        "shots": [k for k, _, _ in shots],
        **({"shot_split": "dev"} if shots else {}),
    }


def _result(items: list[dict], outputs: list[str], total: int, gen: dict, *, spbleu: bool, tgt: str, lid=None) -> Result:
    """Per item its sentence chrF++ and whether the output is in the target's script (and language,
    with a LID model); the pair's corpus scores with the fidelity rates beside them."""
    chrf = metrics.chrf()
    samples = [
        {**it, "prediction": out, "chrf": chrf.sentence_score(out, [it["reference"]]).score, **checked}
        for it, out, checked in zip(items, outputs, fidelity.check(outputs, tgt, lid))
    ]
    scores = {**_score(outputs, items, spbleu=spbleu), **fidelity.scores(samples)}
    return samples, {**scores, "n": len(samples), "n_total": total, "decoding": gen}


TASKS = [
    Task(
        "flores200",
        METRICS,
        languages,
        run,
        select=select,
        group_key=group_key,
        description="FLORES-200 MT, any direction: bleu, chrf (chrF++); default lm-eval's prompt, greedy; --preset emma500: EMMA-500's prompt, "
        "names, 3 seeded shots, sampling (0.6/0.9, 2048 tokens), + spbleu",
    )
]
