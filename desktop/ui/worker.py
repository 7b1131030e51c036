"""The background worker: discovery and the core pipeline off the GUI thread.

Shape after superqt's ``_qthreading``: a :class:`QRunnable` on a :class:`QThreadPool`
whose signals live on a separate :class:`QObject`; cancelling is a flag the loop checks
between files; exceptions are caught in :meth:`run` and sent as ``errored``.
"""

from __future__ import annotations

import logging
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
from desktop.ui.table.model import ResultRow
from desktop.ui.table.thumbnails import thumbnail_image

log = logging.getLogger(__name__)


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
        #: files a Cancel cut short: key -> frames already classified (not done again)
        self._partial: dict[str, set[int]] = {}
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

    def release(self, files: Iterable[str | Path], keep_frames: bool = False) -> None:
        """Forget files (cancelled before reaching them, or their rows were removed).

        A file whose rows were removed is classified whole when dropped again, a file
        a Cancel cut short (``keep_frames``) only in the frames it has no rows for.
        """
        with self._lock:
            for f in files:
                k = self._key_of.pop(str(f), None)
                k = k if k is not None else path_key(f)
                self._seen.discard(k)
                if not keep_frames:
                    self._partial.pop(k, None)

    def cut_short(self, path: str | Path, frames: Iterable[int]) -> None:
        """A Cancel stopped ``path`` after ``frames``: release it, remember those frames."""
        with self._lock:
            k = self._key_of.get(str(path)) or path_key(path)
            self._partial.setdefault(k, set()).update(frames)
        self.release([path], keep_frames=True)

    def done_frames(self, path: str | Path) -> frozenset[int]:
        """Frames of ``path`` classified before a Cancel (empty for other files)."""
        with self._lock:
            if not self._partial:
                return frozenset()
            return frozenset(self._partial.get(self._key_of.get(str(path)) or path_key(path), ()))

    def finished(self, path: str | Path) -> None:
        """``path`` is classified in full now: no frames to skip any more."""
        with self._lock:
            if self._partial:
                self._partial.pop(self._key_of.get(str(path)) or path_key(path), None)

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return isinstance(path, str | Path) and path_key(path) in self._seen

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


def crash_words(exc: BaseException) -> str:
    """What a person reads when a run stopped on a programmer error (logged with its trace)."""
    from desktop.logging_setup import log_dir

    return (
        "Classification stopped because of an error in the app "
        f"({type(exc).__name__}: {exc}). The rows so far are kept. The details are in the "
        f"log files in {log_dir()}: please pass them on to whoever supports the app."
    )


def to_row(result: SliceResult) -> ResultRow:
    """Thumbnail as QImage (made here, off the GUI thread); the array is not kept twice."""
    image = thumbnail_image(result.thumbnail)
    return ResultRow.from_result(replace(result, thumbnail=None), image)


class WorkerSignals(QObject):
    """Signals of a :class:`ClassifyWorker` (emitted from the pool thread)."""

    started = Signal()
    #: files to classify (new ones), files skipped by discovery (hidden / not images),
    #: the paths given that do not exist (list[str])
    discovered = Signal(int, int, object)
    #: the cases to classify (list[Case]), before their first rows
    planned = Signal(object)
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
        except Exception as exc:  # noqa: BLE001 - report, never crash the pool thread
            log.exception("classification stopped by an unexpected error")
            self.signals.errored.emit(crash_words(exc))
        finally:
            self.signals.finished.emit(self.is_cancelled())
            self._done.set()

    def _run(self) -> None:
        found = self._discover([Path(p) for p in self._paths], cancel=self.is_cancelled)
        files = self._seen.claim(found.files)
        total = len(files)
        missing = [str(p) for p in getattr(found, "missing", ())]
        self.signals.discovered.emit(total, int(found.skipped), missing)
        self.signals.progressed.emit(0, total)
        done_paths: set[str] = set()
        #: frames classified before a Cancel cut these files short: not shown twice
        skip = {str(f): d for f in files if (d := self._seen.done_frames(f))}
        chunk: list[ResultRow] = []
        last = float("-inf")  # the first result is shown at once, later ones in chunks
        current: str | None = None
        frames: set[int] = set()  # of the current file
        complete = False
        # DICOM headers only: a series is one case, its files in anatomical order
        plan = plan_cases(files, cancel=self.is_cancelled, taken=self._seen.case_ids)
        self.signals.planned.emit(list(plan.cases))
        try:
            for result in self._pipeline.run(plan.files, cancel=self.is_cancelled, plan=plan):
                if result.path != current:
                    if current is not None:
                        done_paths.add(current)
                        if current in skip:
                            self._seen.finished(current)
                    current, frames = result.path, set()
                frames.add(result.frame)
                if result.frame in skip.get(result.path, ()):
                    continue
                chunk.append(to_row(result))
                now = time.monotonic()
                if now - last >= self._chunk_seconds:
                    self.signals.results_ready.emit(chunk)
                    self.signals.progressed.emit(len(done_paths), total)
                    chunk, last = [], now
            complete = not self.is_cancelled()
        finally:
            if chunk:
                self.signals.results_ready.emit(chunk)
            if not complete:
                # files never reached may be dropped again later; the file the Cancel
                # cut into (a volume: its other slices) too, without the frames it has
                self._seen.release(f for f in files if str(f) not in done_paths | {current})
                if current is not None:
                    self._seen.cut_short(current, frames | skip.get(current, frozenset()))
                self.signals.progressed.emit(len(done_paths), total)
            else:
                if current is not None and current in skip:
                    self._seen.finished(current)
                self.signals.progressed.emit(total, total)
