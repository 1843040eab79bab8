import csv
import json

import pytest

from conftest import GROUPS, SIB200, need
from emma.errors import EmmaError
from emma.languages import (
    ResourceGroups,
    chinese_script,
    detect_script,
    group_for_tokens,
    is_valid,
    language_name,
    load_resource_groups,
    macrolanguage,
    members,
    normalize,
    resolve,
    resource_group,
)


@pytest.mark.parametrize(
    "code, expected",
    [
        ("sw", "swa_Latn"),
        ("swa", "swa_Latn"),
        ("swh", "swh_Latn"),
        ("swh_Latn", "swh_Latn"),
        ("SWH-latn", "swh_Latn"),
        ("zh-Hant", "zho_Hant"),
        ("zh-TW", "zho_Hant"),
        ("zh", "zho_Hans"),
        ("cmn", "cmn_Hans"),
        ("sr-Latn", "srp_Latn"),
        ("sr", "srp_Cyrl"),
        ("ger", "deu_Latn"),
        ("de-1901", "deu_Latn"),
        ("pt-BR", "por_Latn"),
        ("sh", "hbs_Latn"),
        ("hbs_Latn", "hbs_Latn"),
        ("tl", "tgl_Latn"),
        ("fil", "fil_Latn"),
        ("ko", "kor_Hang"),
        ("nqo", "nqo_Nkoo"),
        ("am", "amh_Ethi"),
        ("fa-AF", "fas_Arab"),
        ("Swahili", "swa_Latn"),
        ("Yoruba", "yor_Latn"),
        ("English", "eng_Latn"),
    ],
)
def test_normalize_forms(code, expected):
    assert normalize(code) == expected


@pytest.mark.parametrize("code", ["xyz", "engg", "", "  ", "und", "zxx_Latn", "sr-Latx", "Klingonish", "12"])
def test_unknown_codes_raise_one_clear_error(code):
    with pytest.raises(EmmaError) as err:
        normalize(code)
    msg = str(err.value)
    assert "\n" not in msg
    assert not is_valid(code)


def test_unknown_code_suggests_nearest():
    with pytest.raises(EmmaError, match=r"'engg'.*nearest valid: .*eng \(English\)"):
        normalize("engg")


def test_script_from_text_when_code_has_none():
    assert normalize("zh", text="這是一個測試，我們會說中文") == "zho_Hant"
    assert normalize("zh", text="这是一个测试，我们会说中文") == "zho_Hans"
    # Han common to both scripts: the language's usual script, Han or not
    assert normalize("zh", text="人人生而自由") == "zho_Hans"
    assert normalize("yue", text="人人生而自由") == "yue_Hant"
    assert normalize("ja", text="人人生而自由") == "jpn_Jpan"
    assert normalize("vi", text="人人生而自由") == "vie_Hani"
    assert normalize("sr", text="Сва људска бића рађају се слободна") == "srp_Cyrl"
    assert normalize("sr", text="Sva ljudska bića rađaju se slobodna") == "srp_Latn"
    assert normalize("uz_Cyrl", text="Hello") == "uzb_Cyrl"  # an explicit script wins over the text


def test_detect_script():
    assert detect_script("Все люди рождаются свободными") == "Cyrl"
    assert detect_script("ሁሉም የሰው ልጆች") == "Ethi"
    assert detect_script("كل الناس") == "Arab"
    assert detect_script("1234 !!!") == "Zyyy"


def test_macrolanguages_are_explicit():
    assert macrolanguage("swh_Latn") == "swa"
    assert "swh" in members("sw")
    assert macrolanguage("eng") is None
    # resolve bridges macro <-> member only to a unique candidate with the same script
    assert resolve("sw", ["swh_Latn", "eng_Latn"]) == "swh_Latn"
    assert resolve("swahili", ["swa_Latn", "swh_Latn"]) == "swa_Latn"
    with pytest.raises(EmmaError, match="not available"):
        resolve("srp_Latn", ["srp_Cyrl"])


def test_names():
    assert language_name("swh_Latn").startswith("Swahili")
    assert language_name("srp_Latn") == "Serbian (Latn)"
    assert language_name("srp_Cyrl") == "Serbian"


