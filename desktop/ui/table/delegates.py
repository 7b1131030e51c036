"""Painting of table cells: plain cells, thumbnails (bounded pixmap cache), confidence bars."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop.core.results import Status
from desktop.ui.table.model import ResultsModel
from desktop.ui.vocabulary import ThumbnailRole

ROW_HEIGHT = 48
THUMB_SIZE = 44

AnyIndex = QModelIndex | QPersistentModelIndex


class PixmapCache:
    """A small LRU of scaled pixmaps keyed by QImage.cacheKey() (GUI thread only)."""

    def __init__(self, limit: int = 600) -> None:
        self._limit = limit
        self._items: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()

    def get(self, image: QImage, side: int) -> QPixmap:
        key = (image.cacheKey(), side)
        pix = self._items.get(key)
        if pix is not None:
            self._items.move_to_end(key)
            return pix
        scaled = image.scaled(
            side,
            side,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        pix = QPixmap.fromImage(scaled)
        self._items[key] = pix
        if len(self._items) > self._limit:
            self._items.popitem(last=False)
        return pix

    def __len__(self) -> int:
        return len(self._items)


_TEXT = QPalette.ColorRole.Text
_HAS_DISPLAY = QStyleOptionViewItem.ViewItemFeature.HasDisplay
_ALIGNMENTS: dict[int, Qt.AlignmentFlag] = {}


def source_row(index: AnyIndex) -> tuple[ResultsModel, int] | None:
    """The :class:`ResultsModel` and source row behind a (proxy) index, if there is one."""
    model = index.model()
    if isinstance(model, QSortFilterProxyModel):
        index = model.mapToSource(index)
        model = index.model()
    if not isinstance(model, ResultsModel):
        return None
    i = index.row()
    return (model, i) if 0 <= i < model.rowCount() else None


class SourceRows:
    """Finds the source row of a proxy index; remembers it per proxy row during a paint.

    A repaint asks for every visible cell; mapping each through the proxy calls the
    model's ``rowCount``/``columnCount`` in Python. Between :meth:`begin` and :meth:`end`
    (one paint event of the table, when the rows cannot change) a row is mapped once.
    """

    def __init__(self) -> None:
        self._memo: dict[int, tuple[ResultsModel, int] | None] | None = None

    def begin(self) -> None:
        self._memo = {}

    def end(self) -> None:
        self._memo = None

    def lookup(self, index: AnyIndex) -> tuple[ResultsModel, int] | None:
        memo = self._memo
        if memo is None:
            return source_row(index)
        r = index.row()
        if r in memo:
            return memo[r]
        found = memo[r] = source_row(index)
        return found


class CellDelegate(QStyledItemDelegate):
    """Fills a cell's style option with one Python call per cell.

    The standard ``initStyleOption`` asks the model for seven roles, each a C++ -> Python
    ``data()`` call (through the proxy) that must take the GIL from the pipeline's busy
    threads; during a run one table repaint made ~750-2,000 of them. This reads the
    same text, colour and alignment from :meth:`ResultsModel.cell` at once; everything
    else (selection, focus, alternate rows, elision, drawing) stays Qt's.
    """

    def __init__(self, parent: Any = None, rows: SourceRows | None = None) -> None:
        super().__init__(parent)
        #: the proxy -> source row lookup (shared by the table's delegates)
        self.rows = rows if rows is not None else SourceRows()

    def initStyleOption(self, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        src = self.rows.lookup(index)
        if src is None:
            super().initStyleOption(option, index)
            return
        text, colour, align = src[0].cell(src[1], index.column())
        if isinstance(index, QModelIndex):  # the view always passes one
            option.index = index
        if align is not None:
            flag = _ALIGNMENTS.get(align)
            if flag is None:
                flag = _ALIGNMENTS[align] = Qt.AlignmentFlag(align)
            option.displayAlignment = flag
        if colour is not None:
            palette = option.palette
            palette.setBrush(_TEXT, colour)
            option.palette = palette
        if text is not None:
            option.features = option.features | _HAS_DISPLAY
            option.text = text.replace("\n", "\u2028") if "\n" in text else text
        option.styleObject = None  # type: ignore[assignment]  # as Qt's: no animations


class ThumbnailDelegate(CellDelegate):
    """Draws the slice thumbnail centred in its cell."""

    def __init__(self, parent: Any = None, rows: SourceRows | None = None) -> None:
        super().__init__(parent, rows)
        self.cache = PixmapCache()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawPrimitive(
                QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, opt.widget
            )
        image = index.data(ThumbnailRole)
        if not isinstance(image, QImage) or image.isNull():
            return
        side = max(8, min(opt.rect.height(), opt.rect.width()) - 4)
        pix = self.cache.get(image, side)
        x = opt.rect.x() + (opt.rect.width() - pix.width()) // 2
        y = opt.rect.y() + (opt.rect.height() - pix.height()) // 2
        painter.drawPixmap(x, y, pix)

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return QSize(THUMB_SIZE + 6, ROW_HEIGHT)


class ConfidenceDelegate(CellDelegate):
    """A thin horizontal bar under the percentage; grey for uncertain calls."""

    BAR = QColor(52, 120, 198)
    BAR_UNCERTAIN = QColor(160, 160, 160)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        src = self.rows.lookup(index)
        result = src[0].row_at(src[1]).result if src is not None else None
        conf = getattr(result, "confidence", None)
        style = opt.widget.style() if opt.widget else None
        if style is None:
            return
        if conf is None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
            return
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        uncertain = getattr(result, "status", None) is Status.UNCERTAIN
        r = opt.rect.adjusted(6, 0, -6, 0)
        text_h = opt.fontMetrics.height()
        bar_h = 5
        top = r.top() + (r.height() - text_h - 3 - bar_h) // 2
        text_rect = QRect(r.left(), top, r.width(), text_h)
        track = QRect(r.left(), top + text_h + 3, r.width(), bar_h)
        fill = QRect(track)
        fill.setWidth(max(2, round(track.width() * max(0.0, min(1.0, float(conf))))))
        if selected:
            track_colour = opt.palette.highlight().color().darker(130)
            fill_colour = opt.palette.highlightedText().color()
            text_colour = fill_colour
        else:
            track_colour = opt.palette.mid().color().lighter(140)
            fill_colour = self.BAR_UNCERTAIN if uncertain else self.BAR
            text_colour = QColor(112, 112, 112) if uncertain else opt.palette.text().color()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track_colour)
        painter.drawRoundedRect(track, 2, 2)
        painter.setBrush(fill_colour)
        painter.drawRoundedRect(fill, 2, 2)
        painter.setPen(text_colour)
        painter.drawText(
            text_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), opt.text
        )
        painter.restore()


class FolderDelegate(CellDelegate):
    """Elides folders on the left, so the folder's own name stays visible."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft
