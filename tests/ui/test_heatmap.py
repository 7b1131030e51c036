"""Heat-map overlay: the CAM lands on the anatomy it came from; colours and opacity."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor

from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import geometric
from desktop.ui.preview import heatmap


@pytest.mark.parametrize(
    ("shape", "box"),
    [
        ((100, 200), (20, 80, 120, 180)),
        ((300, 120), (200, 260, 10, 50)),
        ((64, 64), (0, 64, 0, 64)),
    ],
)
def test_cam_rect_inverts_crop_and_letterbox(shape, box) -> None:
    p = Preprocessing(input_size=32)
    img = np.zeros(shape, np.float32)
    t, b, left, r = box
    img[t:b, left:r] = 0.8
    img[t + (b - t) // 2 : b, left : left + (r - left) // 2] = 0.4  # asymmetric content
    net = geometric(img, p)
    rect = heatmap.cam_rect(img, p)
    s = p.input_size
    # map every input pixel centre back to the slice and sample the original there
    ys, xs = np.mgrid[0:s, 0:s] + 0.5
    oy = rect.y() + ys * rect.height() / s
    ox = rect.x() + xs * rect.width() / s
    inside = (oy >= 0) & (oy < shape[0]) & (ox >= 0) & (ox < shape[1])
    sampled = np.zeros_like(net)
    sampled[inside] = img[oy[inside].astype(int), ox[inside].astype(int)]
    agree = np.abs(sampled - net) < 0.2
    assert agree.mean() > 0.93  # only resampling edges may differ


def test_cam_image_colours_and_opacity() -> None:
    cam = np.array([[0.0, 1.0]], np.float32)
    img = heatmap.cam_image(cam, opacity=1.0)
    low, high = QColor(img.pixelColor(0, 0)), QColor(img.pixelColor(1, 0))
    assert low.blue() > low.red() and high.red() > high.blue()
    assert high.alpha() > low.alpha()
    faint = heatmap.cam_image(cam, opacity=0.2)
    assert QColor(faint.pixelColor(1, 0)).alpha() < high.alpha()


def test_compose_keeps_slice_size_and_tints_under_the_map() -> None:
    pixels = np.full((40, 60), 0.5, np.float32)
    base = heatmap.slice_image(pixels)
    cam = np.zeros((8, 8), np.float32)
    cam[:4, :4] = 1.0
    rect = heatmap.cam_rect(pixels, Preprocessing(input_size=32, crop_foreground=False))
    out = heatmap.compose(base, heatmap.cam_image(cam, 1.0), rect)
    assert (out.width(), out.height()) == (60, 40)
    hot = QColor(out.pixelColor(12, 2))  # top-left quadrant of the (letterboxed) input
    cold_far = QColor(out.pixelColor(50, 38))
    assert hot.red() > hot.blue() + 50
    assert abs(cold_far.red() - cold_far.blue()) < abs(hot.red() - hot.blue())
    assert heatmap.compose(base, None, None).pixelColor(30, 20) == QColor(128, 128, 128)
