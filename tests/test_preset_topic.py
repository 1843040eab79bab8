"""`--preset emma500` on SIB-200 and Taxi-1500 against a faithful transcription of EMMA-500's own
construction (MaLA-LM/emma-500, evaluation/eval_sib200.py and eval_taxi1500.py, as their logic is
written down in the notes: pd.read_csv, random.seed(42) and a randint per test row, DataFrame.sample
per item, the template, logits at the last position): the prompts emma sends, character for
character, on real SIB-200 files and on a small Taxi-1500 file in its upstream layout with malformed
lines; the predictions, with the tiny model, equal to a plain transformers forward pass's. pandas
is used where it is installed (the transcription then is pandas itself); without it the RNG is
checked against numpy's documented draw and the Taxi-1500 rows against the rows written down here."""

from __future__ import annotations

import csv
import inspect
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from conftest import SIB200, need
from emma.errors import EmmaError
from emma.eval.backend import BackendOptions, NextTokenScorer
from emma.eval.backends import HFBackend, OpenAIBackend, VLLMBackend
from emma.eval.presets import options_for
from emma.eval.registry import get_task
from emma.eval.task import TaskOptions
from emma.eval.tasks.topic import (
    PANDAS_NA,
    SIB200_LABELS,
    TAXI1500_LABELS,
    emma500_predict,
    emma500_seeds,
    pandas_sample,
    read_like_pandas,
)
from emma.models import load_model

try:
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is in the test environment here
    pd = None

SIB_LANGS = ["eng_Latn", "ace_Arab", "zho_Hans", "yor_Latn"]  # ace_Arab: many quoted ("") sentences


# --- a faithful transcription of EMMA-500's construction (test-side, not emma's code) -------------

EMMA_SIB_TEMPLATE = (
    "Topic Classification: science/technology, travel, politics, sports, health, entertainment, geography.\n\n"
    '{examples}\nThe topic of the news "{text}" is\n'
)
EMMA_SIB_EXAMPLE = 'The topic of the news "{text}" is {category}'
EMMA_TAXI_TEMPLATE = 'Topic Classification: Recommendation, Faith, Description, Sin, Grace, Violence.\n\n{examples}\nThe label of "{text}" is\n'
EMMA_TAXI_EXAMPLE = 'The topic of the verse "{text}" is {category}'


def their_read(path, *, taxi: bool):
    """pd.read_csv as eval_sib200.py / eval_taxi1500.py call it; without pandas, the csv module with
    pandas' quoting (enough for these files: no bad lines in SIB-200; Taxi-1500 has its own check)."""
    if pd is not None:
        if taxi:
            df = pd.read_csv(path, delimiter="\t", names=["index_id", "category", "text"], index_col="index_id", on_bad_lines="skip", engine="python")
        else:
            df = pd.read_csv(path, delimiter="\t", index_col="index_id")
        return df
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    rows = [r for r in rows if r]
    if not taxi:
        rows = rows[1:]
    return [{"index_id": r[0], "category": r[1], "text": r[2]} for r in rows]


def _records(df):
    if pd is not None:
        return [{"index_id": idx, "category": row["category"], "text": row["text"]} for idx, row in df.iterrows()]
    return df


def their_sample(train, n, seed):
    if pd is not None:
        return _records(train.sample(n=n, random_state=seed))
    # pandas' sample: np.random.RandomState(seed).choice(len, n, replace=False) = permutation(len)[:n]
    return [train[j] for j in np.random.RandomState(seed).permutation(len(train))[:n]]


