"""Heat-map helpers: colour map, placement of the CAM over the slice, composition."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter

from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import as_unit_float, placement

#: (position, r, g, b): a perceptually ordered blue -> cyan -> yellow -> red ramp
_STOPS = np.array(
    [
        (0.00, 30, 40, 140),
        (0.25, 20, 140, 220),
        (0.50, 60, 210, 170),
        (0.75, 250, 215, 40),
        (1.00, 225, 35, 30),
    ],
    dtype=np.float32,
)


def colour_lut() -> NDArray[np.uint8]:
    """256 x 3 colours of the heat map."""
    x = np.linspace(0.0, 1.0, 256, dtype=np.float32)
    rgb = [np.interp(x, _STOPS[:, 0], _STOPS[:, i]) for i in (1, 2, 3)]
    return np.stack(rgb, axis=1).round().astype(np.uint8)


_LUT = colour_lut()


def gradient(rect: QRectF, vertical: bool = True) -> QLinearGradient:
    """The colour map as a gradient (low at the bottom / left) for a colour bar."""
    if vertical:
        g = QLinearGradient(rect.bottomLeft(), rect.topLeft())
    else:
        g = QLinearGradient(rect.topLeft(), rect.topRight())
    for pos, r, gr, b in _STOPS:
        g.setColorAt(float(pos), QColor(int(r), int(gr), int(b)))
    return g


def cam_image(cam: NDArray[np.floating], opacity: float) -> QImage:
    """The CAM (h x w, [0, 1]) as an ARGB image; weak activation is more transparent."""
    v = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float32)), 0.0, 1.0)
    idx = (v * 255).round().astype(np.uint8)
    rgb = _LUT[idx]
    alpha = np.clip(opacity * v, 0.0, 1.0) * 255  # no activation: no tint
    h, w = v.shape
    argb = np.empty((h, w, 4), dtype=np.uint8)  # little-endian ARGB32 = B, G, R, A bytes
    argb[..., 0] = rgb[..., 2]
    argb[..., 1] = rgb[..., 1]
    argb[..., 2] = rgb[..., 0]
    argb[..., 3] = alpha.round().astype(np.uint8)
    buf = np.ascontiguousarray(argb)
    img = QImage(buf.data, w, h, 4 * w, QImage.Format.Format_ARGB32).copy()
    return img


def cam_rect(pixels: NDArray[np.generic], p: Preprocessing) -> QRectF:
    """Where the network input square lies over the slice, in slice pixel coordinates.

    The placement :func:`desktop.core.preprocess.geometric` used (crop + letterbox),
    so the CAM, computed on the network input, lands on the anatomy it came from.
    """
    return QRectF(*placement(as_unit_float(pixels), p).source_rect())


def slice_image(pixels: NDArray[np.generic]) -> QImage:
    """A [0, 1] grey slice as an 8-bit QImage."""
    a = (as_unit_float(pixels) * 255).round().astype(np.uint8)
    a = np.ascontiguousarray(a)
    h, w = a.shape
    return QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def compose(base: QImage, cam: QImage | None, rect: QRectF | None) -> QImage:
    """The slice with the heat map drawn over it, at the slice's own resolution."""
    out = base.convertToFormat(QImage.Format.Format_RGB32)
    if cam is None or rect is None:
        return out
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    painter.setClipRect(out.rect())
    painter.drawImage(rect, cam)
    painter.end()
    return out
