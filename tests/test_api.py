"""The documented Python API (README, "Python API"): importable from the stage packages, typed."""

import inspect

from emma.corpus import build
from emma.eval import evaluate
from emma.languages import normalize
from emma.models import load_model
from emma.train import train


def test_the_documented_functions_are_typed():
    for fn in (build, evaluate, normalize, load_model, train):
        sig = inspect.signature(fn)
        untyped = [name for name, p in sig.parameters.items() if p.annotation is inspect.Parameter.empty]
        assert not untyped, f"{fn.__module__}.{fn.__name__}: untyped parameters {untyped}"
        assert sig.return_annotation is not inspect.Signature.empty, f"{fn.__name__} has no return type"
        assert fn.__doc__, f"{fn.__name__} has no docstring"


def test_normalize_as_the_readme_shows():
    assert normalize("sw") == "swa_Latn" and normalize("zh-Hant") == "zho_Hant"