def their_prompts(train_path, test_path, *, taxi: bool, n=3, seed=42):
    """EMMA-500's prompt for every test row, in file order: random.seed(seed) on the global RNG,
    one randint(0, 1000) per test row, then per row train.sample(n=3, random_state=seeds[i])."""
    train, test = their_read(train_path, taxi=taxi), their_read(test_path, taxi=taxi)
    state = random.getstate()
    try:
        random.seed(seed)
        seeds = [random.randint(0, 1000) for _ in range(len(test))]
    finally:
        random.setstate(state)
    template, example = (EMMA_TAXI_TEMPLATE, EMMA_TAXI_EXAMPLE) if taxi else (EMMA_SIB_TEMPLATE, EMMA_SIB_EXAMPLE)
    prompts = []
    for i, row in enumerate(_records(test)):
        shots = their_sample(train, n, seeds[i])
        examples = "\n".join(example.format(text=s["text"], category=s["category"]) for s in shots)
        prompts.append(template.format(examples=examples, text=row["text"]))
    return prompts


def their_get_ans(model, tokenizer, prompt, labels, *, max_length=None):
    """get_ans: a plain forward pass, logits[0, -1], each label's id `tokenizer(" " + label).input_ids[-1]`,
    the first of the (logit, label) pairs sorted in reverse."""
    kwargs = {"truncation": True, "max_length": max_length} if max_length else {}
    inputs = tokenizer(prompt, return_tensors="pt", **kwargs)
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    scored = [(logits[tokenizer(" " + label).input_ids[-1]].item(), label) for label in labels]
    return sorted(scored, reverse=True)[0][1], logits


# --- emma's side ------------------------------------------------------------------------------


class Recorder:
    """A NextTokenScorer that records the prompts it is asked about (and answers a fixed order)."""

    name = "recorder"

    def __init__(self):
        self.contexts: list[str] = []
        self.max_length = "unset"

    def tokenize(self, text):
        return [len(text)]

    def next_token_logprobs(self, contexts, token_ids, *, max_length=None, progress=None):
        self.contexts += contexts
        self.max_length = max_length
        return [[-float(j) for j in range(len(ids))] for ids in token_ids]


def preset(task, **kw):
    return options_for(task, TaskOptions(**kw), "emma500")


def test_the_preset_sets_emma500s_shots_and_seed():
    opts = preset("sib200")
    assert (opts.preset, opts.shots, opts.seed) == ("emma500", 3, 42)
    assert preset("taxi1500").shots == 3


# --- RNG: random module and pandas' sample -----------------------------------------------------


def test_seeds_are_the_random_modules():
    state = random.getstate()
    try:
        random.seed(42)
        want = [random.randint(0, 1000) for _ in range(204)]
    finally:
        random.setstate(state)
    assert emma500_seeds(204, 42) == want


@pytest.mark.parametrize("n", [3, 10, 701, 1000])
def test_pandas_sample_is_pandas(n):
    for seed in [0, 1, 42, 654, 114, 25, 759, 1000]:
        ours = pandas_sample(n, 3, seed)
        if pd is not None:
            frame = pd.DataFrame({"x": range(n)}, index=[f"r{i}" for i in range(n)])
            assert ours == [int(x) for x in frame.sample(n=3, random_state=seed)["x"]], (n, seed)
        else:  # pragma: no cover
            assert ours == [int(j) for j in np.random.RandomState(seed).permutation(n)[:3]]
    assert pandas_sample(5, 0, 1) == []
    with pytest.raises(EmmaError, match="cannot draw 3 shots from 2"):
        pandas_sample(2, 3, 1)


# --- reading as pandas reads ---------------------------------------------------------------------


def test_pandas_na_values_are_pandas():
    if pd is None:
        pytest.skip("pandas is not installed: the NA list is checked against pandas where it is")
    from pandas._libs.parsers import STR_NA_VALUES

    assert PANDAS_NA == set(STR_NA_VALUES)


def test_every_real_sib200_file_reads_as_pandas_reads_it():
    root = need(SIB200)
    if pd is None:
        pytest.skip("pandas is not installed: nothing to compare the reader with")
    files = sorted(root.glob("*/*.tsv"))
    assert files
    quoted = 0
    for path in files:
        df = pd.read_csv(path, delimiter="\t", index_col="index_id")
        want = [(str(i), c, t) for i, c, t in zip(df.index, df["category"], df["text"])]
        got = [(r["index_id"], r["category"], r["text"]) for r in read_like_pandas(path, "sib200")]
        assert got == want, path
        quoted += sum('""' in line for line in path.read_text(encoding="utf-8").splitlines())
    assert quoted > 0  # the files do quote: the default reader (quotes as text) differs there


