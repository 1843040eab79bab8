"""Worker processes that die with emma. datatrove's LocalPipelineExecutor starts a `multiprocess`
Manager server (always, even with one worker) and a Pool; when emma is killed (SIGKILL, the OOM
killer) they are orphaned and live on, 190-270 MB each. On Linux each of them is made to receive
SIGKILL when its parent dies (`prctl(PR_SET_PDEATHSIG)`), set as it starts; elsewhere nothing changes."""

from __future__ import annotations

import os
import signal
import sys

_done = False


def die_with_parent(parent: int | None = None) -> None:
    """In a child process: be killed when the parent dies (and exit now if it already has)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if parent is not None and os.getppid() != parent:  # the parent died before the line above ran
        os._exit(1)


def tie_datatrove_children() -> None:
    """Give datatrove's Manager server and Pool workers `die_with_parent` as their initializer."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return
    import multiprocess
    import multiprocess.context
    from multiprocess.managers import SyncManager

    def manager():
        m = SyncManager(ctx=multiprocess.get_context())
        m.start(initializer=die_with_parent, initargs=(os.getpid(),))
        return m

    original_pool = multiprocess.context.BaseContext.Pool

    def pool(self, processes=None, initializer=None, initargs=(), *args, **kwargs):
        if initializer is None:  # a pool with its own initializer is left alone
            # no parent check: under forkserver a worker's parent is the fork server, which itself ends with emma
            initializer, initargs = die_with_parent, ()
        return original_pool(self, processes, initializer, initargs, *args, **kwargs)

    multiprocess.Manager = manager
    multiprocess.context.BaseContext.Pool = pool
    _done = True
