"""`--preset emma500` on the generation tasks (FLORES-200, XL-Sum, MassiveSumm, PolyWrite, Aya):
the prompts, shots and decoding settings EMMA-500's scripts produce, character for character,
against transcriptions of their construction written here (Python's `random` called in their order,
their format strings) on data laid out as those scripts read it; the scores against the libraries
called as EMMA-500's evaluate.py calls them; and the default preset honouring --temperature, --top-p,
--max-new-tokens and --seed. A fake backend answers, so no model runs."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
import sacrebleu

from conftest import SIB200
from emma.errors import EmmaError
from emma.eval import metrics
from emma.eval.presets import options_for
from emma.eval.task import TaskOptions
from emma.eval.tasks import get_task

TASKS_DIR = Path(metrics.__file__).parent / "tasks"


class FakeBackend:
    """Generation only: records every request and answers with `answer(request, index)`."""

    name = "fake"

    def __init__(self, answer=None):
        self.requests: list = []
        self.answer = answer or (lambda r, i: f" output {i} of {len(r.context)}")

    def loglikelihood(self, requests, *, first_token_only=False, progress=None):
        raise NotImplementedError

    def nll(self, texts, *, progress=None):
        raise NotImplementedError

    def generate(self, requests, *, progress=None):
        start = len(self.requests)
        self.requests += requests
        return [self.answer(r, start + k) for k, r in enumerate(requests)]


def emma500(task: str, **fields) -> TaskOptions:
    """The options `emma eval --preset emma500` gives the task (the harness's own rule), plus `fields`."""
    return options_for(task, replace(TaskOptions(), **fields), "emma500", explicit=list(fields))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def sacrebleu_cache(tmp_path, monkeypatch):
    """An empty sacrebleu cache of the test's own (sacrebleu reads $SACREBLEU once, at import), no
    $EMMA_FLORES200_SPM, and no download: what a machine without network has."""
    from sacrebleu.tokenizers import tokenizer_spm

    cache = tmp_path / "sacrebleu-cache"
    monkeypatch.setattr(tokenizer_spm, "SACREBLEU_DIR", str(cache))
    monkeypatch.delenv(metrics.FLORES200_SPM_ENV, raising=False)

    def offline(url, dest, *a, **k):
        import urllib.error

        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("sacrebleu.utils.download_file", offline)
    return cache


@pytest.fixture
def tiny_spm(tmp_path, sacrebleu_cache, monkeypatch) -> Path:
    """A small SentencePiece model standing in for sacrebleu's flores200 one, given through $EMMA_FLORES200_SPM."""
    import sentencepiece as spm

    text = tmp_path / "spm.txt"
    text.write_text("The cat sat on the mat.\nLe chat est assis sur le tapis.\n猫坐在垫子上。\nDer Hund schläft.\n" * 20, encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(tmp_path / "tiny"), vocab_size=60, hard_vocab_limit=False, character_coverage=1.0, minloglevel=2
    )
    monkeypatch.setenv(metrics.FLORES200_SPM_ENV, str(tmp_path / "tiny.model"))
    return tmp_path / "tiny.model"


# --- the data EMMA-500's scripts carry ------------------------------------------------------------


def test_emma500_data_is_carried_verbatim():
    # sha256 of EMMA-500's evaluation/Flores-200/flores200_langs.txt and of the XL-Sum prompt table as published
    assert hashlib.sha256((TASKS_DIR / "flores200_langs.txt").read_bytes()).hexdigest() == (
        "4929f5eec59d8994dab2a77061554dd0ba6a031d2523f16e39b7903059c774dd"
    )
    assert hashlib.sha256((TASKS_DIR / "_xlsum_prompts.py").read_bytes()).hexdigest() == (
        "9eb7477a5171c7b5daab542fc204925841b0296d93b4c47ade08b2cc6852c9e7"
    )
    from emma.eval.tasks._emma500 import XLSUM_PROMPTS, flores200_name, flores200_names, xlsum_prompt_language
    from emma.eval.tasks.summarization import XLSUM

    names = flores200_names()
    assert len(names) == 204 and names["zho_Hans"] == "Chinese (Simplified)" and names["zho_Hant"] == "Chinese (Traditional)"
    assert names["ace_Arab"] == "Acehnese (Arabic script)" and names["acq_Arab"] == "Ta’izzi-Adeni Arabic" and names["eng_Latn"] == "English"
    assert flores200_name("zho_Hans") != flores200_name("zho_Hant")  # emma's default prompt calls both "Chinese"
    assert set(XLSUM_PROMPTS) == set(XLSUM.values()) and len(XLSUM_PROMPTS) == 45  # one pair per XL-Sum language
    assert XLSUM_PROMPTS["eng_Latn"] == ["Document", "Based on the previous text, provide a brief single summary:"]
    # MassiveSumm codes without a pair of their own: a macrolanguage relative in the same script, else English
    assert [xlsum_prompt_language(c) for c in ("fas_Arab", "ara_Arab", "nep_Deva", "uzb_Latn", "ita_Latn", "srp_Cyrl")] == [
        "pes_Arab",
        "arb_Arab",
        "npi_Deva",
        "uzn_Latn",
        "eng_Latn",
        "srp_Cyrl",
    ]


# --- FLORES-200 -----------------------------------------------------------------------------------

FLORES_LANGS = ("eng_Latn", "fra_Latn", "zho_Hans", "zho_Hant")


def flores_from_sib(tmp_path: Path) -> Path:
    """FLORES-200's release layout (`dev/<code>.dev`, `devtest/<code>.devtest`), built from SIB-200's
    FLORES sentences (rows with one index_id are translations), as EMMA-500's script reads it. Some
    lines carry stray white space and Windows line ends, which its readlines() + strip() removes."""
    import csv

    sib = SIB200
    if not sib.exists():
        pytest.skip(f"real data {sib} is absent (it lives in ../shared beside the checkout)")
    base = tmp_path / "flores"
    for split, name in (("dev", "dev"), ("test", "devtest")):
        (base / name).mkdir(parents=True)
        for lang in FLORES_LANGS:
            with (sib / lang / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t"))  # CSV quoting decoded, as FLORES' own files hold the sentences
            lines = [r["text"] + (" \t" if k % 7 == 3 else "") + ("\r\n" if k % 11 == 5 else "\n") for k, r in enumerate(rows)]
            (base / name / f"{lang}.{name}").write_bytes("".join(lines).encode("utf-8"))
    return base


def transcribe_flores(base: Path, src: str, tgt: str, nshots: int = 3, seed: int = 42) -> list[str]:
    """EMMA-500's eval_flores200.py prompt construction, transcribed: names from flores200_langs.txt,
    files read with readlines() and strip(), the module-level `random` seeded and called in its order."""
    names = {}
    for line in (TASKS_DIR / "flores200_langs.txt").read_text(encoding="utf-8").splitlines():
        name, code = line.split(" | ")
        names[code] = name
    src_name, tgt_name = names[src], names[tgt]

    def read(split: str, lang: str) -> list[str]:
        with open(base / split / f"{lang}.{split}", encoding="utf-8") as f:
            return [x.strip() for x in f.readlines()]

    dev_src, dev_tgt, devtest_src = read("dev", src), read("dev", tgt), read("devtest", src)
    state = random.getstate()
    try:
        random.seed(seed)
        seeds = [random.randint(0, 1000) for _ in range(len(devtest_src))]
        prompts = []
        for i in range(len(devtest_src)):
            random.seed(seeds[i])
            idx = [random.randint(0, len(dev_src) - 1) for _ in range(nshots)]
            prompt = ""
            for j in idx:
                prompt += f"[{src_name}]: {dev_src[j]}\n[{tgt_name}]: {dev_tgt[j]}\n"
            prompt += f"Translate the following sentence from {src_name} to {tgt_name}\n[{src_name}]: {devtest_src[i]}\n[{tgt_name}]:"
            prompts.append(prompt)
    finally:
        random.setstate(state)
    return prompts


@pytest.mark.parametrize("pair", ["zho_Hant-eng_Latn", "eng_Latn-zho_Hans", "fra_Latn-eng_Latn"])
def test_flores200_prompts_and_decoding_are_emma500s(tmp_path, tiny_spm, pair):
    base = flores_from_sib(tmp_path)
    src, tgt = pair.split("-")
    expected = transcribe_flores(base, src, tgt)
    fake = FakeBackend(lambda r, i: f" hypothesis {i} \t")
    opts = emma500("flores200")
    assert (opts.shots, opts.seed, opts.temperature, opts.top_p, opts.max_new_tokens) == (3, 42, 0.6, 0.9, 2048)
    samples, scores = get_task("flores200").run(fake, str(base), pair, opts)
    assert [r.context for r in fake.requests] == expected  # every devtest item, character for character
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.until, r.seed) for r in fake.requests} == {(0.6, 0.9, 2048, ("\n",), 42)}
    assert samples[0]["prediction"] == " hypothesis 0 \t"  # scored as generated, not stripped
    assert all(len(s["shots"]) == 3 and s["shot_split"] == "dev" for s in samples)
    # --limit: the sampled items keep the shots they have in the full run (the seeds cover every devtest sentence)
    part, _ = get_task("flores200").run(FakeBackend(), str(base), pair, replace(opts, limit=7))
    assert len(part) == 7 and all(s["context"] == expected[int(s["id"])] for s in part)
    # scores: spBLEU (flores200 tokenisation), chrF++ and 13a BLEU, as sacrebleu gives them
    hyps, refs = [s["prediction"] for s in samples], [[s["reference"] for s in samples]]
    assert scores["spbleu"] == pytest.approx(sacrebleu.BLEU(tokenize="flores200").corpus_score(hyps, refs).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.CHRF(word_order=2).corpus_score(hyps, refs).score)
    assert scores["bleu"] == pytest.approx(sacrebleu.BLEU().corpus_score(hyps, refs).score)
    assert "tok:flores200" in scores["signatures"]["spbleu"] and "nw:2" in scores["signatures"]["chrf"]