def test_resource_group_thresholds():
    assert group_for_tokens(1_000_000_000) == "high"
    assert group_for_tokens(999_999_999) == "medium-high"
    assert group_for_tokens(100_000_000) == "medium-high"
    assert group_for_tokens(10_000_000) == "medium"
    assert group_for_tokens(1_000_000) == "medium-low"
    assert group_for_tokens(100_000) == "low"
    assert group_for_tokens(99_999) == "unseen"
    assert group_for_tokens(0) == "unseen"


def test_emma500_resource_groups_file():
    groups = load_resource_groups(need(GROUPS))
    counts = {}
    raw = json.loads(GROUPS.read_text())
    for g, codes in raw.items():
        counts[g] = len(codes)
    # the paper's counts
    assert counts == {"high": 27, "medium-high": 79, "medium": 68, "medium-low": 162, "low": 210, "unseen": 393}
    assert groups["eng_Latn"] == "high"
    assert groups.file["swh_Latn"] == "low"  # the file's own entry; lookups bridge it (below)


def test_bad_resource_group_files(tmp_path):
    with pytest.raises(EmmaError, match="not found"):
        load_resource_groups(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EmmaError, match="not a JSON"):
        load_resource_groups(bad)
    bad.write_text('{"huge": ["eng_Latn"]}')
    with pytest.raises(EmmaError, match="unknown resource group 'huge'"):
        load_resource_groups(bad)


def test_every_sib200_code_is_already_normal():
    dirs = [d.name for d in need(SIB200).iterdir() if d.is_dir()]
    assert len(dirs) == 205
    assert [d for d in dirs if normalize(d) != d] == []


# --- Simplified vs Traditional Chinese (hanzidentifier) ---------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("這個", "Hant"),
        ("这个", "Hans"),
        ("國家", "Hant"),
        ("国家", "Hans"),
        ("台灣", "Hant"),
        ("台湾", "Hans"),
        ("學習中文", "Hant"),
        ("学习中文", "Hans"),
        ("們", "Hant"),
        ("们", "Hans"),
        # only characters both scripts use: either, so Hani, which a Hans and a Hant label both accept
        ("人人", "Hani"),
        ("中文", "Hani"),
        ("自由平等", "Hani"),
        ("人人生而自由", "Hani"),
        # mixed: a kind with at least twice the other's script-specific characters wins, else either
        ("这個", "Hani"),
        ("这个学习們", "Hans"),
        ("這個學習们", "Hant"),
    ],
)
def test_chinese_script_of_short_and_mixed_strings(text, expected):
    assert detect_script(text) == expected
    assert chinese_script(text) == {"Hani": "both"}.get(expected, expected)


def test_chinese_script_outside_chinese():
    assert chinese_script("hello") is None
    assert chinese_script("ひらがな") is None
    assert chinese_script("Hello 這個世界") == "Hant"  # the Chinese part; detect_script's main script is Latin
    assert detect_script("Hello 這個世界") == "Latn"


def _article_1(decls, file):
    decl = next(d for d in decls if d.file == file)
    return next(s.text for s in decl.segments if s.section == "article-1"), " ".join(s.text for s in decl.segments)


def test_udhr_chinese_declarations(udhr_path):
    from emma.sources.udhr import read_udhr

    decls = read_udhr(udhr_path)
    trad_a1, trad = _article_1(decls, "declaration/cmn_hant.html")
    simp_a1, simp = _article_1(decls, "declaration/cmn_hans.html")
    assert trad_a1.startswith("人人生而自由，在尊嚴和權利上一律平等")
    assert detect_script(trad_a1) == detect_script(trad) == "Hant"
    assert detect_script(simp_a1) == detect_script(simp) == "Hans"
    # the UDHR's other Chinese varieties are written in Simplified (Gan and Yue with a few Traditional-only characters)
    chinese = [d for d in decls if d.code.split("_")[1] in ("Hans", "Hant", "Hani") and d.iso6393 != "vie"]
    assert len(chinese) == 14
    for d in chinese:
        text = " ".join(s.text for s in d.segments)
        assert detect_script(text) == ("Hant" if d.file == "declaration/cmn_hant.html" else "Hans"), d.file
        assert d.code.endswith("_Hant" if d.file == "declaration/cmn_hant.html" else "_Hans"), d.file