TAXI_TRAIN = [
    "10\tFaith\tBelieve and be saved.",
    "11\tViolence\tThey struck the city with the sword.",
    "12\tGrace\tBy grace you are saved, through faith.",
    "13\tSin\tAll have sinned\tand fall short.",  # 4 fields: skipped
    "",  # blank: skipped
    '14\tRecommendation\t"Go," he said, "and sin no more."',  # quote then text: csv strict refuses it, skipped
    "15\tDescription\tThe river went out of Eden.",
    '16\tRecommendation\t"Love your neighbour."',  # quoted field: unquoted
    "17\tFaith\tNone",  # pandas' NA string: NaN, "nan" in a prompt
    "18\tGrace\tHe gives more grace {and} 100% of it.",
]
TAXI_TEST = [
    "1\tFaith\tNow faith is the substance of things hoped for.",
    "2\tViolence\tAnd Cain rose up against Abel his brother.",
    "3\tSin\tThe wages of sin is death\textra\tfields",  # skipped
    '4\tGrace\t"My grace is sufficient for thee" she read.',  # skipped
    "5\tDescription\tThe earth was without form, and void.",
    '6\tRecommendation\tWalk in ""love"".',  # unquoted field: the quotes stay as written
    "7\tSin\tThe soul that sinneth, it shall die.",
]
TAXI_KEPT = {"train": ["10", "11", "12", "15", "16", "17", "18"], "test": ["1", "2", "5", "6", "7"]}
# the rows as pandas reads them, written down: quoted field unquoted, NA string as pandas' NaN ("nan" in a prompt)
TAXI_TRAIN_ROWS = [
    ("10", "Faith", "Believe and be saved."),
    ("11", "Violence", "They struck the city with the sword."),
    ("12", "Grace", "By grace you are saved, through faith."),
    ("15", "Description", "The river went out of Eden."),
    ("16", "Recommendation", "Love your neighbour."),
    ("17", "Faith", "nan"),
    ("18", "Grace", "He gives more grace {and} 100% of it."),
]
TAXI_TEST_ROWS = [
    ("1", "Faith", "Now faith is the substance of things hoped for."),
    ("2", "Violence", "And Cain rose up against Abel his brother."),
    ("5", "Description", "The earth was without form, and void."),
    ("6", "Recommendation", 'Walk in ""love"".'),
    ("7", "Sin", "The soul that sinneth, it shall die."),
]


def write_taxi(root, lang="eng_Latn"):
    folder = root / lang
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{lang}_train.tsv").write_text("\n".join(TAXI_TRAIN) + "\n", encoding="utf-8")
    (folder / f"{lang}_test.tsv").write_text("\n".join(TAXI_TEST) + "\n", encoding="utf-8")
    return folder


def test_taxi1500_upstream_rows_are_the_ones_pandas_keeps(tmp_path):
    folder = write_taxi(tmp_path)
    for split in ("train", "test"):
        path = folder / f"eng_Latn_{split}.tsv"
        rows = read_like_pandas(path, "taxi1500", header=False, skip_bad_lines=True)
        assert [r["index_id"] for r in rows] == TAXI_KEPT[split]
        if pd is not None:
            df = their_read(path, taxi=True)
            want = [(str(i), c, None if isinstance(t, float) else t) for i, c, t in zip(df.index, df["category"], df["text"])]
            assert [(r["index_id"], r["category"], r["text"]) for r in rows] == want
    train = read_like_pandas(folder / "eng_Latn_train.tsv", "taxi1500", header=False, skip_bad_lines=True)
    assert train[4]["text"] == "Love your neighbour." and train[5]["text"] is None
    # a first row with too many fields: pandas fails, and so does emma
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\tFaith\ta\tb\n2\tSin\tc\n", encoding="utf-8")
    with pytest.raises(EmmaError, match="first row has 4 fields"):
        read_like_pandas(bad, "taxi1500", header=False, skip_bad_lines=True)
    if pd is not None:
        with pytest.raises(ValueError):
            their_read(bad, taxi=True)
    # pandas' C reader (SIB-200): too many fields is an error
    sib = tmp_path / "sib.tsv"
    sib.write_text("index_id\tcategory\ttext\n1\ttravel\ta\n2\ttravel\tb\tc\n", encoding="utf-8")
    with pytest.raises(EmmaError, match="expected 3 fields, saw 4"):
        read_like_pandas(sib, "sib200")