def test_flores200_preset_on_the_sib200_layout_gives_the_same_prompts(tmp_path, tiny_spm):
    base = flores_from_sib(tmp_path)
    opts = emma500("flores200", limit=5)
    a, b = FakeBackend(), FakeBackend()
    from_flores, _ = get_task("flores200").run(a, str(base), "eng_Latn-zho_Hant", opts)
    from_sib, _ = get_task("flores200").run(b, str(SIB200), "eng_Latn-zho_Hant", opts)
    assert [r.context for r in a.requests] == [r.context for r in b.requests]
    assert "[Chinese (Traditional)]:" in from_sib[0]["context"] and from_sib[0]["context"].startswith("[English]: ")


def test_flores200_shot_count_and_seed_follow_the_options(tmp_path, tiny_spm):
    base = flores_from_sib(tmp_path)
    fake = FakeBackend()
    get_task("flores200").run(fake, str(base), "fra_Latn-eng_Latn", emma500("flores200", shots=1, seed=7, limit=3))
    full = transcribe_flores(base, "fra_Latn", "eng_Latn", nshots=1, seed=7)
    assert all(r.context in full and r.context.count("[French]: ") == 2 for r in fake.requests)
    zero = FakeBackend()
    get_task("flores200").run(zero, str(base), "fra_Latn-eng_Latn", emma500("flores200", shots=0, limit=2))
    assert zero.requests[0].context.startswith("Translate the following sentence from French to English\n[French]: ")


