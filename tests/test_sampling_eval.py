"""Which items `--limit` scores and which shots each item is shown: a seeded sample spread over the
whole split (stratified by label), the same ids for every model, shots drawn from the training
split and recorded per item; lm-eval's first-N behaviour on request, for parity."""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from pathlib import Path

import pytest

from conftest import SIB200, need
from emma.errors import EmmaError
from emma.eval.loglikelihood import LogLikelihood
from emma.eval.nll import SegmentScore
from emma.eval.task import TaskOptions, sample_items
from emma.eval.tasks import get_task
from emma.eval.tasks.topic import SIB200_LABELS, load_split


class FakeBackend:
    """A model without weights: every answer is a hash of the request and the model's `salt`, so two
    fakes are two different models (they rank choices differently) that see the same requests."""

    def __init__(self, salt: str):
        self.salt = salt
        self.name = f"fake-{salt}"
        self.requests: list = []

    def _score(self, *parts: str) -> float:
        return -1.0 - zlib.crc32("\x1f".join((self.salt, *parts)).encode()) % 1000 / 100

    def loglikelihood(self, requests, *, first_token_only=False, progress=None):
        self.requests += requests
        return [LogLikelihood(self._score(c, x), False, 1) for c, x in requests]

    def nll(self, texts, *, progress=None):
        self.requests += texts
        return [SegmentScore(-self._score(t), len(t.split()), len(t.encode())) for t in texts]

    def generate(self, requests, *, progress=None):
        self.requests += requests
        return [f" {int(-self._score(r.context) * 7)} words" for r in requests]


# --- the helper's contract ------------------------------------------------------------------

SORTED = [{"y": y, "n": i} for i, y in enumerate(["a"] * 50 + ["b"] * 30 + ["c"] * 20)]  # sorted by label, as SIB-200's test


def test_no_limit_or_a_large_one_takes_every_row_in_order():
    for limit in (None, 100, 500):
        assert sample_items(SORTED, limit, 1, "y") == list(enumerate(SORTED))
    assert sample_items([], 5, 1) == []


def test_first_mode_is_lm_evals_limit():
    assert sample_items(SORTED, 10, 1, "y", mode="first") == list(enumerate(SORTED[:10]))


def test_a_stratified_sample_is_proportional_seeded_and_in_order():
    got = sample_items(SORTED, 10, 1234, "y")
    indices = [i for i, _ in got]
    assert indices == sorted(set(indices)) and len(indices) == 10
    assert all(SORTED[i] is row for i, row in got)
    assert Counter(r["y"] for _, r in got) == {"a": 5, "b": 3, "c": 2}
    assert sample_items(SORTED, 10, 1234, "y") == got  # the data and the seed decide it, nothing else
    assert sample_items([dict(r) for r in SORTED], 10, 1234, "y") == [(i, dict(r)) for i, r in got]  # not the row objects either
    assert [i for i, _ in sample_items(SORTED, 10, 99, "y")] != indices
    assert sample_items(SORTED, 10, 1234, lambda r: r["y"]) == got  # a key or a function of the row


def test_largest_remainder_shares_sib200s_topic_counts():
    counts = {"science/technology": 51, "travel": 40, "politics": 30, "sports": 25, "health": 22, "entertainment": 19, "geography": 17}
    rows = [{"category": c} for c, k in counts.items() for _ in range(k)]
    got = Counter(r["category"] for _, r in sample_items(rows, 20, 1234, "category"))
    # quotas 5, 3.92, 2.94, 2.45, 2.16, 1.86, 1.67: floors 16, the 4 left to the largest remainders
    assert got == {"science/technology": 5, "travel": 4, "politics": 3, "sports": 2, "health": 2, "entertainment": 2, "geography": 2}
    assert Counter(r["category"] for _, r in sample_items(rows, 3, 1234, "category")) == {"science/technology": 1, "politics": 1, "travel": 1}


def test_an_unlabelled_sample_is_spread_over_the_split():
    got = [i for i, _ in sample_items(SORTED, 20, 7)]
    assert len(got) == 20 and got == sorted(set(got)) and got[-1] >= 50 and got != list(range(20))


def test_options_are_checked():
    with pytest.raises(EmmaError, match="unknown limit mode 'middle'"):
        TaskOptions(limit_mode="middle")
    with pytest.raises(EmmaError, match="unknown shot pool 'dev'"):
        TaskOptions(shot_pool="dev")
    assert TaskOptions().limit_mode == "sample" and TaskOptions().shot_pool == "train"


