"""Row thumbnails in a bounded cache: memory stays flat however many rows the table has.

The worker makes each row's thumbnail (a QImage, off the GUI thread) and the model
puts it here; only the most recently used ``limit`` thumbnails are kept. A row whose
thumbnail was evicted gets it back on demand: its file is re-read through the core
readers in a one-thread background pool (one job per file, whatever frames are wanted)
and :attr:`ThumbnailCache.ready` says when; the table draws a placeholder meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

log = logging.getLogger(__name__)

#: (path, frame): one slice
Key = tuple[str, int]
#: thumbnails of some frames of one file, made from the file itself; the third argument
#: is the sha256 the file's rows carry (None: unchecked)
Loader = Callable[[str, Iterable[int], "str | None"], dict[int, np.ndarray]]

DEFAULT_LIMIT = 1000


def thumbnail_image(pixels: np.ndarray | None) -> QImage | None:
    """A uint8 grey (H x W) or RGB (H x W x 3) array as a QImage that owns its data."""
    if pixels is None:
        return None
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    if a.ndim == 2:
        h, w = a.shape
        return QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    if a.ndim == 3 and a.shape[2] == 3:
        h, w, _ = a.shape
        return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return None


def read_thumbnails(
    path: str, frames: Iterable[int], sha256: str | None = None
) -> dict[int, np.ndarray]:
    """Thumbnails of ``frames`` of one file, re-read through the core readers.

    Raises ``FileChanged`` when the file is no longer the one classified (``sha256``).
    """
    from desktop.core.pipeline import thumbnail
    from desktop.core.reread import reread

    return {s.frame: thumbnail(s.pixels) for s in reread(Path(path), sha256, set(frames))}


class _Signals(QObject):
    #: job number, path, frames asked for, {frame: QImage} (the frames that could be made)
    done = Signal(int, str, object, object)


class _Job(QRunnable):
    """Re-make the wanted thumbnails of one file (frames read when the job starts)."""

    def __init__(
        self,
        number: int,
        path: str,
        take_frames: Callable[[str], set[int]],
        loader: Loader,
        sha256: str | None,
    ) -> None:
        super().__init__()
        self.signals = _Signals()
        self.number = number
        self.path = path
        self.take_frames = take_frames
        self.loader = loader
        self.sha256 = sha256

    def run(self) -> None:
        frames = self.take_frames(self.path)
        images: dict[int, QImage] = {}
        try:
            for frame, arr in self.loader(self.path, frames, self.sha256).items():
                img = thumbnail_image(arr)
                if img is not None:
                    images[frame] = img
        except Exception:  # noqa: BLE001 - a vanished or changed file keeps its placeholder
            log.debug("thumbnail of %s could not be re-made", self.path, exc_info=True)
        self.signals.done.emit(self.number, self.path, frames, images)


class ThumbnailCache(QObject):
    """LRU of at most ``limit`` thumbnails keyed by (path, frame); GUI thread only.

    :meth:`request` returns the thumbnail or None; on None a re-make is queued (once
    per key; files whose re-make failed are not retried until :meth:`forget`).
    """

    #: re-makes of these keys are done (list[Key]; in the cache, or in ``failed``)
    ready = Signal(object)

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        loader: Loader | None = None,
        pool: QThreadPool | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.limit = max(1, limit)
        self._loader = loader or read_thumbnails
        self._items: OrderedDict[Key, QImage] = OrderedDict()
        self._lock = threading.Lock()  # guards _wanted (jobs take their frames)
        self._wanted: dict[str, set[int]] = {}  # path -> frames asked for, job queued
        #: keys a started job is making (not asked for again until its result is in)
        self._inflight: set[Key] = set()
        self._queued: set[str] = set()
        #: keys whose re-make failed (file gone or changed): not asked for again
        self.failed: set[Key] = set()
        #: path -> the sha256 its rows were classified with (re-makes check it)
        self._sha256: dict[str, str | None] = {}
        self._jobs: dict[int, _Job] = {}  # strong references until their signal arrives
        #: the last finished jobs: their run() may still be returning in the pool thread
        self._retired: list[_Job] = []
        if pool is None:
            pool = QThreadPool(self)
            pool.setMaxThreadCount(1)
        self._pool = pool
        #: re-makes queued so far (for tests and the benchmark)
        self.remakes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def put(self, key: Key, image: QImage | None, sha256: str | None = None) -> None:
        """Keep ``image`` for ``key``; ``sha256``: the file's hash a re-make must match."""
        if sha256 is not None:
            self._sha256[key[0]] = sha256
        if image is None or image.isNull():
            return
        self._items[key] = image
        self._items.move_to_end(key)
        self.failed.discard(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, key: Key) -> QImage | None:
        image = self._items.get(key)
        if image is not None:
            self._items.move_to_end(key)
        return image

    def request(self, key: Key) -> QImage | None:
        """The thumbnail, or None and a background re-make of it (placeholder meanwhile)."""
        image = self.get(key)
        if image is not None or key in self.failed:
            return image
        path, frame = key
        with self._lock:
            if key in self._inflight:
                return None
            frames = self._wanted.setdefault(path, set())
            if frame in frames:
                return None
            frames.add(frame)
            if path in self._queued:
                return None  # the queued job of this file will take this frame too
            self._queued.add(path)
        self.remakes += 1
        job = _Job(self.remakes, path, self._take_frames, self._loader, self._sha256.get(path))
        job.setAutoDelete(False)
        job.signals.done.connect(self._on_done)
        self._jobs[job.number] = job
        self._pool.start(job)
        return None

    def forget(self, keys: Iterable[Key] | None = None) -> None:
        """Drop these keys (rows removed), or everything."""
        if keys is None:
            self._items.clear()
            self.failed.clear()
            self._sha256.clear()
            return
        for k in keys:
            self._items.pop(k, None)
            self.failed.discard(k)

    def wait(self, msecs: int = 5000) -> bool:
        """Block until queued re-makes are done (tests, closing)."""
        return self._pool.waitForDone(msecs)

    def _take_frames(self, path: str) -> set[int]:
        with self._lock:
            self._queued.discard(path)
            frames = self._wanted.pop(path, set())
            self._inflight.update((path, f) for f in frames)
            return frames

    def _on_done(self, number: int, path: str, frames: set[int], images: dict[int, QImage]) -> None:
        with self._lock:
            self._inflight.difference_update((path, f) for f in frames)
        job = self._jobs.pop(number, None)
        if job is not None:
            self._retired = [*self._retired[-7:], job]
        for frame, image in images.items():
            self.put((path, frame), image)
        # frames that could not be made (file gone or changed) are not asked for again
        self.failed.update((path, f) for f in frames if f not in images)
        keys = [(path, f) for f in sorted(set(frames) | set(images))]
        if keys:
            self.ready.emit(keys)
