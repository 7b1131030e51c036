"""The background worker and the run controller (waitSignal, cancel, error rows, queue)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from desktop.core.results import SliceResult, Status
from desktop.ui.controller import RunController
from desktop.ui.results_model import ResultRow
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


def test_worker_reports_exceptions_as_errored(qtbot, image_folder: Path) -> None:
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
    assert errors == ["RuntimeError: boom"]


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