def test_every_task_that_limits_samples_through_the_one_helper():
    import emma.eval.tasks

    offenders = []
    for path in sorted(Path(emma.eval.tasks.__file__).parent.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.name}: {m.group(0)}" for m in re.finditer(r"\[: *opts\.limit *\]|\[: *limit *\]", text)]
        if "opts.limit" in text and "sample_items(" not in text:
            offenders.append(f"{path.name}: reads opts.limit without sample_items")
    assert offenders == []


# --- real SIB-200 ---------------------------------------------------------------------------


def _langs(root: Path) -> list[str]:
    return [lang for lang in ("eng_Latn", "swh_Latn", "zho_Hans", "amh_Ethi") if (root / lang / "test.tsv").is_file()]


def test_sib200_test_is_sorted_so_the_first_rows_are_one_topic_and_the_sample_is_not():
    root = need(SIB200)
    for lang in _langs(root):
        rows = load_split(root, lang, "test")
        runs = [c for j, c in enumerate(r["category"] for r in rows) if j == 0 or rows[j - 1]["category"] != c]
        assert sorted(runs) == sorted(set(runs)) == sorted(SIB200_LABELS), lang  # one run per topic: the file is sorted
        first = {r["category"] for _, r in sample_items(rows, 20, 1234, "category", mode="first")}
        assert first == {"science/technology"}, lang  # the old --limit 20: one topic
        sampled = Counter(r["category"] for _, r in sample_items(rows, 20, 1234, "category"))
        assert len(sampled) >= 5 and sum(sampled.values()) == 20, lang
        assert set(sampled) == set(SIB200_LABELS), lang  # stratified: here every topic


def test_sib200_ids_are_the_same_for_every_model_and_shots_come_from_train():
    root = need(SIB200)
    task = get_task("sib200")
    lang = "eng_Latn"
    opts = TaskOptions(shots=3, limit=20)
    a, _ = task.run(FakeBackend("model-a"), str(root), lang, opts)
    b, _ = task.run(FakeBackend("model-b"), str(root), lang, opts)
    assert [s["loglikelihoods"] for s in a] != [s["loglikelihoods"] for s in b]  # two different models ...
    assert [s["id"] for s in a] == [s["id"] for s in b]  # ... score the same items
    assert [s["shots"] for s in a] == [s["shots"] for s in b] and [s["context"] for s in a] == [s["context"] for s in b]
    other, _ = task.run(FakeBackend("model-a"), str(root), lang, TaskOptions(shots=3, limit=20, seed=99))
    assert [s["id"] for s in other] != [s["id"] for s in a]

    test_rows = {r["index_id"]: r for r in load_split(root, lang, "test")}
    train_rows = load_split(root, lang, "train")
    train = {r["index_id"]: r["category"] for r in train_rows}
    text = {r["index_id"]: r["text"].strip() for r in train_rows}
    assert len({s["id"] for s in a}) == 20 and all(s["id"] in test_rows for s in a)
    assert len({test_rows[s["id"]]["category"] for s in a}) == 7
    for s in a:
        assert len(s["shots"]) == 3 and s["shot_split"] == "train"
        assert all(k in train and k not in test_rows for k in s["shots"])  # from train.tsv, none from the scored set
        for k in s["shots"]:
            assert f"[{text[k]}] is {train[k]}\n\n" in s["context"]
    shot_topics = [train[k] for s in a for k in s["shots"]]
    assert len(set(shot_topics)) >= 4  # not three science/technology examples for every item
    assert len({tuple(s["shots"]) for s in a}) > 1


def test_sib200_lm_eval_mode_reproduces_first_n_for_parity():
    root = need(SIB200)
    rows = load_split(root, "eng_Latn", "test")
    opts = TaskOptions(shots=3, limit=20, limit_mode="first", shot_pool="lm-eval")
    samples, _ = get_task("sib200").run(FakeBackend("m"), str(root), "eng_Latn", opts)
    assert [s["id"] for s in samples] == [r["index_id"] for r in rows[:20]]
    first4 = [r["index_id"] for r in rows[:4]]
    for j, s in enumerate(samples):
        assert s["shots"] == [k for k in first4 if k != rows[j]["index_id"]][:3] and s["shot_split"] == "test"


# --- every task: stable ids, and its shot pool ------------------------------------------------


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _tsv(path: Path, header: list[str] | None, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(r) for r in ([header] if header else []) + rows) + "\n", encoding="utf-8")


N = 8  # items per evaluated split in the fixtures


