"""Every task family on fixtures in its upstream file layout (and on ../shared where the data is
there), prompts checked against lm-evaluation-harness's own task configs when it is installed."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED, SIB200, need
from emma.errors import EmmaError
from emma.eval.data import TaskOptions
from emma.eval.harness import evaluate
from emma.eval.tasks import get_task

# --- fixtures in each benchmark's upstream layout -------------------------------------------

XCOPA = [
    {
        "premise": "The man turned on the faucet.",
        "choice1": "The toilet filled with water.",
        "choice2": "Water flowed from the spout.",
        "question": "effect",
        "label": 1,
        "idx": 1,
    },
    {
        "premise": "The girl found a bug in her cereal.",
        "choice1": "She poured milk in the bowl.",
        "choice2": "She lost her appetite.",
        "question": "effect",
        "label": 1,
        "idx": 2,
    },
    {
        "premise": "My body cast a shadow over the grass.",
        "choice1": "The sun was rising.",
        "choice2": "The grass was cut.",
        "question": "cause",
        "label": 0,
        "idx": 3,
    },
]
STORY_HEADER = [
    "InputStoryid",
    "InputSentence1",
    "InputSentence2",
    "InputSentence3",
    "InputSentence4",
    "RandomFifthSentenceQuiz1",
    "RandomFifthSentenceQuiz2",
    "AnswerRightEnding",
]
STORIES = [
    [
        "s1",
        "Rick grew up poor.",
        "He joined a gang.",
        "He was shot.",
        "He turned his life around.",
        "He is happy now.",
        "He joined the gang again.",
        "1",
    ],
    ["s2", "Ann bought a cake.", "She dropped it.", "It broke.", "She cried.", "She bought a new one.", "She loved the broken cake.", "1"],
]
XNLI_HEADER = ["language", "gold_label", "sentence1", "sentence2"]
XNLI = [
    ["de", "entailment", "Der Hund schläft.", "Ein Tier ruht."],
    ["en", "contradiction", "The dog sleeps.", "The dog runs."],
    ["de", "neutral", "Er kam spät.", "Er war müde."],
]
BELEBELE = [
    {
        "link": "l1",
        "question_number": 1,
        "flores_passage": "The cat sat on the mat all day.",
        "question": "Where was the cat? ",
        "mc_answer1": "On the mat",
        "mc_answer2": "In the tree",
        "mc_answer3": "At school",
        "mc_answer4": "Nowhere",
        "correct_answer_num": "1",
    },
    {
        "link": "l2",
        "question_number": 1,
        "flores_passage": "Rain fell on Monday.",
        "question": "When did rain fall?",
        "mc_answer1": "Sunday",
        "mc_answer2": "Monday",
        "mc_answer3": "Friday",
        "mc_answer4": "Never",
        "correct_answer_num": "2",
    },
]
ARC = [
    {
        "id": "a1",
        "instruction": "Which is a [title] planet?",
        "option_a": "Mars",
        "option_b": "Moon",
        "option_c": "Sun",
        "option_d": "",
        "option_e": None,
        "answer": "A",
    },
    {
        "id": "a2",
        "instruction": "What  do plants need?",
        "option_a": "Light",
        "option_b": "Salt",
        "option_c": "Iron",
        "option_d": "Gold",
        "option_e": "",
        "answer": "A",
    },
]


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_tsv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(r) for r in ([header] if header else []) + rows) + "\n", encoding="utf-8")


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    for split in ("test", "val"):
        write_jsonl(root / "xcopa" / "et" / f"{split}.et.jsonl", XCOPA)
    for split in ("eval", "train"):
        write_tsv(root / "xstorycloze" / f"spring2016.val.en.tsv.split_20_80_{split}.tsv", STORY_HEADER, STORIES)
    for split in ("test", "dev"):
        write_tsv(root / "xnli" / f"xnli.{split}.tsv", XNLI_HEADER, XNLI)
    write_jsonl(root / "belebele" / "deu_Latn.jsonl", BELEBELE)
    for split in ("test", "train"):
        (root / "arc").mkdir(parents=True, exist_ok=True)
        (root / "arc" / f"de_{split}.json").write_text(json.dumps(ARC), encoding="utf-8")
    write_jsonl(
        root / "mc" / "sw.jsonl",
        [{"question": "2 + 2 =", "choices": ["4", "5"], "answer": 0}, {"context": "The sky is", "choices": ["green", "blue"], "answer": "blue"}],
    )
    return root


def result_dir(out):
    """The one model's result folder under `out` (the harness names it by the model's identity)."""
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def samples_of(out, model_dir, task, lang):
    return [json.loads(line) for line in (result_dir(out) / task / f"{lang}.jsonl").read_text().splitlines()]


def only(scores):
    """evaluate()'s scores of its one model."""
    (entry,) = scores.values()
    return entry


