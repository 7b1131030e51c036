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
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from desktop.core import resample
from desktop.core.cases import CasePlan
from desktop.core.classifier import Classifier, Prediction, default_threads, pixel_std
from desktop.core.preprocess import decode_target
from desktop.core.readers import (
    DecodeTarget,
    ReadError,
    Slice,
    UnsupportedFile,
    load_bytes,
    open_file,
)
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
    """A file opened by :func:`read_file`: its slices (decoded lazily), or one result row."""

    slices: Iterator[_Decoded]
    row: SliceResult | None = None
    #: the open file (its ``skipped_empty`` is final once ``slices`` is exhausted)
    source: Any = None
    sha256: str | None = None


@dataclass
class PipelineStats:
    """Counters of the current/last run (read them after or during ``run``)."""

    files: int = 0
    slices: int = 0
    unreadable_files: int = 0
    #: NIfTI slices that were all background, skipped and not classified
    skipped_empty_slices: int = 0
    by_status: dict[Status, int] = field(default_factory=lambda: {s: 0 for s in Status})


def _error_row(
    name: str, exc: BaseException, sha: str | None, frame: int = 0, where: str = "read"
) -> SliceResult:
    """The row for a file (or the rest of it, from ``frame`` on) that failed."""
    if isinstance(exc, ReadError):  # a file we know we cannot handle is "unsupported"
        status = Status.UNSUPPORTED if isinstance(exc, UnsupportedFile) else Status.ERROR
        return SliceResult(name, frame, status, str(exc), image_sha256=sha)
    if isinstance(exc, MemoryError):
        return SliceResult(name, frame, Status.ERROR, f"not enough memory to {where}")
    log.error("unexpected failure (%s) on %s", where, name, exc_info=exc)
    msg = f"could not {where} file (unexpected {type(exc).__name__})"
    if where == "prepare":
        msg = f"could not prepare the image (unexpected {type(exc).__name__})"
    return SliceResult(name, frame, Status.ERROR, msg, image_sha256=sha)


def _decoded(source: Any, name: str, sha: str) -> Iterator[_Decoded]:
    for s in source:
        # the raw (pre-window) values are for the preview only: not kept here
        yield _Decoded(name, sha, replace(s, raw=None), thumbnail(s.pixels))


def read_file(path: Path, target: DecodeTarget | None = None) -> _FileRead:
    """Open one file in a worker thread; slices are decoded as they are taken (a large JPEG
    at reduced size for ``target``). Never raises (failures while decoding are raised by
    the ``slices`` iterator)."""
    name = str(path)
    sha: str | None = None
    try:
        data = load_bytes(path)
        sha = hashlib.sha256(data).hexdigest()
        source = open_file(path, data, target)
        del data
    except Exception as exc:  # noqa: BLE001 - a reader bug must not stop the batch
        return _FileRead(iter(()), _error_row(name, exc, sha))
    return _FileRead(_decoded(source, name, sha), None, source, sha)


class _Closed(Exception):
    """The consumer no longer wants this file's slices."""


class _Stream:
    """The slices of one file, handed from its reader thread to the consumer as they are
    made; the reader waits while ``room`` slices are waiting (memory stays flat)."""

    def __init__(self, path: Path, room: int) -> None:
        self.path = path
        self.room = max(1, room)
        self._cond = threading.Condition()
        self._items: deque[_Prepared] = deque()
        self.row: SliceResult | None = None
        self.skipped_empty = 0
        self.done = False
        self.closed = False
        self.slices = 0
        #: when the reader last made progress (None: not started); waiting for room
        #: is not a stall
        self._progress: float | None = None

    def start(self) -> None:
        with self._cond:
            self._progress = time.monotonic()

    def put(self, item: _Prepared) -> None:
        with self._cond:
            while len(self._items) >= self.room and not self.closed:
                self._cond.wait(_POLL)
                self._progress = time.monotonic()
            if self.closed:
                raise _Closed
            self._items.append(item)
            self.slices += 1
            self._progress = time.monotonic()
            self._cond.notify_all()

    def finish(self, row: SliceResult | None, skipped_empty: int) -> None:
        with self._cond:
            self.row, self.skipped_empty, self.done = row, skipped_empty, True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def take(self, timeout: float) -> tuple[list[_Prepared | SliceResult], bool]:
        """The slices made so far (and the final row), and True when the file is done."""
        with self._cond:
            if not self._items and not self.done:
                self._cond.wait(timeout)
            items: list[_Prepared | SliceResult] = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            finished = self.done
            if finished and self.row is not None:
                items.append(self.row)
            return items, finished

    def stalled(self) -> float:
        """Seconds since the reader last made progress (0 before it started)."""
        with self._cond:
            return 0.0 if self._progress is None else time.monotonic() - self._progress


def read_into(
    stream: _Stream,
    prepare: Callable[[NDArray[Any]], NDArray[np.float32]],
    target: DecodeTarget | None = None,
) -> None:
    """Read one file slice by slice into ``stream``, each slice made ready for the network
    (input and std, in the reader thread; ``target``: see :func:`read_file`). Never raises."""
    stream.start()
    name = str(stream.path)
    done = read_file(stream.path, target)
    sha = done.sha256 if done.row is None else done.row.image_sha256
    row = done.row
    frame = 0
    try:
        for d in done.slices:
            sha, frame = d.sha256, d.slice.frame + 1
            try:
                item = _Prepared(
                    d.path,
                    d.sha256,
                    d.slice.frame,
                    d.slice.window,
                    d.thumbnail,
                    prepare(d.slice.pixels),
                    pixel_std(d.slice.pixels),
                    d.slice.colour,
                )
            except Exception as exc:  # noqa: BLE001 - a preprocessing bug costs rows, not the run
                row = _error_row(name, exc, sha, d.slice.frame, "prepare")
                break
            stream.put(item)
    except _Closed:
        return
    except Exception as exc:  # noqa: BLE001 - the rest of the file is one row
        row = _error_row(name, exc, sha, frame if stream.slices else 0)
    skipped = int(getattr(done.source, "skipped_empty", 0))
    if row is None and not stream.slices:
        msg = "no slices to classify"
        if skipped:
            msg += f" ({skipped} empty slices skipped)"
        row = SliceResult(name, 0, Status.UNSUPPORTED, msg, image_sha256=sha)
    stream.finish(row, skipped)


