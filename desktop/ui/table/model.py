"""The results table model: one row per slice, over a plain list of records."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QImage

from desktop.core.decisions import Decision, Key, agreement, key_of
from desktop.core.model_spec import CLASS_NAMES
from desktop.core.results import SliceResult, Status
from desktop.ui.table.thumbnails import Key as ThumbKey
from desktop.ui.table.thumbnails import ThumbnailCache
from desktop.ui.vocabulary import (
    AGREEMENT_COLOURS,
    AGREEMENT_ORDER,
    AGREEMENT_WORDS,
    STATUS_COLOURS,
    STATUS_WORDS,
    ResultRole,
    SortRole,
    ThumbnailRole,
    class_label,
    predicted_text,
)

AnyIndex = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    """Table columns, in display order."""

    THUMBNAIL = 0
    FILE = 1
    FOLDER = 2
    FRAME = 3
    PREDICTED = 4
    CONFIDENCE = 5
    REVIEWER = 6
    AGREEMENT = 7
    P_GLIOMA = 8
    P_MENINGIOMA = 9
    P_NO_TUMOR = 10
    P_PITUITARY = 11
    STATUS = 12
    MESSAGE = 13


PROBABILITY_COLUMNS = (Column.P_GLIOMA, Column.P_MENINGIOMA, Column.P_NO_TUMOR, Column.P_PITUITARY)
NUMERIC_COLUMNS = frozenset({Column.FRAME, Column.CONFIDENCE, *PROBABILITY_COLUMNS})

_COLUMNS = tuple(Column)
_N_COLUMNS = len(_COLUMNS)
_COLOURED = frozenset({Column.PREDICTED, Column.STATUS, Column.MESSAGE, Column.CONFIDENCE})
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_SORT, _THUMB, _RESULT = int(SortRole), int(ThumbnailRole), int(ResultRole)
_ROLES = frozenset({_DISPLAY, _FOREGROUND, _ALIGN, _TOOLTIP, _SORT, _THUMB, _RESULT})
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)


@dataclass(frozen=True)
class ResultRow:
    """A result plus what the table shows for it (made in the worker thread).

    ``thumbnail`` carries the freshly made image to the model, which moves it into its
    bounded :class:`ThumbnailCache`; kept rows hold None and ``has_thumbnail``.
    """

    result: SliceResult
    thumbnail: QImage | None
    file_name: str
    folder: str
    has_thumbnail: bool = False
    #: the File column's text: the name, and for a slice of a volume, a multi-frame file
    #: or a series its number in anatomical order first (names are middle-elided, so the
    #: number and the name's end, e.g. "flair.nii.gz", both stay visible)
    label: str = ""

    @classmethod
    def from_result(cls, result: SliceResult, thumbnail: QImage | None) -> ResultRow:
        p = Path(result.path)
        name = p.name
        number = slice_number(result)
        label = f"slice {number} · {name}" if number is not None else name
        # one folder string for all rows of a folder
        return cls(result, thumbnail, name, sys.intern(str(p.parent)), thumbnail is not None, label)


def slice_number(result: SliceResult) -> int | None:
    """The slice's number in its case in anatomical order (1 = the first) when it is a
    slice of a volume, a series or a multi-frame file; None for an image of its own."""
    name = Path(result.path).name
    in_stack = (
        result.slice_index > 0
        or (result.case not in ("", name))
        or name.lower().endswith((".nii", ".nii.gz"))
    )
    return result.slice_index + 1 if in_stack else None


def _placeholder() -> QImage:
    """What a row shows while its evicted thumbnail is re-made: a plain grey square."""
    img = QImage(8, 8, QImage.Format.Format_Grayscale8)
    img.fill(QColor(200, 200, 200))
    return img


class ResultsModel(QAbstractTableModel):
    """Rows of :class:`ResultRow`; rows are appended in chunks and removed by index."""

    def __init__(
        self,
        class_names: Sequence[str] = CLASS_NAMES,
        parent: Any = None,
        thumbnails: ThumbnailCache | None = None,
    ) -> None:
        super().__init__(parent)
        self._rows: list[ResultRow] = []
        #: rows by status, kept up to date (the status bar reads it after every chunk)
        self._counts: Counter[Status] = Counter()
        #: case (as :func:`desktop.ui.table.case_counts.case_key`) -> place in arrival order
        self._case_rank: dict[str, int] = {}
        self.class_names = tuple(class_names)
        #: where the reviewer's decisions come from (set by the review controller)
        self.decision_source: Callable[[Key], Decision | None] | None = None
        #: the rows' thumbnails (bounded; evicted ones are re-made when a row is drawn)
        self.thumbnails = thumbnails if thumbnails is not None else ThumbnailCache(parent=self)
        self.thumbnails.ready.connect(self._on_thumbnails)
        #: rows waiting for a re-made thumbnail (followed through inserts and removals)
        self._waiting: dict[ThumbKey, QPersistentModelIndex] = {}
        self._placeholder = _placeholder()

    # -- Qt API -------------------------------------------------------------------------
    # rowCount/columnCount are called twice per cell the view draws: keep them trivial
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _N_COLUMNS

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        col = Column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._header(col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in NUMERIC_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _header(self, col: Column) -> str:
        if col in PROBABILITY_COLUMNS:
            i = PROBABILITY_COLUMNS.index(col)
            name = self.class_names[i] if i < len(self.class_names) else f"class {i}"
            return f"p({class_label(name)})"
        return {
            Column.THUMBNAIL: "",
            Column.FILE: "File",
            Column.FOLDER: "Folder",
            Column.FRAME: "Frame",
            Column.PREDICTED: "Predicted class",
            Column.REVIEWER: "Reviewer",
            Column.AGREEMENT: "Agreement",
            Column.CONFIDENCE: "Confidence",
            Column.STATUS: "Status",
            Column.MESSAGE: "Message",
        }[col]

    # flags(): QAbstractTableModel's own (enabled, selectable, no children) - a Python
    # override would be one more C++ -> Python call per cell the view draws

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # hot path (called for every role of every visible cell): plain ints, early exits
        role = int(role)
        if role not in _ROLES or not index.isValid():
            return None
        i = index.row()
        if i >= len(self._rows):
            return None
        row = self._rows[i]
        col = _COLUMNS[index.column()]
        if role == _DISPLAY:
            return self._display(row, col)
        if role == _FOREGROUND:
            return self._foreground(row, col)
        if role == _ALIGN:
            return _RIGHT if col in NUMERIC_COLUMNS else None
        if role == _SORT:
            return self._sort_key(row, col)
        if role == _THUMB:
            return self._thumbnail(row, index) if col == Column.THUMBNAIL else None
        if role == _RESULT:
            return row.result
        if role == _TOOLTIP:
            r = row.result
            if col in (Column.FILE, Column.FOLDER, Column.THUMBNAIL):
                return r.path
            if col == Column.MESSAGE and r.message:
                return r.message
            if col in (Column.REVIEWER, Column.AGREEMENT):
                return self._review_tooltip(r)
        return None

    def cell(self, i: int, column: int) -> tuple[str | None, QColor | None, int | None]:
        """Source row ``i``'s (display text, text colour, alignment) in one call.

        The same answers as :meth:`data` for DisplayRole, ForegroundRole and
        TextAlignmentRole: the table's delegate reads them here once per cell instead of
        asking the model role by role (each a C++ -> Python call taking the GIL).
        """
        row = self._rows[i]
        col = _COLUMNS[column]
        align = _RIGHT if col in NUMERIC_COLUMNS else None
        return self._display(row, col), self._foreground(row, col), align

    def _foreground(self, row: ResultRow, col: Column) -> QColor | None:
        if col == Column.AGREEMENT:
            return AGREEMENT_COLOURS.get(agreement(row.result, self.decision(row.result)))
        return STATUS_COLOURS[row.result.status] if col in _COLOURED else None

    # -- thumbnails -----------------------------------------------------------------------
    def _thumbnail(self, row: ResultRow, index: AnyIndex) -> QImage | None:
        if not row.has_thumbnail:
            return None
        key = (row.result.path, row.result.frame)
        image = self.thumbnails.request(key)
        if image is not None:
            return image
        if key in self.thumbnails.failed:
            return None
        if key not in self._waiting:
            self._waiting[key] = QPersistentModelIndex(index)
        return self._placeholder

    def _on_thumbnails(self, keys: list[ThumbKey]) -> None:
        for key in keys:
            p = self._waiting.pop(key, None)
            if p is not None and p.isValid():
                i = self.index(p.row(), Column.THUMBNAIL)
                self.dataChanged.emit(i, i, [ThumbnailRole])

    # -- decisions ------------------------------------------------------------------------
    def decision(self, r: SliceResult) -> Decision | None:
        key = key_of(r)
        if key is None or self.decision_source is None:
            return None
        return self.decision_source(key)

    def _review_tooltip(self, r: SliceResult) -> str | None:
        d = self.decision(r)
        if d is None:
            return None
        said = class_label(d.reviewer_class) if d.reviewer_class else "no class"
        text = f"Model said: {predicted_text(r)}\nReviewer said: {said}"
        return text + (f"\nNote: {d.note}" if d.note else "") + f"\n{d.reviewed_at}"

    def decisions_changed(self, keys: Collection[Key]) -> None:
        """Repaint the review cells of the rows with these keys (after the store changed)."""
        rows = [i for i, row in enumerate(self._rows) if key_of(row.result) in keys]
        if rows:
            self.dataChanged.emit(
                self.index(min(rows), Column.REVIEWER), self.index(max(rows), Column.AGREEMENT)
            )

    # -- cell values --------------------------------------------------------------------
    def _probability(self, r: SliceResult, col: Column) -> float | None:
        i = PROBABILITY_COLUMNS.index(col)
        if r.probabilities is None or i >= len(r.probabilities):
            return None
        return float(r.probabilities[i])

    def _display(self, row: ResultRow, col: Column) -> str | None:
        r = row.result
        if col == Column.THUMBNAIL:
            return None
        if col == Column.FILE:
            return row.label or row.file_name
        if col == Column.FOLDER:
            return row.folder
        if col == Column.FRAME:
            return str(r.frame)
        if col == Column.PREDICTED:
            return predicted_text(r)
        if col == Column.CONFIDENCE:
            return "" if r.confidence is None else f"{r.confidence:.1%}"
        if col in PROBABILITY_COLUMNS:
            p = self._probability(r, col)
            return "" if p is None else f"{p:.1%}"
        if col == Column.STATUS:
            return STATUS_WORDS[r.status]
        if col == Column.REVIEWER:
            d = self.decision(r)
            if d is None:
                return ""
            said = class_label(d.reviewer_class) if d.reviewer_class else "—"
            return said + (" ✎" if d.note else "")
        if col == Column.AGREEMENT:
            return AGREEMENT_WORDS[agreement(r, self.decision(r))]
        return r.message

    def _sort_key(self, row: ResultRow, col: Column) -> Any:
        """Numbers sort as numbers (missing values first), text case-insensitively."""
        r = row.result
        if col == Column.FRAME:
            return float(r.frame)
        if col == Column.CONFIDENCE:
            return -1.0 if r.confidence is None else float(r.confidence)
        if col in PROBABILITY_COLUMNS:
            p = self._probability(r, col)
            return -1.0 if p is None else p
        if col in (Column.THUMBNAIL, Column.FILE):  # a stack's slices in anatomical order
            # one string (Qt compares the sort role's values): name, case, z, frame; a
            # slice of a stack by its case's name (a series' files IM1, IM10, IM2 ... have
            # other names than their order along z)
            name = (r.case or row.file_name) if row.label != row.file_name else row.file_name
            return f"{name.lower()}\0{r.case}\0{r.slice_index:09d}\0{r.frame:09d}"
        if col == Column.STATUS:
            return list(Status).index(r.status)
        if col == Column.PREDICTED:
            return predicted_text(r).lower()
        if col == Column.AGREEMENT:
            return AGREEMENT_ORDER[agreement(r, self.decision(r))]
        return (self._display(row, col) or "").lower()

    def sort_value(self, i: int, column: int) -> Any:
        """Source row ``i``'s :data:`SortRole` value in ``column`` (for the proxy)."""
        return self._sort_key(self._rows[i], _COLUMNS[column])

    def case_order(self, i: int) -> tuple[int, int, int]:
        """Source row ``i``'s place in the by-case order: (its case's place in the order
        the cases arrived, slice index in anatomical order, frame)."""
        r = self._rows[i].result
        return self._case_rank.get(r.case or r.path, 0), r.slice_index, r.frame

    # -- editing ------------------------------------------------------------------------
    def append_rows(self, rows: Sequence[ResultRow]) -> None:
        """Append one chunk of rows (one insert notification per chunk)."""
        if not rows:
            return
        kept = []
        for row in rows:
            r = row.result
            self._case_rank.setdefault(r.case or r.path, len(self._case_rank))
            if row.thumbnail is not None:
                key = (row.result.path, row.result.frame)
                self.thumbnails.put(key, row.thumbnail, row.result.image_sha256)
                row = replace(row, thumbnail=None, has_thumbnail=True)
            kept.append(row)
            self._counts[row.result.status] += 1
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(kept)
        self.endInsertRows()

    def remove_rows(self, source_rows: Iterable[int]) -> list[ResultRow]:
        """Remove rows by source index (any order); returns the removed rows."""
        wanted = sorted({i for i in source_rows if 0 <= i < len(self._rows)}, reverse=True)
        removed: list[ResultRow] = []
        while wanted:
            last = first = wanted.pop(0)
            while wanted and wanted[0] == first - 1:
                first = wanted.pop(0)
            self.beginRemoveRows(QModelIndex(), first, last)
            gone = self._rows[first : last + 1]
            removed.extend(gone)
            del self._rows[first : last + 1]
            # the counts first: endRemoveRows() tells the views, which read them at once
            self._counts.subtract(r.result.status for r in gone)
            self.endRemoveRows()
        left = {(r.result.path, r.result.frame) for r in self._rows} if removed else set()
        self.thumbnails.forget(
            k for r in removed if (k := (r.result.path, r.result.frame)) not in left
        )
        return removed

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._counts.clear()
        self._case_rank.clear()
        self._waiting.clear()
        self.thumbnails.forget()
        self.endResetModel()

    def thumbnail_at(self, i: int) -> QImage | None:
        """Row ``i``'s thumbnail if it is in the cache (no re-make)."""
        r = self._rows[i].result
        return self.thumbnails.get((r.path, r.frame))

    def row_at(self, i: int) -> ResultRow:
        return self._rows[i]

    def results(self) -> list[SliceResult]:
        return [row.result for row in self._rows]

    def paths(self) -> set[str]:
        return {row.result.path for row in self._rows}

    def status_counts(self) -> Counter[Status]:
        """Rows by status (a running count: O(1), not a pass over the rows)."""
        return +self._counts  # a copy without zero entries