# --- multiple choice ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task,sub,lang,n,choices",
    [
        ("xcopa", "xcopa", "est_Latn", 3, 2),
        ("xstorycloze", "xstorycloze", "eng_Latn", 2, 2),
        ("xnli", "xnli", "deu_Latn", 2, 3),
        ("belebele", "belebele", "deu_Latn", 2, 4),
        ("arc_multilingual", "arc", "deu_Latn", 2, None),
        ("mc", "mc", "swa_Latn", 2, 2),
    ],
)
def test_multiple_choice_tasks_score_every_choice(tmp_path, data, tiny_model_dir, task, sub, lang, n, choices):
    out = tmp_path / "eval"
    scores = evaluate([str(tiny_model_dir)], [task], out, langs="all", data_dir=str(data / sub), options=TaskOptions(shots=1))
    s = only(scores)[task][lang]
    assert s["n"] == n and 0 <= s["acc"] <= 1 and 0 <= s["acc_norm"] <= 1
    for sample in samples_of(out, tiny_model_dir, task, lang):
        assert choices is None or len(sample["loglikelihoods"]) == choices
        assert all(ll < 0 for ll in sample["loglikelihoods"])
        best = max(range(len(sample["choices"])), key=lambda j: sample["loglikelihoods"][j])
        assert sample["prediction"] == best and sample["acc"] == float(best == sample["target"])
        norm = max(range(len(sample["choices"])), key=lambda j: sample["loglikelihoods"][j] / len(sample["choices"][j]))
        assert sample["prediction_norm"] == norm
        assert sample["id"] is not None and len(sample["shots"]) == 1 and sample["shot_split"] in ("val", "train", "dev", "test")


def test_xcopa_prompt_is_lm_evals():
    from emma.eval.tasks.xcopa import doc_choices, doc_text

    assert doc_text(XCOPA[0], "et") == "The man turned on the faucet seetõttu"
    assert doc_choices(XCOPA[0]) == ["the toilet filled with water.", "water flowed from the spout."]


def test_bad_inputs_name_the_file(tmp_path, data):
    from emma.eval.tasks import belebele, mcjsonl, xcopa, xnli

    (data / "xcopa" / "et" / "test.et.jsonl").write_text('{"premise": "x"\n', encoding="utf-8")
    with pytest.raises(EmmaError, match=r"test.et.jsonl:1 is not valid JSON"):
        xcopa.load(data / "xcopa", "et", "test")
    (data / "belebele" / "deu_Latn.jsonl").write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(EmmaError, match="not valid UTF-8"):
        belebele.load(data / "belebele", "deu_Latn")
    with pytest.raises(EmmaError, match=r"xnli.test.tsv \(the XNLI-1.0 layout\)"):
        xnli.load(tmp_path, "de", "test")
    write_jsonl(data / "mc" / "sw.jsonl", [{"question": "q", "choices": ["a"], "answer": 0}])
    with pytest.raises(EmmaError, match="line 1 needs question"):
        mcjsonl.run(None, data / "mc", "swa_Latn", TaskOptions())
    write_jsonl(data / "mc" / "not-a-code.jsonl", [])
    with pytest.raises(EmmaError, match="file not-a-code.jsonl"):
        mcjsonl.languages(data / "mc")


# --- prompts against lm-eval's own configs (skipped where lm-eval is not installed) ---------


def _lm_eval_config(rel: str) -> dict:
    lm_eval = pytest.importorskip("lm_eval")
    from pathlib import Path

    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(Path(lm_eval.__file__).parent / "tasks" / rel)


def _render(field, doc):
    from lm_eval.utils import apply_template

    if callable(field):
        return field(doc)
    if isinstance(field, str):
        text = apply_template(field, doc)
        return eval(text) if text.startswith("[") else text  # noqa: S307 - lm-eval renders lists as Python literals
    return field


