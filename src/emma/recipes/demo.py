"""`emma demo`: the EMMA-500 recipe in miniature, end to end, on a 2-core laptop; a recipe that
chains the stages through their files.

Base model (SmolLM2-135M, English-centric, playing Llama 2's part) -> held-out NLL on UDHR
articles in 24 languages (eval's NLL scorer) -> continual pre-training on the other articles,
languages mixed by temperature sampling (`emma train`, reading `data/train.jsonl`, into `train/`)
-> held-out NLL again -> results.json, report.md, report.html, nll.png (report stage).

Every stage writes its output atomically into --out and is skipped when rerun, so a killed demo
resumes: finished languages are not rescored and training continues from its last sealed checkpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from emma.errors import EmmaError
from emma.eval.nll import score_segments, summarize
from emma.io import append_jsonl, claim_run_dir, ensure_writable_dir, read_jsonl, write_json, write_jsonl
from emma.languages import language_name, load_resource_groups, resolve
from emma.sources.udhr import find_tarball, one_per_language, provenance, read_udhr, split_declaration

console = Console(stderr=True)

# 24 languages across 12 scripts and all six EMMA-500 resource groups, some that the base model
# reads well (English, French, Spanish ...) and many it barely knows. Groups are EMMA-500's own
# (its resource_groups.json) after emma's macrolanguage bridge (swh, arb, kmr take swa, ara, kur's
# group: emma.languages.resource_group), used when no grouping file is given.
DEMO_LANGUAGES: dict[str, str] = {
    "eng_Latn": "high",
    "fra_Latn": "high",
    "deu_Latn": "high",
    "rus_Cyrl": "high",
    "kat_Geor": "high",
    "hye_Armn": "high",
    "spa_Latn": "medium-high",
    "por_Latn": "medium-high",
    "vie_Latn": "medium-high",
    "ell_Grek": "medium-high",
    "kor_Hang": "medium-high",
    "amh_Ethi": "medium-high",
    "heb_Hebr": "medium-high",
    "tgl_Latn": "medium",
    "yor_Latn": "medium",
    "hin_Deva": "medium",
    "tha_Thai": "medium",
    "wol_Latn": "medium-low",
    "ewe_Latn": "medium-low",
    "swh_Latn": "medium-high",
    "arb_Arab": "medium-high",
    "chr_Cher": "low",
    "quy_Latn": "unseen",
    "kmr_Latn": "medium-high",
}
SHARED_GROUPS = Path("../shared/data/emma500/resource_groups.json")


@dataclass
class DemoConfig:
    model: str = "smollm2-135m"
    languages: list[str] = field(default_factory=lambda: list(DEMO_LANGUAGES))
    steps: int = 45
    batch_size: int = 4
    block_size: int = 256
    learning_rate: float = 2e-4
    alpha: float = 0.3
    holdout_every: int = 10
    window: int = 512
    mixed_precision: str = "no"  # "bf16": autocast during training (scoring stays fp32); `emma demo` picks it by hardware
    seed: int = 0
    udhr: str | None = None
    resource_groups: str | None = None


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tokens"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def prepare_data(cfg: DemoConfig, data_dir: Path) -> dict[str, list[dict]]:
    """Split each chosen language's declaration into training and held-out articles, written as
    documents JSONL (`train.jsonl`, `heldout.jsonl`: lang, section, text); returns the held-out ones.
    `sources.json` records, per language, the declaration it came from (file, BCP-47 tag, title)
    and why that one (the UDHR policy's reason, or "only declaration")."""
    train_path, held_path = data_dir / "train.jsonl", data_dir / "heldout.jsonl"
    if not (train_path.exists() and held_path.exists()):
        rejects: list[dict] = []
        decls = one_per_language(read_udhr(find_tarball(cfg.udhr), rejects=rejects))
        chosen = [resolve(code, decls) for code in cfg.languages]
        train_rows, held_rows = [], []
        for code in chosen:
            train, held_segments = split_declaration(decls[code], cfg.holdout_every)
            if not train or not held_segments:
                raise EmmaError(
                    f"language {code}: its UDHR has {len(train)} training and {len(held_segments)} held-out segments; "
                    f"both must be non-empty (pick another language or lower --holdout-every)"
                )
            train_rows += [{"lang": code, "section": s.section, "text": s.text} for s in train]
            held_rows += [{"lang": code, "section": s.section, "text": s.text} for s in held_segments]
        write_jsonl(data_dir / "rejects.jsonl", rejects)
        write_json(data_dir / "sources.json", {code: provenance(decls[code]) for code in chosen})
        write_jsonl(train_path, train_rows)
        write_jsonl(held_path, held_rows)  # written last: its presence marks the stage done
    held: dict[str, list[dict]] = {}
    for row in read_jsonl(held_path):
        held.setdefault(row["lang"], []).append(row)
    return held


def score_languages(load_lm, held: dict[str, list[dict]], log_path: Path, label: str, window: int) -> dict[str, dict]:
    """Score every language's held-out segments; each finished language is appended to
    `log_path` at once, and languages already there are not scored again (nor is the model
    loaded when nothing is left)."""
    done = {r["lang"]: r for r in read_jsonl(log_path, tolerate_partial_tail=True)} if log_path.exists() else {}
    todo = [lang for lang in held if lang not in done]
    if todo:
        lm = load_lm()
        total = sum(len(lm.tokenizer(r["text"], add_special_tokens=False)["input_ids"]) for lang in todo for r in held[lang])
        with _progress() as bar:
            task = bar.add_task(f"NLL {label}", total=total)
            for lang in todo:
                bar.update(task, description=f"NLL {label} {lang}")
                texts = [r["text"] for r in held[lang]]
                scores = score_segments(lm.model, lm.tokenizer, texts, window=window, progress=lambda n: bar.advance(task, n))
                row = {
                    "lang": lang,
                    **summarize(scores),
                    "per_segment": [
                        {"section": r["section"], "nll": s.nll, "tokens": s.tokens, "bytes": s.bytes} for r, s in zip(held[lang], scores)
                    ],
                }
                append_jsonl(log_path, row)
                done[lang] = row
    return {lang: done[lang] for lang in held}


def _groups(cfg: DemoConfig, langs: list[str]) -> dict[str, tuple[str, str | None]]:
    """Each language's resource group, with a note when it is bridged to its macrolanguage's group
    (`emma.languages.resource_group`, the one rule): from the groups file when there is one, else
    DEMO_LANGUAGES, else "unknown"."""
    path = cfg.resource_groups or (str(SHARED_GROUPS) if SHARED_GROUPS.exists() else None)
    table = load_resource_groups(path) if path else None
    out: dict[str, tuple[str, str | None]] = {}
    for lang in langs:
        group, note = table.lookup(lang) if table is not None else (None, None)
        out[lang] = (group or DEMO_LANGUAGES.get(lang, "unknown"), note)
    return out


def train_config(cfg: DemoConfig, data_dir: Path):
    """The demo's training run, as `emma train` takes it (`train/config.yaml` records it)."""
    from emma.train import DataConfig, TrainConfig

    return TrainConfig(
        model=cfg.model,
        seed=cfg.seed,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=5,
        logging_steps=5,
        save_steps=max(1, cfg.steps // 5),
        mixed_precision=cfg.mixed_precision,
        keep_checkpoints=False,  # ~12 bytes a parameter each; the final model and train.json are what the demo keeps
        data=DataConfig(
            jsonl=str(data_dir / "train.jsonl"), heldout_jsonl=str(data_dir / "heldout.jsonl"), block_size=cfg.block_size, alpha=cfg.alpha
        ),
    )


class _StageClock:
    """Seconds spent per stage, summed over every run into the same --out (timings.json), so a
    resumed demo reports the time it really cost, not only its last short run."""

    def __init__(self, out: Path) -> None:
        self.path = out / "timings.json"
        self.times = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        self.t = time.time()

    def lap(self, stage: str) -> None:
        now = time.time()
        self.times[stage] = round(self.times.get(stage, 0.0) + now - self.t, 2)
        self.t = now
        write_json(self.path, self.times)


def run_demo(cfg: DemoConfig, out: str | Path) -> dict:
    from emma.models import load_model
    from emma.report.demo_report import write_demo_report
    from emma.train import train

    out = ensure_writable_dir(out)
    claim_run_dir(out, asdict(cfg), what="demo", ignore=("udhr", "resource_groups"), hint="use another --out, or --fresh to start this one over")
    clock = _StageClock(out)
    console.rule("[bold]emma demo: the EMMA-500 recipe in miniature")
    console.print(f"base model [bold]{cfg.model}[/], {len(cfg.languages)} languages, {cfg.steps} CPT steps -> {out}")

    console.print("[bold]1/5[/] data: UDHR, training vs held-out articles")
    held = prepare_data(cfg, out / "data")
    langs = list(held)
    clock.lap("data")

    console.print(f"[bold]2/5[/] held-out NLL of the base model {cfg.model} ({len(langs)} languages)")
    loaded: dict = {}

    def base():
        if "base" not in loaded:
            loaded["base"] = load_model(cfg.model)
        return loaded["base"]

    before = score_languages(base, held, out / "scores_before.jsonl", "before", cfg.window)
    clock.lap("nll_before")

    loaded.clear()
    console.print(
        f"[bold]3/5[/] continual pre-training (emma train -> {out / 'train'}): {cfg.steps} steps x {cfg.batch_size} x "
        f"{cfg.block_size} tokens, alpha={cfg.alpha}" + (", bf16 autocast" if cfg.mixed_precision == "bf16" else "")
    )
    train_info = train(train_config(cfg, out / "data"), out / "train", resume=True)
    ckpt = Path(train_info["checkpoint"])
    clock.lap("train")

    console.print("[bold]4/5[/] held-out NLL after CPT")
    after = score_languages(lambda: load_model(str(ckpt)), held, out / "scores_after.jsonl", "after", cfg.window)
    clock.lap("nll_after")
    console.print("[bold]5/5[/] results and report")

    groups = _groups(cfg, langs)
    results: dict[str, Any] = {
        "base_model": cfg.model,
        "checkpoint": str(ckpt),
        "config": asdict(cfg),
        "train": {
            k: v
            for k, v in train_info.items()
            if k
            in (
                "steps",
                "train_loss_first",
                "train_loss_last",
                "train_runtime_s",
                "tokens_trained",
                "tokens_per_s",
                "resumed_from",
                "heldout_loss_start",
                "heldout_loss",
            )
        },
        "languages": {
            lang: {
                "name": language_name(lang),
                "group": groups[lang][0],
                "group_note": groups[lang][1],  # set where the group is bridged from the macrolanguage's
                "nll_before": before[lang]["nll"],
                "nll_after": after[lang]["nll"],
                "bpb_before": before[lang]["bpb"],
                "bpb_after": after[lang]["bpb"],
                "heldout_segments": before[lang]["segments"],
                "heldout_bytes": before[lang]["bytes"],
                "train_tokens": train_info["train_tokens_per_language"].get(lang, 0),
                "available_train_tokens": train_info["available_tokens_per_language"].get(lang, 0),
                "sampling_weight": train_info["weights"].get(lang, 0.0),
            }
            for lang in langs
        },
    }
    results["summary"] = summarize_demo(results["languages"])
    clock.lap("report")
    results["stage_seconds"] = clock.times  # summed over every run into this --out
    results["wall_time_s"] = round(sum(clock.times.values()), 1)
    write_json(out / "results.json", results)
    write_demo_report(results, out)
    print_summary(results, out)
    return results


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    for r, i in enumerate(order):
        ranks[i] = float(r)
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float:
    """Rank correlation (no ties expected in these real-valued scores)."""
    import numpy as np

    if len(xs) < 3:
        return float("nan")
    return float(np.corrcoef(_ranks(xs), _ranks(ys))[0, 1])


def summarize_demo(langs: dict[str, dict]) -> dict:
    rel = {lang: (r["nll_before"] - r["nll_after"]) / r["nll_before"] for lang, r in langs.items()}
    fell = [lang for lang, d in rel.items() if d > 0]
    by_group: dict[str, list[float]] = {}
    for lang, r in langs.items():
        by_group.setdefault(r["group"], []).append(rel[lang])
    return {
        "languages": len(langs),
        "nll_fell": len(fell),
        "nll_rose": sorted(set(langs) - set(fell)),
        "mean_relative_nll_drop": sum(rel.values()) / len(rel),
        "mean_relative_nll_drop_by_group": {g: sum(v) / len(v) for g, v in by_group.items()},
        # > 0: the worse the base model's bits per byte, the larger the relative NLL drop.
        "spearman_base_bpb_vs_drop": spearman([langs[lang]["bpb_before"] for lang in rel], list(rel.values())),
        # the same question by the absolute measure (drop in bits per byte), which can disagree with the relative one
        "spearman_base_bpb_vs_bpb_drop": spearman(
            [r["bpb_before"] for r in langs.values()], [r["bpb_before"] - r["bpb_after"] for r in langs.values()]
        ),
    }


def print_summary(results: dict, out: Path) -> None:
    from rich.table import Table

    s = results["summary"]
    table = Table(title="held-out NLL before -> after CPT (nats per segment; bits per byte)")
    for col in ("language", "group", "NLL before", "NLL after", "change", "bpb before", "bpb after"):
        table.add_column(col, justify="right" if col not in ("language", "group") else "left", no_wrap=True)
    for lang, r in results["languages"].items():
        change = (r["nll_after"] - r["nll_before"]) / r["nll_before"]
        color = "green" if change < 0 else "red"
        table.add_row(
            lang,
            r["group"],
            f"{r['nll_before']:.1f}",
            f"{r['nll_after']:.1f}",
            f"[{color}]{change:+.1%}[/]",
            f"{r['bpb_before']:.3f}",
            f"{r['bpb_after']:.3f}",
        )
    console.print(table)
    console.print(
        f"NLL fell for [bold]{s['nll_fell']}/{s['languages']}[/] languages; mean relative drop {s['mean_relative_nll_drop']:.1%}; "
        f"Spearman(base bpb, relative drop) = {s['spearman_base_bpb_vs_drop']:.2f}, "
        f"(base bpb, bpb drop) = {s.get('spearman_base_bpb_vs_bpb_drop', float('nan')):.2f}; {results['wall_time_s']:.0f} s"
    )
    console.print(f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / 'report.html'}, {out / 'nll.png'}; checkpoint {results['checkpoint']}")