# --- the prompts emma sends ----------------------------------------------------------------------


@pytest.mark.parametrize("lang", SIB_LANGS)
def test_sib200_prompts_are_emma500s(lang):
    folder = need(SIB200 / lang)
    want = their_prompts(folder / "train.tsv", folder / "test.tsv", taxi=False)
    task = get_task("sib200")

    full = Recorder()
    samples, scores = task.run(full, str(SIB200), lang, preset("sib200"))
    assert full.contexts == want  # every item, character for character
    assert full.max_length is None and scores["n"] == scores["n_total"] == len(want)
    assert samples[0]["context"].endswith(" is\n") and samples[0]["shot_split"] == "train" and len(samples[0]["shots"]) == 3

    # --limit: the sampled rows keep the shots they get in the full run (seed index = row in the whole file)
    for mode in ("sample", "first"):
        cut = Recorder()
        samples, scores = task.run(cut, str(SIB200), lang, preset("sib200", limit=9, limit_mode=mode))
        rows = [s["id"] for s in samples]
        ids = [r["index_id"] for r in read_like_pandas(folder / "test.tsv", "sib200")]
        assert cut.contexts == [want[ids.index(i)] for i in rows] and len(rows) == 9 and scores["n_total"] == len(want)
        if mode == "sample":
            assert ids.index(rows[-1]) > 9  # spread over the file, not its first rows


def test_taxi1500_prompts_are_emma500s_in_its_upstream_layout(tmp_path):
    folder = write_taxi(tmp_path)
    rec = Recorder()
    samples, scores = get_task("taxi1500").run(rec, str(tmp_path), "eng_Latn", preset("taxi1500"))
    if pd is not None:
        assert rec.contexts == their_prompts(folder / "eng_Latn_train.tsv", folder / "eng_Latn_test.tsv", taxi=True)
    assert rec.max_length == 2048 and [s["id"] for s in samples] == TAXI_KEPT["test"] and scores["n"] == 5
    # the construction written down (also without pandas): the rows pandas keeps, seeds, pandas' draw, the template
    state = random.getstate()
    try:
        random.seed(42)
        seeds = [random.randint(0, 1000) for _ in TAXI_TEST_ROWS]
    finally:
        random.setstate(state)
    for i, ((_, _, text), s, context) in enumerate(zip(TAXI_TEST_ROWS, samples, rec.contexts)):
        shots = [TAXI_TRAIN_ROWS[j] for j in np.random.RandomState(seeds[i]).permutation(len(TAXI_TRAIN_ROWS))[:3]]
        assert s["shots"] == [r[0] for r in shots] and s["shot_seed"] == seeds[i]
        examples = "\n".join(EMMA_TAXI_EXAMPLE.format(text=t, category=c) for _, c, t in shots)
        assert context == EMMA_TAXI_TEMPLATE.format(examples=examples, text=text)
    assert 'The label of "Walk in ""love""." is\n' in rec.contexts[3]
    assert get_task("taxi1500").languages(str(tmp_path)) == ["eng_Latn"]