def test_prompts_match_lm_eval_configs(data):
    from emma.eval.tasks import belebele, mgsm, xcopa, xnli, xstorycloze

    cfg = _lm_eval_config("xcopa/default_et.yaml")
    doc = XCOPA[0]
    assert _render(cfg["doc_to_text"], doc) == xcopa.doc_text(doc, "et")
    assert _render(cfg["doc_to_choice"], doc) == xcopa.doc_choices(doc)
    for xx in xnli.WORDS:
        cfg = _lm_eval_config(f"xnli/xnli_{xx}.yaml")
        doc = {"premise": "P", "hypothesis": "H", "label": 0}
        assert _render(cfg["doc_to_choice"], doc) == xnli.sentences(doc, xx), xx
    cfg = _lm_eval_config("belebele/belebele_deu_Latn.yaml")
    assert _render(cfg["doc_to_text"], BELEBELE[0]) == belebele.doc_text(BELEBELE[0])
    assert cfg["doc_to_choice"] == belebele.CHOICES
    cfg = _lm_eval_config("xstorycloze/default_en.yaml")
    row = xstorycloze.load(data / "xstorycloze", "en", "eval")[0]
    assert _render(cfg["doc_to_text"], row) == xstorycloze.doc_text(row)
    assert _render(cfg["doc_to_choice"], row) == [row["sentence_quiz1"], row["sentence_quiz2"]]
    for xx, (q, direct, cot, regex) in mgsm.WORDS.items():
        doc = {"question": "Q?", "answer": None, "answer_number": 3}
        d = _lm_eval_config(f"mgsm/direct/mgsm_direct_{xx}.yaml")
        assert _render(d["doc_to_text"], doc) == f"{q} Q?\n{direct}", xx
        assert d["generation_kwargs"]["until"][0] == q
        c = _lm_eval_config(f"mgsm/native_cot/mgsm_native_cot_{xx}.yaml")
        assert _render(c["doc_to_text"], doc) == f"{q} Q?\n{cot}", xx
        assert c["filter_list"][0]["filter"][0]["regex_pattern"] == regex, xx


def test_arc_preprocessing_matches_lm_eval(data):
    pytest.importorskip("lm_eval")
    import datasets
    from lm_eval.tasks.okapi.arc_multilingual.utils import process_docs

    from emma.eval.tasks.okapi_arc import load

    theirs = process_docs(datasets.Dataset.from_list([{**r, "option_e": r["option_e"] or ""} for r in ARC]))
    ours = load(data / "arc", "de", "test")
    assert [d["query"] for d in theirs] == [d["query"] for d in ours]
    assert [d["choices"] for d in theirs] == [d["choices"] for d in ours]
    assert [d["gold"] for d in theirs] == [d["gold"] for d in ours]


# --- MGSM -----------------------------------------------------------------------------------


def test_mgsm_answer_extraction_follows_lm_eval():
    from emma.eval.tasks.mgsm import flexible_extract, same_answer

    assert flexible_extract("She makes $18 a day. So 18.") == "18."
    assert same_answer("18.", "18") and same_answer("$1,000", "1000") and not same_answer("17", "18")
    assert flexible_extract("no number") == "[invalid]"
    # exact match removes punctuation but strips nothing after it: these are not 18 (lm-eval scores 0)
    assert not same_answer("$ 18", "18") and not same_answer(". 18", "18") and not same_answer("18 .", "18")


# Model outputs and the gold answer, the edge cases of extraction and exact match.
MGSM_EDGE = [
    ("$ 18", "18"),
    (". 18", "18"),
    ("18 .", "18"),
    ("18.0", "18"),
    ("1,000", "1000"),
    ("1.000", "1000"),
    ("18", "18"),
    (" 18\n", "18"),
    ("18.", "18"),
    ("$18", "18"),
    ("-18", "-18"),
    ("- 18", "-18"),
    ("18 dollars", "18"),
    ("The answer is 18.", "18"),
    ("Die Antwort lautet 18.", "18"),
    ("Die Antwort lautet 1,000.", "1000"),
    ("Die Antwort lautet $18.", "18"),
    ("Die Antwort lautet 17. Die Antwort lautet 18.", "18"),
    ("die antwort lautet 18", "18"),
    ("Die Antwort lautet  18", "18"),
    ("１８", "18"),
    ("18\u3002", "18"),
    ("18%", "18"),
    ("", "18"),
    ("18\x00", "18"),
    ("İ18", "i̇18"),
    ("2,125", "2,125"),
]


