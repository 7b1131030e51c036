"""Runs classification jobs one after another; later drops wait in a queue."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from desktop.core.discovery import Discovery
from desktop.ui.table.model import ResultRow
from desktop.ui.worker import ClassifyWorker, PipelineLike, SeenFiles


@dataclass(frozen=True)
class Progress:
    """Progress of the current session (all queued jobs since the app was last idle)."""

    files_done: int
    files_total: int
    slices: int
    elapsed: float
    queued_jobs: int

    @property
    def rate(self) -> float:
        """Slices per second."""
        return self.slices / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        if self.files_done <= 0 or self.elapsed <= 0:
            return None
        per_file = self.elapsed / self.files_done
        return max(0.0, (self.files_total - self.files_done) * per_file)


class RunController(QObject):
    """Owns the worker queue, the dedup set and the session progress."""

    rows_arrived = Signal(object)  # list[ResultRow]
    #: the cases a job will classify (list[Case]), before their rows
    cases_planned = Signal(object)
    progress_changed = Signal(object)  # Progress
    busy_changed = Signal(bool)
    #: a message for the status bar
    notified = Signal(str)
    #: a worker failed (a programmer error reached run()); the text is for a message box
    errored = Signal(str)
    #: the queue drained; True when the last job was cancelled
    idle = Signal(bool)

    def __init__(
        self,
        pipeline: PipelineLike | None,
        pool: QThreadPool | None = None,
        parent: Any = None,
        discover: Callable[..., Discovery] | None = None,
    ) -> None:
        super().__init__(parent)
        self.pipeline = pipeline
        self.seen = SeenFiles()
        self._pool = pool or QThreadPool.globalInstance()
        #: paths as given (converted to Path in the worker thread, not here)
        self._queue: deque[list[str | Path]] = deque()
        self._worker: ClassifyWorker | None = None
        #: finished workers whose run() may still be returning: kept alive a little longer
        self._retired: list[ClassifyWorker] = []
        self._discover = discover
        self._reset_session()

    def _reset_session(self) -> None:
        #: paths given in this session that do not exist
        self.missing: list[str] = []
        self._done_before = 0  # files done by finished jobs of this session
        self._total_before = 0
        self._cur_done = 0
        self._cur_total = 0
        self._slices = 0
        self._start = time.monotonic()

    # -- public -------------------------------------------------------------------------
    @property
    def can_classify(self) -> bool:
        return self.pipeline is not None

    def is_busy(self) -> bool:
        return self._worker is not None

    def enqueue(self, paths: Sequence[str | Path]) -> bool:
        """Queue paths for classification; False (and a message) when there is no model.

        The paths are only copied here, on the GUI thread (a drop of thousands of files
        must not stall the window); the worker turns them into ``Path`` objects.
        """
        files = list(paths)
        if not files:
            return False
        if self.pipeline is None:
            self.notified.emit("No model installed - files cannot be classified")
            return False
        self._queue.append(files)
        if self._worker is None:
            self._reset_session()
            self.busy_changed.emit(True)
            self._start_next()
        else:
            self.notified.emit(f"Queued {len(files)} more item(s); they start after this run")
            self._emit_progress()
        return True

    def cancel(self) -> None:
        """Stop the running job after its current file and drop the queue."""
        self._queue.clear()
        if self._worker is not None:
            self._worker.cancel()

    def release(self, paths: Iterable[str]) -> None:
        """Allow files to be classified again (their rows were removed)."""
        self.seen.release(paths)

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the pool is idle (used on close)."""
        return self._pool.waitForDone(msecs)

    # -- internals ----------------------------------------------------------------------
    def _start_next(self) -> None:
        assert self.pipeline is not None
        paths = self._queue.popleft()
        worker = ClassifyWorker(paths, self.pipeline, self.seen, discover=self._discover)
        s = worker.signals
        s.discovered.connect(self._on_discovered)
        s.planned.connect(self.cases_planned)
        s.results_ready.connect(self._on_rows)
        s.progressed.connect(self._on_progressed)
        s.errored.connect(self.errored)
        s.finished.connect(self._on_finished)
        self._worker = worker  # strong reference until finished
        self._cur_done = self._cur_total = 0
        self._pool.start(worker)

    def _on_discovered(self, total: int, skipped: int, missing: list[str]) -> None:
        self.missing.extend(missing)
        if missing:
            self.notified.emit(not_found_text(missing))
        elif total == 0:
            self.notified.emit(
                "Nothing new to classify"
                + (f" ({skipped} non-image or hidden file(s) skipped)" if skipped else "")
            )
        elif skipped:
            self.notified.emit(f"{total} file(s) to classify, {skipped} skipped (not images)")

    def _on_rows(self, rows: list[ResultRow]) -> None:
        self._slices += len(rows)
        self.rows_arrived.emit(rows)

    def _on_progressed(self, done: int, total: int) -> None:
        self._cur_done, self._cur_total = done, total
        self._emit_progress()

    def _emit_progress(self) -> None:
        self.progress_changed.emit(
            Progress(
                files_done=self._done_before + self._cur_done,
                files_total=self._total_before + self._cur_total,
                slices=self._slices,
                elapsed=time.monotonic() - self._start,
                queued_jobs=len(self._queue),
            )
        )

    def _on_finished(self, cancelled: bool) -> None:
        self._done_before += self._cur_done
        self._total_before += self._cur_done if cancelled else self._cur_total
        self._cur_done = self._cur_total = 0
        self._retired = [w for w in self._retired if not w.is_done()]
        if self._worker is not None:
            self._retired.append(self._worker)
        self._worker = None
        if self._queue and not cancelled:
            self._start_next()
            return
        self._emit_progress()
        self.busy_changed.emit(False)
        self.idle.emit(cancelled)


def not_found_text(missing: Sequence[str]) -> str:
    """The paths that do not exist, named (the first few, then how many more)."""
    shown = "; ".join(missing[:3])
    more = f" and {len(missing) - 3:,} more" if len(missing) > 3 else ""
    return f"Not found: {shown}{more}"