def _sib200(lang: str) -> list[str]:
    with open(need(SIB200) / lang / "test.tsv", encoding="utf-8", newline="") as f:
        return [row["text"] for row in csv.DictReader(f, delimiter="\t")]


@pytest.mark.parametrize("lang", ["zho_Hant", "yue_Hant", "zho_Hans"])
def test_sib200_chinese_sentences_read_as_their_script(lang):
    texts = _sib200(lang)
    want = lang.split("_")[1]
    got = [detect_script(t) for t in texts]
    assert len(texts) == 204
    assert sum(g == want for g in got) / len(got) >= 0.98
    # what is not `want` is a sentence whose letters are mostly Latin (a name in brackets), never the other Chinese script
    assert {g for g in got if g != want} <= {"Latn"}


def test_script_check_keeps_traditional_chinese():
    from datatrove.data import Document

    from emma.corpus.steps import ScriptCheck

    def doc(text, lang):
        return Document(text=text, id="x", metadata={"lang": lang})

    check = ScriptCheck()
    for lang in ("zho_Hant", "zho_Hans", "yue_Hant"):
        assert check.filter(doc("人人生而自由", lang)) is True  # ambiguous: kept under either label
    assert check.filter(doc("這個國家", "zho_Hant")) is True
    assert check.filter(doc("这个国家", "zho_Hant")) == (False, "script_mismatch")
    relabelled = doc("这个国家", "zho_Hant")
    assert ScriptCheck("relabel").filter(relabelled) is True and relabelled.metadata["lang"] == "zho_Hans"
    if SIB200.exists():
        for lang in ("zho_Hant", "yue_Hant"):
            texts = _sib200(lang)
            kept = sum(check.filter(doc(t, lang)) is True for t in texts)
            assert kept / len(texts) >= 0.98, lang


# --- resource groups across macrolanguages -----------------------------------------------------


def test_resource_group_policy_on_a_small_table():
    table = {"swa_Latn": "high", "swh_Latn": "medium", "zho_Hani": "medium", "hak_Hani": "unseen", "eng_Latn": "high"}
    group, note = resource_group("swh_Latn", table)  # two groups below its macrolanguage: bridged
    assert group == "high" and note is not None and "swa_Latn is high" in note and note.endswith("bridged")
    assert resource_group("swh_Latn", table | {"swh_Latn": "medium-high"}) == ("medium-high", None)  # one below: its own
    assert resource_group("cmn_Hant", table)[0] == "medium"  # absent, and CLDR's main member of zho: zho_Hani's group
    assert resource_group("hak_Hani", table) == ("unseen", None)  # not the main member: its own group
    assert resource_group("nan_Hant", table) == (None, None)  # absent and not the main member: nothing to say
    assert resource_group("eng_Latn", table) == ("high", None)  # no macrolanguage
    assert resource_group("swh_Latn", {"swa_Arab": "high", "swh_Latn": "low"}) == ("low", None)  # the script must match


