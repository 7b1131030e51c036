"""Files in, one SliceResult per slice out: readers in a small thread pool overlap
with batched inference on the caller's thread; memory stays flat (a bounded number
of files in flight); results come in input order; bad input never raises.

The reader threads do all per-slice work (decode, thumbnail, the network input, the
slice's standard deviation), so the caller's thread only stacks ready inputs and runs
the network; reading ahead keeps about two batches in flight. The very first slice is
classified on its own so the first row appears at once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from desktop.core import resample
from desktop.core.classifier import Classifier, Prediction, default_threads, pixel_std
from desktop.core.readers import ReadError, Slice, UnsupportedFile, load_bytes, open_file
from desktop.core.results import SliceResult, Status

log = logging.getLogger(__name__)

#: longest side of the thumbnails kept for every row: the table draws them at 44 px
#: (88 device pixels on a 2x screen); 96 px keeps them sharp at 9 KB a row (128 px: 16 KB)
THUMBNAIL_SIZE = 96
#: how often a wait for a reader re-checks ``cancel`` (seconds)
_POLL = 0.05


def thumbnail(pixels: NDArray[np.float32], size: int = THUMBNAIL_SIZE) -> NDArray[np.uint8]:
    """uint8 grey thumbnail of a [0, 1] slice, longest side <= ``size``."""
    img: NDArray[Any] = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    h, w = img.shape
    scale = min(1.0, size / max(h, w))
    if scale < 1.0:
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        img = resample.resize(img, nh, nw, shrink=True)
    return np.ascontiguousarray(np.rint(img * 255.0).astype(np.uint8))


@dataclass(frozen=True)
class _Decoded:
    """One slice ready for inference."""

    path: str
    sha256: str
    slice: Slice
    thumbnail: NDArray[np.uint8]


@dataclass(frozen=True)
class _Prepared:
    """One slice reduced to what inference and the result row need (no full image)."""

    path: str
    sha256: str
    frame: int
    window: str
    thumbnail: NDArray[np.uint8]
    net_input: NDArray[np.float32]
    std: float
    colour: float = 0.0


@dataclass(frozen=True)
class _FileRead:
    """What a reader job produced for one file: slices, or one result row."""

    slices: list[Any]  # _Decoded from read_file, _Prepared from read_and_prepare
    row: SliceResult | None = None
    skipped_empty: int = 0


@dataclass
class PipelineStats:
    """Counters of the current/last run (read them after or during ``run``)."""

    files: int = 0
    slices: int = 0
    unreadable_files: int = 0
    #: NIfTI slices that were all background, skipped and not classified
    skipped_empty_slices: int = 0
    by_status: dict[Status, int] = field(default_factory=lambda: {s: 0 for s in Status})


def read_file(path: Path) -> _FileRead:
    """Read and decode one file in a worker thread. Never raises."""
    name = str(path)
    sha: str | None = None
    try:
        data = load_bytes(path)
        sha = hashlib.sha256(data).hexdigest()
        source = open_file(path, data)
        del data
        # the raw (pre-window) values are for the preview only: not kept here
        out = [_Decoded(name, sha, replace(s, raw=None), thumbnail(s.pixels)) for s in source]
    except ReadError as exc:  # a file we know we cannot handle is "unsupported", not an error
        status = Status.UNSUPPORTED if isinstance(exc, UnsupportedFile) else Status.ERROR
        return _FileRead([], SliceResult(name, 0, status, str(exc), image_sha256=sha))
    except MemoryError:
        return _FileRead([], SliceResult(name, 0, Status.ERROR, "not enough memory to read"))
    except Exception as exc:  # noqa: BLE001 - a reader bug must not stop the batch
        log.exception("unexpected failure reading %s", path)
        msg = f"could not read file (unexpected {type(exc).__name__})"
        return _FileRead([], SliceResult(name, 0, Status.ERROR, msg, image_sha256=sha))
    if not out:
        msg = "no slices to classify"
        if source.skipped_empty:
            msg += f" ({source.skipped_empty} empty slices skipped)"
        row = SliceResult(name, 0, Status.UNSUPPORTED, msg, image_sha256=sha)
        return _FileRead([], row, source.skipped_empty)
    return _FileRead(out, None, source.skipped_empty)


def read_and_prepare(
    path: Path, prepare: Callable[[NDArray[Any]], NDArray[np.float32]]
) -> _FileRead:
    """:func:`read_file`, then each slice's network input and std (in the reader thread)."""
    done = read_file(path)
    try:
        slices = [
            _Prepared(
                d.path,
                d.sha256,
                d.slice.frame,
                d.slice.window,
                d.thumbnail,
                prepare(d.slice.pixels),
                pixel_std(d.slice.pixels),
                d.slice.colour,
            )
            for d in done.slices
        ]
    except Exception as exc:  # noqa: BLE001 - a preprocessing bug costs one row, not the run
        log.exception("unexpected failure preparing %s", path)
        msg = f"could not prepare the image (unexpected {type(exc).__name__})"
        sha = done.slices[0].sha256 if done.slices else None
        return _FileRead([], SliceResult(str(path), 0, Status.ERROR, msg, image_sha256=sha))
    return _FileRead(slices, done.row, done.skipped_empty)


