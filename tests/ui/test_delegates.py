"""The table's cell delegates: the same style options as Qt's, with few model calls."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from desktop.core.decisions import Decision
from desktop.core.results import Status
from desktop.ui.table.delegates import CellDelegate, FolderDelegate, SourceRows
from desktop.ui.table.model import Column, ResultsModel
from desktop.ui.table.proxy import ResultsProxy
from desktop.ui.vocabulary import ThumbnailRole
from desktop.ui.worker import to_row
from tests.ui.conftest import make_result, shown_table


def varied_model(model: ResultsModel | None = None) -> ResultsModel:
    """Every status, a two-line message, missing probabilities and reviewer decisions."""
    results = [
        make_result("a.png", probs=(0.9, 0.05, 0.03, 0.02)),
        make_result("b.png", Status.UNCERTAIN, probs=(0.4, 0.3, 0.2, 0.1)),
        make_result("c.png", Status.ERROR, message="truncated\nJPEG"),
        make_result("d.png", Status.UNSUPPORTED, message="colour photo"),
        make_result("e.png", probs=(0.1, 0.1, 0.1, 0.7), frame=3, folder="/x/y"),
        make_result("f.png", probs=(0.2, 0.6, 0.1, 0.1)),
    ]
    results = [replace(r, image_sha256=f"{i:064x}") for i, r in enumerate(results)]
    decisions = {
        (results[0].image_sha256, 0): Decision(results[0].image_sha256, 0, "glioma", "seen"),
        (results[1].image_sha256, 0): Decision(results[1].image_sha256, 0, "pituitary"),
        (results[5].image_sha256, 0): Decision(results[5].image_sha256, 0, "glioma"),
    }
    model = model if model is not None else ResultsModel()
    model.decision_source = decisions.get
    model.append_rows([to_row(r) for r in results])
    return model


def option(delegate: QStyledItemDelegate, index: QModelIndex) -> QStyleOptionViewItem:
    opt = QStyleOptionViewItem()
    delegate.initStyleOption(opt, index)
    return opt


@pytest.mark.parametrize("sorted_by", [None, Column.CONFIDENCE])
def test_cell_options_match_qt_standard_delegate(sorted_by: Column | None) -> None:
    model = varied_model()
    proxy = ResultsProxy()
    proxy.setSourceModel(model)
    if sorted_by is not None:
        proxy.sort(int(sorted_by), Qt.SortOrder.DescendingOrder)
    fast, standard = CellDelegate(), QStyledItemDelegate()
    seen_colours = set()
    for r in range(proxy.rowCount()):
        for c in range(proxy.columnCount()):
            index = proxy.index(r, c)
            got, want = option(fast, index), option(standard, index)
            where = (r, Column(c).name)
            assert got.text == want.text, where
            assert got.features == want.features, where
            assert got.displayAlignment == want.displayAlignment, where
            colour = got.palette.color(QPalette.ColorRole.Text)
            assert colour == want.palette.color(QPalette.ColorRole.Text), where
            assert got.index == index, where
            seen_colours.add(colour.name())
    # the comparison covered status colours, agreement colours and the plain text colour
    assert len(seen_colours) >= 5
    # a message's line break is drawn as a line separator, as Qt's delegate does
    # (sorted: c.png ties with d.png, no confidence, and comes first as it arrived first)
    assert "\u2028" in option(fast, proxy.index(2 if sorted_by is None else 4, Column.MESSAGE)).text


def test_folder_cells_elide_on_the_left() -> None:
    model = varied_model()
    opt = option(FolderDelegate(), model.index(0, Column.FOLDER))
    assert opt.text == "/data/scans"
    assert opt.textElideMode == Qt.TextElideMode.ElideLeft


def test_source_rows_follow_sorting_and_remember_only_during_a_paint() -> None:
    model = varied_model()
    proxy = ResultsProxy()
    proxy.setSourceModel(model)
    proxy.sort(int(Column.FILE), Qt.SortOrder.DescendingOrder)  # f, e, d, c, b, a
    rows = SourceRows()
    assert rows.lookup(proxy.index(0, Column.STATUS)) == (model, 5)
    rows.begin()
    assert [rows.lookup(proxy.index(r, Column.FILE))[1] for r in range(6)] == [5, 4, 3, 2, 1, 0]
    rows.end()
    proxy.sort(int(Column.FILE), Qt.SortOrder.AscendingOrder)
    assert rows.lookup(proxy.index(0, Column.FILE)) == (model, 0)  # nothing stale after end()
    assert rows.lookup(QModelIndex()) is None


def test_proxy_flags_are_the_source_flags() -> None:
    model = varied_model()
    proxy = ResultsProxy()
    proxy.setSourceModel(model)
    for c in range(proxy.columnCount()):
        assert proxy.flags(proxy.index(1, c)) == model.flags(model.index(1, c))
    assert proxy.flags(QModelIndex()) == model.flags(QModelIndex())
    assert proxy.flags(proxy.index(0, 0)) & Qt.ItemFlag.ItemIsSelectable


class CountingModel(ResultsModel):
    """Records the roles asked while ``counting`` (a fresh type: no cached override)."""

    def __init__(self) -> None:
        super().__init__()
        self.counting = False
        self.calls: list[int] = []

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):  # type: ignore[no-untyped-def]
        if self.counting:
            self.calls.append(int(role))
        return super().data(index, role)


def test_a_repaint_asks_the_model_once_per_row_not_per_role(qtbot) -> None:
    model = varied_model(CountingModel())
    table = shown_table(qtbot, model, (1900, 500))
    model.counting = True
    table.grab()  # one paint event of the table, as a repaint during a run
    model.counting = False
    # Qt's delegate asked 7 roles x 14 columns per row (~590 here); now the thumbnail only
    assert model.calls == [int(ThumbnailRole)] * model.rowCount()
