"""The slice strip's link to the results: the current case's rows, kept up to date, and
the table row of a slice the strip chose."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QObject

from desktop.core.model_spec import CaseRule
from desktop.core.results import SliceResult
from desktop.ui.preview.strip import SliceStrip
from desktop.ui.preview.strip_data import strip_data
from desktop.ui.table.case_counts import case_key
from desktop.ui.table.model import ResultsModel
from desktop.ui.table.proxy import ResultsProxy


class CaseStripFeed(QObject):
    """Keeps a :class:`SliceStrip` on the current row's case as rows come and go.

    The case's rows are gathered once when the current case changes; after that only
    inserted and removed rows are looked at, so rows streaming into a 620-slice volume
    cost a look at the new rows and one :func:`strip_data` per chunk.
    """

    def __init__(
        self,
        model: ResultsModel,
        strip: SliceStrip,
        class_names: Sequence[str],
        rule: CaseRule,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.strip = strip
        self.class_names = tuple(class_names)
        self.rule = rule
        self.case: str | None = None
        #: (path, frame) -> result, of the current case
        self._rows: dict[tuple[str, int], SliceResult] = {}
        model.rowsInserted.connect(self._on_inserted)
        model.rowsAboutToBeRemoved.connect(self._on_removing)
        model.modelReset.connect(self._on_reset)

    def show(self, result: SliceResult | None) -> None:
        """Follow the current row (None: no row, the strip hides)."""
        key = case_key(result) if result is not None else None
        if key != self.case:
            self.case = key
            self._rows = {}
            if key is not None:
                self._add(0, self.model.rowCount() - 1)
            self._redraw()
        self.strip.set_current(result.slice_index if result is not None else None)

    def _add(self, first: int, last: int) -> bool:
        found = False
        for i in range(first, last + 1):
            r = self.model.row_at(i).result
            if case_key(r) == self.case:
                self._rows[(r.path, r.frame)] = r
                found = True
        return found

    def _redraw(self) -> None:
        if self.case is None:
            self.strip.set_data(None)
            return
        self.strip.set_data(strip_data(self._rows.values(), self.class_names, self.rule, self.case))

    def _on_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        if self.case is not None and self._add(first, last):
            self._redraw()

    def _on_removing(self, _parent: QModelIndex, first: int, last: int) -> None:
        if self.case is None:
            return
        gone = False
        for i in range(first, last + 1):
            r = self.model.row_at(i).result
            if case_key(r) == self.case:
                gone = self._rows.pop((r.path, r.frame), None) is not None or gone
        if gone:
            self._redraw()

    def _on_reset(self) -> None:
        self._rows = {}
        if self.case is not None:
            self._add(0, self.model.rowCount() - 1)
        self._redraw()


def proxy_row_of_slice(
    model: ResultsModel, proxy: ResultsProxy, case: str, index: int
) -> int | None:
    """The proxy row of ``case``'s slice ``index``, or of the shown slice of that case
    nearest to it (a slice without a row, or one the filters hide); None if none shows."""
    best: tuple[int, int, int] | None = None  # (distance, slice index, proxy row)
    for i in range(model.rowCount()):
        r = model.row_at(i).result
        if case_key(r) != case:
            continue
        rank = (abs(r.slice_index - index), r.slice_index)
        if best is not None and rank >= best[:2]:
            continue
        shown = proxy.mapFromSource(model.index(i, 0))
        if shown.isValid():
            best = (*rank, shown.row())
    return best[2] if best is not None else None
