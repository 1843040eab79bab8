"""The HTML report of two small real runs (SmolLM2-135M and Gemma 3 270M on SIB-200 and intrinsic NLL,
three languages, 3 items each) opened in headless Chromium: no console errors, every plot an SVG with
content and a size, a click on a column header sorts the rows (and again reverses them), the group
filter leaves only that group's rows; a screenshot is kept (pytest's tmp dir, and `$EMMA_ARTEFACTS`
when set).

Chromium and chromedriver listen on loopback ports, so the browser runs in a private network namespace
(`unshare -n`, as tests/test_distributed.py runs torchrun). Needs selenium, Debian's `chromium` and
`chromium-driver` (`bash scripts/setup.sh --with browser`), root and unshare: skipped with the reason
where one is missing, failed instead under EMMA_REQUIRE_BROWSER=1 (.ci/run sets it)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import GROUPS, SIB200, need

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("EMMA_REQUIRE_BROWSER") == "1"
LANGS = "eng_Latn,swh_Latn,amh_Ethi"


def _unavailable(why: str) -> None:
    if REQUIRE:
        pytest.fail(f"EMMA_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


def _need_browser() -> None:
    problems = []
    if importlib.util.find_spec("selenium") is None:
        problems.append("selenium is not installed")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        problems.append("chromium not found")
    if not shutil.which("chromedriver"):
        problems.append("chromedriver not found (Debian: chromium-driver)")
    problems += [f"{b} not found" for b in ("unshare", "ip") if shutil.which(b) is None]
    if os.geteuid() != 0:
        problems.append("not root (unshare -n needs it)")
    elif not problems and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        problems.append("unshare -n is refused here")
    if problems:
        _unavailable("the HTML report cannot be opened in a browser here: " + "; ".join(problems) + " (bash scripts/setup.sh --with browser)")


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory) -> Path:
    """`emma eval` of the two local models, as the command runs it (not where no browser can open the page)."""
    _need_browser()
    need(SIB200)
    from emma.models.load import ALIASES, resolve_model_source

    for alias in ("smollm2-135m", "gemma3-270m"):
        try:
            resolve_model_source(alias)
        except Exception as exc:
            pytest.skip(f"{alias} is not installed here ({exc}); {ALIASES[alias].install}")
    out = tmp_path_factory.mktemp("real-eval") / "eval"
    args = ["-m", "smollm2-135m", "-m", "gemma3-270m", "--tasks", "sib200,nll", "--data-dir", str(SIB200), "--langs", LANGS, "--limit", "3"]
    if GROUPS.exists():
        args += ["--resource-groups", str(GROUPS)]
    done = subprocess.run(
        [sys.executable, "-m", "emma.cli", "-q", "eval", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_report_in_a_real_browser(real_runs, tmp_path):
    from emma.cli import main

    page = tmp_path / "report.html"
    with pytest.raises(SystemExit) as done:
        main(["report", str(real_runs), "--html", str(page), "--baseline", "smollm2-135m"])
    assert done.value.code in (0, None) and page.is_file()
    shot, result = tmp_path / "report.png", tmp_path / "seen.json"
    check = [sys.executable, str(ROOT / "tests" / "browser_check.py"), str(page), str(shot), str(result), "--table", "table[id$='-nll-bpb']"]
    ns = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "ns", *check], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert ns.returncode == 0, ns.stderr[-4000:]
    seen = json.loads(result.read_text())
    if os.environ.get("EMMA_ARTEFACTS"):
        dest = Path(os.environ["EMMA_ARTEFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / "report-browser.png")
        shutil.copy(page, dest / "report-browser.html")
    assert seen["title"].startswith("emma report")
    errors = [e for e in seen["console"] if e["level"] == "SEVERE"]
    assert not errors, errors
    # bars + scatter for sib200 acc, acc_norm, nll nll; bars + two scatters for bpb; the heatmap
    assert len(seen["svgs"]) >= 10, seen["svgs"]
    assert all(s["children"] > 20 and s["width"] > 200 and s["height"] > 100 for s in seen["svgs"]), seen["svgs"]
    # sorting: the first model's bits per byte, ascending then descending; then by language name
    sort = seen["sort"]
    values = [float(v) for v in sort["before"]]
    assert len(values) == 3 and len(set(values)) == 3, sort
    assert [float(v) for v in sort["asc"]] == sorted(values) and [float(v) for v in sort["desc"]] == sorted(values, reverse=True)
    assert sort["by_language"] == sorted(LANGS.split(",")) and sort["aria"] == "ascending"
    # the group filter: only the chosen group's rows stay
    chosen = seen["filter_groups"][-1]
    assert seen["filtered"] and set(seen["filtered"]) == {chosen} and len(seen["filtered"]) < 3, seen
    assert seen["shown_text"] == f"{len(seen['filtered'])} of 3 shown"
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