def test_flores200_spm_model_absent_and_not_downloadable_is_one_clear_error(tmp_path, sacrebleu_cache):
    with pytest.raises(
        EmmaError, match=r"flores200 SentencePiece model.*not at .*flores200sacrebleuspm.*could not be downloaded.*EMMA_FLORES200_SPM="
    ):
        metrics.ensure_flores200_spm()
    assert not (sacrebleu_cache / "models" / "flores200sacrebleuspm").exists()  # no empty file left behind
    base = tmp_path / "fl"
    for split in ("dev", "devtest"):
        for lang in ("eng_Latn", "fra_Latn"):
            (base / split).mkdir(parents=True, exist_ok=True)
            (base / split / f"{lang}.{split}").write_text("One.\nTwo.\n", encoding="utf-8")
    fake = FakeBackend()
    with pytest.raises(EmmaError, match="spBLEU needs"):
        get_task("flores200").run(fake, str(base), "eng_Latn-fra_Latn", emma500("flores200"))
    assert fake.requests == []  # checked before any generation
    with pytest.raises(EmmaError, match="no such file"):
        metrics.ensure_flores200_spm(tmp_path / "missing.model")


def test_flores200_spbleu_can_be_switched_off_explicitly(tmp_path, sacrebleu_cache, monkeypatch):
    """Where sacrebleu's flores200 model cannot be had, EMMA_FLORES200_SPM=off runs everything else as
    EMMA-500 did and records that spBLEU was not computed (it is never silently missing)."""
    base = flores_from_sib(tmp_path)
    monkeypatch.setenv(metrics.FLORES200_SPM_ENV, "off")
    samples, scores = get_task("flores200").run(FakeBackend(lambda r, i: " a b c"), str(base), "fra_Latn-eng_Latn", emma500("flores200", limit=4))
    assert len(samples) == 4 and "spbleu" not in scores and {"chrf", "bleu"} <= set(scores)
    assert scores["spbleu_skipped"].startswith("EMMA_FLORES200_SPM=off")
    with pytest.raises(EmmaError, match="switched off"):
        metrics.ensure_flores200_spm()


def test_flores200_local_spm_model_is_linked_where_sacrebleu_looks(tmp_path, tiny_spm, sacrebleu_cache):
    path = metrics.ensure_flores200_spm()
    assert path == sacrebleu_cache / "models" / "flores200sacrebleuspm" and path.read_bytes() == tiny_spm.read_bytes()
    assert metrics.ensure_flores200_spm() == path  # again: nothing to do
    other = tmp_path / "other.model"
    other.write_bytes(b"not the same model")
    with pytest.raises(EmmaError, match="different flores200 model"):
        metrics.ensure_flores200_spm(other)


