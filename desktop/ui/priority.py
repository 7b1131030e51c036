"""Background threads at a lower CPU priority than the GUI thread (Linux; elsewhere a no-op).

On a 2-core machine a run keeps ~5 threads busy (two readers, the inference thread
and onnxruntime's pool); at equal priority the scheduler gave the GUI thread a small
share, and one table repaint (~12 ms of CPU) took up to ~150 ms of wall time. With the
background threads niced, the GUI thread runs as soon as it has work; throughput is
unchanged when the GUI is idle (docs/PERFORMANCE.md, 2026-11-29 second session).

Linux's nice value is per thread (``setpriority(PRIO_PROCESS, tid)``); other systems
apply it to the whole process, so nothing is done there.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

log = logging.getLogger(__name__)

#: nice value of background threads (0 = normal; larger = lower priority)
BACKGROUND_NICE = 10
T = TypeVar("T")


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "setpriority")


def lower_threads(tids: Iterable[int], nice: int = BACKGROUND_NICE) -> int:
    """Raise these threads' nice value to at least ``nice``; how many were changed."""
    if not supported():
        return 0
    changed = 0
    for tid in tids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                changed += 1
        except OSError:  # the thread ended, or the system refused: not worth failing for
            log.debug("could not lower the priority of thread %s", tid, exc_info=True)
    return changed


def lower_current_thread(nice: int = BACKGROUND_NICE) -> None:
    """Lower the calling thread's priority (a reader or worker thread calls this)."""
    lower_threads([threading.get_native_id()], nice)


def thread_ids() -> set[int]:
    """Native ids of this process's threads (empty where /proc is missing)."""
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def started_threads(make: Callable[[], T]) -> tuple[T, set[int]]:
    """``make()`` and the ids of the threads it started (e.g. onnxruntime's pool)."""
    before = thread_ids()
    out = make()
    return out, thread_ids() - before
