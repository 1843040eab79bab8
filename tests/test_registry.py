"""The task registry: built-in tasks found by walking `emma.eval.tasks` (no list to edit), a user's
task joining from their own installed package through the `emma.tasks` entry point group, one clear
error for a broken entry point or a taken name, and every task's callables matching the contract."""

from __future__ import annotations

import inspect
import json
import sys
import textwrap
from pathlib import Path

import pytest

import emma.eval.tasks
from emma.errors import EmmaError
from emma.eval import registry
from emma.eval.backend import Backend
from emma.eval.loglikelihood import LogLikelihood
from emma.eval.task import Task, TaskOptions
from emma.eval.tasks import all_tasks, get_task, register_task

# What `emma tasks` listed before the registry was rebuilt (checked with `.venv/bin/emma tasks`).
BUILTIN = {
    "nll",
    "sib200",
    "taxi1500",
    "flores200",
    "xlsum",
    "massivesumm",
    "massivesumm_long",
    "massivesumm_short",
    "aya",
    "polywrite",
    "xcopa",
    "xstorycloze",
    "xnli",
    "belebele",
    "arc_multilingual",
    "mc",
    "mgsm_direct",
    "mgsm_cot",
    "humaneval",
    "mbpp",
    "multipl-e",
}


@pytest.fixture
def fresh(monkeypatch):
    """An empty registry that loads again (built-ins, then entry points), restored afterwards."""
    monkeypatch.setattr(registry, "_tasks", {})
    monkeypatch.setattr(registry, "_sources", {})
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_entry_points_done", set())
    before = set(sys.modules)
    yield registry
    for name in set(sys.modules) - before:  # the user packages written by the tests
        if name.startswith("userpkg_"):
            del sys.modules[name]


def install(root: Path, package: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """A package as pip leaves it in site-packages: its modules and a `*.dist-info` with METADATA and entry_points.txt."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    for name, source in modules.items():
        (root / package / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[emma.tasks]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))


USER_TASKS = """
    from emma.eval.registry import register_task
    from emma.eval.task import Task, mean_scores

    def languages(data_dir):
        return ["eng_Latn", "fra_Latn"]

    def run(backend, data_dir, lang, opts, progress=None):
        items = [("2 + 2 =", " 4", " 5"), ("The sky is", " blue", " green")][: opts.limit]
        lls = backend.loglikelihood([(c, x) for c, right, wrong in items for x in (right, wrong)], progress=progress)
        samples = [{"id": i, "lang": lang, "acc": float(lls[2 * i].logprob > lls[2 * i + 1].logprob)} for i in range(len(items))]
        return samples, mean_scores(samples, ["acc"])

    register_task(Task("mytask", ["acc"], languages, run, description="a user's own task"))
"""
USER_FACTORY = """
    from emma.eval.task import Task

    def make_tasks():
        from userpkg_a.tasks import languages, run
        return [Task("mytask_again", ["acc"], languages, run), Task("mytask_third", ["acc"], languages, run)]
"""


class FakeBackend:
    """Answers log-likelihood requests by the continuation's length: shorter is likelier."""

    name = "fake"

    def __init__(self):
        self.requests = []

    def loglikelihood(self, requests, *, first_token_only=False, progress=None):
        self.requests += requests
        return [LogLikelihood(-float(len(x)), True, 1) for _, x in requests]

    def nll(self, texts, *, progress=None):
        raise NotImplementedError

    def generate(self, requests, *, progress=None):
        raise NotImplementedError


def test_every_builtin_module_is_discovered_with_no_list_to_edit(fresh, tmp_path, monkeypatch):
    tasks = all_tasks()
    assert set(tasks) == BUILTIN
    package_dir = Path(emma.eval.tasks.__file__).parent
    modules = {f"emma.eval.tasks.{p.stem}" for p in package_dir.glob("*.py") if not p.stem.startswith("_")}
    assert set(registry._sources.values()) == modules  # every module file gave at least one task
    # A module dropped into the package joins: discovery walks the folder, it keeps no list of modules.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "zz_extra_task.py").write_text(
        "from emma.eval.task import Task\nTASKS = [Task('zz_extra', ['acc'], lambda d: ['eng_Latn'], lambda *a, **k: ([], {}))]\n"
    )
    monkeypatch.setattr(emma.eval.tasks, "__path__", [*emma.eval.tasks.__path__, str(extra)])
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "zz_extra" in all_tasks() and registry._sources["zz_extra"] == "emma.eval.tasks.zz_extra_task"
    finally:
        sys.modules.pop("emma.eval.tasks.zz_extra_task", None)


def test_a_users_package_adds_a_task_by_entry_point(fresh, tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site, "userpkg_a", {"tasks": USER_TASKS, "more": USER_FACTORY}, {"mine": "userpkg_a.tasks", "mine_too": "userpkg_a.more:make_tasks"})
    monkeypatch.syspath_prepend(str(site))
    task = get_task("mytask")
    assert task.description == "a user's own task" and {"mytask_again", "mytask_third"} <= set(all_tasks())
    assert BUILTIN <= set(all_tasks())
    assert "entry point 'mine_too'" in registry._sources["mytask_again"]

    # It runs through the harness like a built-in task: files written, scores aggregated.
    from emma.eval import backends
    from emma.eval.harness import evaluate

    fake = FakeBackend()
    assert isinstance(fake, Backend)
    monkeypatch.setattr(backends, "make_backend", lambda kind, model, options=None: fake)
    scores = evaluate(["some-model"], ["mytask"], tmp_path / "out", options=TaskOptions(limit=2))
    assert scores["some-model"]["mytask"]["eng_Latn"] == {"acc": 0.5, "n": 2}  # " 4"/" 5" tie (wrong), " blue" wins
    assert scores["some-model"]["mytask"]["_overall"]["acc"] == 0.5
    lines = (tmp_path / "out" / "some-model" / "mytask" / "fra_Latn.jsonl").read_text().splitlines()
    assert [json.loads(x)["lang"] for x in lines] == ["fra_Latn", "fra_Latn"]
    assert fake.requests[:2] == [("2 + 2 =", " 4"), ("2 + 2 =", " 5")]


@pytest.mark.parametrize(
    "module,value,match",
    [
        (
            "raise ZeroDivisionError('boom')\n",
            "userpkg_b.tasks",
            r"entry point 'broken' = 'userpkg_b.tasks' .*failed to load: ZeroDivisionError: boom",
        ),
        ("import no_such_module_anywhere\n", "userpkg_b.tasks", r"entry point 'broken' .*failed to load: ModuleNotFoundError"),
        ("X = 1\n", "userpkg_b.tasks:missing", r"entry point 'broken' = 'userpkg_b.tasks:missing' .*failed to load: AttributeError"),
        ("def make():\n    return 42\n", "userpkg_b.tasks:make", r"entry point 'broken' .* gave int, not a Task"),
        ("X = 1\n", "userpkg_b.tasks:X", r"entry point 'broken' .*names a int"),
    ],
)
def test_a_broken_entry_point_is_one_clear_error(fresh, tmp_path, monkeypatch, module, value, match):
    site = tmp_path / "site"
    install(site, "userpkg_b", {"tasks": module}, {"broken": value})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(EmmaError, match=match) as err:
        all_tasks()
    assert "\n" not in str(err.value) and "package userpkg_b" in str(err.value)
    with pytest.raises(EmmaError, match="entry point 'broken'"):  # again on the next call: never half-loaded in silence
        get_task("sib200")


def test_a_taken_name_is_refused_naming_both(fresh, tmp_path, monkeypatch):
    sib200 = get_task("sib200")
    register_task(sib200)  # the same task again (a module imported twice) is fine
    clash = Task("sib200", ["acc"], lambda d: [], lambda *a, **k: ([], {}))
    with pytest.raises(EmmaError, match=r"'sib200' is taken twice: by emma\.eval\.tasks\.topic and by \S*test_registry; rename one"):
        register_task(clash)
    with pytest.raises(EmmaError, match=r"'sib200' is taken twice: by emma\.eval\.tasks\.topic and by my plugin"):
        register_task(clash, source="my plugin")
    assert get_task("sib200") is sib200
    # The same through an entry point: the error names the built-in and the entry point; none of its tasks is kept.
    site = tmp_path / "site"
    install(
        site,
        "userpkg_c",
        {
            "tasks": """
        from emma.eval.task import Task
        TASKS = [Task("fine_name", ["acc"], lambda d: [], lambda *a, **k: ([], {})),
                 Task("xnli", ["acc"], lambda d: [], lambda *a, **k: ([], {}))]
    """
        },
        {"clash": "userpkg_c.tasks"},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(EmmaError, match=r"'xnli' is taken twice: by emma\.eval\.tasks\.xnli and by entry point 'clash'"):
        all_tasks()
    assert "fine_name" not in registry._tasks
    with pytest.raises(EmmaError, match="register_task needs an emma.eval.task.Task"):
        register_task({"name": "dict"})


def test_unknown_task_lists_what_there_is():
    with pytest.raises(EmmaError, match=r"unknown task 'sib201'; available: arc_multilingual, aya, belebele, .*xstorycloze$"):
        get_task("sib201")


def test_every_task_meets_the_typed_contract():
    """Each built-in task's callables take the arguments the harness gives (the `Task` protocols):
    languages(data_dir), run(backend, data_dir, lang, opts, progress=...), select(data_dir, langs,
    available, groups), group_key(key); and `Task` itself is typed by those protocols."""
    from typing import get_type_hints

    from emma.eval import task as contract

    hints = get_type_hints(Task)
    assert hints["languages"] is contract.Languages and hints["run"] is contract.Run
    run_params = list(inspect.signature(contract.Run.__call__).parameters)[1:]
    assert run_params == ["backend", "data_dir", "lang", "opts", "progress"]
    assert get_type_hints(contract.Run.__call__)["backend"] is Backend
    assert get_type_hints(contract.Run.__call__)["opts"] is TaskOptions
    for name, task in all_tasks().items():
        assert isinstance(task, Task) and task.name == name and task.metrics and task.description, name
        inspect.signature(task.languages).bind(None)
        inspect.signature(task.run).bind(FakeBackend(), None, "eng_Latn", TaskOptions(), progress=None)
        if task.select is not None:
            inspect.signature(task.select).bind(None, "all", ["eng_Latn"], {})
        if task.group_key is not None:
            inspect.signature(task.group_key).bind("eng_Latn-fra_Latn")
    with pytest.raises(TypeError):  # the check can fail: a run that takes no options does not bind
        inspect.signature(lambda backend, data_dir, lang: None).bind(FakeBackend(), None, "eng_Latn", TaskOptions(), progress=None)
