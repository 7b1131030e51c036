"""Decoding the previewed file off the GUI thread, with the last file's slices kept.

A 256 x 256 x 180 NIfTI volume takes most of a second to read and decode: done on the
GUI thread it froze the window. :class:`SliceLoader` reads one file at a time in its own
one-thread pool; only the newest request is served (rows skipped over while arrowing
are never read), and the decoded slices of the last file are kept so stepping through
the frames of a volume or a multi-frame DICOM is immediate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from desktop.core.readers import Slice
from desktop.core.reread import FileChanged, reread

log = logging.getLogger(__name__)

#: reads the slices of a file, checking it against the sha256 its rows carry
Reader = Callable[[Path, "str | None"], Iterable[Slice]]
#: (path, sha256, size, mtime_ns): one version of one file
_Key = tuple[str, "str | None", int, int]


def _stat_key(path: str, sha256: str | None) -> _Key | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, sha256, st.st_size, st.st_mtime_ns)


class _Signals(QObject):
    #: job number, whether it was read (False: skipped), version key (None: no stat),
    #: {frame: Slice} or None, problem in words
    done = Signal(int, bool, object, object, str)


class _Job(QRunnable):
    def __init__(self, number: int, owner: SliceLoader, path: str, sha256: str | None) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the loader keeps it until its signal has arrived
        self.signals = _Signals()
        self.number, self.owner, self.path, self.sha256 = number, owner, path, sha256

    def run(self) -> None:
        frames: dict[int, Slice] | None = None
        problem = ""
        key: _Key | None = None
        read = self.owner.wanted == (self.path, self.sha256)  # else: skipped over
        if read:
            key = _stat_key(self.path, self.sha256)  # before reading: a later write shows
            try:
                frames = {s.frame: s for s in self.owner.reader(Path(self.path), self.sha256)}
            except FileChanged as exc:
                problem = str(exc)
            except Exception as exc:  # noqa: BLE001 - the file vanished or cannot be read
                log.info("preview of %s: %s", self.path, exc)
                problem = f"Cannot show this slice: {exc}"
        self.signals.done.emit(self.number, read, key, frames, problem)


class SliceLoader(QObject):
    """Reads files for the preview in the background; GUI-thread API."""

    #: path, sha256, {frame: Slice} (None when it could not be read), problem in words
    loaded = Signal(str, object, object, str)

    def __init__(self, reader: Reader | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.reader: Reader = reader or (lambda p, sha: reread(p, sha))
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        #: the newest request (read by the job thread: a tuple swap is atomic)
        self.wanted: tuple[str, str | None] | None = None
        self._jobs: dict[int, _Job] = {}  # strong references until their signal arrives
        #: the last finished jobs: their run() may still be returning in the pool thread
        self._retired: list[_Job] = []
        self._numbers = 0
        self._cache: tuple[_Key, dict[int, Slice]] | None = None
        #: files read so far (tests and the benchmark)
        self.reads = 0

    def cached(self, path: str, sha256: str | None) -> dict[int, Slice] | None:
        """The slices of this file version if they are the kept ones (no read)."""
        if self._cache is None or self._cache[0][:2] != (path, sha256):
            return None
        return self._cache[1] if _stat_key(path, sha256) == self._cache[0] else None

    def request(self, path: str, sha256: str | None) -> None:
        """Read this file in the background; :attr:`loaded` says when (newest wins)."""
        key = (path, sha256)
        pending = any((j.path, j.sha256) == key for j in self._jobs.values())
        self.wanted = key
        if pending:
            return  # that job reads it (it checks what is wanted when it starts)
        self._numbers += 1
        job = _Job(self._numbers, self, path, sha256)
        job.signals.done.connect(self._on_done)
        self._jobs[job.number] = job
        self._pool.start(job)

    def cancel(self) -> None:
        """Nothing is wanted any more (queued reads are skipped)."""
        self.wanted = None

    def wait(self, msecs: int = 30_000) -> bool:
        return self._pool.waitForDone(msecs)

    def _on_done(
        self,
        number: int,
        read: bool,
        key: _Key | None,
        frames: dict[int, Slice] | None,
        problem: str,
    ) -> None:
        job = self._jobs.pop(number, None)
        if job is None:
            return
        self._retired = [*self._retired[-7:], job]
        if not read:  # skipped: another file was asked for meanwhile
            if self.wanted == (job.path, job.sha256):  # ... and this one again since
                self.request(job.path, job.sha256)
            return
        if frames is not None:
            self.reads += 1
            self._cache = (key, frames) if key is not None else None
        if self.wanted == (job.path, job.sha256):
            self.loaded.emit(job.path, job.sha256, frames, problem)