class _Readers:
    """Reader jobs on a small thread pool, consumed in input order, with a time limit.

    A file whose reading exceeds ``limit`` seconds becomes an error row; since a
    thread cannot be killed, the jobs still queued move to a fresh pool so a stuck
    reader cannot starve the rest of the run.
    """

    def __init__(
        self,
        workers: int,
        limit: float,
        job: Callable[[Path], _FileRead],
        thread_init: Callable[[], None] | None = None,
    ) -> None:
        self.workers = workers
        self.thread_init = thread_init
        self.limit = limit
        self.job = job
        self.pool = self._new_pool()
        self.jobs: deque[tuple[Path, Future[_FileRead]]] = deque()
        self._head_started: tuple[Future[_FileRead], float] | None = None

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(
            self.workers, thread_name_prefix="reader", initializer=self.thread_init
        )

    def __len__(self) -> int:
        return len(self.jobs)

    def submit(self, path: Path) -> None:
        self.jobs.append((path, self.pool.submit(self.job, path)))

    def next_done(self, timeout: float) -> _FileRead | None:
        """The head job's outcome, or None if it is not ready within ``timeout``."""
        path, fut = self.jobs[0]
        try:
            out = fut.result(timeout=timeout)
        except FutureTimeout:
            return self._check_limit(path, fut)
        self.jobs.popleft()
        return out

    def _check_limit(self, path: Path, fut: Future[_FileRead]) -> _FileRead | None:
        if not fut.running():
            return None
        now = time.monotonic()
        if self._head_started is None or self._head_started[0] is not fut:
            self._head_started = (fut, now)
            return None
        if now - self._head_started[1] <= self.limit:
            return None
        self.jobs.popleft()
        old, self.pool = self.pool, self._new_pool()
        waiting = list(self.jobs)
        self.jobs.clear()
        for p, f in waiting:
            self.jobs.append((p, self.pool.submit(self.job, p)) if f.cancel() else (p, f))
        old.shutdown(wait=False)
        msg = f"reading took longer than {self.limit:g} s; skipped"
        log.warning("%s: %s", path, msg)
        return _FileRead([], SliceResult(str(path), 0, Status.ERROR, msg))

    def close(self) -> None:
        for _, f in self.jobs:
            f.cancel()
        self.jobs.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)


def default_workers(cores: int | None = None) -> int:
    """Reader threads: the cores onnxruntime does not get (:func:`default_threads`)."""
    n = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, n - default_threads(n))