def _fixtures(root: Path) -> dict[str, tuple[Path, str, str]]:
    """{task: (data_dir, language key, the split its shots must come from)}, each in its upstream layout."""
    topics = ["travel", "sports", "health", "politics"]
    for task in ("sib200", "taxi1500"):
        labels = SIB200_LABELS if task == "sib200" else ["Faith", "Grace", "Sin", "Violence"]
        for split, base in (("test", 1), ("train", 100), ("dev", 200)):
            rows = [[str(base + i), (topics if task == "sib200" else labels)[i % 4], f"{split} sentence {i} about things."] for i in range(N)]
            _tsv(root / task / "eng_Latn" / f"{split}.tsv", ["index_id", "category", "text"], rows)
    for split in ("test", "val"):
        rows = [
            {
                "premise": f"{split} premise {i}.",
                "choice1": f"One {i}.",
                "choice2": f"Two {i}.",
                "question": ["cause", "effect"][i % 2],
                "label": i % 2,
            }
            for i in range(N)
        ]
        _jsonl(root / "xcopa" / "et" / f"{split}.et.jsonl", [{**r, "idx": i + (1 if split == "test" else 500)} for i, r in enumerate(rows)])
    labels = ["entailment", "neutral", "contradiction"]
    for split in ("test", "dev"):
        rows = [[lang, labels[i % 3], f"{split} premise {i} {lang}.", f"Hypothesis {i}."] for i in range(N) for lang in ("de", "en")]
        _tsv(root / "xnli" / f"xnli.{split}.tsv", ["language", "gold_label", "sentence1", "sentence2"], rows)
    header = [
        "InputStoryid",
        *(f"InputSentence{k}" for k in range(1, 5)),
        "RandomFifthSentenceQuiz1",
        "RandomFifthSentenceQuiz2",
        "AnswerRightEnding",
    ]
    for split in ("eval", "train"):
        rows = [[f"{split}-s{i}", *(f"{split} {i} line {k}." for k in range(1, 5)), "End A.", "End B.", str(1 + i % 2)] for i in range(N)]
        _tsv(root / "xstorycloze" / f"spring2016.val.en.tsv.split_20_80_{split}.tsv", header, rows)
    _jsonl(
        root / "belebele" / "deu_Latn.jsonl",
        [
            {
                "link": f"p{i // 2}",
                "question_number": 1 + i % 2,
                "flores_passage": f"Passage {i // 2}.",
                "question": f"Question {i}?",
                **{f"mc_answer{k}": f"answer {k}" for k in range(1, 5)},
                "correct_answer_num": str(1 + i % 4),
            }
            for i in range(N)
        ],
    )
    for split in ("test", "train"):
        rows = [
            {"id": f"{split}-{i}", "instruction": f"{split} question {i}?", "option_a": "A", "option_b": "B", "option_c": "C", "answer": "ABC"[i % 3]}
            for i in range(N)
        ]
        (root / "arc").mkdir(parents=True, exist_ok=True)
        (root / "arc" / f"de_{split}.json").write_text(json.dumps(rows), encoding="utf-8")
    _jsonl(root / "mc" / "sw.jsonl", [{"question": f"Q {i}", "choices": ["x", "y"], "answer": i % 2} for i in range(N)])
    _jsonl(root / "mc" / "sw.dev.jsonl", [{"id": f"dev-{i}", "question": f"D {i}", "choices": ["x", "y"], "answer": i % 2} for i in range(N)])
    _tsv(root / "mgsm" / "mgsm_de.tsv", None, [[f"Frage {i}?", str(i * 3)] for i in range(N)])
    for split, name in (("dev", "dev"), ("devtest", "devtest")):
        for lang in ("eng_Latn", "fra_Latn"):
            (root / "flores" / split).mkdir(parents=True, exist_ok=True)
            (root / "flores" / split / f"{lang}.{name}").write_text("".join(f"{split} {lang} sentence {i}.\n" for i in range(N)), encoding="utf-8")
    docs = {s: [{"id": f"{s}-{i}", "text": f"{s} story {i} about a river.", "summary": f"River {i}."} for i in range(N)] for s in ("test", "train")}
    _jsonl(root / "xlsum" / "swahili_test.jsonl", docs["test"])
    _jsonl(root / "xlsum" / "swahili_train.jsonl", docs["train"])
    _jsonl(root / "massivesumm" / "swh.jsonl", [{k: v for k, v in d.items() if k != "id"} for d in docs["test"]])
    _jsonl(
        root / "polywrite" / "swh_Latn.jsonl",
        [{"category": "ab"[i % 2], "name": f"task{i // 4}", "prompt_translated": f"Andika {i}."} for i in range(N)],
    )
    (root / "nll").mkdir()
    (root / "nll" / "eng_Latn.txt").write_text("".join(f"Segment number {i}.\n\n" for i in range(N)), encoding="utf-8")
    return {
        "sib200": (root / "sib200", "eng_Latn", "train"),
        "taxi1500": (root / "taxi1500", "eng_Latn", "train"),
        "xcopa": (root / "xcopa", "est_Latn", "val"),
        "xnli": (root / "xnli", "deu_Latn", "dev"),
        "xstorycloze": (root / "xstorycloze", "eng_Latn", "train"),
        "belebele": (root / "belebele", "deu_Latn", "test"),
        "arc_multilingual": (root / "arc", "deu_Latn", "train"),
        "mc": (root / "mc", "swa_Latn", "dev"),
        "mgsm_direct": (root / "mgsm", "deu_Latn", "test"),
        "flores200": (root / "flores", "eng_Latn-fra_Latn", "dev"),
        "xlsum": (root / "xlsum", "swh_Latn", "train"),
        "massivesumm": (root / "massivesumm", "swh_Latn", "test"),
        "polywrite": (root / "polywrite", "swh_Latn", ""),
        "nll": (root / "nll", "eng_Latn", ""),
    }


