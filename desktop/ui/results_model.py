"""The results table model: one row per slice, over a plain list of records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QImage

from desktop.core.model_spec import CLASS_NAMES
from desktop.core.results import SliceResult, Status

SortRole = Qt.ItemDataRole.UserRole + 1
ThumbnailRole = Qt.ItemDataRole.UserRole + 2
ResultRole = Qt.ItemDataRole.UserRole + 3

AnyIndex = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    """Table columns, in display order."""

    THUMBNAIL = 0
    FILE = 1
    FOLDER = 2
    FRAME = 3
    PREDICTED = 4
    CONFIDENCE = 5
    P_GLIOMA = 6
    P_MENINGIOMA = 7
    P_NO_TUMOR = 8
    P_PITUITARY = 9
    STATUS = 10
    MESSAGE = 11


PROBABILITY_COLUMNS = (Column.P_GLIOMA, Column.P_MENINGIOMA, Column.P_NO_TUMOR, Column.P_PITUITARY)
NUMERIC_COLUMNS = frozenset({Column.FRAME, Column.CONFIDENCE, *PROBABILITY_COLUMNS})

_COLUMNS = tuple(Column)
_COLOURED = frozenset({Column.PREDICTED, Column.STATUS, Column.MESSAGE, Column.CONFIDENCE})
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_SORT, _THUMB, _RESULT = int(SortRole), int(ThumbnailRole), int(ResultRole)
_ROLES = frozenset({_DISPLAY, _FOREGROUND, _ALIGN, _TOOLTIP, _SORT, _THUMB, _RESULT})
_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)

STATUS_WORDS = {
    Status.OK: "ok",
    Status.UNCERTAIN: "uncertain",
    Status.UNSUPPORTED: "not supported",
    Status.ERROR: "error",
}
#: subtle text colours by status (None: the palette's normal text colour)
STATUS_COLOURS: dict[Status, QColor | None] = {
    Status.OK: None,
    Status.UNCERTAIN: QColor(112, 112, 112),
    Status.UNSUPPORTED: QColor(156, 98, 0),
    Status.ERROR: QColor(176, 32, 48),
}


def class_label(name: str) -> str:
    """A class name for people ("no_tumor" -> "no tumor")."""
    return name.replace("_", " ")


@dataclass(frozen=True)
class ResultRow:
    """A result plus what the table shows for it (made in the worker thread)."""

    result: SliceResult
    thumbnail: QImage | None
    file_name: str
    folder: str

    @classmethod
    def from_result(cls, result: SliceResult, thumbnail: QImage | None) -> ResultRow:
        p = Path(result.path)
        return cls(result, thumbnail, p.name, str(p.parent))


def predicted_text(r: SliceResult) -> str:
    """What the class column says: the call, or the status when there is no call."""
    if r.status is Status.OK and r.predicted_class:
        return class_label(r.predicted_class)
    if r.status is Status.UNCERTAIN:
        guess = f" ({class_label(r.predicted_class)}?)" if r.predicted_class else ""
        return f"uncertain{guess}"
    return "—"


class ResultsModel(QAbstractTableModel):
    """Rows of :class:`ResultRow`; rows are appended in chunks and removed by index."""

    def __init__(self, class_names: Sequence[str] = CLASS_NAMES, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ResultRow] = []
        self.class_names = tuple(class_names)

    # -- Qt API -------------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

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
            Column.CONFIDENCE: "Confidence",
            Column.STATUS: "Status",
            Column.MESSAGE: "Message",
        }[col]

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

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
            return STATUS_COLOURS[row.result.status] if col in _COLOURED else None
        if role == _ALIGN:
            return _RIGHT if col in NUMERIC_COLUMNS else None
        if role == _SORT:
            return self._sort_key(row, col)
        if role == _THUMB:
            return row.thumbnail if col == Column.THUMBNAIL else None
        if role == _RESULT:
            return row.result
        if role == _TOOLTIP:
            r = row.result
            if col in (Column.FILE, Column.FOLDER, Column.THUMBNAIL):
                return r.path
            if col == Column.MESSAGE and r.message:
                return r.message
        return None

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
            return row.file_name
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
        if col == Column.THUMBNAIL:
            return row.file_name.lower()
        if col == Column.STATUS:
            return list(Status).index(r.status)
        if col == Column.PREDICTED:
            return predicted_text(r).lower()
        return (self._display(row, col) or "").lower()

    # -- editing ------------------------------------------------------------------------
    def append_rows(self, rows: Sequence[ResultRow]) -> None:
        """Append one chunk of rows (one insert notification per chunk)."""
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
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
            removed.extend(self._rows[first : last + 1])
            del self._rows[first : last + 1]
            self.endRemoveRows()
        return removed

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()

    def row_at(self, i: int) -> ResultRow:
        return self._rows[i]

    def results(self) -> list[SliceResult]:
        return [row.result for row in self._rows]

    def paths(self) -> set[str]:
        return {row.result.path for row in self._rows}

    def status_counts(self) -> Counter[Status]:
        return Counter(row.result.status for row in self._rows)
