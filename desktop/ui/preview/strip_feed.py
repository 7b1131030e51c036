"""The slice strip's link to the results: the current case's rows, kept up to date, and
the table row of a slice the strip chose."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject

from desktop.core.results import SliceResult
from desktop.ui.preview.strip import SliceStrip
from desktop.ui.preview.strip_data import strip_data
from desktop.ui.table.case_counts import CaseCounts, case_key
from desktop.ui.table.model import ResultsModel
from desktop.ui.table.proxy import ResultsProxy


class CaseStripFeed(QObject):
    """Keeps a :class:`SliceStrip` on the current row's case as rows come and go.

    The case's rows come from the window's :class:`CaseCounts`, which already keeps every
    case's rows as they arrive (its row handlers run first: it is connected to the model
    before this feed), so switching cases costs no scan of the table, and rows streaming
    into a 620-slice volume cost a look at the new rows and one :func:`strip_data` per
    chunk of the current case.
    """

    def __init__(self, counts: CaseCounts, strip: SliceStrip, parent: QObject | None = None):
        super().__init__(parent)
        self.counts = counts
        self.model = counts.model
        self.strip = strip
        self.case: str | None = None
        self._shown = 0  # the current case's slices when it was last drawn
        self.model.rowsInserted.connect(self._on_inserted)
        self.model.rowsRemoved.connect(self._on_removed)
        self.model.modelReset.connect(self._redraw)

    def show(self, result: SliceResult | None) -> None:
        """Follow the current row (None: no row, the strip hides)."""
        key = case_key(result) if result is not None else None
        if key != self.case:
            self.case = key
            self._redraw()
        self.strip.set_current(result.slice_index if result is not None else None)

    def _redraw(self) -> None:
        rows = self.counts.results(self.case) if self.case is not None else []
        self._shown = len(rows)
        if self.case is None:
            self.strip.set_data(None)
            return
        c = self.counts
        self.strip.set_data(strip_data(rows, c.class_names, c.rule, self.case))

    def _on_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        if self.case is not None and any(
            case_key(self.model.row_at(i).result) == self.case for i in range(first, last + 1)
        ):
            self._redraw()

    def _on_removed(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        if self.case is not None and len(self.counts.results(self.case)) != self._shown:
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