def _lm_eval_mgsm(cfg: dict, output: str, gold: str) -> dict[str, float]:
    """lm-eval's own scoring of one output under a task config: each filter of `filter_list` built
    from lm-eval's registry and applied in turn, then the config's metric with its settings."""
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.api.registry import get_filter

    (metric,) = cfg["metric_list"]
    assert metric["metric"] == "exact_match"
    kwargs = {k: v for k, v in metric.items() if k not in ("metric", "aggregation", "higher_is_better")}
    out = {}
    for pipeline in cfg["filter_list"]:
        resps: list = [[output]]
        for step in pipeline["filter"]:
            resps = list(get_filter(step["function"])(**{k: v for k, v in step.items() if k != "function"}).apply(resps, [{}]))
        out[pipeline["name"]] = float(exact_match_hf_evaluate(predictions=[resps[0]], references=[gold], **kwargs)["exact_match"])
    return out


class _Outputs:
    """A backend that answers every generation request with the next prepared output."""

    name = "outputs"

    def __init__(self, outputs):
        self.outputs = list(outputs)

    def generate(self, requests, *, progress=None):
        return [self.outputs[i] for i in range(len(requests))]


def test_mgsm_metrics_are_lm_evals_on_edge_cases(tmp_path):
    from emma.eval.tasks import mgsm

    direct = _lm_eval_config("mgsm/direct/mgsm_direct_de.yaml")
    cot = _lm_eval_config("mgsm/native_cot/mgsm_native_cot_de.yaml")
    assert {p["name"] for p in direct["filter_list"]} == {"remove_whitespace", "flexible-extract"}
    assert {p["name"] for p in cot["filter_list"]} == {"strict-match", "flexible-extract"}
    data = tmp_path / "mgsm"
    write_tsv(data / "mgsm_de.tsv", None, [[f"Frage {i}?", gold] for i, (_, gold) in enumerate(MGSM_EDGE)])
    for task, cfg, strict in ((mgsm.run, direct, "remove_whitespace"), (mgsm._run_cot, cot, "strict-match")):
        samples, _ = task(_Outputs(o for o, _ in MGSM_EDGE), data, "deu_Latn", TaskOptions())
        for s, (output, gold) in zip(samples, MGSM_EDGE):
            theirs = _lm_eval_mgsm(cfg, output, gold)
            ours = {strict: s["exact_match_strict"], "flexible-extract": s["exact_match"]}
            assert ours == theirs, (cfg["task"], output, gold, s["extracted"], s["extracted_strict"])
    # the direct strict metric, in numbers: emma's first version scored these four 1
    samples, _ = mgsm.run(_Outputs(["$ 18", ". 18", "18 .", "18"]), data, "deu_Latn", TaskOptions(limit=4, limit_mode="first"))
    assert [s["exact_match_strict"] for s in samples] == [0.0, 0.0, 0.0, 1.0]


def test_mgsm_hub_shots_come_from_its_train_split(monkeypatch):
    """From the hub, shots are the train split's 8 exemplars (lm-eval's few-shot split), drawn per
    item with the seed, written as lm-eval writes them (the exemplar's question as it is)."""
    from emma.eval.tasks import mgsm

    test = [{"question": f"Wie viel ist {i} + {i}?", "answer": None, "answer_number": 2 * i} for i in range(6)]
    train = [
        {"question": f"Frage: Beispiel {j}?", "answer": f"Schritt-für-Schritt-Antwort: Rechnung {j}. Die Antwort lautet {j}.", "answer_number": j}
        for j in range(8)
    ]
    asked = []

    def hub_rows(dataset, config, split, task):
        asked.append((dataset, config, split))
        return {"test": test, "train": train}[split]

    monkeypatch.setattr(mgsm, "hub_rows", hub_rows)
    for task, word in ((mgsm.run, "Antwort:"), (mgsm._run_cot, "Schritt-für-Schritt-Antwort:")):
        samples, _ = task(_Outputs([" 0"] * 6), None, "deu_Latn", TaskOptions(shots=2))
        assert ("juletxara/mgsm", "de", "train") in asked
        for s in samples:
            assert s["shot_split"] == "train" and len(s["shots"]) == 2 and all(0 <= j < 8 for j in s["shots"])
            for j in s["shots"]:
                answer = f"Rechnung {j}. Die Antwort lautet {j}." if word != "Antwort:" else str(j)
                assert f"Frage: Beispiel {j}?\n{word} {answer}\n\n" in s["context"]
            assert s["context"].endswith(f"Frage: {test[s['id']]['question']}\n{word}")
        assert len({tuple(s["shots"]) for s in samples}) > 1  # per item, seeded: not one fixed prefix


