"""emma's built-in tasks (after lm-evaluation-harness's, not its size): one small module per task
family, each declaring its `Task`s in a module-level `TASKS` list; `emma.eval.registry` finds every
module here, so a new module is a new task with nothing else to edit. The contract a task meets
is `emma.eval.task`; these names are re-exported for the callers of the first version.
"""

from emma.eval.registry import all_tasks, get_task, register_task
from emma.eval.task import Task, TaskOptions, upstream_codes

__all__ = ["Task", "TaskOptions", "all_tasks", "get_task", "register_task", "upstream_codes"]
