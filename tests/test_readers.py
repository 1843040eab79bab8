"""The SIB-200/FLORES layout is CSV-quoted TSV: 7,688 of its 205,820 texts are written with CSV
quoting (a field in double quotes, inner quotes doubled), as pandas and `datasets` read them. Every
reader of that layout (topic tasks, FLORES, NLL, corpus, LID) decodes the quoting the same way."""

from pathlib import Path

import pytest

from conftest import SIB200, need
from emma.io import read_sib_tsv, read_tsv


def test_quoted_tsv_is_decoded_as_pandas_reads_it(tmp_path):
    f = tmp_path / "test.tsv"
    f.write_text('index_id\tcategory\ttext\n1\thealth\t"He said ""no"" twice."\n2\ttravel\tplain "inner" quotes\n', encoding="utf-8")
    rows = read_sib_tsv(f, "x", pandas_na=False)
    assert [r["text"] for r in rows] == ['He said "no" twice.', 'plain "inner" quotes']
    assert read_tsv(f, "x")[0]["text"] == '"He said ""no"" twice."'  # other TSV formats keep quotes as text


def test_real_sib200_files_match_pandas():
    pd = pytest.importorskip("pandas", reason="pandas is not installed: the comparison with pandas' reader is skipped")
    root = Path(need(SIB200))
    quoted = 0
    for lang in ("eng_Latn", "zho_Hant", "arb_Arab", "swh_Latn"):
        for split in ("train", "test"):
            path = root / lang / f"{split}.tsv"
            ours = [(int(r["index_id"]), r["category"], r["text"]) for r in read_sib_tsv(path, "x", pandas_na=False)]
            frame = pd.read_csv(path, delimiter="\t", index_col="index_id", keep_default_na=False)
            theirs = [(int(i), r["category"], r["text"]) for i, r in frame.iterrows()]
            assert ours == theirs, (lang, split)
            quoted += sum(t != r["text"] for t, r in zip((x[2] for x in ours), read_tsv(path, "x")))
    assert quoted > 0  # the files really hold quoted texts, so the test means something


def test_every_sib_layout_reader_decodes_the_quotes(tmp_path):
    from emma.corpus.steps import SIBReader
    from emma.eval.tasks.flores import _sentences
    from emma.eval.tasks.nll import load_segments
    from emma.eval.tasks.topic import load_split
    from emma.lid import load_labelled

    for lang in ("eng_Latn", "fra_Latn"):
        (tmp_path / lang).mkdir()
        for split in ("train", "dev", "test"):
            (tmp_path / lang / f"{split}.tsv").write_text(
                'index_id\tcategory\ttext\n1\thealth\t"She said ""yes"" to it."\n2\ttravel\tA plain sentence here.\n', encoding="utf-8"
            )
    want = 'She said "yes" to it.'
    assert load_split(str(tmp_path), "eng_Latn", "test")[0]["text"] == want
    assert _sentences(str(tmp_path), "eng_Latn", "dev")["1"] == want
    assert load_segments(tmp_path, "eng_Latn")[0] == want
    assert (want, "eng_Latn") in load_labelled(tmp_path, "train")
    assert want in [d.text for d in SIBReader("sib", str(tmp_path), "train").documents()]
