"""One word rule, one set of unspaced scripts, one mixed-script rule, used by every stage."""

from emma.text import UNSPACED_SCRIPTS, clip_words, count_words, script_matches, words


def test_words_split_punctuation_and_unspaced_scripts():
    assert words("Hello, World! It's") == ["hello", "world", "it", "s"]
    assert words("我们是学生。") == ["我", "们", "是", "学", "生"]
    assert words("สวัสดี") == list("สวัสดี")  # Thai: no spaces between words, so a word is a character
    assert count_words("ሰላም፡ዓለም") == 2  # Ethiopic word separator is punctuation
    assert {"Hani", "Jpan", "Thai", "Khmr", "Mymr"} <= UNSPACED_SCRIPTS


def test_clip_words_keeps_the_text_as_written():
    assert clip_words("One, two three four", 2) == "One, two"
    assert clip_words("我们是学生", 2) == "我们"
    assert clip_words("short", 10) == "short"
    text = "a b c d e f"
    assert [count_words(clip_words(text, k)) for k in range(8)] == [0, 1, 2, 3, 4, 5, 6, 6]


def test_one_mixed_script_rule():
    assert script_matches("Jpan", "Hira") and script_matches("Jpan", "Hani")
    assert script_matches("Kore", "Hang") and script_matches("Hans", "Hani")
    assert not script_matches("Hans", "Hang") and not script_matches("Hans", "Kana")  # Hangul or Kana is not Chinese
    assert script_matches("Latn", "Latn") and not script_matches("Latn", "Cyrl")


def test_every_stage_uses_the_same_rules():
    from emma.corpus.steps import ScriptCheck, UnicodeWordTokenizer
    from emma.eval.tasks.polywrite import in_script
    from emma.eval.tasks.summarization import UnicodeTokenizer, _clip
    from emma.train.vocab import fertility

    text = "教育应当免费，至少在初级和基本阶段应如此。Everyone has the right."
    assert UnicodeWordTokenizer().word_tokenize(text) == words(text) == UnicodeTokenizer().tokenize(text)
    assert _clip(text, 3) == "教育应"
    assert not in_script("모든 사람은 교육을 받을 권리를 가진다", "zho_Hans")

    class Chars:  # a tokenizer with one token a character: tokens per word is characters per word
        def __call__(self, docs, add_special_tokens=False):
            return {"input_ids": [list(d) for d in docs]}

    f = fertility(Chars(), {"zho_Hans": ["教育应当免费"]})
    assert f["zho_Hans"]["tokens_per_word"] == 1.0  # a Han character is a word, as in ROUGE and MinHash
    from datatrove.data import Document

    doc = Document(text="모든 사람은 교육을 받을 권리를 가진다", id="x", metadata={"lang": "zho_Hans"})
    assert ScriptCheck().filter(doc) == (False, "script_mismatch")
