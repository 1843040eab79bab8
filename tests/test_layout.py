"""The layout is the design: stages (corpus, train, eval, report) never import one another, the
foundation imports no stage, and only recipes and the CLI chain stages. Walks every module's
imports (including those inside functions) with `ast`, so a lazy import is caught too."""

import ast
from pathlib import Path

import emma

ROOT = Path(emma.__file__).parent
STAGES = {"corpus", "train", "eval", "report"}
CHAINING = {"recipes", "cli"}  # may use any stage


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "emma" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def offending_imports() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        here = rel.parts[0].removesuffix(".py")
        if here in CHAINING:
            continue
        for line, name in _imports(path):
            there = _part(name)
            if there is None or there == here:
                continue
            if there in STAGES or there in CHAINING:
                role = "stage" if here in STAGES else "foundation module"
                bad.append(f"{rel}:{line}: {role} {here} imports {name}")
    return bad


def test_stages_never_import_each_other_and_the_foundation_imports_no_stage():
    assert offending_imports() == []


def test_the_walker_catches_a_cross_stage_import(tmp_path, monkeypatch):
    """The check itself can fail: a planted lazy import of eval inside corpus is reported."""
    fake = tmp_path / "emma"
    (fake / "corpus").mkdir(parents=True)
    (fake / "corpus" / "x.py").write_text("def f():\n    from emma.eval.harness import evaluate\n    from . import y\n")
    (fake / "io.py").write_text("from ..emma.train import run\nimport emma.report.tables\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    bad = offending_imports()
    assert any("corpus/x.py:2: stage corpus imports emma.eval.harness" in b for b in bad), bad
    assert any("io.py:2: foundation module io imports emma.report.tables" in b for b in bad), bad
