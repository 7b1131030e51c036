"""Rows reach the table in chunks (one insert per chunk) and a sorted view stays sorted;
background threads run below the GUI thread's priority."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThreadPool

from desktop.core.discovery import Discovery
from desktop.core.results import SliceResult
from desktop.ui import priority
from desktop.ui.table.model import Column, ResultRow, ResultsModel
from desktop.ui.table.proxy import ResultsProxy
from desktop.ui.vocabulary import SortRole
from desktop.ui.worker import ClassifyWorker, SeenFiles
from tests.ui.conftest import make_result


class ListPipeline:
    """Yields one result per file at once (confidence from the file number)."""

    def run(
        self, files: Iterable[Path], cancel: Callable[[], bool] = lambda: False, plan=None
    ) -> Iterator[SliceResult]:
        for f in files:
            i = int(Path(f).stem)
            c = 0.3 + 0.6 * ((i * 37) % 100) / 100
            yield make_result(Path(f).name, probs=(c, (1 - c) / 3, (1 - c) / 3, (1 - c) / 3))


def fake_discover(paths, cancel=lambda: False) -> Discovery:
    return Discovery(files=[Path(p) for p in paths], skipped=0)


def test_rows_arrive_in_chunks_and_the_sorted_view_stays_sorted(qtbot) -> None:
    model = ResultsModel()
    proxy = ResultsProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    inserts: list[int] = []
    model.rowsInserted.connect(lambda _p, first, last: inserts.append(last - first + 1))
    chunks: list[list[ResultRow]] = []

    def on_rows(rows: list[ResultRow]) -> None:
        chunks.append(rows)
        model.append_rows(rows)

    paths = [f"/data/{i}.png" for i in range(300)]
    worker = ClassifyWorker(
        paths, ListPipeline(), SeenFiles(), chunk_seconds=10.0, discover=fake_discover
    )
    worker.signals.results_ready.connect(on_rows)
    with qtbot.waitSignal(worker.signals.finished, timeout=10_000):
        QThreadPool.globalInstance().start(worker)
    qtbot.waitUntil(worker.is_done)
    qtbot.waitUntil(lambda: model.rowCount() == 300)
    # the first row alone (shown at once), then everything else in one chunk
    assert [len(c) for c in chunks] == [1, 299]
    assert inserts == [1, 299]  # one insert notification per chunk, not per row
    values = [proxy.index(r, Column.CONFIDENCE).data(SortRole) for r in range(300)]
    assert values == sorted(values, reverse=True)
    names = {model.index(r, Column.FILE).data() for r in range(300)}
    assert names == {f"{i}.png" for i in range(300)}


@pytest.mark.skipif(not priority.supported(), reason="per-thread nice is Linux only")
def test_background_threads_run_at_lower_priority() -> None:
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []

    def body() -> None:
        priority.lower_current_thread()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == [max(main_before, priority.BACKGROUND_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before


def test_started_threads_finds_new_threads() -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    try:
        _, new = priority.started_threads(t.start)
        if sys.platform.startswith("linux"):
            assert t.native_id in new
    finally:
        stop.set()
        t.join()