def test_taxi1500_keeps_its_local_header_layout(tmp_path):
    folder = tmp_path / "eng_Latn"
    folder.mkdir()
    for split in ("train", "test"):
        rows = [f"{i}\t{TAXI1500_LABELS[i % 6]}\t{split} verse {i}." for i in range(8)]
        (folder / f"{split}.tsv").write_text("index_id\tcategory\ttext\n" + "\n".join(rows) + "\n", encoding="utf-8")
    task = get_task("taxi1500")
    assert task.languages(str(tmp_path)) == ["eng_Latn"]
    rec = Recorder()
    samples, _ = task.run(rec, str(tmp_path), "eng_Latn", preset("taxi1500"))
    assert len(samples) == 8 and rec.contexts[0].startswith("Topic Classification: Recommendation, Faith") and "train verse" in rec.contexts[0]

    # the default preset reads the upstream layout too (pandas' rules for the file, emma's prompt and scoring)
    up = tmp_path / "up"
    write_taxi(up)

    class LL:
        name = "ll"

        def loglikelihood(self, requests, *, first_token_only=False, progress=None):
            from emma.eval.loglikelihood import LogLikelihood

            return [LogLikelihood(-float(len(x)), True, 1) for _, x in requests]

    with pytest.raises(EmmaError, match=r"eng_Latn_train.tsv:\d+ is malformed"):  # "None" is text there, but an empty field is not
        (up / "eng_Latn" / "eng_Latn_train.tsv").write_text("\n".join(TAXI_TRAIN) + "\n19\tFaith\t\n", encoding="utf-8")
        task.run(LL(), str(up), "eng_Latn", TaskOptions(shots=1))
    write_taxi(up)
    samples, scores = task.run(LL(), str(up), "eng_Latn", TaskOptions(shots=1))
    assert [s["id"] for s in samples] == TAXI_KEPT["test"] and "acc_norm" in scores and samples[0]["shot_split"] == "train"
    with pytest.raises(EmmaError, match="no next_token_logprobs"):
        task.run(LL(), str(up), "eng_Latn", preset("taxi1500"))


def test_off_label_test_rows_count_as_wrong(tmp_path):
    folder = write_taxi(tmp_path)
    (folder / "eng_Latn_test.tsv").write_text("1\tFaith\tA verse.\n2\t\tNo label.\n", encoding="utf-8")
    samples, scores = get_task("taxi1500").run(Recorder(), str(tmp_path), "eng_Latn", preset("taxi1500"))
    assert samples[1]["target"] is None and samples[1]["gold"] == "nan" and samples[1]["acc"] == 0.0 and scores["n"] == 2


def test_ties_go_to_the_larger_label_string():
    for labels in (SIB200_LABELS, TAXI1500_LABELS):
        for scores in ([0.0] * len(labels), [1.0, 2.0, 2.0, 0.0, 2.0, 1.0, 0.5][: len(labels)]):
            want = sorted(zip(scores, labels), reverse=True)[0][1]
            assert labels[emma500_predict(scores, labels)] == want


# --- scoring: emma's predictions = a plain forward pass's -----------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def test_sib200_predictions_are_get_anss(tiny):
    be = HFBackend(tiny)
    model, tok = tiny.model, tiny.tokenizer
    folder = need(SIB200 / "eng_Latn")
    samples, scores = get_task("sib200").run(be, str(SIB200), "eng_Latn", preset("sib200", limit=6))
    assert set(scores) == {"acc", "n", "n_total"}
    for s in samples:
        pred, logits = their_get_ans(model, tok, s["context"], SIB200_LABELS)
        assert SIB200_LABELS[s["prediction"]] == pred
        ids = [tok(" " + label).input_ids[-1] for label in SIB200_LABELS]
        assert s["label_token_ids"] == ids
        assert s["logprobs"] == pytest.approx([float(v) for v in logits.double().log_softmax(-1)[ids]], abs=1e-5)
        gold = next(r["category"] for r in read_like_pandas(folder / "test.tsv", "sib200") if r["index_id"] == s["id"])
        assert s["acc"] == float(SIB200_LABELS[s["prediction"]] == gold)


