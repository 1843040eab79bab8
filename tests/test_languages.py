import json

import pytest

from conftest import GROUPS, SIB200, need
from emma.errors import EmmaError
from emma.languages import (
    detect_script,
    group_for_tokens,
    is_valid,
    language_name,
    load_resource_groups,
    macrolanguage,
    members,
    normalize,
    resolve,
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
    assert groups["swh_Latn"] == "low"


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
