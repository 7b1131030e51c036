"""Sorting and filtering of the results table (by class, by status, by text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from desktop.core.results import SliceResult, Status
from desktop.ui.table.model import Column, ResultsModel
from desktop.ui.vocabulary import ResultRole, SortRole

#: what :meth:`ResultsModel.flags` (QAbstractTableModel's) gives every valid cell
_CELL_FLAGS = (
    Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
)


class ResultsProxy(QSortFilterProxyModel):
    """Sorts by :data:`SortRole` (numbers as numbers) and filters rows.

    The class filter matches firm calls only ("uncertain" is not a class); with the
    status filter set to uncertain it matches the best guess of uncertain rows instead.
    The text filter matches file name, folder and message, case-insensitively.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)
        self._class: str | None = None
        self._status: Status | None = None
        self._text = ""
        #: the case list's choice: which slices' cases to show (None: all)
        self._case: Callable[[SliceResult], bool] | None = None
        #: (sort value, case order) of every source row during :meth:`sort`
        self._keys: list[tuple[Any, tuple[int, int, int]]] | None = None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        # every cell has the source's flags; answering here spares mapping each cell the
        # view draws to the source (two more C++ -> Python calls per cell)
        return _CELL_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def set_class_filter(self, name: str | None) -> None:
        self.beginFilterChange()
        self._class = name or None
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_status_filter(self, status: Status | None) -> None:
        self.beginFilterChange()
        self._status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text_filter(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_case_filter(self, accepts: Callable[[SliceResult], bool] | None) -> None:
        """Show only the slices ``accepts`` takes (the selected case); None: all."""
        self.beginFilterChange()
        self._case = accepts
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def is_filtered(self) -> bool:
        return bool(self._class or self._status or self._text or self._case)

    def lessThan(
        self,
        left: QModelIndex | QPersistentModelIndex,
        right: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        """By the column's :data:`SortRole` value; ties (the same class, the same
        confidence, ...) in the by-case order, whichever way the column is sorted: each
        case's slices stay in anatomical order, the cases in the order they arrived."""
        model = self.sourceModel()
        if not isinstance(model, ResultsModel):
            return bool(super().lessThan(left, right))
        a, b = left.row(), right.row()
        keys = self._keys
        if keys is not None:  # a whole sort: each row's keys made once
            (va, ka), (vb, kb) = keys[a], keys[b]
            if va != vb:
                return bool(va < vb)
        else:  # rows sorted into place as they arrive or change
            va, vb = model.sort_value(a, left.column()), model.sort_value(b, right.column())
            if va != vb:
                return bool(va < vb)
            ka, kb = model.case_order(a), model.case_order(b)
        # descending, Qt asks lessThan(right, left): answer so that ties still ascend
        return ka < kb if self.sortOrder() == Qt.SortOrder.AscendingOrder else kb < ka

    def filterAcceptsRow(
        self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex
    ) -> bool:
        model = self.sourceModel()
        if not isinstance(model, ResultsModel) or source_row >= model.rowCount():
            return True
        row = model.row_at(source_row)
        r: SliceResult = row.result
        if self._case is not None and not self._case(r):
            return False
        if self._status is not None and r.status is not self._status:
            return False
        if self._class is not None:
            wanted = Status.UNCERTAIN if self._status is Status.UNCERTAIN else Status.OK
            if r.predicted_class != self._class or r.status is not wanted:
                return False
        if self._text:
            hay = f"{row.file_name}\n{row.folder}\n{r.message}".lower()
            if self._text not in hay:
                return False
        return True

    def result_at(self, proxy_row: int) -> SliceResult | None:
        value = self.index(proxy_row, Column.FILE).data(ResultRole)
        return value if isinstance(value, SliceResult) else None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        model = self.sourceModel()
        if column < 0 or not isinstance(model, ResultsModel):
            super().sort(column, order)
            return
        # the keys of every row once, not twice per comparison (n log n of them)
        self._keys = [
            (model.sort_value(i, column), model.case_order(i)) for i in range(model.rowCount())
        ]
        try:
            super().sort(column, order)
        finally:
            self._keys = None

    def sort_column(self, column: Column, order: Qt.SortOrder) -> None:
        self.sort(int(column), order)
