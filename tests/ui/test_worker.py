"""The background worker and the run controller (waitSignal, cancel, error rows, queue)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from desktop.core.results import SliceResult, Status
from desktop.ui.controller import RunController
from desktop.ui.table.model import ResultRow
from desktop.ui.worker import ClassifyWorker, SeenFiles
from tests.ui.conftest import make_result


class GatedPipeline:
    """A stand-in pipeline whose progress the test controls (for deterministic cancel)."""

    def __init__(self) -> None:
        self.gate = threading.Semaphore(0)
        self.seen: list[Path] = []
        self.cancel_checks = 0

    def run(
        self, files: Iterable[Path], cancel: Callable[[], bool] = lambda: False, plan=None
    ) -> Iterator[SliceResult]:
        for f in files:
            self.cancel_checks += 1
            if cancel():
                return
            while not self.gate.acquire(timeout=0.01):
                if cancel():
                    return
            self.seen.append(f)
            yield make_result(Path(f).name, folder=str(Path(f).parent))


def run_worker(qtbot, worker: ClassifyWorker) -> list[ResultRow]:
    from PySide6.QtCore import QThreadPool

    rows: list[ResultRow] = []
    worker.signals.results_ready.connect(rows.extend)
    with qtbot.waitSignal(worker.signals.finished, timeout=20_000):
        QThreadPool.globalInstance().start(worker)
    qtbot.waitUntil(worker.is_done)
    return rows


def test_cancel_stops_and_keeps_what_was_done(qtbot, image_folder: Path) -> None:
    from PySide6.QtCore import QThreadPool

    pipeline = GatedPipeline()
    seen = SeenFiles()
    worker = ClassifyWorker([image_folder], pipeline, seen, chunk_seconds=0.0)
    rows: list[ResultRow] = []
    worker.signals.results_ready.connect(rows.extend)
    # (no waitSignal on results_ready: rows arrive in several queued emissions, and a
    # blocker torn down between two of them was seen to crash pytest-qt)
    QThreadPool.globalInstance().start(worker)
    pipeline.gate.release(2)
    qtbot.waitUntil(lambda: len(rows) == 2, timeout=10_000)
    with qtbot.waitSignal(worker.signals.finished, timeout=1_000) as blocker:
        worker.cancel()
    assert blocker.args == [True]
    qtbot.waitUntil(worker.is_done)
    assert [r.file_name for r in rows] == ["broken.jpg", "slice_00.png"]
    # files never reached are released, so dropping them again classifies them
    assert image_folder / "broken.jpg" in seen
    assert image_folder / "slice_01.png" not in seen


def test_controller_queues_and_deduplicates(qtbot, image_folder: Path) -> None:
    pipeline = GatedPipeline()
    controller = RunController(pipeline)
    rows: list[ResultRow] = []
    controller.rows_arrived.connect(rows.extend)
    assert controller.enqueue([image_folder / "slice_00.png"])
    assert controller.is_busy()
    # dropped again while running: queued, and the duplicate file is classified once
    assert controller.enqueue([image_folder])
    with qtbot.waitSignal(controller.idle, timeout=20_000) as blocker:
        pipeline.gate.release(100)
    assert blocker.args == [False]
    names = sorted(r.file_name for r in rows)
    assert names == sorted(["broken.jpg", "deep.png"] + [f"slice_{i:02d}.png" for i in range(5)])
    # dropping the same folder again finds nothing new
    with qtbot.waitSignal(controller.idle, timeout=10_000):
        controller.enqueue([image_folder])
    assert len(rows) == 7


def test_controller_without_model_classifies_nothing(qtbot, image_folder: Path) -> None:
    controller = RunController(None)
    with qtbot.waitSignal(controller.notified, timeout=1000) as blocker:
        assert not controller.enqueue([image_folder])
    assert "No model installed" in blocker.args[0]
    assert not controller.is_busy()


def test_worker_reports_exceptions_as_errored(qtbot, image_folder: Path, caplog) -> None:
    """Issue 16.4: the cause is kept: words for the person, the traceback in the log."""
    from PySide6.QtCore import QThreadPool

    class Broken:
        def run(self, files, cancel=lambda: False, plan=None):
            raise RuntimeError("boom")
            yield  # pragma: no cover

    worker = ClassifyWorker([image_folder], Broken(), SeenFiles())
    errors: list[str] = []
    worker.signals.errored.connect(errors.append)
    with qtbot.waitSignals(
        [worker.signals.errored, worker.signals.finished], order="strict", timeout=10_000
    ):
        QThreadPool.globalInstance().start(worker)
    qtbot.waitUntil(worker.is_done)
    (text,) = errors
    assert "RuntimeError: boom" in text and "error in the app" in text and "log" in text
    (record,) = [r for r in caplog.records if r.name == "desktop.ui.worker"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_status_values_unchanged() -> None:
    # the table relies on these four statuses (words and colours are keyed by them)
    assert [s.value for s in Status] == ["ok", "uncertain", "unsupported", "error"]


@pytest.fixture
def real_pipeline(test_model_path: Path):
    from desktop.core.classifier import Classifier
    from desktop.core.pipeline import Pipeline

    return Pipeline(Classifier.load(test_model_path))


def test_worker_streams_results_and_an_error_row(qtbot, image_folder: Path, real_pipeline):
    worker = ClassifyWorker([image_folder], real_pipeline, SeenFiles())
    progress: list[tuple[int, int]] = []
    worker.signals.progressed.connect(lambda d, t: progress.append((d, t)))
    rows = run_worker(qtbot, worker)
    by_name = {r.file_name: r.result for r in rows}
    assert sorted(by_name) == sorted(
        ["broken.jpg", "deep.png"] + [f"slice_{i:02d}.png" for i in range(5)]
    )  # notes.txt skipped quietly
    assert by_name["broken.jpg"].status is Status.ERROR and by_name["broken.jpg"].message
    good = [r for n, r in by_name.items() if n != "broken.jpg"]
    assert all(r.probabilities is not None and len(r.probabilities) == 4 for r in good)
    assert all(r.cam is not None for r in good)
    # thumbnails were turned into QImages in the worker; the array is not kept twice
    assert all(
        r.thumbnail is not None and not r.thumbnail.isNull()
        for r in rows
        if r.result.status is not Status.ERROR
    )
    assert all(r.result.thumbnail is None for r in rows)
    assert progress[0] == (0, 7) and progress[-1] == (7, 7)


def test_worker_cancel_with_real_pipeline_finishes_quickly(qtbot, tmp_path: Path, real_pipeline):
    import cv2

    from tests.ui.conftest import brain_like

    for i in range(150):
        cv2.imwrite(str(tmp_path / f"s{i:03d}.png"), brain_like(seed=i))
    worker = ClassifyWorker([tmp_path], real_pipeline, SeenFiles(), chunk_seconds=0.0)
    rows: list[ResultRow] = []
    worker.signals.results_ready.connect(rows.extend)
    from PySide6.QtCore import QThreadPool

    with qtbot.waitSignal(worker.signals.results_ready, timeout=20_000):
        QThreadPool.globalInstance().start(worker)
    with qtbot.waitSignal(worker.signals.finished, timeout=1_000) as blocker:
        worker.cancel()
    qtbot.waitUntil(worker.is_done)
    assert blocker.args == [True]
    assert 0 < len(rows) < 150
    assert [r.file_name for r in rows] == [f"s{i:03d}.png" for i in range(len(rows))]


def test_busy_private_pools_are_found(qapp: object) -> None:
    """The dangling-pool fixture sees work on a pool the app made itself (not global)."""
    import threading

    from PySide6.QtCore import QRunnable, QThreadPool

    import desktop.ui.table.thumbnails as thumbnails
    from tests.ui.conftest import busy_pools

    release = threading.Event()

    class Wait(QRunnable):
        def run(self) -> None:
            release.wait(20)

    pool = thumbnails.QThreadPool()  # the tracked class the fixture put there
    assert type(pool) is not QThreadPool
    pool.start(Wait())
    try:
        assert busy_pools([pool], grace_ms=100) == [pool]
    finally:
        release.set()
        pool.waitForDone(5_000)
    assert busy_pools([pool], grace_ms=1_000) == []


class VolumePipeline:
    """One 'volume' file of ``n`` slices; after ``stop_after`` slices it cancels itself."""

    def __init__(self, n: int, stop_after: int | None = None) -> None:
        self.n, self.stop_after = n, stop_after
        self.worker: ClassifyWorker | None = None

    def run(
        self,
        files: Iterable[Path],
        cancel: Callable[[], bool] = lambda: False,
        plan: object = None,
    ) -> Iterator[SliceResult]:
        for f in files:
            for z in range(self.n):
                if cancel():
                    return
                yield make_result(Path(f).name, frame=z, folder=str(Path(f).parent))
                if self.stop_after is not None and z + 1 == self.stop_after:
                    assert self.worker is not None
                    self.worker.cancel()


def test_cancel_inside_a_volume_resumes_the_rest(qtbot, tmp_path: Path) -> None:
    """Issue 16.3: Cancel after slice 1 of 120; dropping the file again does the 119 others."""
    vol = tmp_path / "head.nii.gz"
    vol.write_bytes(b"\x00")
    seen = SeenFiles()
    first = VolumePipeline(120, stop_after=1)
    worker = ClassifyWorker([vol], first, seen, chunk_seconds=0.0)
    first.worker = worker
    rows = run_worker(qtbot, worker)
    assert [r.result.frame for r in rows] == [0]
    assert vol not in seen  # may be dropped again
    again = ClassifyWorker([vol], VolumePipeline(120), seen, chunk_seconds=0.0)
    rest = run_worker(qtbot, again)
    assert [r.result.frame for r in rest] == list(range(1, 120))  # no slice twice
    assert vol in seen and seen.done_frames(vol) == frozenset()
    # a third drop: nothing new
    third = ClassifyWorker([vol], VolumePipeline(120), seen, chunk_seconds=0.0)
    assert run_worker(qtbot, third) == []


def test_removed_rows_of_a_cut_short_file_are_classified_whole_again(tmp_path: Path) -> None:
    vol = tmp_path / "head.nii.gz"
    seen = SeenFiles()
    seen.claim([vol])
    seen.cut_short(vol, {0, 1})
    assert seen.done_frames(vol) == {0, 1}
    seen.release([vol])  # the rows were removed
    assert seen.done_frames(vol) == frozenset()