def test_exact_match_is_lm_evals_function():
    import itertools

    from lm_eval.api.metrics import exact_match_hf_evaluate

    from emma.eval.tasks.mgsm import exact_match

    preds = [o for o, _ in MGSM_EDGE] + ["İ\x00", "1,\x00", ",İ\x00", "ǅ18", "Σ18", "x18"]
    golds = ["18", "1000", "-18", "i̇18", "i̇", "", "ǆ18"]
    settings = [
        {},
        {"ignore_case": True},
        {"ignore_case": True, "ignore_punctuation": True},
        {"ignore_punctuation": True, "regexes_to_ignore": [",", r"\$", "x"]},
        {"ignore_case": True, "ignore_punctuation": True, "regexes_to_ignore": [r"\s+"]},
    ]
    for p, g, kw in itertools.product(preds, golds, settings):
        assert exact_match(p, g, **kw) == bool(exact_match_hf_evaluate(predictions=[p], references=[g], **kw)["exact_match"]), (p, g, kw)


def test_acc_and_acc_norm_are_lm_evals():
    """`acc_norm` divides by the choice's length in characters without the leading space, as
    lm-eval's process_results does; run lm-eval's own method on the same log-likelihoods."""
    import random
    from types import SimpleNamespace

    from lm_eval.api.task import ConfigurableTask

    from emma.eval.loglikelihood import LogLikelihood
    from emma.eval.tasks._mc import score

    rnd = random.Random(0)
    items, lls = [], []
    for n in range(200):
        choices = ["".join(rnd.choice("ab ") for _ in range(rnd.randint(1, 12))) for _ in range(rnd.randint(2, 5))]
        items.append({"id": n, "context": "Q:", "choices": choices, "target": rnd.randrange(len(choices))})
        lls.append([-rnd.uniform(0.1, 30) for _ in choices])
    # the case that tells the two lengths apart: "A" (-2) vs "BB" (-3.5): per char -2 vs -1.75, with the space -1 vs -1.17
    items.append({"id": "space", "context": "Q:", "choices": ["A", "BB"], "target": 1})
    lls.append([-2.0, -3.5])

    class Fixed:
        def loglikelihood(self, requests, *, first_token_only=False, progress=None):
            return [LogLikelihood(v, False, 1) for v in (x for row in lls for x in row)]

    samples, _ = score(Fixed(), items, TaskOptions())  # type: ignore[arg-type]
    for it, ll, s in zip(items, lls, samples):
        stub = SimpleNamespace(
            config=SimpleNamespace(process_results=None),
            _metric_fn_list={"acc": None, "acc_norm": None},
            OUTPUT_TYPE="multiple_choice",
            multiple_input=False,
            multiple_target=False,
            doc_to_choice=lambda doc: doc["choices"],
            doc_to_target=lambda doc: doc["target"],
        )
        theirs = ConfigurableTask.process_results(stub, it, [(v, False) for v in ll])  # type: ignore[arg-type]
        assert (s["acc"], s["acc_norm"]) == (theirs["acc"], theirs["acc_norm"]), it
    assert samples[-1]["prediction_norm"] == 1 and samples[-1]["acc_norm"] == 1.0


