import io
import json
import re
import tarfile

import pytest

from emma.errors import EmmaError
from emma.sources.udhr import (
    Declaration,
    Segment,
    find_tarball,
    one_per_language,
    parse_declaration,
    provenance,
    read_udhr,
    split_declaration,
    varieties,
    variety_key,
)
from emma.sources.udhr_policy import CHOICES

HTML = """<!doctype html>
<html data-code="x1" data-iso6393="{iso}" dir="ltr" lang="{lang}">
<head><title>Test</title></head><body>
<h1>Title</h1>
<header><h2>Preamble</h2><p>Whereas one &amp; two;</p><p>Second   whereas</p></header>
{articles}
</body></html>"""


def make_html(iso="eng", lang="en", n=12):
    arts = "\n".join(
        f'<article data-number="{i}"><h2>Article {i}</h2><p>Text of article {i}.</p><ol><li>item a</li><li>item b</li></ol></article>'
        for i in range(1, n + 1)
    )
    return HTML.format(iso=iso, lang=lang, articles=arts)


def make_tarball(path, files: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/declaration/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_parse_declaration_sections_and_text():
    d = parse_declaration(make_html(), "declaration/x1.html")
    assert d.code == "eng_Latn" and d.direction == "ltr" and d.name == "Test"
    assert d.segments[0].section == "preamble"
    assert d.segments[0].text == "Whereas one & two;\nSecond whereas"
    assert d.segments[1].section == "article-1"
    assert d.segments[1].text == "Text of article 1.\nitem a\nitem b"
    assert d.n_articles == 12


def test_script_from_lang_tag_or_text():
    assert parse_declaration(make_html("srp", "sr-Latn"), "f").code == "srp_Latn"
    cyr = make_html("srp", "sr")
    for latin, cyrillic in [("Text of article", "Члан"), ("Whereas one", "Пошто"), ("Second   whereas", "Пошто"), ("item", "тачка")]:
        cyr = cyr.replace(latin, cyrillic)
    assert parse_declaration(cyr, "f").code == "srp_Cyrl"


def test_split_is_deterministic_and_disjoint():
    d = parse_declaration(make_html(n=30), "f")
    train, held = split_declaration(d, holdout_every=10)
    assert [s.section for s in held] == ["article-10", "article-20", "article-30"]
    assert len(train) == 28 and "preamble" in [s.section for s in train]
    assert split_declaration(d, 10) == (train, held)


def test_bad_declarations_are_rejected_with_reasons(tmp_path):
    tgz = make_tarball(
        tmp_path / "u.tgz",
        {
            "good.html": make_html().encode(),
            "und.html": make_html(iso="und", lang="und").encode(),
            "empty.html": HTML.format(iso="fra", lang="fr", articles="").replace("<p>Whereas one &amp; two;</p><p>Second   whereas</p>", "").encode(),
            "latin1.html": make_html(iso="deu", lang="de").replace("Text", "Gr\u00fc\u00dfe").encode("latin-1"),
        },
    )
    rejects = []
    decls = read_udhr(tgz, rejects=rejects)
    assert [d.code for d in decls] == ["eng_Latn"]
    reasons = {r["file"]: r["reason"] for r in rejects}
    assert "undetermined" in reasons["declaration/und.html"]
    assert "empty language" in reasons["declaration/empty.html"]
    assert "invalid UTF-8" in reasons["declaration/latin1.html"]


def test_malformed_tarball_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"this is not a tarball")
    with pytest.raises(EmmaError, match="not a readable .tgz"):
        read_udhr(bad)
    empty = make_tarball(tmp_path / "empty.tgz", {})
    with pytest.raises(EmmaError, match="no declaration"):
        read_udhr(empty)
    with pytest.raises(EmmaError, match="not found"):
        find_tarball(tmp_path / "missing.tgz")


def test_real_udhr(udhr_path):
    rejects = []
    decls = read_udhr(udhr_path, rejects=rejects)
    assert len(decls) + len(rejects) == 532
    assert all("undetermined" in r["reason"] for r in rejects)
    best = one_per_language(decls)
    assert len(best) > 450
    for code in ["eng_Latn", "swh_Latn", "amh_Ethi", "kat_Geor", "chr_Cher", "cmn_Hant", "cmn_Hans", "srp_Latn", "srp_Cyrl"]:
        assert code in best, code
    eng = best["eng_Latn"]
    assert eng.n_articles == 30
    assert eng.segments[1].text.startswith("All human beings are born free and equal in dignity and rights.")
    assert best["heb_Hebr"].direction == "rtl"


# --- which declaration stands for a language (emma.sources.udhr_policy) ---------------------------


@pytest.fixture(scope="module")
def real_decls(udhr_path):
    return read_udhr(udhr_path)


def first_article(d):
    return next(s.text for s in d.segments if s.section == "article-1")