def test_spbleu_with_sacrebleus_own_flores200_model():
    """The real model, where sacrebleu has it (downloaded into its cache, or given by $EMMA_FLORES200_SPM)."""
    import os

    where = metrics.flores200_spm_path()
    if not where.is_file() and not os.environ.get(metrics.FLORES200_SPM_ENV):
        pytest.skip(
            f"sacrebleu's flores200 SentencePiece model is not at {where} and this machine cannot download it; "
            f"set {metrics.FLORES200_SPM_ENV}=/path/to/flores200sacrebleuspm to run this test"
        )
    hyps, refs = ["Le chat est sur le tapis.", "猫坐在垫子上"], [["Le chat est assis sur le tapis.", "猫坐在垫子上。"]]
    ours = metrics.spbleu().corpus_score(hyps, refs)
    assert ours.score == pytest.approx(sacrebleu.BLEU(tokenize="flores200").corpus_score(hyps, refs).score) and ours.score > 0


def test_flores200_default_preset_is_unchanged_but_honours_decoding_options(tmp_path):
    base = tmp_path / "fl"
    for split in ("dev", "devtest"):
        for lang in ("eng_Latn", "fra_Latn"):
            (base / split).mkdir(parents=True, exist_ok=True)
            (base / split / f"{lang}.{split}").write_text("".join(f" {lang} {split} {i}.\n" for i in range(4)), encoding="utf-8")
    fake = FakeBackend(lambda r, i: "  padded  ")
    samples, scores = get_task("flores200").run(fake, str(base), "eng_Latn-fra_Latn", TaskOptions(shots=1))
    assert fake.requests[0].context.endswith("\n\nEnglish phrase:  eng_Latn devtest 0.\nFrench phrase:")
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.until) for r in fake.requests} == {(0.0, 1.0, 256, ("\n",))}
    assert samples[0]["prediction"] == "padded" and "spbleu" not in scores
    tuned = FakeBackend()
    get_task("flores200").run(tuned, str(base), "eng_Latn-fra_Latn", TaskOptions(temperature=0.8, top_p=0.5, max_new_tokens=9, seed=3))
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.seed) for r in tuned.requests} == {(0.8, 0.5, 9, 3)}


# --- Self-BLEU --------------------------------------------------------------------------------------


def transcribe_self_bleu(outputs: list[str]) -> float:
    """EMMA-500's evaluate.py Self-BLEU, transcribed: one BLEU(), corpus_score([output], [others])."""
    bleu = sacrebleu.BLEU()
    scores = []
    for i in range(len(outputs)):
        others = outputs[:i] + outputs[i + 1 :]
        scores.append(bleu.corpus_score([outputs[i]], [others]).score)
    return sum(scores) / len(scores)


OUTPUT_SETS = [
    ["the cat sat on the mat today", "completely different words are here now", "the cat sat on the mat today"],
    ["a b c d e f", "a b c d x y", "a b c d e f g", "", "q r s t u v", "a b c d e f"],
    [f"word{i % 5} common phrase number {i} and then some more words {i % 3}" for i in range(12)],
    ["Watu wote wamezaliwa huru na sawa kwa utu na haki.", "Watu wote wamezaliwa huru.", "Kila mtu ana haki ya kuishi."],
]


@pytest.mark.parametrize("outputs", OUTPUT_SETS)
def test_self_bleu_emma500_is_evaluate_pys_and_reads_only_the_first_other(outputs):
    assert metrics.self_bleu_emma500(outputs) == pytest.approx(transcribe_self_bleu(outputs), abs=1e-9)
    # what sacrebleu does with [others]: one reference stream, so output i meets others[0] alone
    bleu = sacrebleu.BLEU()
    for i, out in enumerate(outputs):
        others = outputs[:i] + outputs[i + 1 :]
        assert bleu.corpus_score([out], [others]).score == bleu.corpus_score([out], [[others[0]]]).score
    multi = [bleu.corpus_score([o], [[x] for j, x in enumerate(outputs) if j != i]).score for i, o in enumerate(outputs)]
    assert metrics.self_bleu(outputs) == pytest.approx(sum(multi) / len(multi), abs=1e-9)