def test_emma500_groups_bridge_macrolanguages():
    groups = load_resource_groups(need(GROUPS))
    assert isinstance(groups, ResourceGroups) and isinstance(groups, dict)
    file = groups.file
    # filed mostly under the macrolanguage: bridged, with a note
    assert (file["arb_Arab"], file["ara_Arab"]) == ("low", "medium-high")
    assert groups["arb_Arab"] == groups.get("arb_Arab") == "medium-high"
    assert (file["swh_Latn"], file["swa_Latn"]) == ("low", "medium-high")
    assert groups["swh_Latn"] == "medium-high"
    assert groups.note("swh_Latn") == groups.bridged["swh_Latn"]
    assert "swh_Latn: low in the groups file; its macrolanguage swa_Latn is medium-high" in groups.bridged["swh_Latn"]
    assert groups["kmr_Latn"] == "medium-high" and file["kmr_Latn"] == "unseen"
    # absent individual codes: the macrolanguage's group (Chinese is `Hani` in the file)
    assert "cmn_Hans" not in file and groups["cmn_Hans"] == groups["cmn_Hant"] == file["zho_Hani"] == "medium"
    assert "cmn_Hans" in groups and groups.note("cmn_Hans")
    assert "pes_Arab" not in file and groups.get("pes_Arab") == file["fas_Arab"]
    # its own group where it is adequate or where it is not the macrolanguage's main language
    assert groups["zsm_Latn"] == file["zsm_Latn"] == "medium" and file["msa_Latn"] == "medium-high"
    assert groups["hak_Hani"] == "unseen" and groups["prs_Arab"] == "low" and groups["quy_Latn"] == "unseen"
    assert groups.note("hak_Hani") is None
    # no macrolanguage: unchanged; Hans/Hant codes find the file's Hani entry
    assert groups["eng_Latn"] == "high" and groups.note("eng_Latn") is None
    assert groups["zho_Hant"] == "medium" and groups["yue_Hant"] == file["yue_Hani"] == "medium-low"
    # absent and unbridged: absent, as a dict would say
    assert groups.get("aeb_Arab") is None and groups.get("aeb_Arab", "unknown") == "unknown" and "aeb_Arab" not in groups
    with pytest.raises(KeyError):
        groups["aeb_Arab"]
    # consumers that take a dict: copies, iteration and JSON carry the bridged groups
    assert dict(groups)["arb_Arab"] == "medium-high" and json.loads(json.dumps(groups))["swh_Latn"] == "medium-high"
    assert len(groups) == len(file) and all(groups[code] == group for code, group in groups.items())
    assert [code for code in ["arb_Arab", "swh_Latn", "eng_Latn"] if groups.get(code) == "medium-high"] == ["arb_Arab", "swh_Latn"]
    assert set(groups.bridged) == {
        "arb_Arab",
        "swh_Latn",
        "kmr_Latn",
        "npi_Deva",
        "azj_Latn",
        "ekk_Latn",
        "plt_Latn",
        "ydd_Hebr",
        "quz_Latn",
        "bcc_Arab",
        "rmy_Latn",
    }


def test_demo_reports_bridged_groups():
    from emma.recipes.demo import DEMO_LANGUAGES, DemoConfig, _groups
    from emma.report.demo_report import markdown_report

    langs = ["eng_Latn", "swh_Latn", "arb_Arab", "kmr_Latn", "quy_Latn"]
    groups = _groups(DemoConfig(resource_groups=str(need(GROUPS))), langs)
    assert {lang: g for lang, (g, _) in groups.items()} == {
        "eng_Latn": "high",
        "swh_Latn": "medium-high",
        "arb_Arab": "medium-high",
        "kmr_Latn": "medium-high",
        "quy_Latn": "unseen",
    }
    assert [lang for lang, (_, note) in groups.items() if note] == ["swh_Latn", "arb_Arab", "kmr_Latn"]
    every = _groups(DemoConfig(resource_groups=str(GROUPS)), list(DEMO_LANGUAGES))
    assert {lang for lang, (_, note) in every.items() if note} == {"swh_Latn", "arb_Arab", "kmr_Latn"}
    assert all(every[lang][0] == group for lang, group in DEMO_LANGUAGES.items() if lang not in ("swh_Latn", "arb_Arab", "kmr_Latn"))

    row = {"name": "x", "nll_before": 2.0, "nll_after": 1.0, "bpb_before": 1.0, "bpb_after": 0.5, "train_tokens": 1}
    results = {
        "base_model": "m",
        "checkpoint": "c",
        "config": {"holdout_every": 10},
        "train": {},
        "languages": {lang: row | {"group": g, "group_note": note} for lang, (g, note) in groups.items()},
        "summary": {
            "languages": 5,
            "nll_fell": 5,
            "nll_rose": [],
            "mean_relative_nll_drop": 0.5,
            "spearman_base_bpb_vs_drop": 0.0,
            "mean_relative_nll_drop_by_group": {"high": 0.5, "medium-high": 0.5, "unseen": 0.5},
        },
    }
    md = markdown_report(results)
    assert "## Groups bridged from a macrolanguage" in md
    assert "- `swh_Latn` (x): **medium-high**. swh_Latn: low in the groups file" in md
    assert "| swh_Latn | x | medium-high (bridged) |" in md and "| eng_Latn | x | high |" in md
    del results["languages"]["swh_Latn"]["group_note"]  # a results.json from before group_note: no section for it
    assert "- `swh_Latn`" not in markdown_report(results)
