"""SIB-200 topic classification (Adelani et al., 2024): 7 topics over FLORES-200 sentences.

Default prompt and few-shot choice are lm-evaluation-harness's (`sib200_<lang>`), so numbers are
comparable: the context is the first k test items (skipping the item itself) written as
"<prompt> <label>" and joined by blank lines, then the item's prompt; every label is scored by
the log-likelihood of its full continuation " <label>". `acc` takes the best total,
`acc_norm` the best total per character of the label. `--first-token` scores only each label's
first token, as EMMA-500's own script did, to reproduce its numbers.

Local layout (as the Hugging Face dataset `Davlan/sib200`): `<data_dir>/<xxx_Scrp>/{train,dev,test}.tsv`
with header `index_id	category	text`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from emma.errors import EmmaError

NAME = "sib200"
HF_DATASET = "Davlan/sib200"
LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]
METRICS = ["acc", "acc_norm"]


def prompt(text: str) -> str:
    return f"Topic Classification: {', '.join(LABELS)}.\n\nThe label of [{text.strip()}] is"


def available_languages(data_dir: str | Path | None) -> list[str]:
    if data_dir is None:
        raise EmmaError("sib200 without --data-dir needs the Hugging Face hub; give --data-dir with <xxx_Scrp>/test.tsv folders")
    return sorted(p.name for p in Path(data_dir).iterdir() if (p / "test.tsv").is_file())


def load_split(data_dir: str | Path | None, lang: str, split: str) -> list[dict]:
    """Rows of one split; from the local folder, else from the hub dataset."""
    if data_dir is None:
        try:
            import datasets
        except ImportError:
            raise EmmaError("loading sib200 from the hub needs `pip install datasets`; or give --data-dir") from None
        return [dict(r) for r in datasets.load_dataset(HF_DATASET, lang, split=split)]
    path = Path(data_dir) / lang / f"{split}.tsv"
    if not path.is_file():
        raise EmmaError(f"sib200: {path} not found; --data-dir must hold <xxx_Scrp>/{split}.tsv (the Davlan/sib200 layout)")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as exc:
        raise EmmaError(f"sib200: {path} is not valid UTF-8 (byte {exc.start})") from None
    for i, r in enumerate(rows, 2):
        if not r.get("text") or r.get("category") not in LABELS:
            raise EmmaError(f"sib200: {path}:{i} is malformed (need index_id, category in {LABELS}, text)")
    return rows


def build_requests(rows: list[dict], shots: int) -> list[dict]:
    """One entry per item: its context (k-shot, lm-eval's first_n from the same split) and target."""
    items = []
    for row in rows:
        pool = [r for r in rows[: shots + 1] if r is not row][:shots]
        context = "".join(f"{prompt(r['text'])} {r['category']}\n\n" for r in pool) + prompt(row["text"])
        items.append({"id": row["index_id"], "context": context, "target": LABELS.index(row["category"]),
                      "shots": [r["index_id"] for r in pool]})
    return items


def run(backend, data_dir, lang: str, *, shots: int = 0, limit: int | None = None, first_token: bool = False,
        progress=None) -> tuple[list[dict], dict]:
    """Per-sample records and the language's scores for one model."""
    rows = load_split(data_dir, lang, "test")
    items = build_requests(rows, shots)[:limit]
    requests = [(it["context"], f" {label}") for it in items for label in LABELS]
    lls = backend.loglikelihood(requests, first_token_only=first_token, progress=progress)
    samples = []
    for k, it in enumerate(items):
        scores = [lls[k * len(LABELS) + j].logprob for j in range(len(LABELS))]
        pred = max(range(len(LABELS)), key=lambda j: scores[j])
        pred_norm = max(range(len(LABELS)), key=lambda j: scores[j] / len(LABELS[j]))
        samples.append({**it, "choices": LABELS, "loglikelihoods": scores, "prediction": pred, "prediction_norm": pred_norm,
                        "acc": float(pred == it["target"]), "acc_norm": float(pred_norm == it["target"])})
    n = len(samples)
    metrics = {m: sum(s[m] for s in samples) / n for m in METRICS} if n else {m: float("nan") for m in METRICS}
    return samples, {**metrics, "n": n}
