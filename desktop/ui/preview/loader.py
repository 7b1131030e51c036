"""Decoding the previewed file off the GUI thread, with the last file's slices kept.

A 256 x 256 x 180 NIfTI volume takes most of a second to read and decode: done on the
GUI thread it froze the window. :class:`SliceLoader` reads one file at a time in its own
one-thread pool; only the newest request is served (rows skipped over while arrowing
are never read), and the decoded slices of the last few files are kept (:data:`KEEP_FILES`,
:data:`KEEP_BYTES`) so stepping through the frames of a volume or a multi-frame DICOM is
immediate, and so is going back to a volume after a look at another file. Reading the volume
again each time took the one core the GUI thread shares with the run for most of a second,
and the GUI thread, waiting for the interpreter lock between its Qt calls, stalled for
over 100 ms (issue 16 item 2, ``gui_volume_stall_ms``).
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
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

#: the decoded files kept (newest first out of the budget below; the newest is always kept)
KEEP_FILES = 8
#: ... and at most this many bytes of decoded slices (a 256 x 256 x 180 volume: ~50 MB)
KEEP_BYTES = 256 * 2**20


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
        #: the decoded slices of the last files read, least recently used first
        self._cache: OrderedDict[tuple[str, str | None], tuple[_Key, dict[int, Slice]]] = (
            OrderedDict()
        )
        #: files read so far (tests and the benchmark)
        self.reads = 0

    def cached(self, path: str, sha256: str | None) -> dict[int, Slice] | None:
        """The slices of this file version if they are kept (no read)."""
        kept = self._cache.get((path, sha256))
        if kept is None:
            return None
        if _stat_key(path, sha256) != kept[0]:  # written since: read it again
            del self._cache[(path, sha256)]
            return None
        self._cache.move_to_end((path, sha256))
        return kept[1]

    def kept_files(self) -> list[str]:
        """The paths whose slices are kept, least recently used first (tests)."""
        return [path for path, _ in self._cache]

    def _keep(self, key: _Key | None, frames: dict[int, Slice]) -> None:
        if key is None:  # no stat: nothing to check a later request against
            return
        name = (key[0], key[1])
        self._cache.pop(name, None)
        self._cache[name] = (key, frames)
        total = sum(_nbytes(f) for _, f in self._cache.values())
        while len(self._cache) > 1 and (len(self._cache) > KEEP_FILES or total > KEEP_BYTES):
            _, (_, dropped) = self._cache.popitem(last=False)
            total -= _nbytes(dropped)

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
            self._keep(key, frames)
        if self.wanted == (job.path, job.sha256):
            self.loaded.emit(job.path, job.sha256, frames, problem)


def _nbytes(frames: dict[int, Slice]) -> int:
    return sum(
        s.pixels.nbytes + (s.raw.nbytes if s.raw is not None else 0) for s in frames.values()
    )
