"""The slice strip: the calls of the current case along z, one thin cell per slice.

Under the preview's image: the cells of a :class:`~.strip_data.StripData` (computed by
:func:`~.strip_data.strip_data`, pure), the current slice outlined and the case
verdict's suspect range bracketed above, the verdict in words over it and a legend
under it. A click or a drag chooses a slice (:attr:`SliceStrip.slice_chosen`). One
widget paints it all in one pass (runs of equal cells as one rectangle: 620 slices are
a handful of rectangles, no widget per slice); :class:`~.strip_feed.CaseStripFeed`
keeps it in step with the results model while rows stream in.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop.core.verdict import Verdict
from desktop.ui.preview.strip_data import CellState, StripData

#: the red tick on an unreadable slice's cell
ERROR_MARK = "#c0203a"
#: the suspect range's bracket and a suspected verdict's words
SUSPECT_MARK = "#b02030"
#: the strip's tooltip away from its cells
STRIP_HELP = (
    "The case's slices along z, slice 1 on the left: each cell the model's call "
    "(pale and hatched: uncertain, the best guess's colour; grey: unsupported; dark: "
    "error; empty: no result). The red bracket marks the suspect slices of the case "
    "verdict. Click or drag to go to a slice."
)


class SliceStrip(QWidget):
    """Paints a :class:`StripData`; a click or drag on a cell emits ``slice_chosen(k)``."""

    #: the slice index the person clicked or dragged to
    slice_chosen = Signal(int)

    MARGIN = 4
    CELLS_HEIGHT = 20
    BRACKET_HEIGHT = 7
    MARKER_HEIGHT = 6

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.data: StripData | None = None
        self.current: int | None = None
        self._dragging = False
        self._last_chosen: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self._height())
        self.setMouseTracking(False)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("")  # per cell, in event()
        self.setVisible(False)

    def _height(self) -> int:
        return (
            self.fontMetrics().height()
            + 2
            + self.BRACKET_HEIGHT
            + self.CELLS_HEIGHT
            + self.MARKER_HEIGHT
            + 2 * self.fontMetrics().height()
        )

    def sizeHint(self) -> QSize:
        return QSize(400, self._height())

    # -- content --------------------------------------------------------------------------
    def set_data(self, data: StripData | None) -> None:
        """Show ``data``; the strip hides for no case and for a case of one slice."""
        self.data = data
        self.setVisible(data is not None and len(data.cells) > 1)
        self.update()

    def set_current(self, index: int | None) -> None:
        if index != self.current:
            self.current = index
            self.update()

    # -- geometry -------------------------------------------------------------------------
    def _cells_top(self) -> float:
        return float(self.fontMetrics().height() + 2 + self.BRACKET_HEIGHT)

    def _x(self, k: int) -> float:
        """The left edge of cell ``k`` (``k`` = number of cells: the right end)."""
        n = len(self.data.cells) if self.data is not None else 1
        width = self.width() - 2 * self.MARGIN
        return self.MARGIN + width * k / max(n, 1)

    def cell_rect(self, k: int) -> QRectF:
        return QRectF(self._x(k), self._cells_top(), self._x(k + 1) - self._x(k), self.CELLS_HEIGHT)

    def cell_at(self, x: float) -> int | None:
        """The cell under ``x`` (clamped to the ends), None without cells."""
        if self.data is None or not self.data.cells:
            return None
        n = len(self.data.cells)
        width = max(self.width() - 2 * self.MARGIN, 1)
        k = int((x - self.MARGIN) * n / width)
        return min(max(k, 0), n - 1)

    # -- painting -------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        data = self.data
        if data is None or not data.cells:
            return
        p = QPainter(self)
        pal = self.palette()
        fm = self.fontMetrics()
        text_rect = QRectF(self.MARGIN, 0, self.width() - 2 * self.MARGIN, fm.height())
        self._paint_caption(p, data, text_rect)
        top = self._cells_top()
        track = QRectF(self._x(0), top, self._x(len(data.cells)) - self._x(0), self.CELLS_HEIGHT)
        p.fillRect(track, pal.base())
        self._paint_cells(p, data, top)
        p.setPen(QPen(pal.mid().color(), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(track)
        if data.suspect is not None:
            self._paint_suspect(p, *data.suspect, top)
        current = self.current
        if current is not None and not 0 <= current < len(data.cells):
            current = None
        if current is not None:
            self._paint_current(p, current, top)
        self._paint_scale(p, len(data.cells), current, top)
        self._paint_legend(p, data, top + self.CELLS_HEIGHT + self.MARKER_HEIGHT + fm.height())
        p.end()

    def _bold(self) -> QFont:
        font = QFont(self.font())
        font.setBold(True)
        return font

    def caption_parts(self, width: float) -> tuple[str, str]:
        """The caption's two parts as drawn in ``width`` pixels: the verdict (bold) and
        the case with its slices; when room is short the case's name is elided, not the
        verdict."""
        data = self.data
        if data is None:
            return "", ""
        bold = QFontMetricsF(self._bold())
        head = bold.elidedText(data.headline, Qt.TextElideMode.ElideRight, width)
        fm = QFontMetricsF(self.font())
        lead = " · " if head else ""
        count = f" · {data.count}"
        room = width - bold.horizontalAdvance(head) - fm.horizontalAdvance(lead + count)
        if room < fm.horizontalAdvance("…") * 4:  # no room for the name: the count alone
            alone = lead + data.count
            fits = fm.horizontalAdvance(alone) <= width - bold.horizontalAdvance(head)
            return head, alone if fits else ""
        name = fm.elidedText(data.case, Qt.TextElideMode.ElideMiddle, room)
        return head, f"{lead}{name}{count}"

    def _paint_caption(self, p: QPainter, data: StripData, rect: QRectF) -> None:
        """The verdict first, in bold (red when a tumour is suspected), then the rest."""
        left = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        head, rest = self.caption_parts(rect.width())
        x = rect.x()
        if head:
            suspected = (
                data.verdict is not None and data.verdict.verdict is Verdict.TUMOUR_SUSPECTED
            )
            p.setFont(self._bold())
            p.setPen(QColor(SUSPECT_MARK) if suspected else self.palette().windowText().color())
            p.drawText(QRectF(x, rect.y(), rect.width(), rect.height()), left, head)
            x += QFontMetricsF(self._bold()).horizontalAdvance(head)
        p.setFont(self.font())
        if rest:
            p.setPen(QColor(80, 80, 80))
            p.drawText(QRectF(x, rect.y(), rect.right() - x, rect.height()), left, rest)

    def _paint_cells(self, p: QPainter, data: StripData, top: float) -> None:
        cells = data.cells
        start = 0
        for k in range(1, len(cells) + 1):  # one rectangle per run of equal cells
            if k < len(cells) and (cells[k].fill, cells[k].state) == (
                cells[start].fill,
                cells[start].state,
            ):
                continue
            cell = cells[start]
            rect = QRectF(self._x(start), top, self._x(k) - self._x(start), self.CELLS_HEIGHT)
            if cell.fill:
                p.fillRect(rect, QColor(cell.fill))
            if cell.hatched:
                dark = QColor(cell.fill).darker(135)
                p.fillRect(rect, QBrush(dark, Qt.BrushStyle.BDiagPattern))
            if cell.state is CellState.ERROR:
                p.fillRect(QRectF(rect.x(), top, rect.width(), 4), QColor(ERROR_MARK))
            start = k

    def _paint_suspect(self, p: QPainter, first: int, last: int, top: float) -> None:
        x0, x1 = self._x(first), max(self._x(last + 1), self._x(first) + 2)
        y = top - self.BRACKET_HEIGHT + 2
        p.setPen(QPen(QColor(SUSPECT_MARK), 2))
        p.drawLine(QPointF(x0, y), QPointF(x1, y))
        p.drawLine(QPointF(x0, y), QPointF(x0, top - 1))
        p.drawLine(QPointF(x1, y), QPointF(x1, top - 1))

    def _paint_current(self, p: QPainter, k: int, top: float) -> None:
        x0, x1 = self._x(k), self._x(k + 1)
        centre = (x0 + x1) / 2
        half = max((x1 - x0) / 2, 1.5)
        box = QRectF(centre - half - 1, top - 1, 2 * half + 2, self.CELLS_HEIGHT + 2)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor("white"), 3))
        p.drawRect(box)
        p.setPen(QPen(self.palette().windowText().color(), 1.5))
        p.drawRect(box)
        below = top + self.CELLS_HEIGHT + 1
        tri = QPolygonF(
            [
                QPointF(centre, below),
                QPointF(centre - 5, below + self.MARKER_HEIGHT - 1),
                QPointF(centre + 5, below + self.MARKER_HEIGHT - 1),
            ]
        )
        p.setBrush(self.palette().windowText())
        p.setPen(Qt.PenStyle.NoPen)
        p.drawPolygon(tri)

    def _paint_scale(self, p: QPainter, n: int, current: int | None, top: float) -> None:
        """The slice numbers under the strip: the first, the last and the current one."""
        fm = self.fontMetrics()
        y = top + self.CELLS_HEIGHT + self.MARKER_HEIGHT
        h = fm.height()
        centre_v = Qt.AlignmentFlag.AlignVCenter
        labels: list[tuple[QRectF, Qt.AlignmentFlag, str, bool]] = []
        if current is not None:
            text = f"slice {current + 1}"
            w = fm.horizontalAdvance(text) + 4
            centre = (self._x(current) + self._x(current + 1)) / 2
            x = min(max(centre - w / 2, 0.0), self.width() - w)
            labels.append((QRectF(x, y, w, h), Qt.AlignmentFlag.AlignHCenter, text, True))
        first = QRectF(self.MARGIN, y, fm.horizontalAdvance("1") + 4, h)
        last_text = str(n)
        lw = fm.horizontalAdvance(last_text) + 4
        last = QRectF(self.width() - self.MARGIN - lw, y, lw, h)
        for rect, align, text in (
            (first, Qt.AlignmentFlag.AlignLeft, "1"),
            (last, Qt.AlignmentFlag.AlignRight, last_text),
        ):
            if not labels or not rect.intersects(labels[0][0].adjusted(-4, 0, 4, 0)):
                labels.append((rect, align, text, False))
        for rect, align, text, bold in labels:
            font = p.font()
            font.setBold(bold)
            p.setFont(font)
            p.setPen(self.palette().windowText().color() if bold else QColor(100, 100, 100))
            p.drawText(rect, int(align | centre_v), text)

    def _paint_legend(self, p: QPainter, data: StripData, y: float) -> None:
        fm = self.fontMetrics()
        font = p.font()
        font.setBold(False)
        p.setFont(font)
        x = float(self.MARGIN)
        box = max(fm.height() - 6, 8)
        for fill, hatched, words in data.legend:
            w = box + 4 + fm.horizontalAdvance(words) + 12
            if x + w - 12 > self.width() - self.MARGIN:  # no room: say that there is more
                p.setPen(QColor(80, 80, 80))
                p.drawText(QRectF(x, y, 20, fm.height()), int(Qt.AlignmentFlag.AlignLeft), "…")
                break
            swatch = QRectF(x, y + (fm.height() - box) / 2, box, box)
            if fill:
                p.fillRect(swatch, QColor(fill))
            if hatched:
                p.fillRect(swatch, QBrush(QColor(fill).darker(135), Qt.BrushStyle.BDiagPattern))
            p.setPen(QPen(self.palette().mid().color(), 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(swatch)
            p.setPen(QColor(80, 80, 80))
            text = QRectF(x + box + 4, y, w - box - 4, fm.height())
            p.drawText(text, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), words)
            x += w

    # -- mouse and tooltips ---------------------------------------------------------------
    def _choose(self, x: float) -> None:
        k = self.cell_at(x)
        if k is not None and k != self._last_chosen:
            self._last_chosen = k
            self.slice_chosen.emit(k)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self._dragging = True
        self._last_chosen = None
        self._choose(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            self._choose(event.position().x())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging = False
        self._last_chosen = None

    def tooltip_at(self, x: float, y: float) -> str:
        """A cell's call over the cells (and the suspect bracket above them), what the
        strip is elsewhere."""
        top = self._cells_top()
        k = self.cell_at(x)
        if self.data is None or k is None:
            return ""
        if top - self.BRACKET_HEIGHT <= y <= top + self.CELLS_HEIGHT + self.MARKER_HEIGHT:
            return self.data.cells[k].tooltip
        return STRIP_HELP

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip and isinstance(e, QHelpEvent):
            text = self.tooltip_at(e.pos().x(), e.pos().y())
            if text:
                QToolTip.showText(e.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(e)