TASKS_WITH_DATA = [
    "sib200",
    "taxi1500",
    "xcopa",
    "xnli",
    "xstorycloze",
    "belebele",
    "arc_multilingual",
    "mc",
    "mgsm_direct",
    "flores200",
    "xlsum",
    "massivesumm",
    "polywrite",
    "nll",
]


def _payload(sample: dict) -> tuple:
    """What an item is, whatever its shots: its target or reference, its text, its own prompt."""
    own = sample["context"].rsplit("\n\n", 1)[-1] if "context" in sample else None
    return sample.get("target"), sample.get("reference"), sample.get("text"), own


@pytest.mark.parametrize("name", TASKS_WITH_DATA)
def test_every_task_keeps_row_ids_under_limit_and_records_its_shot_pool(tmp_path, name):
    data_dir, lang, shot_split = _fixtures(tmp_path)[name]
    task = get_task(name)
    full, _ = task.run(FakeBackend("a"), str(data_dir), lang, TaskOptions(max_new_tokens=4))
    ids = [s["id"] for s in full]
    assert len(full) == N and len(set(map(str, ids))) == N, ids
    by_id = {s["id"]: _payload(s) for s in full}
    for seed in (1, 2):
        part, _ = task.run(FakeBackend("b"), str(data_dir), lang, TaskOptions(limit=3, seed=seed, max_new_tokens=4))
        assert len(part) == 3 and all(by_id[s["id"]] == _payload(s) for s in part)  # an id names the same row in every run
        again, _ = task.run(FakeBackend("c"), str(data_dir), lang, TaskOptions(limit=3, seed=seed, max_new_tokens=4))
        assert [s["id"] for s in again] == [s["id"] for s in part]  # another model, the same items
    first, _ = task.run(FakeBackend("b"), str(data_dir), lang, TaskOptions(limit=3, limit_mode="first", max_new_tokens=4))
    assert [s["id"] for s in first] == ids[:3]
    if not shot_split:
        return
    shot, _ = task.run(FakeBackend("a"), str(data_dir), lang, TaskOptions(shots=2, max_new_tokens=4))
    for s in shot:
        assert len(s["shots"]) == 2 and s["shot_split"] == shot_split, s
        if shot_split == "test":  # the benchmark has no other split: never the item itself
            assert s["id"] not in s["shots"]
        elif name not in ("xnli", "flores200"):  # (their ids are row numbers in each split)
            assert not set(s["shots"]) & set(ids), s  # ids of the other split
    assert len({tuple(s["shots"]) for s in shot}) > 1  # drawn per item, not one fixed set


def test_belebele_shots_never_share_the_items_passage(tmp_path):
    data_dir, lang, _ = _fixtures(tmp_path)["belebele"]
    samples, _ = get_task("belebele").run(FakeBackend("a"), str(data_dir), lang, TaskOptions(shots=3))
    for s in samples:
        assert all(k.split("#")[0] != s["id"].split("#")[0] for k in s["shots"]), s
    first, _ = get_task("belebele").run(FakeBackend("a"), str(data_dir), lang, TaskOptions(shots=2, shot_pool="lm-eval"))
    assert first[0]["shots"] == ["p0#2", "p1#1"] and first[3]["shots"] == ["p0#1", "p0#2"]  # lm-eval's first_n
