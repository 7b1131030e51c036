"""Slices in anatomical order within a case in the table (issue 15.3): sorted by any
column, ties keep case then slice order; the arrival (by case) order is the default and
can be had back."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from desktop.core.results import SliceResult, Status
from desktop.ui.main_window import MainWindow
from desktop.ui.table.model import Column, ResultsModel
from desktop.ui.table.proxy import ResultsProxy
from desktop.ui.worker import to_row
from tests.ui.conftest import make_result

CLEAR = (0.02, 0.03, 0.9, 0.05)
GLIOMA = (0.95, 0.02, 0.02, 0.01)


def sliced(case: str, index: int, probs=CLEAR, name: str = "") -> SliceResult:
    r = make_result(name or f"IM{index + 1}", Status.OK, probs=probs, folder=f"/data/{case}")
    return replace(r, case=case, slice_index=index)


def order(proxy: ResultsProxy) -> list[tuple[str, int]]:
    out = []
    for i in range(proxy.rowCount()):
        r = proxy.result_at(i)
        assert r is not None
        out.append((r.case, r.slice_index))
    return out


@pytest.fixture
def proxy() -> ResultsProxy:
    model = ResultsModel()
    p = ResultsProxy()
    p.setSourceModel(model)
    # two series whose files arrive out of anatomical order, and a case between them
    rows = [sliced("B", k) for k in (3, 0, 2, 1)]
    rows += [sliced("A", k) for k in (1, 2, 0)]
    rows.insert(2, sliced("C", 0, GLIOMA, name="c.png"))
    model.append_rows([to_row(r) for r in rows])
    return p


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("column", [Column.PREDICTED, Column.CONFIDENCE, Column.STATUS])
def test_ties_keep_case_then_slice_order(proxy: ResultsProxy, column, descending) -> None:
    way = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
    # an earlier sort leaves its order behind: the ties must not inherit it
    proxy.sort(Column.FILE, Qt.SortOrder.DescendingOrder)
    proxy.sort(column, way)
    got = order(proxy)
    tied = [x for x in got if x[0] != "C"]
    # cases in the order they arrived (B before A), each one's slices in z
    assert tied == [("B", 0), ("B", 1), ("B", 2), ("B", 3), ("A", 0), ("A", 1), ("A", 2)]
    # C: "glioma" before "no tumor", 95% above 90%; by status a tie placed as it arrived
    first = {Column.PREDICTED: 0, Column.CONFIDENCE: 7, Column.STATUS: 4}[column]
    expected = 7 - first if descending and column != Column.STATUS else first
    assert got.index(("C", 0)) == expected


def test_rows_arriving_in_a_sorted_table_keep_slice_order(proxy: ResultsProxy) -> None:
    proxy.sort(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    model = proxy.sourceModel()
    assert isinstance(model, ResultsModel)
    model.append_rows([to_row(sliced("B", k)) for k in (5, 4)])
    got = [x for x in order(proxy) if x[0] == "B"]
    assert got == [("B", k) for k in (0, 1, 2, 3, 4, 5)]


def test_sorting_by_file_keeps_a_series_in_z_order(proxy: ResultsProxy) -> None:
    """A series' files are IM1, IM10, IM2 ...: by name they would not be in z order."""
    model = proxy.sourceModel()
    assert isinstance(model, ResultsModel)
    model.append_rows([to_row(sliced("B", k)) for k in range(4, 12)])
    proxy.sort(Column.FILE, Qt.SortOrder.AscendingOrder)
    b = [x for x in order(proxy) if x[0] == "B"]
    assert b == [("B", k) for k in range(12)]
    names = [proxy.result_at(i).path.rsplit("/", 1)[1] for i in range(proxy.rowCount())]
    assert names.index("IM10") > names.index("IM9")
    # cases by name: A, B, then the image c.png
    assert [c for c, _ in order(proxy)][::4] == ["A", "B", "B", "B"]
    assert order(proxy)[-1] == ("C", 0)


def test_the_window_starts_in_case_order_and_can_go_back_to_it(qtbot, data_dir) -> None:
    w = MainWindow(None)
    qtbot.addWidget(w)
    rows = [sliced("V", k, GLIOMA if k % 2 else CLEAR) for k in range(6)]
    rows += [sliced("W", k) for k in range(3)]
    w.model.append_rows([to_row(r) for r in rows])
    arrival = [("V", k) for k in range(6)] + [("W", k) for k in range(3)]
    assert order(w.proxy) == arrival
    assert w.table.horizontalHeader().sortIndicatorSection() == -1
    w.table.sortByColumn(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    assert order(w.proxy) != arrival
    w.case_order_action.trigger()
    assert order(w.proxy) == arrival
    assert w.table.horizontalHeader().sortIndicatorSection() == -1
    # the header's third click does the same
    assert w.table.horizontalHeader().isSortIndicatorClearable()