def test_mgsm_on_real_data(tmp_path, tiny_model_dir):
    data = need(SHARED / "mgsm")
    out = tmp_path / "eval"
    first = TaskOptions(shots=1, limit=2, max_new_tokens=6, limit_mode="first", shot_pool="lm-eval")
    scores = evaluate([str(tiny_model_dir)], ["mgsm_direct"], out, langs="de,sw", data_dir=str(data), options=first)
    evaluate([str(tiny_model_dir)], ["mgsm_cot"], out, langs="sw", data_dir=str(data), options=TaskOptions(limit=1, max_new_tokens=6))
    assert only(scores)["mgsm_direct"]["deu_Latn"]["n"] == 2
    s = samples_of(out, tiny_model_dir, "mgsm_direct", "deu_Latn")[0]
    assert s["context"].startswith("Frage: ") and s["context"].endswith("\nAntwort:") and s["target"] == "18" and "Antwort: 3\n\n" in s["context"]
    assert s["context"].count("Frage:") == 2  # one shot + the item
    assert str(s["id"]) == "0" and [str(j) for j in s["shots"]] == ["1"] and s["shot_split"] == "test"  # lm-eval's first_n
    # the default: a seeded sample of items, each shown other test items drawn with the seed
    sampled = evaluate(
        [str(tiny_model_dir)],
        ["mgsm_direct"],
        tmp_path / "e2",
        langs="de",
        data_dir=str(data),
        options=TaskOptions(shots=2, limit=3, max_new_tokens=2),
    )
    assert only(sampled)["mgsm_direct"]["deu_Latn"]["n"] == 3
    rows = (data / "mgsm_de.tsv").read_text(encoding="utf-8").splitlines()
    for s in samples_of(tmp_path / "e2", tiny_model_dir, "mgsm_direct", "deu_Latn"):
        i, shots = int(s["id"]), [int(j) for j in s["shots"]]  # row indices (the harness may write ids as strings)
        assert s["context"].endswith(f"Frage: {rows[i].split(chr(9))[0]}\nAntwort:") and len(shots) == 2 and i not in shots
        assert all(f"Frage: {rows[j].split(chr(9))[0]}\nAntwort: " in s["context"] for j in shots)
    cot = samples_of(out, tiny_model_dir, "mgsm_cot", "swa_Latn")[0]
    assert cot["context"].endswith("\nJibu la Hatua kwa Hatua:")
    with pytest.raises(EmmaError, match="rationales"):
        evaluate(
            [str(tiny_model_dir)],
            ["mgsm_cot"],
            tmp_path / "x",
            langs="de",
            data_dir=str(data),
            options=TaskOptions(shots=2, limit=1, max_new_tokens=2),
        )


# --- generation -----------------------------------------------------------------------------


def test_batched_left_padded_generation_equals_one_at_a_time(smollm2):
    from emma.eval.generation import GenRequest, cut_at_stops, generate

    prompts = ["The capital of France is", "One, two, three, four,", "Hello"]
    reqs = [GenRequest(p, max_new_tokens=6, until=()) for p in prompts]
    batched = generate(smollm2.model, smollm2.tokenizer, reqs, batch_size=3)
    single = [generate(smollm2.model, smollm2.tokenizer, [r], batch_size=1)[0] for r in reqs]
    assert batched == single and all(batched)
    assert cut_at_stops("a\nb", ("\n",)) == "a" and cut_at_stops("x Frage: y", ("Frage:", "</s>")) == "x "


# --- FLORES-200 -----------------------------------------------------------------------------


def test_flores200_any_direction_on_sib200_layout(tmp_path, tiny_model_dir):
    import sacrebleu

    data = need(SIB200)
    out = tmp_path / "eval"
    groups = {"fra_Latn": "high", "deu_Latn": "high", "swh_Latn": "low"}
    scores = evaluate(
        [str(tiny_model_dir)],
        ["flores200"],
        out,
        langs="fra_Latn-deu_Latn,swh",
        data_dir=str(data),
        groups=groups,
        options=TaskOptions(shots=1, limit=3, max_new_tokens=8),
    )
    t = only(scores)["flores200"]
    assert {"fra_Latn-deu_Latn", "eng_Latn-swh_Latn", "swh_Latn-eng_Latn"} <= set(t)
    assert set(t["_groups"]) == {"high", "low"} and t["_groups"]["low"]["languages"] == 2
    samples = samples_of(out, tiny_model_dir, "flores200", "fra_Latn-deu_Latn")
    assert len(samples) == 3 and samples[0]["context"].count("French phrase:") == 2
    assert samples[0]["context"].endswith("\nGerman phrase:")
    refs = [[s["reference"] for s in samples]]
    hyps = [s["prediction"] for s in samples]
    assert t["fra_Latn-deu_Latn"]["chrf"] == pytest.approx(sacrebleu.CHRF(word_order=2).corpus_score(hyps, refs).score)
    meta = json.loads((result_dir(out) / "flores200" / "fra_Latn-deu_Latn.json").read_text())
    assert meta["signatures"]["chrf"].startswith("nrefs:1|") and "nw:2" in meta["signatures"]["chrf"]
    assert "tok:13a" in meta["signatures"]["bleu"]


