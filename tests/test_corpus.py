"""Corpus stage: mix planning (temperature / UniMax with epoch caps), packing into the shards
`emma train` reads (pack -> mix -> train end to end), and fastText LID train/eval."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import SIB200, need
from emma.corpus.mix import plan_mix
from emma.errors import EmmaError


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "emma.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout)


# --- mix ------------------------------------------------------------------------------------


def test_temperature_mix_caps_small_languages_and_redistributes():
    stats = {"big_Latn": {"web": 10**9}, "mid_Latn": {"web": 10**6}, "small_Latn": {"web": 10**3}}
    stats = {"eng_Latn": stats["big_Latn"], "swh_Latn": stats["mid_Latn"], "nqo_Nkoo": stats["small_Latn"]}
    # Without a cap, alpha = 0.3 would repeat N'Ko's 1k tokens thousands of times.
    uncapped = plan_mix(stats, alpha=0.3, max_epochs=10**9)
    assert uncapped[[e.lang for e in uncapped].index("nqo_Nkoo")].epochs > 1000
    plan = {e.lang: e for e in plan_mix(stats, alpha=0.3, max_epochs=4)}
    assert plan["nqo_Nkoo"].epochs == pytest.approx(4) and plan["swh_Latn"].epochs == pytest.approx(4)
    assert sum(e.weight for e in plan.values()) == pytest.approx(1)
    assert sum(e.target_tokens for e in plan.values()) == pytest.approx(10**9 + 10**6 + 10**3, rel=1e-6)
    assert plan["eng_Latn"].group == "high" and plan["nqo_Nkoo"].group == "unseen"


def test_unimax_is_uniform_up_to_the_cap():
    stats = {"eng_Latn": {"a": 1000}, "swh_Latn": {"a": 100}, "nqo_Nkoo": {"a": 10}}
    plan = {e.lang: e for e in plan_mix(stats, strategy="unimax", budget=300, max_epochs=2)}
    assert plan["nqo_Nkoo"].target_tokens == 20  # capped at 2 epochs
    assert plan["swh_Latn"].target_tokens == 140 and plan["eng_Latn"].target_tokens == 140  # the rest, split evenly
    with pytest.raises(EmmaError, match="needs more than 2 epochs"):
        plan_mix(stats, strategy="unimax", budget=10**6, max_epochs=2)
    with pytest.raises(EmmaError, match="unknown strategy"):
        plan_mix(stats, strategy="random")


def test_source_weights_scale_available_tokens():
    stats = {"eng_Latn": {"wiki": 100, "web": 100}, "swh_Latn": {"web": 200}}
    plan = {e.lang: e for e in plan_mix(stats, alpha=1.0, source_weights={"wiki": 3.0}, max_epochs=10)}
    assert plan["eng_Latn"].weight == pytest.approx(400 / 600)


# --- pack -> mix -> train ---------------------------------------------------------------------


def write_docs(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_pack_mix_train_end_to_end(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    docs = tmp_path / "docs.jsonl"
    rows = [{"text": f"The river {i} runs past the stone house by the old road.", "lang": "en", "source": "web"} for i in range(40)]
    rows += [{"text": f"Mto {i} unapita karibu na nyumba ya mawe.", "lang": "swh", "source": "wiki"} for i in range(15)]
    rows += [{"text": "   ", "lang": "swh"}]  # empty documents are skipped
    write_docs(docs, rows)
    shards = tmp_path / "shards"
    res = cli("corpus", "pack", docs, "--tokenizer", tiny_model_dir, "--out", shards)
    assert res.returncode == 0, res.stderr[-2000:]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    stream = np.load(shards / "swh_Latn.npy")
    assert stream.dtype == np.uint32 and (stream == tok.eos_token_id).sum() == 15  # one boundary per document
    first = tok("Mto 0 unapita karibu na nyumba ya mawe.", add_special_tokens=False)["input_ids"]
    assert stream[: len(first)].tolist() == first
    packed = yaml.safe_load((shards / "packed.yaml").read_text())
    assert packed["languages"]["eng_Latn"]["documents"] == 40 and set(packed["languages"]["swh_Latn"]["sources"]) == {"wiki"}
    stamp = (shards / "eng_Latn.npy").stat().st_mtime_ns
    assert cli("corpus", "pack", docs, "--tokenizer", tiny_model_dir, "--out", shards).returncode == 0
    assert (shards / "eng_Latn.npy").stat().st_mtime_ns == stamp  # a rerun keeps finished languages

    res = cli("corpus", "mix", shards, "--alpha", "0.0", "--max-epochs", "3")
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = yaml.safe_load((shards / "manifest.yaml").read_text())
    w = {e["lang"]: e["weight"] for e in manifest["languages"]}
    assert w["eng_Latn"] == pytest.approx(0.5) and all(e["epochs"] <= 3 for e in manifest["languages"])

    cfg = {
        "model": str(tiny_model_dir),
        "data": {"shards": str(shards), "block_size": 16, "heldout_blocks": 0},
        "steps": 3,
        "batch_size": 2,
        "save_steps": 10,
        "report_to": [],
        "peak_flops": 1e10,
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    res = cli("train", tmp_path / "train.yaml", "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr[-2000:]
    info = json.loads((tmp_path / "run" / "train.json").read_text())
    assert info["weights"] == pytest.approx(w)


def test_pack_bad_input_is_one_line(tmp_path, tiny_model_dir):
    docs = tmp_path / "bad.jsonl"
    docs.write_text('{"text": "ok", "lang": "en"}\n{"text": "no language"}\n', encoding="utf-8")
    res = cli("corpus", "pack", docs, "--tokenizer", tiny_model_dir, "--out", tmp_path / "s")
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1].startswith("emma: error: pack: ") and "bad.jsonl:2" in res.stderr
    docs.write_text('{"text": "ok", "lang": "xx-nope"}\n', encoding="utf-8")
    res = cli("corpus", "pack", docs, "--tokenizer", tiny_model_dir, "--out", tmp_path / "s")
    assert res.returncode == 2 and "xx-nope" in res.stderr.strip().splitlines()[-1]


def _documents_of(stream: np.ndarray, eos: int) -> list[tuple[int, ...]]:
    cuts = np.flatnonzero(stream == eos)
    return [tuple(part.tolist()) for part in np.split(stream, cuts + 1) if part.size]


def test_pack_in_tasks_streams_the_same_documents_and_resumes_after_a_failed_task(tmp_path, tiny_model_dir, monkeypatch):
    """Three input files over two pack tasks: every language holds the same documents as one task
    gives (in task order), the counts add up, and a task that dies is redone on the rerun while the
    finished one is not; nothing of the parts is left behind."""
    from transformers import AutoTokenizer

    from emma.corpus import pack as pack_mod

    folder = tmp_path / "docs"
    folder.mkdir()
    for k in range(3):
        rows = [{"text": f"File {k} line {i}: the river runs past the house.", "lang": "en", "source": f"s{k}"} for i in range(30)]
        rows += [{"text": f"Faili {k} mstari {i}: mto unapita.", "lang": "swh"} for i in range(5 + k)]
        write_docs(folder / f"part{k}.jsonl", rows)
    eos = AutoTokenizer.from_pretrained(tiny_model_dir).eos_token_id
    one = pack_mod.pack(folder, str(tiny_model_dir), tmp_path / "one")
    monkeypatch.setattr(pack_mod, "FLUSH_TOKENS", 64)  # many flushes: parts are appended to, not rewritten

    real_documents, calls, died = pack_mod.documents, [], []

    def dying(path):
        calls.append(path.name)
        if path.name == "part1.jsonl" and calls.count("part1.jsonl") == 2 and not died:  # the counting pass, then the task
            died.append(path)
            raise RuntimeError("killed")
        yield from real_documents(path)

    monkeypatch.setattr(pack_mod, "documents", dying)
    with pytest.raises(Exception, match="killed|failed"):
        pack_mod.pack(folder, str(tiny_model_dir), tmp_path / "two", tasks=2)
    assert not (tmp_path / "two" / "eng_Latn.npy").exists()
    calls.clear()
    two = pack_mod.pack(folder, str(tiny_model_dir), tmp_path / "two", tasks=2)
    assert calls.count("part0.jsonl") == 1 and calls.count("part1.jsonl") == 2  # task 0 (parts 0, 2) was not redone
    assert one["tokens"] == two["tokens"]
    for lang in ("eng_Latn", "swh_Latn"):
        a, b = np.load(tmp_path / "one" / f"{lang}.npy"), np.load(tmp_path / "two" / f"{lang}.npy")
        assert sorted(_documents_of(a, eos)) == sorted(_documents_of(b, eos)) and a.size == b.size
        # task 0 read part0 and part2, task 1 part1: the stream is task 0's documents, then task 1's
        first = {"eng_Latn": 30, "swh_Latn": 5}[lang]  # part0's documents
        assert _documents_of(b, eos)[:first] == _documents_of(a, eos)[:first]
        assert _documents_of(b, eos)[first : 2 * first] == _documents_of(a, eos)[-first:] or lang == "swh_Latn"
    packed = yaml.safe_load((tmp_path / "two" / "packed.yaml").read_text())["languages"]
    assert packed["swh_Latn"]["documents"] == 5 + 6 + 7 and set(packed["eng_Latn"]["sources"]) == {"s0", "s1", "s2"}
    assert packed["eng_Latn"]["max_id"] == int(np.load(tmp_path / "two" / "eng_Latn.npy").max())
    assert not (tmp_path / "two" / ".parts").exists() and not (tmp_path / "two" / "logs").exists()


def test_shard_blocks_are_read_from_the_stream_on_disk(tmp_path):
    """`emma train` reads shards block by block from the file: the same blocks the list version
    cut (a one-token tail dropped), held-out slices, pickling (DataLoader workers) and the max id."""
    import pickle

    from emma.train.data import StreamBlocks, block_tokens, hold_out

    for size in (2, 15, 16, 17, 33, 48):
        stream = (np.arange(size, dtype=np.uint32) * 7) % 1000
        np.save(tmp_path / "s.npy", stream)
        blocks = StreamBlocks(tmp_path / "s.npy", 16)
        want = [stream[i : i + 16].astype(np.int64).tolist() for i in range(0, size, 16) if size - i > 1]
        assert [b.tolist() for b in blocks] == want
        assert block_tokens(blocks) == sum(len(b) for b in want) and blocks.max_id() == int(stream.max())
        train, held = hold_out({"x": blocks}, 1)
        assert [b.tolist() for b in train["x"]] + [b.tolist() for b in held.get("x", [])] == want
        if "x" in held:
            assert block_tokens(train["x"]) + block_tokens(held["x"]) == block_tokens(blocks)
        again = pickle.loads(pickle.dumps(blocks))
        assert len(pickle.dumps(blocks)) < 1000 and [b.tolist() for b in again] == want  # the path travels, not the tokens


# --- LID ------------------------------------------------------------------------------------


def test_lid_train_and_eval_on_sib200(tmp_path):
    data = need(SIB200)
    subset = tmp_path / "sib"
    for lang in ("eng_Latn", "fra_Latn", "swh_Latn", "amh_Ethi", "hin_Deva", "por_Latn", "glg_Latn"):
        (subset / lang).mkdir(parents=True)
        for split in ("train", "test"):
            (subset / lang / f"{split}.tsv").write_text((data / lang / f"{split}.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    model = tmp_path / "lid.bin"
    res = cli("lid", "train", "--data-dir", subset, "--out", model, "--epoch", "10", "--threads", "1")
    assert res.returncode == 0 and model.is_file(), res.stderr[-2000:]
    res = cli("lid", "eval", "--model", model, "--data-dir", subset, "--json", tmp_path / "lid.json")
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "lid.json").read_text())
    assert set(report["per_language"]) == {"eng_Latn", "fra_Latn", "swh_Latn", "amh_Ethi", "hin_Deva", "por_Latn", "glg_Latn"}
    assert report["macro_f1"] > 0.9 and report["per_language"]["amh_Ethi"]["f1"] > 0.95
    assert {"precision", "recall", "f1"} <= set(report["per_language"]["por_Latn"])
    bad = cli("lid", "eval", "--model", tmp_path / "nope.bin", "--data-dir", subset)
    assert bad.returncode == 2 and "not found" in bad.stderr.strip().splitlines()[-1]


# --- build (datatrove) ----------------------------------------------------------------------


def test_build_filters_dedups_counts_and_rejects_with_reasons(tmp_path, tiny_model_dir):
    import random

    from emma.corpus.build import build, load_build_config

    rng = random.Random(0)
    vocab = "river stone light wind house road hill field water tree bird cloud rain sun moon star".split()

    def text(n):
        return " ".join(rng.choice(vocab) for _ in range(n)) + "."

    base = text(100)
    near = base.split()
    near[50] = "mountain"
    lines = [json.dumps({"text": text(30), "lang": "en"}) for _ in range(6)]
    lines += [
        json.dumps({"text": base, "lang": "eng"}),
        json.dumps({"text": base, "lang": "en"}),  # exact duplicate
        json.dumps({"text": " ".join(near), "lang": "en"}),  # near duplicate
        json.dumps({"text": "Все люди рождаются свободными и равными в своем достоинстве и правах.", "lang": "en"}),
        json.dumps({"text": "Watu wote wamezaliwa huru, hadhi na haki zao ni sawa.", "lang": "swh"}),
        json.dumps({"text": "A long enough text in a language nobody has ever coded.", "lang": "xx-nope"}),
        json.dumps({"text": "   ", "lang": "en"}),
        json.dumps({"text": "tiny", "lang": "en"}),
        "{not json",
    ]
    src = tmp_path / "docs.jsonl"
    src.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "broken \xff utf8 text", "lang": "en"}\n')
    cfg_path = tmp_path / "corpus.yaml"
    cfg_path.write_text(
        yaml.safe_dump({"sources": [{"name": "mine", "type": "jsonl", "path": str(src)}], "tokenizer": str(tiny_model_dir), "tasks": 1, "workers": 1})
    )
    out = tmp_path / "out"
    stats = build(load_build_config(cfg_path), out)
    assert set(stats["languages"]) == {"eng_Latn", "swh_Latn"}
    assert stats["languages"]["eng_Latn"]["documents"] == 7  # 6 distinct + one of the three (near-)copies
    assert stats["languages"]["swh_Latn"]["tokens"] > 0 and stats["languages"]["swh_Latn"]["group"] == "unseen"
    r = stats["rejected"]
    assert r["exact_dup"] == 1 and r["near_dup"] == 1 and r["script_mismatch"] == 1 and r["unknown_language_code"] == 1
    assert r["empty_document"] == 1 and r["too_short"] == 1
    assert any(k.startswith("malformed_json") for k in r) and any(k.startswith("invalid_utf8") for k in r)
    assert (out / "stats.csv").read_text().startswith("lang,source,documents") and (out / "stats.png").stat().st_size > 1000
    assert "spacy" not in sys.modules  # MinHash shingles use emma's Unicode word tokenizer, not datatrove's spaCy ones
    stamp = (out / "final" / "00000.jsonl").stat().st_mtime_ns
    build(load_build_config(cfg_path), out)  # finished tasks are skipped
    assert (out / "final" / "00000.jsonl").stat().st_mtime_ns == stamp


def test_build_lid_step_with_a_local_fasttext_model(tmp_path, tiny_model_dir):
    from emma.corpus.build import build, load_build_config
    from emma.lid import FastTextSettings, load_labelled, train_lid

    data = need(SIB200)
    pairs = [p for p in load_labelled(data, "train") if p[1] in ("eng_Latn", "swh_Latn", "fra_Latn")]
    train_lid(pairs, tmp_path / "lid.bin", FastTextSettings(epoch=10, threads=1))
    src = tmp_path / "docs.jsonl"
    rows = [
        {"text": "The committee approved the new budget for the hospital last week.", "lang": "en"},
        {"text": "Kamati iliidhinisha bajeti mpya ya hospitali wiki iliyopita.", "lang": "en"},  # Swahili labelled English
        {"text": "Le comité a approuvé le nouveau budget de l'hôpital la semaine dernière.", "lang": "fr"},
    ]
    write_docs(src, rows)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "sources": [{"name": "mine", "type": "jsonl", "path": str(src)}],
                "tasks": 1,
                "workers": 1,
                "lid": {"model": str(tmp_path / "lid.bin"), "threshold": 0.3},
                "dedup": {"near": False},
            }
        )
    )
    stats = build(load_build_config(cfg_path), tmp_path / "out")
    assert set(stats["languages"]) == {"eng_Latn", "fra_Latn"} and stats["rejected"] == {"lid_disagrees": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"sources": [{"name": "x", "type": "jsonl", "path": str(src)}], "lid": {"model": "nope.bin"}}))
    with pytest.raises(EmmaError, match="lid.model nope.bin not found"):
        build(load_build_config(bad), tmp_path / "o2")
    bad.write_text(yaml.safe_dump({"sources": [{"name": "x", "type": "csv"}]}))
    with pytest.raises(EmmaError, match=r"sources.0.type"):
        load_build_config(bad)


def test_build_reads_plain_text_and_applies_per_language_thresholds(tmp_path):
    from emma.corpus.build import build, load_build_config

    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "swh_Latn.txt").write_text("Watu wote wamezaliwa huru, hadhi na haki zao ni sawa.\n\nKila mtu ana haki ya kuishi.\n", encoding="utf-8")
    (texts / "cmn_Hans.txt").write_text("人人生而自由，在尊严和权利上一律平等。\n", encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "sources": [{"name": "txt", "type": "text", "path": str(texts)}],
                "tasks": 1,
                "workers": 1,
                "clean": {"overrides": {"swh_Latn": {"min_chars": 30}}},
                "dedup": {"near": False},
            }
        )
    )
    stats = build(load_build_config(cfg), tmp_path / "out")
    # the short Swahili line falls under its own threshold; the 18-character Chinese line passes (unspaced: 20 // 3)
    assert stats["languages"]["swh_Latn"]["documents"] == 1 and stats["languages"]["cmn_Hans"]["documents"] == 1
    assert stats["rejected"] == {"too_short": 1}


def test_build_reads_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from emma.corpus.build import build, load_build_config

    (tmp_path / "pq").mkdir()
    pq.write_table(
        pa.table(
            {
                "content": [
                    "Watu wote wamezaliwa huru, hadhi na haki zao ni sawa.",
                    "All human beings are born free and equal in dignity and rights.",
                ],
                "language": ["sw", "en"],
            }
        ),
        tmp_path / "pq" / "part-0.parquet",
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "sources": [{"name": "pq", "type": "parquet", "path": str(tmp_path / "pq"), "text_key": "content", "lang_key": "language"}],
                "tasks": 1,
                "workers": 1,
                "dedup": {"near": False},
            }
        )
    )
    stats = build(load_build_config(cfg), tmp_path / "out")
    assert set(stats["languages"]) == {"swa_Latn", "eng_Latn"}
    assert stats["languages"]["swa_Latn"]["sources"] == {"pq": {"documents": 1, "chars": 53, "bytes": 53, "tokens": 0}}
