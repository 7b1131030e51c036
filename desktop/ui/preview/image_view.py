"""The preview's image widget (fit, centre, right-drag for window/level) and colour bar."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.ui.preview import heatmap


class ImageView(QWidget):
    """Paints an image scaled to fit, centred, on a dark background.

    A drag with the right button (or Ctrl + left) reports ``window_dragged(dx, dy)``.
    The mouse wheel, and Up/Down or PageUp/PageDown while the image has the focus (a
    click gives it), report ``stepped(-1)`` (previous slice) or ``stepped(+1)`` (next).
    """

    window_dragged = Signal(float, float)
    stepped = Signal(int)

    #: one wheel notch (angleDelta units); a touchpad's small deltas add up to it
    NOTCH = 120

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._drag_from: QPointF | None = None
        self.image: QImage | None = None
        self.placeholder = "Select a row to see the slice"
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._wheel = 0

    def set_image(self, image: QImage | None, placeholder: str = "") -> None:
        self.image = image
        if placeholder:
            self.placeholder = placeholder
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(420, 420)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if event.button() == Qt.MouseButton.RightButton or (
            event.button() == Qt.MouseButton.LeftButton and ctrl
        ):
            self._drag_from = event.position()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is None:
            return
        delta = event.position() - self._drag_from
        self._drag_from = event.position()
        self.window_dragged.emit(delta.x(), delta.y())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None

    def wheelEvent(self, event: QWheelEvent) -> None:
        # wheel up (away from the user): the previous slice, as in DICOM viewers
        self._wheel += event.angleDelta().y()
        while abs(self._wheel) >= self.NOTCH:
            step = -1 if self._wheel > 0 else 1
            self._wheel += step * self.NOTCH
            self.stepped.emit(step)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = Qt.Key(event.key())
        if key in (Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.stepped.emit(-1)
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.stepped.emit(1)
        else:
            super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        if self.image is None or self.image.isNull():
            p.setPen(Qt.GlobalColor.gray)
            p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignCenter), self.placeholder)
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        p.drawImage(QRectF(x, y, size.width(), size.height()), self.image)


class ColourBar(QWidget):
    """A small horizontal colour bar: low ... high activation."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setFixedSize(150, 22)
        self.setToolTip("Heat-map colours: blue = low activation, red = high activation")

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        bar = QRectF(30, 5, self.width() - 62, 12)
        p.fillRect(bar, heatmap.gradient(bar, vertical=False))
        p.setPen(self.palette().windowText().color())
        centre_v = int(Qt.AlignmentFlag.AlignVCenter)
        p.drawText(QRectF(0, 0, 27, 22), int(Qt.AlignmentFlag.AlignRight) | centre_v, "low")
        p.drawText(
            QRectF(bar.right() + 3, 0, 32, 22), int(Qt.AlignmentFlag.AlignLeft) | centre_v, "high"
        )