def test_corrected_self_bleu_differs_where_others0_is_not_the_closest():
    outputs = OUTPUT_SETS[0]  # output 0's twin is output 2, but EMMA-500's computation compares it with output 1
    # emma500: output 0 against output 1 (0), output 1 against output 0 (0), output 2 against output 0, its twin (100)
    assert metrics.self_bleu_emma500(outputs) == pytest.approx((0.0 + 0.0 + 100.0) / 3, abs=1e-6)
    # corrected: outputs 0 and 2 each find their twin among the others (100), output 1 finds nothing (0)
    assert metrics.self_bleu(outputs) == pytest.approx((100.0 + 0.0 + 100.0) / 3, abs=1e-6)
    swapped = [outputs[1], outputs[0], outputs[2]]  # the corrected one does not depend on the order
    assert metrics.self_bleu(swapped) == pytest.approx(metrics.self_bleu(outputs))
    assert metrics.self_bleu_emma500(swapped) != pytest.approx(metrics.self_bleu_emma500(outputs))
    for few in ([], ["only one"]):
        assert metrics.self_bleu(few) != metrics.self_bleu(few) and metrics.self_bleu_emma500(few) != metrics.self_bleu_emma500(few)  # nan


# --- ROUGE with EMMA-500's filter, BERTScore ----------------------------------------------------------


def transcribe_rouge(hyps: list[str], refs: list[str]) -> float:
    """EMMA-500's evaluate.py: outputs that are empty or dots alone dropped (their references with
    them), then the `rouge` package's averaged ROUGE-L F."""
    from rouge import Rouge

    pairs = [(h, r) for h, r in zip(hyps, refs) if len(h) > 0 and not re.fullmatch(r"\.+", h)]
    return Rouge().get_scores([h for h, _ in pairs], [r for _, r in pairs], avg=True, ignore_empty=True)["rouge-l"]["f"]


SUMMARY_HYPS = ["The river flooded the town.", "", "...", "A storm hit. Many people left", " ", "Rain . fell on Monday", "."]
SUMMARY_REFS = ["The town was flooded by the river.", "Nothing.", "Dots.", "A storm forced many people to leave.", "Blank.", "Rain fell.", "x"]