class _Readers:
    """Reader jobs on a small thread pool, consumed in input order, with a time limit.

    A file whose reader makes no progress for ``limit`` seconds ends with an error row;
    since a thread cannot be killed, the jobs still queued move to a fresh pool so a
    stuck reader cannot starve the rest of the run.
    """

    def __init__(
        self,
        workers: int,
        limit: float,
        job: Callable[[_Stream], None],
        room: int,
        thread_init: Callable[[], None] | None = None,
    ) -> None:
        self.workers = workers
        self.thread_init = thread_init
        self.limit = limit
        self.job = job
        self.room = room
        self.pool = self._new_pool()
        self.jobs: deque[tuple[_Stream, Future[None]]] = deque()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(
            self.workers, thread_name_prefix="reader", initializer=self.thread_init
        )

    def __len__(self) -> int:
        return len(self.jobs)

    def submit(self, path: Path) -> None:
        stream = _Stream(path, self.room)
        self.jobs.append((stream, self.pool.submit(self.job, stream)))

    def take(self, timeout: float) -> tuple[_Stream, list[_Prepared | SliceResult], bool]:
        """What the head file has ready (waiting up to ``timeout``), and True when it is
        done (it is then removed)."""
        stream, _ = self.jobs[0]
        items, finished = stream.take(timeout)
        if finished:
            self.jobs.popleft()
        elif not items and stream.stalled() > self.limit:
            self._skip_head()
            msg = f"reading took longer than {self.limit:g} s; skipped"
            log.warning("%s: %s", stream.path, msg)
            frame = stream.slices
            stream.row = SliceResult(str(stream.path), frame, Status.ERROR, msg)
            return stream, [stream.row], True
        return stream, items, finished

    def _skip_head(self) -> None:
        stream, _ = self.jobs.popleft()
        stream.close()
        old, self.pool = self.pool, self._new_pool()
        waiting = list(self.jobs)
        self.jobs.clear()
        for st, f in waiting:
            self.jobs.append((st, self.pool.submit(self.job, st)) if f.cancel() else (st, f))
        old.shutdown(wait=False)

    def close(self) -> None:
        for stream, f in self.jobs:
            stream.close()
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
        self._plan = CasePlan()

    def run(
        self,
        files: Iterable[Path],
        cancel: Callable[[], bool] = lambda: False,
        plan: CasePlan | None = None,
    ) -> Iterator[SliceResult]:
        """One SliceResult per slice (one row per unreadable file), in input order.

        Rows stream slice by slice (a volume's first rows come long before its last
        slice is read). ``plan`` (from :func:`desktop.core.cases.plan_cases`) gives each
        row its case and anatomical slice index; without it every file is a case of its
        own and the slice index is the frame. ``cancel`` is checked between slices and
        batches and while waiting for a reader; once it returns True no more results
        are produced.
        """
        if self.classifier is None:
            raise ValueError("no model loaded: the pipeline cannot classify without one")
        return self._run(self.classifier, iter(files), cancel, plan or CasePlan())

    def _run(
        self,
        clf: Classifier,
        files: Iterator[Path],
        cancel: Callable[[], bool],
        plan: CasePlan,
    ) -> Iterator[SliceResult]:
        self.stats = PipelineStats()
        self._plan = plan
        target = decode_target(clf.spec.preprocessing)
        readers = _Readers(
            self.workers,
            self.file_time_limit,
            lambda stream: read_into(stream, clf.prepare, target),
            2 * self.batch_size,
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
                if not len(readers) and not pending:
                    break
                if cancel():
                    return
                got: list[_Prepared | SliceResult] = []
                if len(readers):
                    stream, got, finished = readers.take(_POLL)
                    if finished:
                        self._count_file(stream)
                        read_files += 1
                        read_slices += stream.slices
                    if got and not pending:
                        since = time.monotonic()
                    pending.extend(got)
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
                # a partial batch goes out when it waited long, or nothing more will come
                if pending and (
                    not len(readers) or (not got and time.monotonic() - since > self.max_latency)
                ):
                    if cancel():
                        return
                    yield from self._flush(clf, pending)
                    pending, first = [], False
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

    def _count_file(self, done: _Stream) -> None:
        self.stats.files += 1
        self.stats.skipped_empty_slices += done.skipped_empty
        if done.row is not None and done.row.status is Status.ERROR and not done.slices:
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
            case, index = self._plan.locate(item.path, item.frame)
            if isinstance(item, SliceResult):
                row = replace(item, case=case, slice_index=index)
            elif failure:
                row = SliceResult(
                    item.path, item.frame, Status.ERROR, failure,
                    image_sha256=item.sha256, thumbnail=item.thumbnail, window=item.window,
                    case=case, slice_index=index,
                )  # fmt: skip
            else:
                row = self._result(clf, item, next(results), case, index)
            self.stats.by_status[row.status] += 1
            self.stats.slices += isinstance(item, _Prepared)
            yield row

    @staticmethod
    def _result(
        clf: Classifier, d: _Prepared, pred: Prediction, case: str, index: int
    ) -> SliceResult:
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
            case=case,
            slice_index=index,
        )
