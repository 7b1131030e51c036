"""Small widgets of the main window: the table, the filter bar, progress, banners."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QRect, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QWidget,
)

from desktop.core.results import Status
from desktop.ui.controller import Progress
from desktop.ui.table.delegates import (
    ROW_HEIGHT,
    THUMB_SIZE,
    CellDelegate,
    ConfidenceDelegate,
    FolderDelegate,
    SourceRows,
    ThumbnailDelegate,
)
from desktop.ui.table.model import PROBABILITY_COLUMNS, Column
from desktop.ui.vocabulary import STATUS_WORDS, class_label

EMPTY_HINT = "Drop MRI files or folders here, or press Ctrl+O"

#: initial column widths (no resizeColumnsToContents: rows arrive in thousands); the
#: probability columns are sized from their headers (the model's class names)
WIDTHS = {
    Column.THUMBNAIL: THUMB_SIZE + 8,
    Column.FILE: 170,
    Column.FOLDER: 120,
    Column.FRAME: 54,
    Column.PREDICTED: 170,
    Column.REVIEWER: 90,
    Column.AGREEMENT: 84,
    Column.CONFIDENCE: 84,
    Column.STATUS: 90,
    Column.MESSAGE: 320,
}
#: what a person reads first comes first: the call, its confidence and status and the
#: review fit the default window; probabilities, frame, folder and message follow
VISUAL_ORDER = (
    Column.THUMBNAIL,
    Column.FILE,
    Column.PREDICTED,
    Column.CONFIDENCE,
    Column.STATUS,
    Column.REVIEWER,
    Column.AGREEMENT,
    *PROBABILITY_COLUMNS,
    Column.FRAME,
    Column.FOLDER,
    Column.MESSAGE,
)


class ResultsTable(QTableView):
    """The results table: fixed row height, sortable, with an empty-state hint."""

    def __init__(self, parent: Any = None) -> None:
        #: the pending item layout follows only inserts below the last visible row (None:
        #: no insert since the last layout); set first: Qt lays out during __init__
        self._below_view_only: bool | None = None
        #: item layouts done as "geometry only" (no repaint of the cells): for tests
        self.layouts_skipped = 0
        super().__init__(parent)
        self.empty_hint = EMPTY_HINT
        #: True while files are dragged over the window (the table shows a drop frame)
        self.drop_active = False
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = self.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(False)
        hh.setHighlightSections(False)
        hh.setSectionsMovable(True)
        hh.setDefaultSectionSize(84)
        # a third click on a sorted header goes back to the arrival order: cases in the
        # order they came, each case's slices in anatomical order
        hh.setSortIndicatorClearable(True)
        #: one source-row lookup for all delegates, remembered during a paint event
        self.source_rows = SourceRows()
        self.cell_delegate = CellDelegate(self, self.source_rows)
        self.setItemDelegate(self.cell_delegate)
        self.thumbnail_delegate = ThumbnailDelegate(self, self.source_rows)
        self.confidence_delegate = ConfidenceDelegate(self, self.source_rows)
        self.setItemDelegateForColumn(Column.THUMBNAIL, self.thumbnail_delegate)
        self.setItemDelegateForColumn(Column.CONFIDENCE, self.confidence_delegate)
        self.folder_delegate = FolderDelegate(self, self.source_rows)
        self.setItemDelegateForColumn(Column.FOLDER, self.folder_delegate)

    # -- rows arriving below the visible ones repaint nothing -----------------------------
    # Each insert makes QTableView schedule doItemsLayout(), which repaints the whole
    # viewport: one full table repaint (~10-25 ms of GUI-thread CPU, more while the
    # pipeline's threads hold the GIL) per chunk of rows. While a run streams rows in
    # arrival order and the reader looks at the top of the table, the new rows land
    # below the viewport and no visible cell changes: then only the scroll bar is
    # brought up to date. Anything else (removals, sorting, resets, an insert at or
    # above the last visible row) gets Qt's full layout.

    def setModel(self, model: QAbstractItemModel | None) -> None:
        old = self.model()
        if old is not None:
            for signal in self._full_layout_signals(old):
                signal.disconnect(self._full_layout_next)
        super().setModel(model)
        if model is not None:
            for signal in self._full_layout_signals(model):
                signal.connect(self._full_layout_next)
        self._full_layout_next()

    @staticmethod
    def _full_layout_signals(model: QAbstractItemModel) -> list[Any]:
        return [
            model.layoutChanged,
            model.modelReset,
            model.rowsRemoved,
            model.rowsMoved,
            model.columnsInserted,
            model.columnsRemoved,
        ]

    def _full_layout_next(self, *_: object) -> None:
        self._below_view_only = False

    def rowsInserted(
        self, parent: QModelIndex | QPersistentModelIndex, start: int, end: int
    ) -> None:
        bottom = self.rowAt(self.viewport().height() - 1)  # -1: the rows do not fill the view
        below = not parent.isValid() and 0 <= bottom < start
        pending = self._below_view_only
        self._below_view_only = below if pending is None else (pending and below)
        super().rowsInserted(parent, start, end)

    def doItemsLayout(self) -> None:
        below, self._below_view_only = self._below_view_only, None
        if below:
            self.updateGeometries()  # scroll range and headers; the cells stay as drawn
            self.layouts_skipped += 1
            return
        super().doItemsLayout()

    def apply_default_widths(self) -> None:
        """Default column widths and order (the probability columns fit their headers)."""
        for col, width in WIDTHS.items():
            self.setColumnWidth(col, width)
        model = self.model()
        metrics = self.horizontalHeader().fontMetrics()
        for col in PROBABILITY_COLUMNS:
            title = model.headerData(col, Qt.Orientation.Horizontal) if model else None
            text = max(str(title or ""), "100.0%", key=metrics.horizontalAdvance)
            self.setColumnWidth(col, metrics.horizontalAdvance(text) + 24)
        header = self.horizontalHeader()
        for visual, col in enumerate(VISUAL_ORDER):
            header.moveSection(header.visualIndex(col), visual)

    def set_drop_active(self, active: bool) -> None:
        self.drop_active = active
        self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        self.source_rows.begin()
        try:
            super().paintEvent(event)
        finally:
            self.source_rows.end()
        model = self.model()
        has_rows = model is not None and model.rowCount() > 0
        if has_rows and not self.drop_active:
            return  # the usual case while rows stream in: no extra painter
        p = QPainter(self.viewport())
        if self.drop_active:
            pen = QPen(self.palette().highlight().color(), 3, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawRoundedRect(self.viewport().rect().adjusted(4, 4, -4, -4), 8, 8)
        if has_rows:
            return
        filtered = getattr(model, "is_filtered", lambda: False)()
        text = "No rows match the filters" if filtered else self.empty_hint
        if self.drop_active:
            text = "Drop to classify"
        p.setPen(self.palette().placeholderText().color())
        f = p.font()
        f.setPointSizeF(f.pointSizeF() * 1.4)
        p.setFont(f)
        rect = QRect(self.viewport().rect()).adjusted(20, 20, -20, -20)
        p.drawText(rect, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), text)


class FilterBar(QWidget):
    """Class, status and text filters above the table."""

    class_changed = Signal(object)  # str | None
    status_changed = Signal(object)  # Status | None
    text_changed = Signal(str)

    def __init__(self, class_names: tuple[str, ...], parent: Any = None) -> None:
        super().__init__(parent)
        self.class_box = QComboBox()
        self.class_box.addItem("All classes", None)
        for name in class_names:
            self.class_box.addItem(class_label(name), name)
        self.status_box = QComboBox()
        self.status_box.addItem("All statuses", None)
        for status in Status:
            self.status_box.addItem(STATUS_WORDS[status], status.value)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by file name, folder or message")
        self.search.setClearButtonEnabled(True)
        self.search.setAcceptDrops(False)  # dropped files go to the window, not into the text
        self.shown = QLabel()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(QLabel("Class"))
        lay.addWidget(self.class_box)
        lay.addWidget(QLabel("Status"))
        lay.addWidget(self.status_box)
        lay.addWidget(self.search, 1)
        lay.addWidget(self.shown)
        self.class_box.currentIndexChanged.connect(
            lambda _: self.class_changed.emit(self.class_box.currentData())
        )
        self.status_box.currentIndexChanged.connect(
            lambda _: self.status_changed.emit(self.current_status())
        )
        self.search.textChanged.connect(self.text_changed)

    def current_status(self) -> Status | None:
        value = self.status_box.currentData()
        return None if value is None else Status(value)

    def set_counts(self, shown: int, total: int) -> None:
        self.shown.setText(f"{shown:,} of {total:,} shown" if shown != total else f"{total:,} rows")


def format_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def progress_text(p: Progress) -> str:
    parts = [f"{p.files_done:,} / {p.files_total:,} files", f"{p.rate:.1f} slices/s"]
    left = p.seconds_left
    if left is not None and p.files_done < p.files_total:
        parts.append(f"about {format_duration(left)} left")
    if p.queued_jobs:
        parts.append(f"{p.queued_jobs} queued")
    return " · ".join(parts)


class ProgressPanel(QWidget):
    """Progress bar with count, rate and time left, and the Cancel button."""

    cancel_requested = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(False)
        self.label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.setVisible(False)

    def update_progress(self, p: Progress) -> None:
        # QProgressBar.setValue repaints at once (synchronously); with updates off the bar
        # is drawn in the window's next paint instead, with everything else
        self.bar.setUpdatesEnabled(False)
        try:
            self.bar.setRange(0, max(1, p.files_total))
            self.bar.setValue(min(p.files_done, max(1, p.files_total)))
            if p.files_total == 0:
                self.bar.setRange(0, 0)  # busy indicator while discovering
        finally:
            self.bar.setUpdatesEnabled(True)  # posts one update
        self.label.setText(progress_text(p))


class Banner(QLabel):
    """A coloured, non-dismissable one-line banner."""

    def __init__(self, text: str, background: str, foreground: str, parent: Any = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setContentsMargins(10, 5, 10, 5)
        self.setStyleSheet(
            f"background: {background}; color: {foreground}; font-weight: 600;"
            f"border-bottom: 1px solid rgba(0,0,0,40);"
        )
