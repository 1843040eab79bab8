"""Disk full: `emma eval`, `emma train`, `emma corpus build` and `emma corpus pack` write into a tmpfs
of a few hundred KB (mounted by the test in a private mount namespace, `unshare -m`, so nothing
outside sees it). Each must stop with exactly one `emma: error:` line naming the lack of space,
exit 2, no traceback and no corrupt output (every file there either complete or absent); once the
tmpfs is enlarged, the same command resumes and ends with the results of a run that never ran out
of space. Needs root and `unshare` (skipped without; fails instead with EMMA_REQUIRE_DISK_FULL=1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import SIB200, UDHR, need
from tests.test_kill_anywhere import files

ROOT = Path(__file__).resolve().parents[1]


def _can_mount() -> str | None:
    if not shutil.which("unshare") or os.geteuid() != 0:
        return "needs root and unshare (a tmpfs in a private mount namespace)"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return None if probe.returncode == 0 else f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}"


why = _can_mount()
if why and os.environ.get("EMMA_REQUIRE_DISK_FULL") == "1":
    raise RuntimeError(f"EMMA_REQUIRE_DISK_FULL=1 but {why}")
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")

SCRIPT = r"""
set -u
mkdir -p "$MNT"
mount -t tmpfs -o size="$SMALL" tmpfs "$MNT"
"$@" --out "$MNT/out" > "$RES/full.out" 2> "$RES/full.err"
echo $? > "$RES/full.code"
cp -a "$MNT/out" "$RES/after-full" 2>/dev/null || mkdir -p "$RES/after-full"
mount -o remount,size=256m "$MNT"
"$@" --out "$MNT/out" $RESUME > "$RES/again.out" 2> "$RES/again.err"
echo $? > "$RES/again.code"
cp -a "$MNT/out" "$RES/final"
"""


def full_then_freed(tmp: Path, argv: list[str], small: str, resume: str = "") -> Path:
    res = tmp / "res"
    res.mkdir()
    env = {**os.environ, "MNT": str(tmp / "mnt"), "SMALL": small, "RES": str(res), "RESUME": resume}
    cmd = ["unshare", "-m", "--propagation", "private", "bash", "-c", SCRIPT, "disk-full", sys.executable, "-m", "emma.cli", *argv]
    subprocess.run(cmd, env=env, check=True, timeout=900)
    return res


def check(res: Path, reference: dict[str, bytes], normalise=lambda k, v: v, results=lambda name: True) -> None:
    """`results`: which files are results (a corpus build's datatrove stage folders are working files
    of unfinished tasks, rewritten when they rerun; only `final/` and the counts are its results)."""
    err = (res / "full.err").read_text()
    lines = [line for line in err.splitlines() if line.startswith("emma: error:")]
    assert (res / "full.code").read_text().strip() == "2", err[-2000:]
    assert len(lines) == 1 and "no space left" in lines[0], err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    # nothing corrupt: every result file left there is one the finished run also has, complete
    done = {k: normalise(k, v) for k, v in files(res / "after-full").items()}
    assert (res / "again.code").read_text().strip() == "0", (res / "again.err").read_text()[-2000:]
    final = {k: normalise(k, v) for k, v in files(res / "final").items()}
    for name, body in done.items():
        if name in reference and not name.startswith(("logs/", ".")) and results(name):
            assert body == final[name], f"{name} was left incomplete or different when the disk filled"
    assert {k: final[k] for k in reference} == reference


def test_eval(tmp_path, tiny_model_dir):
    args = ["eval", "-m", str(tiny_model_dir), "--tasks", "sib200,flores200", "--langs", "eng_Latn,swh_Latn", "--limit", "6"]
    args += ["--max-new-tokens", "6", "--data-dir", str(need(SIB200))]
    subprocess.run([sys.executable, "-m", "emma.cli", *args, "--out", str(tmp_path / "ref")], check=True, capture_output=True)
    reference = files(tmp_path / "ref", skip=lambda p: p.name.startswith("results_"))
    check(full_then_freed(tmp_path, args, "24k"), reference)


def test_corpus_pack(tmp_path, tiny_model_dir):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": f"Line {i}: the river runs past the stone house.", "lang": "eng"}) + "\n" for i in range(3000)))
    args = ["corpus", "pack", str(docs), "--tokenizer", str(tiny_model_dir)]
    subprocess.run([sys.executable, "-m", "emma.cli", *args, "--out", str(tmp_path / "ref")], check=True, capture_output=True)
    check(full_then_freed(tmp_path, args, "64k"), files(tmp_path / "ref"))


def test_corpus_build(tmp_path, tiny_model_dir):
    from emma.io import read_sib_tsv

    rows = [{"text": r["text"], "lang": lang} for lang in ("eng_Latn", "swh_Latn") for r in read_sib_tsv(need(SIB200) / lang / "train.tsv", "t")]
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump({"sources": [{"name": "docs", "type": "jsonl", "path": str(docs)}], "tokenizer": str(tiny_model_dir), "workers": 1})
    )
    args = ["corpus", "build", str(cfg)]
    subprocess.run([sys.executable, "-m", "emma.cli", *args, "--out", str(tmp_path / "ref")], check=True, capture_output=True)

    reference = {
        k: v.replace(str(tmp_path / "ref").encode(), b"<OUT>")
        for k, v in files(tmp_path / "ref", skip=lambda p: p.parts[0] == "logs" or p.name in ("timings.json", "stats.png")).items()
    }
    res = full_then_freed(tmp_path, args, "300k")
    final = ("final/", "stats.json", "stats.csv")
    check(res, reference, lambda k, v: v.replace(str(tmp_path / "mnt" / "out").encode(), b"<OUT>"), results=lambda n: n.startswith(final))


def test_train(tmp_path, tiny_model_dir):
    need(UDHR)
    cfg = {
        "model": str(tiny_model_dir),
        "seed": 0,
        "data": {"udhr": ["eng_Latn", "swh_Latn"], "block_size": 32, "heldout_blocks": 1},
        "steps": 6,
        "batch_size": 2,
        "learning_rate": 1e-3,
        "save_steps": 2,
        "report_to": [],
        "peak_flops": 1e10,
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    subprocess.run([sys.executable, "-m", "emma.cli", "train", str(path), "--out", str(tmp_path / "ref")], check=True, capture_output=True)
    from safetensors.numpy import load_file

    res = full_then_freed(tmp_path, ["train", str(path)], "12m", resume="--resume")
    err = (res / "full.err").read_text()
    assert (res / "full.code").read_text().strip() == "2" and "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("emma: error:")]
    assert len(lines) == 1 and "no space left" in lines[0], err[-2000:]
    assert (res / "again.code").read_text().strip() == "0", (res / "again.err").read_text()[-2000:]
    want, got = (load_file(str(d / "checkpoint" / "model.safetensors")) for d in (tmp_path / "ref", res / "final"))
    assert want.keys() == got.keys() and all((want[k] == got[k]).all() for k in want)  # resumed to the same weights