def test_rouge_l_emma500_is_the_rouge_packages_after_emma500s_filter():
    value, per = metrics.rouge_l_emma500(SUMMARY_HYPS, SUMMARY_REFS)
    assert value == pytest.approx(transcribe_rouge(SUMMARY_HYPS, SUMMARY_REFS), rel=1e-12)
    assert metrics.emma500_kept(SUMMARY_HYPS) == [True, False, False, True, True, True, False]
    assert [v is None for v in per] == [False, True, True, False, False, False, True]
    assert metrics.rouge_l_emma500(["", ".."], ["a", "b"])[0] != metrics.rouge_l_emma500(["", ".."], ["a", "b"])[0]  # nan: nothing scored


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer BERT with random weights and a 40-word vocabulary, saved as a local model folder."""
    pytest.importorskip("bert_score", reason="bert-score is not installed (pip install 'emma[emma500]')")
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    out = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz.", "the", "river", "town", "storm", "rain", "fell"]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizer(str(out / "vocab.txt"), model_max_length=128).save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, max_position_embeddings=128
    )
    BertModel(config).save_pretrained(out)
    return out


def test_bertscore_with_a_local_model_is_bert_scores(tiny_bert):
    import bert_score

    hyps, refs = ["the river flooded the town.", "rain fell"], ["the town was flooded by the river.", "rain fell on monday"]
    f1, info = metrics.bertscore_f1(hyps, refs, str(tiny_bert))
    _, _, theirs = bert_score.score(hyps, refs, model_type=str(tiny_bert), num_layers=2, lang=None, rescale_with_baseline=False)
    assert f1 == pytest.approx([float(v) for v in theirs], abs=1e-6) and info == {"model": str(tiny_bert), "num_layers": 2}
    f1_layer1, info1 = metrics.bertscore_f1(hyps, refs, f"{tiny_bert}:1")  # `:N` picks the layer
    assert info1["num_layers"] == 1 and f1_layer1 != pytest.approx(f1)


def test_bertscore_without_a_loadable_model_is_skipped_with_a_note(tmp_path):
    pytest.importorskip("bert_score", reason="bert-score is not installed (pip install 'emma[emma500]')")
    f1, info = metrics.bertscore_f1(["a"], ["b"], str(tmp_path / "no-such-model"))
    assert f1 is None and "could not load" in info["skipped"]
    assert metrics.bertscore_f1(["a"], ["b"], str(tmp_path / "no-such-model")) == (None, info)  # not tried again in this process


# --- XL-Sum and MassiveSumm ------------------------------------------------------------------------

XLSUM_DOCS = {
    # EMMA-500's layout (`<name>.jsonl`, the test split) and XL-Sum's (`<name>_test.jsonl`) side by side
    "english.jsonl": ("eng_Latn", "  Floods hit the valley.\nResidents left their homes.  "),
    "chinese_simplified.jsonl": ("zho_Hans", "洪水袭击了山谷。居民离开了家园。"),
    "amharic_test.jsonl": ("amh_Ethi", "ጎርፍ ሸለቆውን መታ።"),
    "punjabi.jsonl": ("pan_Guru", "ਹੜ੍ਹ ਨੇ ਘਾਟੀ ਨੂੰ ਮਾਰਿਆ।"),
}


def xlsum_dir(tmp_path: Path) -> Path:
    root = tmp_path / "xlsum"
    for name, (_, text) in XLSUM_DOCS.items():
        write_jsonl(root / name, [{"id": f"{name}-{i}", "text": f"{text} ({i})", "summary": f"Summary {i}."} for i in range(4)])
    return root


def transcribe_xlsum(lang: str, text: str) -> str:
    """eval_xlsum.py: f"{P[code][0]}: {text}\\n{P[code][1]}:" with its prompt table, the text whole."""
    from emma.eval.tasks._xlsum_prompts import XLSUM_PROMPTS as P

    return f"{P[lang][0]}: {text}\n{P[lang][1]}:"


def test_xlsum_prompts_decoding_and_scores_are_emma500s(tmp_path):
    root = xlsum_dir(tmp_path)
    no_bert = str(tmp_path / "no-bert")  # a model that is not there: BERTScore skipped at once (the hub id would be tried online)
    task = get_task("xlsum")
    assert task.languages(str(root)) == sorted(lang for lang, _ in XLSUM_DOCS.values())
    answers = ["The floods came.", "", "...", "Residents left"]
    for lang, text in XLSUM_DOCS.values():
        fake = FakeBackend(lambda r, i: answers[i % 4])
        opts = emma500("xlsum", bertscore_model=no_bert)
        samples, scores = task.run(fake, str(root), lang, opts)
        assert [r.context for r in fake.requests] == [transcribe_xlsum(lang, f"{text} ({i})") for i in range(4)]
        assert {(r.temperature, r.top_p, r.max_new_tokens, r.until, r.seed) for r in fake.requests} == {(0.6, 0.9, 64, (), opts.seed)}
        refs = [s["reference"] for s in samples]
        assert scores["rougeL"] == pytest.approx(transcribe_rouge(answers, refs), rel=1e-12)
        assert scores["n"] == 4 and scores["n_scored"] == 2 and [s["scored"] for s in samples] == [True, False, False, True]
        assert scores["prompt_language"] == lang
    assert fake.requests[0].context.startswith("ਦਸਤਾਵੇਜ਼: ")
    eng, _ = task.run(FakeBackend(), str(root), "eng_Latn", emma500("xlsum", bertscore_model=no_bert))
    # the English pair's instruction ends with its own colon, and the format adds one: EMMA-500's prompt ends "summary::"
    assert (
        eng[0]["context"]
        == "Document:   Floods hit the valley.\nResidents left their homes.   (0)\nBased on the previous text, provide a brief single summary::"
    )
    with pytest.raises(EmmaError, match="zero-shot"):
        task.run(FakeBackend(), str(root), "eng_Latn", emma500("xlsum", shots=1, bertscore_model=no_bert))


def test_xlsum_bertscore_skipped_or_computed(tmp_path, tiny_bert):
    root = xlsum_dir(tmp_path)
    answers = ["the river", "", "rain fell", "the town"]
    task = get_task("xlsum")
    _, skipped = task.run(FakeBackend(lambda r, i: answers[i]), str(root), "eng_Latn", emma500("xlsum", bertscore_model=str(tmp_path / "none")))
    assert "bertscore_f1" not in skipped and "could not load" in skipped["bertscore"]["skipped"] and skipped["rougeL"] >= 0
    samples, scores = task.run(FakeBackend(lambda r, i: answers[i]), str(root), "eng_Latn", emma500("xlsum", bertscore_model=str(tiny_bert)))
    import bert_score

    kept = [0, 2, 3]  # the empty output is dropped, with its reference
    _, _, f1 = bert_score.score([answers[i] for i in kept], [samples[i]["reference"] for i in kept], model_type=str(tiny_bert), num_layers=2)
    assert scores["bertscore_f1"] == pytest.approx(float(f1.mean()), abs=1e-6) and samples[1]["bertscore_f1"] is None


def test_massivesumm_subsets_local_and_hub(tmp_path, monkeypatch):
    rows = [{"text": f"Doc {i}.", "summary": f"Sum {i}."} for i in range(3)]
    write_jsonl(tmp_path / "long" / "fas_test.jsonl", rows)
    write_jsonl(tmp_path / "long" / "ita.jsonl", rows)
    write_jsonl(tmp_path / "long" / "ita_train.jsonl", rows)  # another split: not a language
    task = get_task("massivesumm_long")
    assert task.languages(str(tmp_path / "long")) == ["fas_Arab", "ita_Latn"] and task.languages(None) is None
    fake = FakeBackend()
    no_bert = str(tmp_path / "no-bert")
    _, scores = task.run(fake, str(tmp_path / "long"), "fas_Arab", emma500("massivesumm_long", bertscore_model=no_bert))
    assert fake.requests[0].context == transcribe_xlsum("pes_Arab", "Doc 0.") and scores["prompt_language"] == "pes_Arab"
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.until) for r in fake.requests} == {(0.6, 0.9, 64, ())}  # XL-Sum's decoding
    fake = FakeBackend()
    task.run(fake, str(tmp_path / "long"), "ita_Latn", emma500("massivesumm_long", bertscore_model=no_bert))
    assert fake.requests[0].context == transcribe_xlsum("eng_Latn", "Doc 0.")  # no Italian pair: the English one
    default = FakeBackend()
    task.run(default, str(tmp_path / "long"), "ita_Latn", TaskOptions())
    assert default.requests[0].context == "Document: Doc 0.\nSummary:" and default.requests[0].until == ("\n",)

    import emma.eval.tasks.summarization as summ

    seen = []

    def hub(dataset, config, split, task_name):
        seen.append((dataset, config, split))
        return [{"language": lang, "text": f"{lang} doc {i}", "summary": "s"} for lang in ("vie", "fas", "xx-nonsense") for i in range(2)]

    monkeypatch.setattr(summ, "hub_rows", hub)
    summ._hub_groups.cache_clear()
    try:
        fake = FakeBackend()
        samples, _ = get_task("massivesumm_short").run(fake, None, "vie_Latn", emma500("massivesumm_short", bertscore_model=no_bert))
        assert seen == [("MaLA-LM/MassiveSumm_short", None, "train")] and [s["context"] for s in samples] == [
            transcribe_xlsum("vie_Latn", f"vie doc {i}") for i in range(2)
        ]
        with pytest.raises(EmmaError, match="has no rows for deu_Latn"):
            get_task("massivesumm_short").run(fake, None, "deu_Latn", emma500("massivesumm_short", bertscore_model=no_bert))
    finally:
        summ._hub_groups.cache_clear()


# --- PolyWrite ---------------------------------------------------------------------------------------


def test_polywrite_prompt_as_is_sampling_and_both_self_bleus(tmp_path):
    rows = [{"category": "ab"[i % 2], "name": f"t{i}", "prompt_translated": f"  Andika hadithi {i}.  "} for i in range(6)]
    write_jsonl(tmp_path / "pw" / "swh_Latn.jsonl", rows)
    task = get_task("polywrite")
    outs = [" Hadithi ya kwanza kuhusu mto.", "Hadithi ya pili.", " Hadithi ya kwanza kuhusu mto.", "Mto mkubwa sana.", "", "Hadithi ya pili."]
    fake = FakeBackend(lambda r, i: outs[i])
    opts = emma500("polywrite")
    samples, scores = task.run(fake, str(tmp_path / "pw"), "swh_Latn", opts)
    assert [r.context for r in fake.requests] == [r["prompt_translated"] for r in rows]  # as is: no strip, no newline
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.until, r.seed) for r in fake.requests} == {(0.6, 0.9, 512, (), opts.seed)}
    assert scores["self_bleu_emma500"] == pytest.approx(transcribe_self_bleu(outs), abs=1e-9)
    assert scores["self_bleu"] == pytest.approx(metrics.self_bleu(outs)) and scores["self_bleu"] != pytest.approx(scores["self_bleu_emma500"])
    assert [s["prediction"] for s in samples] == outs and "in_script" in scores
    default = FakeBackend(lambda r, i: outs[i])
    d_samples, _ = task.run(default, str(tmp_path / "pw"), "swh_Latn", TaskOptions(seed=5))
    assert default.requests[0].context == "Andika hadithi 0.\n" and d_samples[0]["prediction"] == "Hadithi ya kwanza kuhusu mto."
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.seed) for r in default.requests} == {(0.0, 1.0, 256, 5)}
    tuned = FakeBackend()
    task.run(tuned, str(tmp_path / "pw"), "swh_Latn", emma500("polywrite", temperature=1.0, top_p=0.5, max_new_tokens=7, seed=9))
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.seed) for r in tuned.requests} == {(1.0, 0.5, 7, 9)}  # explicit options win


# --- Aya ------------------------------------------------------------------------------------------


def transcribe_aya(outputs: list[str], targets: list[str]) -> dict:
    """EMMA-500's Aya evaluate.py on its filtered outputs: chrF++, BLEU, Self-BLEU, ROUGE-L."""
    pairs = [(o, t) for o, t in zip(outputs, targets) if len(o) > 0 and not re.fullmatch(r"\.+", o)]
    hyps, refs = [o for o, _ in pairs], [t for _, t in pairs]
    return {
        "chrf": sacrebleu.CHRF(word_order=2).corpus_score(hyps, [refs]).score,
        "bleu": sacrebleu.BLEU().corpus_score(hyps, [refs]).score,
        "self_bleu_emma500": transcribe_self_bleu(hyps),
        "rougeL": transcribe_rouge(outputs, targets),
    }