def test_flores200_scores_are_lm_evals_bleu_and_chrfpp(tmp_path):
    """emma's corpus BLEU and chrF++ equal lm-eval's `bleu` and `chrf++` aggregations (sacrebleu
    defaults: 13a, exponential smoothing; chrF++ = char order 6, word order 2)."""
    from lm_eval.api.metrics import bleu, chrfpp

    from emma.eval.tasks.flores import run

    refs = ["Le chat est sur le tapis.", "Il pleut à Paris aujourd'hui.", "Où est la gare ?", "J'aime le café noir."]
    for split, name in (("dev", "dev"), ("devtest", "devtest")):
        (tmp_path / split).mkdir()
        (tmp_path / split / f"eng_Latn.{name}").write_text("".join(f"Sentence {i}.\n" for i in range(4)), encoding="utf-8")
        (tmp_path / split / f"fra_Latn.{name}").write_text("".join(r + "\n" for r in refs), encoding="utf-8")
    hyps = ["Le chat est sur le tapis", "Il pleut à Paris.", "Où est la gare?", "Je aime café noir."]
    samples, scores = run(_Outputs(hyps), tmp_path, "eng_Latn-fra_Latn", TaskOptions())
    pairs = [(s["reference"], s["prediction"]) for s in samples]
    assert scores["bleu"] == pytest.approx(bleu(pairs)) and scores["chrf"] == pytest.approx(chrfpp(pairs))


def test_rouge_l_is_rouge_scores_on_ascii_text():
    """The Unicode tokenizer changes nothing where rouge-score's own works (lower-cased ASCII words)."""
    from rouge_score import rouge_scorer

    from emma.eval.tasks.summarization import rouge_l

    theirs = rouge_scorer.RougeScorer(["rougeL"])
    pairs = [
        ("The cat sat on the mat.", "A cat was sitting on the mat"),
        ("Prices rose 5% in May, officials said.", "Officials said prices rose in May"),
        ("It's raining in London", "it is raining in london today"),
        ("", "Nothing here"),
    ]
    for pred, ref in pairs:
        assert rouge_l(pred, ref) == pytest.approx(theirs.score(ref, pred)["rougeL"].fmeasure), (pred, ref)


def test_flores200_language_selection():
    from emma.eval.tasks.flores import select

    avail = ["eng_Latn", "fra_Latn", "zho_Hant"]
    assert select(None, "fr->zh-Hant", avail, {}) == ["fra_Latn-zho_Hant"]
    assert select(None, "all", avail, {}) == ["eng_Latn-fra_Latn", "fra_Latn-eng_Latn", "eng_Latn-zho_Hant", "zho_Hant-eng_Latn"]
    with pytest.raises(EmmaError, match="not available here"):
        select(None, "deu_Latn", avail, {})


# --- summarisation --------------------------------------------------------------------------


def test_rouge_tokenizer_is_multilingual():
    from emma.eval.tasks.summarization import UnicodeTokenizer, rouge_l

    tok = UnicodeTokenizer()
    assert tok.tokenize("नमस्ते दुनिया!") == ["नमस्ते", "दुनिया"]  # combining vowel signs stay in the word
    assert tok.tokenize("我爱北京。") == ["我", "爱", "北", "京"]
    assert rouge_l("Привет мир", "привет мир") == pytest.approx(1.0)
    assert 0 < rouge_l("the cat sat", "a cat sat down") < 1


def test_xlsum_and_massivesumm_layouts(tmp_path, tiny_model_dir):
    docs = [{"id": f"d{i}", "text": f"Story number {i} about the river and the town.", "summary": f"River story {i}."} for i in range(3)]
    write_jsonl(tmp_path / "xlsum" / "swahili_test.jsonl", docs)
    write_jsonl(tmp_path / "xlsum" / "swahili_train.jsonl", docs[:1])
    write_jsonl(tmp_path / "massive" / "swh.all.jsonl", docs)
    out = tmp_path / "eval"
    opts = TaskOptions(shots=1, limit=2, max_new_tokens=5)
    a = evaluate([str(tiny_model_dir)], ["xlsum"], out, langs="all", data_dir=str(tmp_path / "xlsum"), options=opts)
    b = evaluate([str(tiny_model_dir)], ["massivesumm"], out, langs="swh", data_dir=str(tmp_path / "massive"), options=opts)
    assert only(a)["xlsum"]["swh_Latn"]["n"] == 2
    assert only(b)["massivesumm"]["swh_Latn"]["n"] == 2
    s = samples_of(out, tiny_model_dir, "xlsum", "swh_Latn")[0]
    assert s["context"].count("Document: ") == 2 and s["context"].endswith("\nSummary:") and 0 <= s["rougeL"] <= 1


# --- PolyWrite ------------------------------------------------------------------------------


def test_self_bleu_and_script_check():
    from emma.eval.tasks.polywrite import in_script, self_bleu

    assert self_bleu(["the same text here"] * 3) == pytest.approx(100.0)
    assert self_bleu(["a quick brown fox", "lorem ipsum dolor sit", "zebras eat grass daily"]) < 10
    assert in_script("Watu wote wamezaliwa huru", "swh_Latn") and not in_script("Все люди рождаются", "swh_Latn")
    assert in_script("すべての人間は生まれながらにして自由", "jpn_Jpan")


def test_polywrite_run(tmp_path, tiny_model_dir):
    rows = [{"category": "story", "name": f"p{i}", "prompt_en": "Write a story.", "prompt_translated": f"Andika hadithi {i}."} for i in range(3)]
    write_jsonl(tmp_path / "pw" / "swh_Latn.jsonl", rows)
    out = tmp_path / "eval"
    scores = evaluate([str(tiny_model_dir)], ["polywrite"], out, langs="swh", data_dir=str(tmp_path / "pw"), options=TaskOptions(max_new_tokens=6))
    s = only(scores)["polywrite"]["swh_Latn"]
    assert s["n"] == 3 and 0 <= s["in_script"] <= 1 and s["self_bleu"] >= 0 and "in_language" not in s
    with pytest.raises(EmmaError, match="--lid-model .* not found"):
        evaluate(
            [str(tiny_model_dir)],
            ["polywrite"],
            tmp_path / "e2",
            langs="swh",
            data_dir=str(tmp_path / "pw"),
            options=TaskOptions(max_new_tokens=2, lid_model=str(tmp_path / "nope.bin")),
        )


def test_polywrite_language_check_with_a_fasttext_model(tmp_path):
    from emma.eval.tasks.polywrite import lid_labels
    from emma.lid import FastTextSettings, load_labelled, train_lid

    pairs = [p for p in load_labelled(need(SIB200), "train") if p[1] in ("eng_Latn", "swh_Latn", "fra_Latn")]
    model = train_lid(pairs, tmp_path / "lid.bin", FastTextSettings(epoch=10, threads=1))
    assert lid_labels(
        model, ["Watu wote wamezaliwa huru na sawa kwa utu na haki.", "Tous les êtres humains naissent libres et égaux en dignité et en droits."]
    ) == ["swh_Latn", "fra_Latn"]


def test_taxi1500_uses_its_labels(tmp_path, tiny_model_dir):
    from emma.eval.tasks.topic import TAXI1500_LABELS

    for split in ("train", "dev", "test"):
        write_tsv(
            tmp_path / "taxi" / "eng_Latn" / f"{split}.tsv",
            ["index_id", "category", "text"],
            [["1", "Faith", "Believe and be saved."], ["2", "Violence", "They struck the city."]],
        )
    out = tmp_path / "eval"
    evaluate([str(tiny_model_dir)], ["taxi1500"], out, langs="eng", data_dir=str(tmp_path / "taxi"))
    s = samples_of(out, tiny_model_dir, "taxi1500", "eng_Latn")[0]
    assert s["choices"] == TAXI1500_LABELS and len(s["loglikelihoods"]) == 6 and ", ".join(TAXI1500_LABELS) in s["context"]
    with pytest.raises(EmmaError, match="not on the Hugging Face hub"):
        get_task("taxi1500").run(None, None, "eng_Latn", TaskOptions())
