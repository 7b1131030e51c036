"""Cases in the window (issue 15.3): the status bar counts cases with their verdicts, and
the preview steps through a case's slices in anatomical order."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from desktop.core.results import SliceResult, Status
from desktop.ui.main_window import MainWindow
from desktop.ui.table import case_counts
from desktop.ui.worker import to_row
from tests.ui.conftest import make_result, wait_preview

TUMOUR = (0.9, 0.04, 0.03, 0.03)  # glioma, meningioma, no_tumor, pituitary
CLEAR = (0.02, 0.03, 0.9, 0.05)


def sliced(name: str, case: str, index: int, probs=CLEAR, status=Status.OK) -> SliceResult:
    r = make_result(name, status, probs=probs, folder=f"/data/{case}")
    return replace(r, case=case, slice_index=index)


@pytest.fixture
def window(qtbot, data_dir) -> MainWindow:
    w = MainWindow(None)
    qtbot.addWidget(w)
    w.show()
    return w


def test_status_bar_counts_cases_with_their_verdicts(window: MainWindow) -> None:
    rows = [sliced(f"a{i}.dcm", "A", i, TUMOUR) for i in range(4)]
    rows += [sliced(f"b{i}.dcm", "B", i) for i in range(3)]
    rows += [sliced("c.png", "C", 0)]
    window.model.append_rows([to_row(r) for r in rows])
    assert window.counts.text() == "3 cases: 1 tumour suspected, 2 no tumour · 8 slices: 8 ok"
    # Delete: the case counts follow
    window.table.selectAll()
    window.table.clearSelection()
    for r in range(window.proxy.rowCount()):
        if window.proxy.result_at(r).case == "A":
            window.table.selectionModel().select(
                window.proxy.index(r, 0),
                window.table.selectionModel().SelectionFlag.Select
                | window.table.selectionModel().SelectionFlag.Rows,
            )
    window.remove_selected()
    assert window.counts.text() == "2 cases: 2 no tumour · 4 slices: 4 ok"
    window.clear_all()
    assert window.counts.text() == "0 slices"


def test_case_counts_recount_only_changed_cases(window: MainWindow, monkeypatch) -> None:
    """2,000 rows in chunks: each chunk recounts the cases it touched, not all of them."""
    calls: list[int] = []
    real = case_counts.case_verdict

    def counting(slices, names, rule):  # type: ignore[no-untyped-def]
        slices = list(slices)
        calls.append(len(slices))
        return real(slices, names, rule)

    monkeypatch.setattr(case_counts, "case_verdict", counting)
    rows = [to_row(sliced(f"v{i:04d}.dcm", f"case{i // 100}", i % 100)) for i in range(2000)]
    for k in range(0, 2000, 50):
        window.model.append_rows(rows[k : k + 50])
    assert window.counts.text().startswith("20 cases: 20 no tumour · 2,000 slices")
    # one case per 50-row chunk (two chunks per case): 40 recounts, about 2,000 slices read
    assert len(calls) <= 40 and sum(calls) <= 3_000


def test_the_loaded_models_case_rule_is_used(qtbot, data_dir, test_model_path) -> None:
    from desktop.core.classifier import Classifier
    from desktop.ui.app import build_window

    classifier = Classifier.load(test_model_path)
    w = build_window(classifier)
    qtbot.addWidget(w)
    assert w.cases.rule == classifier.spec.case_rule


def _current(window: MainWindow) -> SliceResult:
    result = window.proxy.result_at(window.table.currentIndex().row())
    assert result is not None
    return result


def _row_of_slice(window: MainWindow, index: int) -> int:
    rows = range(window.proxy.rowCount())
    return next(r for r in rows if window.proxy.result_at(r).slice_index == index)


def _wheel(widget, dy: int) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        pos,
        QPointF(widget.mapToGlobal(pos.toPoint())),
        QPoint(0, 0),
        QPoint(0, dy),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_preview_steps_through_the_case_in_anatomical_order(qtbot, window: MainWindow) -> None:
    # arrival order is not anatomical order; another case sits between them
    order = [2, 0, 4, 1, 3]
    rows = [sliced(f"s{i}.dcm", "vol", i) for i in order[:2]]
    rows += [sliced("other.png", "other", 0)]
    rows += [sliced(f"s{i}.dcm", "vol", i) for i in order[2:]]
    window.model.append_rows([to_row(r) for r in rows])
    start = _row_of_slice(window, 1)
    window.table.selectRow(start)
    view = window.preview.view
    seen = []
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_Down):
        qtbot.keyClick(view, key)
        seen.append(_current(window).slice_index)
    assert seen == [2, 3, 4, 4]  # stays on the last slice
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    assert _current(window).slice_index == 3
    _wheel(view, 120)  # wheel up: previous slice
    assert _current(window).slice_index == 2
    _wheel(view, -120)
    assert _current(window).slice_index == 3
    assert {_current(window).case} == {"vol"}
    wait_preview(qtbot, window.preview)


def test_stepping_skips_filtered_slices_and_follows_the_sort(qtbot, window: MainWindow) -> None:
    rows = [sliced(f"s{i}.dcm", "vol", i) for i in range(4)]
    rows[2] = sliced("s2.dcm", "vol", 2, status=Status.UNSUPPORTED, probs=None)
    window.model.append_rows([to_row(r) for r in rows])
    window.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)  # table order is not anatomy
    window.proxy.set_status_filter(Status.OK)
    start = _row_of_slice(window, 1)
    window.table.selectRow(start)
    qtbot.keyClick(window.preview.view, Qt.Key.Key_Down)
    assert _current(window).slice_index == 3  # slice 2 is filtered out
    qtbot.keyClick(window.preview.view, Qt.Key.Key_Up)
    assert _current(window).slice_index == 1
    qtbot.keyClick(window.preview.view, Qt.Key.Key_Up)
    assert _current(window).slice_index == 0
    # from the table too: Alt+Down / Alt+Up (the arrows alone move through the rows)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert _current(window).slice_index == 1
    qtbot.keyClick(window.table, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert _current(window).slice_index == 0
    wait_preview(qtbot, window.preview)


def test_summary_dialog_counts_cases(qtbot, window: MainWindow) -> None:
    rows = [sliced(f"a{i}.dcm", "A", i, TUMOUR) for i in range(3)]
    rows += [sliced("c.png", "C", 0)]
    window.model.append_rows([to_row(r) for r in rows])
    dialog = window.review.show_summary()
    assert "4 rows" in dialog.headline.text()
    assert dialog.cases.text() == "The rows belong to 2 cases: 1 tumour suspected, 1 no tumour."
    dialog.close()