def test_aya_local_layout_prompt_decoding_and_scores(tmp_path):
    rows = [{"inputs": f"Swali la {i}?\n", "targets": f"Jibu la swali {i} ni hili."} for i in range(5)]
    write_jsonl(tmp_path / "aya" / "swh_Latn.jsonl", rows)
    task = get_task("aya")
    assert task.languages(str(tmp_path / "aya")) == ["swh_Latn"]
    outs = [" Jibu la swali 0 ni hili.", "...", "Jibu la swali", "", "Sijui jibu la swali 4."]
    fake = FakeBackend(lambda r, i: outs[i])
    opts = emma500("aya")
    samples, scores = task.run(fake, str(tmp_path / "aya"), "swh_Latn", opts)
    assert [r.context for r in fake.requests] == [r["inputs"] for r in rows]
    assert {(r.temperature, r.top_p, r.max_new_tokens, r.until, r.seed) for r in fake.requests} == {(0.6, 0.9, 256, (), opts.seed)}
    expected = transcribe_aya(outs, [r["targets"] for r in rows])
    for metric, value in expected.items():
        assert scores[metric] == pytest.approx(value, abs=1e-9), metric
    assert scores["n_scored"] == 3 and scores["self_bleu"] >= scores["self_bleu_emma500"] - 1e-9
    default = FakeBackend(lambda r, i: outs[i])
    _, d_scores = task.run(default, str(tmp_path / "aya"), "swh_Latn", TaskOptions())
    assert {(r.temperature, r.max_new_tokens) for r in default.requests} == {(0.0, 256)} and d_scores["n_scored"] == 5


