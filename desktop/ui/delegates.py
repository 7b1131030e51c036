"""Painting of table cells: thumbnails (bounded pixmap cache) and confidence bars."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from desktop.core.results import Status
from desktop.ui.results_model import ResultRole, ThumbnailRole

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


class ThumbnailDelegate(QStyledItemDelegate):
    """Draws the slice thumbnail centred in its cell."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
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


class ConfidenceDelegate(QStyledItemDelegate):
    """A thin horizontal bar under the percentage; grey for uncertain calls."""

    BAR = QColor(52, 120, 198)
    BAR_UNCERTAIN = QColor(160, 160, 160)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        result = index.data(ResultRole)
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


class FolderDelegate(QStyledItemDelegate):
    """Elides folders on the left, so the folder's own name stays visible."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft
