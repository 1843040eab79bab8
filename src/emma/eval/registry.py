"""The task registry: where `emma eval` and `emma tasks` find tasks, so a task is added without
editing emma. Built-in tasks are declared by their own modules (a module-level `TASKS` list in
each `emma.eval.tasks.<module>`, found by walking the package); a user's package adds its own
through the `emma.tasks` entry point group, or by calling `register_task` itself.

An entry point names either a module (importing it may call `register_task`; a `TASKS` list in it
is registered too) or an object: a `Task`, a list of Tasks, or a callable returning either.
In the user's pyproject.toml:

    [project.entry-points."emma.tasks"]
    mytask = "mypackage.tasks"            # or "mypackage.tasks:make_tasks"
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from emma.errors import EmmaError
from emma.eval.task import Task

ENTRY_POINT_GROUP = "emma.tasks"

_tasks: dict[str, Task] = {}
_sources: dict[str, str] = {}  # task name -> where it was declared, for the duplicate-name error
_loaded = False
_entry_points_done: set[tuple[str, str]] = set()


def _origin(task: Task) -> str:
    run = getattr(task.run, "func", task.run)  # functools.partial
    return getattr(run, "__module__", None) or "an unknown module"


def _check(task, source: str | None, batch: dict[str, tuple[Task, str]]) -> bool:
    """Whether `task` is new; raises if it is not a Task or its name is taken by another one."""
    if not isinstance(task, Task):
        raise EmmaError(f"register_task needs an emma.eval.task.Task{f' (from {source})' if source else ''}; got {type(task).__name__}")
    have, have_source = batch.get(task.name) or (_tasks.get(task.name), _sources.get(task.name))
    if have is task:
        return False
    if have is not None:
        raise EmmaError(f"task name {task.name!r} is taken twice: by {have_source} and by {source or _origin(task)}; rename one")
    return True


def register_task(task: Task, *, source: str | None = None) -> Task:
    """Add a task; refuses a name that another task has. Registering the same task again is a
    no-op (a module imported twice). Returns the task."""
    if _check(task, source, {}):
        _tasks[task.name] = task
        _sources[task.name] = source or _origin(task)
    return task


def _register_all(tasks, source: str) -> None:
    """All of `tasks` or, when one is refused, none of them."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    try:
        tasks = list(tasks)
    except TypeError:
        raise EmmaError(f"{source} gave {type(tasks).__name__}, not a Task or a list of Tasks") from None
    batch: dict[str, tuple[Task, str]] = {}
    for task in tasks:
        if _check(task, source, batch):
            batch[task.name] = (task, source)
    for name, (task, _) in batch.items():
        _tasks[name] = task
        _sources[name] = source


def _builtin_modules() -> list[str]:
    import emma.eval.tasks as package

    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]


def _load_entry_point(ep: EntryPoint) -> None:
    dist = getattr(ep, "dist", None)
    where = f"entry point {ep.name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP}{f', package {dist.name}' if dist else ''})"
    try:
        obj = ep.load()
        if isinstance(obj, ModuleType):  # importing it has registered its tasks, or it lists them
            _register_all(getattr(obj, "TASKS", []), where)
        elif isinstance(obj, (Task, list, tuple)):
            _register_all(obj, where)
        elif callable(obj):
            _register_all(obj(), where)
        else:
            raise EmmaError(f"names a {type(obj).__name__}: need a module, a Task, a list of Tasks or a callable returning them")
    except EmmaError as exc:
        raise EmmaError(str(exc) if where in str(exc) else f"{where}: {exc}") from None
    except Exception as exc:  # the user's code: any failure, as one line naming the entry point
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise EmmaError(f"{where} failed to load: {type(exc).__name__}{f': {first}' if first else ''}") from exc


def _load() -> None:
    """Built-in tasks, then entry points, once per process. A failure is raised again on every
    call (never a silently half-filled registry); entry points that did load are not run twice."""
    global _loaded
    if _loaded:
        return
    for name in _builtin_modules():
        _register_all(getattr(importlib.import_module(name), "TASKS", []), name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) not in _entry_points_done:
            _load_entry_point(ep)
            _entry_points_done.add((ep.name, ep.value))
    _loaded = True


def all_tasks() -> dict[str, Task]:
    _load()
    return dict(_tasks)


def get_task(name: str) -> Task:
    tasks = all_tasks()
    try:
        return tasks[name]
    except KeyError:
        raise EmmaError(f"unknown task {name!r}; available: {', '.join(sorted(tasks))}") from None
