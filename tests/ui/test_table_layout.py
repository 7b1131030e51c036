"""Rows that arrive below the visible ones do not repaint the table; every other change does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt

from desktop.ui.table.model import Column, ResultRow, ResultsModel
from desktop.ui.table.widgets import ResultsTable
from tests.ui.conftest import make_result, shown_table


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def rows(start: int, n: int, confidence: float | None = None) -> list[ResultRow]:
    out = []
    for i in range(start, start + n):
        c = confidence if confidence is not None else 0.3 + 0.6 * ((i * 37) % 100) / 100
        probs = (c, (1 - c) / 3, (1 - c) / 3, (1 - c) / 3)
        out.append(ResultRow.from_result(make_result(f"{i:05d}.png", probs=probs), None))
    return out


def settle() -> None:
    # the delayed layout runs on a zero timer and posts the repaint it asks for
    for _ in range(4):
        QCoreApplication.processEvents()


@pytest.fixture
def table(qtbot) -> Iterator[tuple[ResultsTable, ResultsModel, PaintCounter]]:
    model = ResultsModel()
    view = shown_table(qtbot, model)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order, as the window starts
    counter = PaintCounter()
    view.viewport().installEventFilter(counter)
    model.append_rows(rows(0, 40))  # more than fill the view
    settle()
    assert view.rowAt(view.viewport().height() - 1) >= 0
    yield view, model, counter
    view.viewport().removeEventFilter(counter)


def test_rows_below_the_view_repaint_nothing_and_extend_the_scroll_range(table) -> None:
    view, model, counter = table
    counter.paints = 0
    skipped = view.layouts_skipped
    top_max = view.verticalScrollBar().maximum()
    model.append_rows(rows(40, 30))
    settle()
    assert counter.paints == 0
    assert view.layouts_skipped == skipped + 1
    assert view.verticalScrollBar().maximum() > top_max  # the new rows can be scrolled to
    # ... and they are drawn once scrolled into view
    view.scrollToBottom()
    settle()
    assert counter.paints > 0
    last = view.rowAt(view.viewport().height() - 1)
    assert last == view.model().rowCount() - 1 == 69


def test_rows_that_land_in_view_repaint(table) -> None:
    view, model, counter = table
    view.sortByColumn(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    view.scrollToTop()
    settle()
    counter.paints = 0
    skipped = view.layouts_skipped
    model.append_rows(rows(100, 5, confidence=0.99))  # sorted to the top
    settle()
    assert view.layouts_skipped == skipped
    assert counter.paints > 0
    first = view.model().index(0, Column.FILE).data()
    assert first in {f"{i:05d}.png" for i in range(100, 105)}


def test_a_removal_after_an_insert_gets_the_full_layout(table) -> None:
    view, model, counter = table
    counter.paints = 0
    skipped = view.layouts_skipped
    model.append_rows(rows(40, 10))  # below the view ...
    model.remove_rows([0])  # ... but the first visible row goes, in the same layout period
    settle()
    assert view.layouts_skipped == skipped
    assert counter.paints > 0
    assert view.model().index(0, Column.FILE).data() == "00001.png"


def test_a_view_that_is_not_full_repaints_for_new_rows(qtbot) -> None:
    model = ResultsModel()
    view = shown_table(qtbot, model)
    counter = PaintCounter()
    view.viewport().installEventFilter(counter)
    model.append_rows(rows(0, 3))
    settle()
    assert counter.paints > 0
    assert view.layouts_skipped == 0
    view.viewport().removeEventFilter(counter)


def test_progress_bar_is_drawn_with_the_window_not_inside_the_progress_call(qtbot) -> None:
    """QProgressBar.setValue repaints synchronously; the panel defers it to the next paint."""
    from desktop.ui.controller import Progress
    from desktop.ui.table.widgets import ProgressPanel

    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    settle()
    counter = PaintCounter()
    panel.bar.installEventFilter(counter)
    panel.update_progress(Progress(10, 100, 10, 1.0, 0))
    panel.update_progress(Progress(20, 100, 20, 2.0, 0))
    assert counter.paints == 0  # nothing drawn inside the calls
    settle()
    assert counter.paints >= 1 and panel.bar.value() == 20  # drawn once, later
    panel.bar.removeEventFilter(counter)


def test_the_first_window_fits_small_and_large_screens() -> None:
    """Issue 16.11: at 1366 x 768 the status bar (progress, Cancel) stays on screen."""
    from PySide6.QtCore import QSize

    from desktop.ui.main_window import default_size

    w, h = default_size(QSize(1366, 768))
    assert w <= 1366 and h <= 768 - 40
    w, h = default_size(QSize(1920, 1080))
    assert w > 1280 and h > 800 and h <= 1080 - 40


def test_the_call_status_and_review_come_first(qtbot) -> None:
    """Issue 16.11: at the default size, Status and Agreement need no sideways scrolling."""
    from desktop.ui.table.model import Column, ResultsModel
    from desktop.ui.table.widgets import ResultsTable

    table = ResultsTable()
    qtbot.addWidget(table)
    table.setModel(ResultsModel())
    table.apply_default_widths()
    header = table.horizontalHeader()
    right_edge = {c: header.sectionPosition(c) + header.sectionSize(c) for c in Column}
    table_width_at_1280 = 1280 - 440  # the preview's share
    for col in (Column.PREDICTED, Column.CONFIDENCE, Column.STATUS, Column.AGREEMENT):
        assert right_edge[col] <= table_width_at_1280, col
    assert header.visualIndex(Column.MESSAGE) == len(Column) - 1