def test_policy_picks_the_standard_form(real_decls):
    best, var = one_per_language(real_decls), varieties(real_decls)
    fra = best["fra_Latn"]
    assert fra.file == "declaration/fra.html" and fra.name == "French"
    assert first_article(fra).startswith("Tous les êtres humains naissent libres et égaux en dignité et en droits.")
    welche = var["fra_Latn@welche"]
    assert welche.file == "declaration/068.html" and "Welche" in welche.name
    assert not first_article(welche).startswith("Tous les êtres humains")
    deu = best["deu_Latn"]  # current orthography, not 1901
    assert deu.bcp47 == "de-1996" and var["deu_Latn@1901"].bcp47 == "de-1901"
    deu_text = " ".join(s.text for s in deu.segments)
    assert " dass " in deu_text and "daß" not in deu_text
    assert best["por_Latn"].bcp47 == "pt-BR" and var["por_Latn@portugal"].bcp47 == "pt-PT"  # FLORES-200 por_Latn is Brazilian
    assert best["spa_Latn"].name == "Spanish" and "derechos humanos" in " ".join(s.text for s in best["spa_Latn"].segments).lower()
    assert best["swh_Latn"].file == "declaration/swh.html"  # not the Kibajuni or Chimwiini dialect
    assert best["ron_Latn"].file == "declaration/ron_2006.html"
    assert "niciun" in " ".join(s.text for s in best["ron_Latn"].segments)
    assert best["ell_Grek"].bcp47 == "el-monoton"
    assert best["cat_Latn"].file == "declaration/cat.html" and "neixen" in first_article(best["cat_Latn"])
    assert best["cmn_Hans"].file == "declaration/cmn_hans.html" and "cmn_Hans@beijing" in var
    assert "[" not in first_article(best["tha_Thai"])  # tha.html carries inline editorial corrections
    assert ord(first_article(best["chr_Cher"])[0]) < 0x13F6  # the ordinary syllabary block, not Unicode 8 lowercase


def test_policy_table_covers_every_duplicate_in_the_real_udhr(real_decls):
    groups: dict[str, set[str]] = {}
    for d in real_decls:
        groups.setdefault(d.code, set()).add(d.file)
    multi = {code: files for code, files in groups.items() if len(files) > 1}
    assert len(multi) == 42 and sum(map(len, multi.values())) == 102
    assert set(CHOICES) == set(multi), "every code with several declarations has a reviewed row, and no row is stale"
    for code, row in CHOICES.items():
        assert {row["file"], *row["others"]} == multi[code], code  # the table's files exist, and it knows every file
        assert row["reason"] and all(o["reason"] for o in row["others"].values()), code
        labels = [o["label"] for o in row["others"].values()]
        assert len(set(labels)) == len(labels) and all(re.fullmatch(r"[a-z0-9-]+", lab) for lab in labels), code
    best, var = one_per_language(real_decls), varieties(real_decls)
    assert len(var) == 60 and not {d.file for d in best.values()} & {d.file for d in var.values()}
    assert len(best) + len(var) == len(real_decls)  # every declaration is either the language or a labelled variety
    assert variety_key(var["fra_Latn@welche"]) == "fra_Latn@welche" and variety_key(best["fra_Latn"]) is None


def decl(code, file, n=3, bcp="x"):
    return Declaration(code, file, code[:3], bcp, "ltr", file, [Segment(f"article-{i}", "t") for i in range(1, n + 1)])


def test_policy_is_strict_about_unreviewed_duplicates():
    one = one_per_language([decl("eng_Latn", "declaration/eng.html")])
    assert one["eng_Latn"].file == "declaration/eng.html"
    assert provenance(one["eng_Latn"])["reason"] == "only declaration"
    with pytest.raises(EmmaError, match="no reviewed choice"):  # never "the longest" again
        one_per_language([decl("eng_Latn", "declaration/eng.html"), decl("eng_Latn", "declaration/eng_2.html", n=30)])
    with pytest.raises(EmmaError, match="not reviewed"):  # a file a new release adds to a reviewed code
        one_per_language([decl("fra_Latn", "declaration/fra.html"), decl("fra_Latn", "declaration/fra_new.html")])
    with pytest.raises(EmmaError, match="absent or was rejected"):  # never the dialect in the standard's place
        one_per_language([decl("fra_Latn", "declaration/068.html")])
    fra = [decl("fra_Latn", "declaration/fra.html", bcp="fr"), decl("fra_Latn", "declaration/068.html", n=30, bcp="fr")]
    assert one_per_language(fra)["fra_Latn"].file == "declaration/fra.html"
    assert list(varieties(fra)) == ["fra_Latn@welche"]
    p = provenance(one_per_language(fra)["fra_Latn"])
    assert p["file"] == "declaration/fra.html" and p["bcp47"] == "fr" and "standard French" in p["reason"]
    assert p["varieties_not_used"] == {"fra_Latn@welche": "declaration/068.html"}


def test_demo_data_records_each_languages_declaration(tmp_path, udhr_path):
    from emma.recipes.demo import DemoConfig, prepare_data

    cfg = DemoConfig(languages=["fra_Latn", "deu", "por_Latn", "eng_Latn"], udhr=str(udhr_path))
    held = prepare_data(cfg, tmp_path)
    assert set(held) == {"fra_Latn", "deu_Latn", "por_Latn", "eng_Latn"}
    sources = json.loads((tmp_path / "sources.json").read_text())
    assert set(sources) == set(held)
    assert sources["fra_Latn"]["file"] == "declaration/fra.html" and sources["fra_Latn"]["title"] == "French"
    assert sources["fra_Latn"]["varieties_not_used"] == {"fra_Latn@welche": "declaration/068.html"}
    assert sources["deu_Latn"]["bcp47"] == "de-1996" and "1996" in sources["deu_Latn"]["reason"]
    assert sources["eng_Latn"]["reason"] == "only declaration" and sources["eng_Latn"]["source"] == "udhr@6.0.0"
    held_fra = [json.loads(line) for line in (tmp_path / "heldout.jsonl").read_text().splitlines() if '"fra_Latn"' in line]
    assert held_fra and all("drau" not in r["text"] for r in held_fra)  # Welche's "drau" (droit) is not in the data