def test_aya_from_the_hub_concatenates_both_configs_grouped_by_language_script(monkeypatch):
    import emma.eval.tasks.aya as aya

    def hub(dataset, config, split, task_name):
        assert (dataset, split) == ("CohereForAI/aya_evaluation_suite", "test")
        return [
            {"id": 1, "inputs": f"{config} {lang}", "targets": "t", "language": lang, "script": script}
            for lang, script in (("swh", "Latn"), ("arb", "Arab"))
        ]

    monkeypatch.setattr(aya, "hub_rows", hub)
    aya._hub_groups.cache_clear()
    try:
        fake = FakeBackend()
        samples, _ = get_task("aya").run(fake, None, "swh_Latn", emma500("aya"))
        assert [r.context for r in fake.requests] == ["aya_human_annotated swh", "dolly_machine_translated swh"]
        assert [s["id"] for s in samples] == [0, 1]  # the suite's own ids repeat across its configs
    finally:
        aya._hub_groups.cache_clear()


# --- through the harness --------------------------------------------------------------------------


def test_preset_through_the_harness_records_emma500s_settings(tmp_path, monkeypatch, tiny_spm):
    from emma.eval import backends
    from emma.eval.harness import evaluate

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    fake = FakeBackend(lambda r, i: " Un deux.")
    monkeypatch.setattr(backends, "make_backend", lambda kind, spec, options=None: fake)
    base = tmp_path / "fl"
    for split in ("dev", "devtest"):
        for lang, text in (("eng_Latn", "One two."), ("fra_Latn", "Un deux.")):
            (base / split).mkdir(parents=True, exist_ok=True)
            (base / split / f"{lang}.{split}").write_text("".join(f"{text} {i}\n" for i in range(5)), encoding="utf-8")
    out = tmp_path / "eval"
    scores = evaluate(
        [str(model)],
        ["flores200"],
        out,
        langs="eng_Latn-fra_Latn",
        data_dir=str(base),
        preset="emma500",
        explicit=["max_new_tokens"],
        options=TaskOptions(max_new_tokens=16),
    )
    entry = next(iter(scores.values()))["flores200"]["eng_Latn-fra_Latn"]
    assert {"spbleu", "chrf", "bleu"} <= set(entry)
    record = json.loads(next(out.glob("*/flores200/eng_Latn-fra_Latn.json")).read_text())
    assert record["settings"]["preset"] == "emma500" and record["settings"]["temperature"] == 0.6 and record["settings"]["max_new_tokens"] == 16
    assert record["decoding"] == {"max_new_tokens": 16, "temperature": 0.6, "top_p": 0.9, "seed": 42}
    assert {(r.max_new_tokens, r.temperature) for r in fake.requests} == {(16, 0.6)}
