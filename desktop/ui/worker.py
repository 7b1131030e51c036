"""The background worker: discovery and the core pipeline off the GUI thread.

Shape after superqt's ``_qthreading``: a :class:`QRunnable` on a :class:`QThreadPool`
whose signals live on a separate :class:`QObject`; cancelling is a flag the loop checks
between files; exceptions are caught in :meth:`run` and sent as ``errored``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, QRunnable, Signal

from desktop.core.cases import CasePlan, plan_cases
from desktop.core.discovery import Discovery, path_key
from desktop.core.discovery import discover as core_discover
from desktop.core.results import SliceResult
from desktop.ui.priority import lower_current_thread
from desktop.ui.results_model import ResultRow
from desktop.ui.thumbnails import thumbnail_image


class PipelineLike(Protocol):
    def run(
        self,
        files: Iterable[Path],
        cancel: Callable[[], bool] = ...,
        plan: CasePlan | None = ...,
    ) -> Iterator[SliceResult]: ...


class SeenFiles:
    """Thread-safe set of files already claimed for classification (dedup across drops)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        #: str(path) -> resolved key, for claimed files (release without resolving again)
        self._key_of: dict[str, str] = {}
        #: case ids given out in this window (a later drop's cases get other ids)
        self.case_ids: set[str] = set()

    def claim(self, files: Iterable[Path]) -> list[Path]:
        """The files not claimed before, now claimed (input order kept)."""
        out: list[Path] = []
        with self._lock:
            for f in files:
                k = path_key(f)
                if k not in self._seen:
                    self._seen.add(k)
                    self._key_of[str(f)] = k
                    out.append(f)
        return out

    def release(self, files: Iterable[str | Path]) -> None:
        """Forget files (cancelled before reaching them, or their rows were removed)."""
        with self._lock:
            for f in files:
                k = self._key_of.pop(str(f), None)
                self._seen.discard(k if k is not None else path_key(f))

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return isinstance(path, str | Path) and path_key(path) in self._seen

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


def to_row(result: SliceResult) -> ResultRow:
    """Thumbnail as QImage (made here, off the GUI thread); the array is not kept twice."""
    image = thumbnail_image(result.thumbnail)
    return ResultRow.from_result(replace(result, thumbnail=None), image)


class WorkerSignals(QObject):
    """Signals of a :class:`ClassifyWorker` (emitted from the pool thread)."""

    started = Signal()
    #: files to classify (new ones), files skipped by discovery (hidden / not images)
    discovered = Signal(int, int)
    #: a list[ResultRow], one chunk
    results_ready = Signal(object)
    #: files done, files total
    progressed = Signal(int, int)
    errored = Signal(str)
    #: True when cancelled
    finished = Signal(bool)


class ClassifyWorker(QRunnable):
    """Discover ``paths``, classify the new files, stream rows in chunks."""

    def __init__(
        self,
        paths: Iterable[str | Path],
        pipeline: PipelineLike,
        seen: SeenFiles,
        chunk_seconds: float = 0.2,
        discover: Callable[..., Discovery] | None = None,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the controller keeps the reference until finished
        self.signals = WorkerSignals()
        self._paths = list(paths)  # made into Path objects in run(), off the GUI thread
        self._pipeline = pipeline
        self._seen = seen
        self._chunk_seconds = chunk_seconds
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._discover: Callable[..., Discovery] = discover or core_discover

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_done(self) -> bool:
        """True once run() is past its last signal (safe to drop the last reference)."""
        return self._done.is_set()

    def run(self) -> None:
        lower_current_thread()  # classification yields the CPU to the GUI thread
        self.signals.started.emit()
        try:
            self._run()
        except Exception as exc:  # report, never crash the pool thread
            self.signals.errored.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self.signals.finished.emit(self.is_cancelled())
            self._done.set()

    def _run(self) -> None:
        found = self._discover([Path(p) for p in self._paths], cancel=self.is_cancelled)
        files = self._seen.claim(found.files)
        total = len(files)
        self.signals.discovered.emit(total, int(found.skipped))
        self.signals.progressed.emit(0, total)
        done_paths: set[str] = set()
        chunk: list[ResultRow] = []
        last = float("-inf")  # the first result is shown at once, later ones in chunks
        current: str | None = None
        complete = False
        # DICOM headers only: a series is one case, its files in anatomical order
        plan = plan_cases(files, cancel=self.is_cancelled, taken=self._seen.case_ids)
        try:
            for result in self._pipeline.run(plan.files, cancel=self.is_cancelled, plan=plan):
                if result.path != current:
                    if current is not None:
                        done_paths.add(current)
                    current = result.path
                chunk.append(to_row(result))
                now = time.monotonic()
                if now - last >= self._chunk_seconds:
                    self.signals.results_ready.emit(chunk)
                    self.signals.progressed.emit(len(done_paths), total)
                    chunk, last = [], now
            complete = not self.is_cancelled()
        finally:
            if current is not None:
                done_paths.add(current)
            if chunk:
                self.signals.results_ready.emit(chunk)
            if not complete:  # files never reached may be dropped again later
                self._seen.release(f for f in files if str(f) not in done_paths)
                self.signals.progressed.emit(len(done_paths), total)
            else:
                self.signals.progressed.emit(total, total)