class Pipeline:
    """Runs a classifier over files; see :meth:`run`."""

    def __init__(
        self,
        classifier: Classifier | None,
        batch_size: int = 16,
        workers: int | None = None,
        files_in_flight: int = 32,
        max_latency: float = 0.5,
        file_time_limit: float = 120.0,
        thread_init: Callable[[], None] | None = None,
    ) -> None:
        self.classifier = classifier
        self.batch_size = max(1, batch_size)
        self.workers = max(1, workers if workers is not None else default_workers())
        #: most files read ahead (fewer when files hold many slices: about two batches)
        self.files_in_flight = max(1, files_in_flight)
        #: a partial batch waits at most this long (seconds) for more slices
        self.max_latency = max_latency
        #: reading one file may take at most this long (seconds), else it is an error row
        self.file_time_limit = file_time_limit
        #: called first in each reader thread (the GUI lowers their priority with it)
        self.thread_init = thread_init
        self.stats = PipelineStats()

    def run(
        self, files: Iterable[Path], cancel: Callable[[], bool] = lambda: False
    ) -> Iterator[SliceResult]:
        """One SliceResult per slice (one row per unreadable file), in input order.

        ``cancel`` is checked between files and batches and while waiting for a
        reader; once it returns True no more results are produced.
        """
        if self.classifier is None:
            raise ValueError("no model loaded: the pipeline cannot classify without one")
        return self._run(self.classifier, iter(files), cancel)

    def _run(
        self, clf: Classifier, files: Iterator[Path], cancel: Callable[[], bool]
    ) -> Iterator[SliceResult]:
        self.stats = PipelineStats()
        readers = _Readers(
            self.workers,
            self.file_time_limit,
            lambda p: read_and_prepare(p, clf.prepare),
            self.thread_init,
        )
        pending: list[_Prepared | SliceResult] = []
        since = 0.0  # when the oldest pending slice arrived
        exhausted = False
        first = True  # the first slice goes out alone: the first row appears at once
        read_files = read_slices = 0
        try:
            while True:
                # about two batches read ahead: many files of one slice, few volumes
                per_file = read_slices / read_files if read_slices else 1.0
                ahead = min(self.files_in_flight, max(1, math.ceil(2 * self.batch_size / per_file)))
                while not exhausted and len(readers) < ahead:
                    nxt = next(files, None)
                    if nxt is None:
                        exhausted = True
                    else:
                        readers.submit(Path(nxt))
                if not len(readers):
                    break
                while True:  # wait for the next file; a partial batch goes out if it waited long
                    if cancel():
                        return
                    done = readers.next_done(_POLL)
                    if done is not None:
                        break
                    if pending and time.monotonic() - since > self.max_latency:
                        yield from self._flush(clf, pending)
                        pending, first = [], False
                self._count_file(done)
                read_files += 1
                read_slices += len(done.slices)
                if not pending:
                    since = time.monotonic()
                pending.extend(done.slices if done.row is None else [done.row])
                while pending and (
                    self._n_slices(pending) >= (1 if first else self.batch_size)
                    or not self._n_slices(pending)
                ):
                    if cancel():
                        return
                    cut = self._cut(pending, 1 if first else self.batch_size)
                    batch, pending = pending[:cut], pending[cut:]
                    yield from self._flush(clf, batch)
                    first = first and not self._n_slices(batch)
                    since = time.monotonic()
            if pending and not cancel():
                yield from self._flush(clf, pending)
        finally:
            readers.close()

    @staticmethod
    def _n_slices(pending: list[_Prepared | SliceResult]) -> int:
        return sum(isinstance(p, _Prepared) for p in pending)

    @staticmethod
    def _cut(pending: list[_Prepared | SliceResult], size: int) -> int:
        """Index just after the size-th slice in ``pending``."""
        n = 0
        for i, p in enumerate(pending):
            n += isinstance(p, _Prepared)
            if n == size:
                return i + 1
        return len(pending)

    def _count_file(self, done: _FileRead) -> None:
        self.stats.files += 1
        self.stats.skipped_empty_slices += done.skipped_empty
        if done.row is not None and done.row.status is Status.ERROR:
            self.stats.unreadable_files += 1

    def _flush(
        self, clf: Classifier, items: list[_Prepared | SliceResult]
    ) -> Iterator[SliceResult]:
        prepared = [i for i in items if isinstance(i, _Prepared)]
        try:
            preds = clf.predict_batch(np.stack([d.net_input for d in prepared])) if prepared else []
            failure = ""
        except Exception as exc:  # noqa: BLE001 - inference failure becomes error rows
            log.exception("inference failed")
            preds, failure = [], f"classification failed ({type(exc).__name__})"
        results = iter(preds)
        for item in items:
            if isinstance(item, SliceResult):
                row = item
            elif failure:
                row = SliceResult(
                    item.path, item.frame, Status.ERROR, failure,
                    image_sha256=item.sha256, thumbnail=item.thumbnail, window=item.window,
                )  # fmt: skip
            else:
                row = self._result(clf, item, next(results))
            self.stats.by_status[row.status] += 1
            self.stats.slices += isinstance(item, _Prepared)
            yield row

    @staticmethod
    def _result(clf: Classifier, d: _Prepared, pred: Prediction) -> SliceResult:
        status, message = clf.status_from_std(d.std, pred, d.colour)
        top = pred.top
        called = status in (Status.OK, Status.UNCERTAIN)
        return SliceResult(
            path=d.path,
            frame=d.frame,
            status=status,
            message=message,
            predicted_class=clf.spec.class_names[top] if called else None,
            confidence=pred.probabilities[top] if called else None,
            probabilities=pred.probabilities,
            image_sha256=d.sha256,
            thumbnail=d.thumbnail,
            cam=pred.cam,
            ood_score=pred.ood_score,
            window=d.window,
        )
