"""FLORES-200 machine translation (NLLB Team, 2022): any direction, including X->Y between two
non-English languages, k-shot with shots drawn (seeded, one RNG in item order) from the dev split,
their ids recorded per item; BLEU and chrF++
with sacrebleu's standard settings (13a tokenisation for BLEU, word order 2 for chrF++), each
language pair's sacrebleu signatures recorded with its scores.

Prompts: `lm-eval` (default, as lm-eval's translation tasks): "<Source> phrase: <text>\\n<Target> phrase:";
`instruct`: "Translate the following sentence from <Source> to <Target>.\\n[<Source>]: <text>\\n[<Target>]:".
Generation stops at the end of the line.

`--langs`: `xxx_Scrp` means both directions with English (eng_Latn-xxx_Scrp, xxx_Scrp-eng_Latn);
`src-tgt` (`fra_Latn-deu_Latn`) or `src->tgt` in any code form (`fr->de`) one direction; `all` every language with English both ways.
Results are keyed `<src>-<tgt>`; the resource-group tables count a pair for its non-English side.
An item's id is its FLORES sentence id; `--limit` takes a seeded sample over the whole split.

Data (`--data-dir`), either layout:
- SIB-200 (`<xxx_Scrp>/{dev,test}.tsv`): FLORES sentences, rows with the same `index_id` are
  translations; `test` is evaluated, `dev` gives shots;
- the FLORES-200 release: `{dev,devtest}/<xxx_Scrp>.{dev,devtest}`, one sentence a line, aligned.
Hub: `openlanguagedata/flores_plus` (dev / devtest).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from emma.errors import EmmaError
from emma.eval.data import hub_rows
from emma.eval.generation import GenRequest
from emma.eval.task import Backend, DataDir, Progress, Result, Task, TaskOptions, sample_items, sample_shots
from emma.io import read_tsv

METRICS = ["bleu", "chrf"]
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


def _sentences(data_dir, lang: str, split: str) -> dict[str, str]:
    """{sentence id: text} for one language and split ('dev' or 'test')."""
    if data_dir is None:
        rows = hub_rows("openlanguagedata/flores_plus", lang, "devtest" if split == "test" else "dev", "flores200")
        return {str(r["id"]): r["text"] for r in rows}
    root = Path(data_dir)
    if _layout(root) == "flores":
        name = "devtest" if split == "test" else "dev"
        path = root / name / f"{lang}.{name}"
        if not path.is_file():
            raise EmmaError(f"flores200: {path} not found; --data-dir must hold {{dev,devtest}}/<xxx_Scrp>.{{dev,devtest}}")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise EmmaError(f"flores200: {path} is not valid UTF-8 (byte {exc.start})") from None
        return {str(i): line for i, line in enumerate(lines)}
    path = root / lang / f"{split}.tsv"
    if not path.is_file():
        raise EmmaError(f"flores200: {path} not found; --data-dir must hold <xxx_Scrp>/{{dev,test}}.tsv (SIB-200 layout)")
    return {r["index_id"]: r["text"] for r in read_tsv(path, "flores200", required=("index_id", "text"))}


def _parallel(data_dir, src: str, tgt: str, split: str) -> list[tuple[str, str, str]]:
    a, b = _sentences(data_dir, src, split), _sentences(data_dir, tgt, split)
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


def run(backend: Backend, data_dir: DataDir, pair: str, opts: TaskOptions, progress: Progress = None) -> Result:
    import sacrebleu

    src, tgt = pair.split("-", 1)
    full = _parallel(data_dir, src, tgt, "test")
    test = [t for _, t in sample_items(full, opts.limit, opts.seed, mode=opts.limit_mode)]
    pool = _parallel(data_dir, src, tgt, "dev") if opts.shots else []
    rnd = random.Random(opts.seed)
    requests: list[GenRequest] = []
    items: list[dict] = []
    for sid, source, reference in test:
        shots = sample_shots(pool, opts.shots, rnd)
        head = "".join(make_prompt(opts.prompt, src, tgt, s) + f" {r}\n\n" for _, s, r in shots)
        context = head + make_prompt(opts.prompt, src, tgt, source)
        items.append(
            {
                "id": sid,
                "source": source,
                "reference": reference,
                "context": context,
                "shots": [k for k, _, _ in shots],
                **({"shot_split": "dev"} if shots else {}),
            }
        )
        requests.append(GenRequest(context, max_new_tokens=opts.max_new_tokens or 256, until=("\n",)))
    outputs = [o.strip() for o in backend.generate(requests, progress=progress)]
    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF(word_order=2)
    refs = [[it["reference"] for it in items]]
    corpus_bleu, corpus_chrf = bleu.corpus_score(outputs, refs), chrf.corpus_score(outputs, refs)
    samples = [{**it, "prediction": out, "chrf": chrf.sentence_score(out, [it["reference"]]).score} for it, out in zip(items, outputs)]
    return samples, {
        "bleu": corpus_bleu.score,
        "chrf": corpus_chrf.score,
        "n": len(samples),
        "n_total": len(full),
        "signatures": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())},
    }


TASKS = [
    Task(
        "flores200",
        METRICS,
        languages,
        run,
        select=select,
        group_key=group_key,
        description="FLORES-200 MT, any direction, BLEU and chrF++ (sacrebleu)",
    )
]