@pytest.mark.slow
def test_sib200_predictions_are_get_anss_with_smollm2(smollm2):
    """The real model (trained logits, real near-ties): emma's predictions are get_ans's on 14 items."""
    samples, _ = get_task("sib200").run(HFBackend(smollm2), str(need(SIB200)), "eng_Latn", preset("sib200", limit=14))
    for s in samples:
        assert SIB200_LABELS[s["prediction"]] == their_get_ans(smollm2.model, smollm2.tokenizer, s["context"], SIB200_LABELS)[0]


def test_taxi1500_predictions_are_get_anss_with_truncation(tmp_path, tiny):
    folder = write_taxi(tmp_path)
    long_verse = " ".join(["and the Lord spoke unto Moses"] * 400)  # > 2048 tokens: the prompt's end is cut, as there
    lines = (folder / "eng_Latn_test.tsv").read_text(encoding="utf-8") + f"8\tFaith\t{long_verse}\n"
    (folder / "eng_Latn_test.tsv").write_text(lines, encoding="utf-8")
    be = HFBackend(tiny)
    samples, _ = get_task("taxi1500").run(be, str(tmp_path), "eng_Latn", preset("taxi1500"))
    assert len(tiny.tokenizer(samples[-1]["context"]).input_ids) > 2048
    for s in samples:
        pred, logits = their_get_ans(tiny.model, tiny.tokenizer, s["context"], TAXI1500_LABELS, max_length=2048)
        assert TAXI1500_LABELS[s["prediction"]] == pred
        assert s["logprobs"] == pytest.approx([float(v) for v in logits.double().log_softmax(-1)[s["label_token_ids"]]], abs=1e-5)


def test_the_harness_runs_the_preset(tmp_path, tiny_model_dir):
    from emma.eval.harness import evaluate

    write_taxi(tmp_path / "taxi")
    out = tmp_path / "eval"
    scores = evaluate([str(tiny_model_dir)], ["taxi1500"], out, langs="eng", data_dir=str(tmp_path / "taxi"), preset="emma500")
    (entry,) = scores.values()
    assert set(entry["taxi1500"]["eng_Latn"]) == {"acc", "n"} and entry["taxi1500"]["eng_Latn"]["n"] == 5
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    meta = json.loads((folder / "taxi1500" / "eng_Latn.json").read_text())
    assert meta["settings"]["preset"] == "emma500" and meta["settings"]["shots"] == 3 and meta["settings"]["seed"] == 42


# --- the backends' next-token question ------------------------------------------------------------


def test_every_backend_answers_the_next_token_question(tiny):
    from typing import get_type_hints

    vllm = object.__new__(VLLMBackend)
    vllm.model = "some/model"
    for be in (HFBackend(tiny), OpenAIBackend("m@http://127.0.0.1:9/v1"), vllm):
        assert isinstance(be, NextTokenScorer), type(be).__name__
        for method in ("tokenize", "next_token_logprobs"):
            want, got = getattr(NextTokenScorer, method), getattr(type(be), method)
            shape = [(p.name, p.kind, p.default) for p in inspect.signature(got).parameters.values()]
            assert shape == [(p.name, p.kind, p.default) for p in inspect.signature(want).parameters.values()], (type(be), method)
            assert get_type_hints(got) == get_type_hints(want), (type(be), method)
    assert isinstance(Recorder(), NextTokenScorer) and not isinstance(object(), NextTokenScorer)


CONTEXTS = ['Topic Classification: a, b.\n\nThe topic of the news "x" is\n', "Hello there", " leading space and a tail\n"]


def _forward_logprobs(model, ids):
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0].double().log_softmax(-1)


