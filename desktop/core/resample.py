"""Resizing a grey float32 slice in numpy, numerically equal to OpenCV's ``cv2.resize``.

The app used OpenCV for two calls, area-averaging when shrinking and bilinear when
enlarging. OpenCV weighs 150 MB in the packaged app, so these are re-implemented
here with OpenCV's coefficients (``modules/imgproc/src/resize.cpp``): the network's
input is unchanged (``tests/core/test_resample.py`` compares both to 1e-5).

Each axis is a sparse weight table: output index -> a few (source index, weight)
taps. The image is resampled rows first, then columns, each as a sum of gathered
rows/columns, which costs taps x output pixels rather than a dense matrix product.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

Taps = tuple[NDArray[np.intp], NDArray[np.float32]]  # (dst x K indices, dst x K weights)


@lru_cache(maxsize=256)
def area_taps(src: int, dst: int) -> Taps:
    """OpenCV INTER_AREA weights for shrinking ``src`` samples to ``dst`` (dst <= src)."""
    if not 0 < dst <= src:
        raise ValueError(f"area resampling shrinks: {src} -> {dst}")
    scale = 1.0 / (dst / src)  # as OpenCV: 1 / inv_scale
    rows: list[list[tuple[int, float]]] = []
    for dx in range(dst):
        fsx1 = dx * scale
        fsx2 = fsx1 + scale
        cell = min(scale, src - fsx1)
        sx2 = min(math.floor(fsx2), src - 1)
        sx1 = min(math.ceil(fsx1), sx2)
        taps: list[tuple[int, float]] = []
        if sx1 - fsx1 > 1e-3:
            taps.append((sx1 - 1, (sx1 - fsx1) / cell))
        taps.extend((sx, 1.0 / cell) for sx in range(sx1, sx2))
        if fsx2 - sx2 > 1e-3:
            taps.append((sx2, min(min(fsx2 - sx2, 1.0), cell) / cell))
        rows.append(taps)
    return _pack(rows)


@lru_cache(maxsize=256)
def linear_taps(src: int, dst: int) -> Taps:
    """OpenCV INTER_LINEAR weights (half-pixel centres, edges replicated)."""
    if src <= 0 or dst <= 0:
        raise ValueError(f"bad sizes {src} -> {dst}")
    scale = 1.0 / (dst / src)
    rows: list[list[tuple[int, float]]] = []
    for dx in range(dst):
        f = float(np.float32((dx + 0.5) * scale - 0.5))
        sx = math.floor(f)
        fx = f - sx
        if sx < 0:
            sx, fx = 0, 0.0
        if sx >= src - 1:
            sx, fx = src - 1, 0.0
        rows.append([(sx, 1.0 - fx), (min(sx + 1, src - 1), fx)])
    return _pack(rows)


def _pack(rows: list[list[tuple[int, float]]]) -> Taps:
    k = max(len(r) for r in rows)
    idx = np.zeros((len(rows), k), dtype=np.intp)
    wts = np.zeros((len(rows), k), dtype=np.float32)
    for i, taps in enumerate(rows):
        for j, (s, w) in enumerate(taps):
            idx[i, j], wts[i, j] = s, w
        idx[i, len(taps) :] = taps[-1][0]  # padding taps: weight 0, any valid index
    return idx, wts


def _apply_rows(img: NDArray[np.float32], taps: Taps) -> NDArray[np.float32]:
    idx, wts = taps
    out = img[idx[:, 0]] * wts[:, 0:1]
    for j in range(1, idx.shape[1]):
        out += img[idx[:, j]] * wts[:, j : j + 1]
    return out


def resize(
    img: NDArray[np.floating], height: int, width: int, *, shrink: bool
) -> NDArray[np.float32]:
    """``img`` (H x W) to ``height`` x ``width`` float32.

    ``shrink=True`` is cv2.INTER_AREA (for output no larger than the input on both axes),
    ``shrink=False`` cv2.INTER_LINEAR (for enlarging).
    """
    a = np.asarray(img, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D slice, got shape {a.shape}")
    h, w = a.shape
    if (h, w) == (height, width):
        return a.copy()
    taps = area_taps if shrink else linear_taps
    out = _apply_rows(a, taps(h, height)) if height != h else a
    out = _apply_rows(out.T, taps(w, width)).T if width != w else out
    return np.ascontiguousarray(out, dtype=np.float32)