def test_openai_backend_next_token_equals_hf(tiny, tiny_model_dir, tmp_path):
    model, tok = tiny.model, tiny.tokenizer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert body["echo"] and all(isinstance(p, list) for p in body["prompt"])  # token-id prompts
            choices = []
            for i, ids in enumerate(body["prompt"]):
                lp = _forward_logprobs(model, ids)
                values = [None] + [float(lp[k - 1, ids[k]]) for k in range(1, len(ids))]
                choices.append({"index": i, "text": "", "logprobs": {"token_logprobs": values}})
            data = json.dumps({"choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = OpenAIBackend(f"{tiny_model_dir}@http://127.0.0.1:{server.server_port}/v1", BackendOptions(batch_size=2))
        local = HFBackend(tiny)
        ids = [[local.tokenize(" " + w)[-1] for w in ("sports", "travel", "science/technology")]] * len(CONTEXTS)
        assert remote.tokenize(" sports") == local.tokenize(" sports") == tok(" sports").input_ids
        for r, h in zip(remote.next_token_logprobs(CONTEXTS, ids), local.next_token_logprobs(CONTEXTS, ids)):
            assert r == pytest.approx(h, abs=1e-5)
        short = local.next_token_logprobs(CONTEXTS, ids, max_length=4)
        for r, h in zip(remote.next_token_logprobs(CONTEXTS, ids, max_length=4), short):
            assert r == pytest.approx(h, abs=1e-5)
        assert short[0] == pytest.approx([float(v) for v in _forward_logprobs(model, tok(CONTEXTS[0]).input_ids[:4])[-1][ids[0]]], abs=1e-6)
    finally:
        server.shutdown()
    with pytest.raises(EmmaError, match="needs the served model's tokenizer"):
        OpenAIBackend(f"{tmp_path / 'no' / 'model'}@http://127.0.0.1:9/v1").tokenize("x")


def test_vllm_backend_next_token_reads_logprob_token_ids(tiny):
    """Here vLLM's engine is a stand-in answering `logprob_token_ids` as vLLM does (the asked ids'
    log-probabilities at the first generated position), so the bookkeeping is checked: distinct ids
    asked once, answers back in the asked order. tests/test_vllm.py checks the real engine."""
    from types import SimpleNamespace

    model, tok = tiny.model, tiny.tokenizer

    class Engine:
        def generate(self, prompts, params, use_tqdm=False):
            out = []
            for p, sp in zip(prompts, params):
                assert sp.max_tokens == 1 and sp.logprob_token_ids and len(set(sp.logprob_token_ids)) == len(sp.logprob_token_ids)
                lp = _forward_logprobs(model, p["prompt_token_ids"])[-1]
                first = {t: SimpleNamespace(logprob=float(lp[t])) for t in sp.logprob_token_ids}
                out.append(SimpleNamespace(outputs=[SimpleNamespace(logprobs=[first])]))
            return out

    be = object.__new__(VLLMBackend)
    be.model, be.engine, be.tokenizer = "tiny", Engine(), tok
    be._vllm = SimpleNamespace(SamplingParams=lambda **kw: SimpleNamespace(**kw))
    local = HFBackend(tiny)
    ids = [[5, 17, 400], [9], [1, 2, 1]]
    assert be.tokenize("Hello") == local.tokenize("Hello")
    for v, h in zip(be.next_token_logprobs(CONTEXTS, ids), local.next_token_logprobs(CONTEXTS, ids)):
        assert v == pytest.approx(h, abs=1e-5)


# --- `emma tasks` ---------------------------------------------------------------------------------


def test_emma_tasks_says_what_the_preset_changes():
    from emma.cli import _emma500_changes
    from emma.eval.presets import EMMA500

    sib = _emma500_changes("sib200", get_task("sib200"))
    assert sib.startswith("emma500: shots=3, seed=42; EMMA-500's prompt") and "acc only" in sib
    assert _emma500_changes("flores200", get_task("flores200")).startswith(
        "emma500: " + ", ".join(f"{k}={v}" for k, v in EMMA500["flores200"].items())
    )
    assert _emma500_changes("xnli", get_task("xnli")) == "same as default"
