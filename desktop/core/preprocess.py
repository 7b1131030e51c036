"""The single path from a decoded slice to the network's input tensor.

Both the app and the training package (for caching, evaluation and the ONNX parity
test) call these functions, so app and training cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from desktop.core import resample
from desktop.core.model_spec import Preprocessing
from desktop.core.readers.common import DecodeTarget

Grey = NDArray[np.float32]


def as_unit_float(pixels: NDArray[np.generic]) -> Grey:
    """A 2-D array of any numeric dtype as float32, assumed already windowed to [0, 1]."""
    out = np.asarray(pixels, dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D grey slice, got shape {out.shape}")
    # = clip(nan_to_num(x, nan=0, posinf=1, neginf=0), 0, 1) in one pass plus a NaN
    # check: clipping already maps +inf to 1 and -inf to 0 (tests/core/test_pipeline_preprocess.py)
    out = np.clip(out, 0.0, 1.0)
    nan = np.isnan(out)
    if nan.any():
        out[nan] = 0.0
    return out


def foreground_box(img: Grey, p: Preprocessing) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the foreground, with margin; the whole image if none."""
    h, w = img.shape
    mask = (img > p.foreground_threshold).view(np.uint8)
    # exact integer counts / length = mask.mean() bit for bit, at a third of the cost
    rows = np.flatnonzero(mask.sum(axis=1, dtype=np.int32) / w > 0.01)
    cols = np.flatnonzero(mask.sum(axis=0, dtype=np.int32) / h > 0.01)
    if rows.size == 0 or cols.size == 0:
        return 0, h, 0, w
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (bottom - top) * (right - left) < 0.02 * h * w:
        return 0, h, 0, w
    my = int(round((bottom - top) * p.crop_margin))
    mx = int(round((right - left) * p.crop_margin))
    return max(0, top - my), min(h, bottom + my), max(0, left - mx), min(w, right + mx)


@dataclass(frozen=True)
class Placement:
    """Where :func:`geometric` put a slice inside its ``size`` x ``size`` output.

    ``crop`` is the (top, bottom, left, right) box taken from the slice; it is scaled by
    ``scale`` to ``placed`` (height, width) pixels and put at ``offset`` (y0, x0).
    """

    crop: tuple[int, int, int, int]
    scale: float
    placed: tuple[int, int]
    offset: tuple[int, int]
    size: int

    def source_rect(self) -> tuple[float, float, float, float]:
        """The output square in slice pixel coordinates: (x, y, width, height)."""
        t, _, left, _ = self.crop
        y0, x0 = self.offset
        side = self.size / self.scale
        return (left - x0 / self.scale, t - y0 / self.scale, side, side)


def placement(img: Grey, p: Preprocessing) -> Placement:
    """The crop box and letterbox geometry :func:`geometric` uses for a unit-float slice."""
    h, w = img.shape
    crop = foreground_box(img, p) if p.crop_foreground else (0, h, 0, w)
    t, b, left, r = crop
    ch, cw = b - t, r - left
    s = p.input_size
    scale = s / max(ch, cw)
    nh, nw = max(1, min(s, round(ch * scale))), max(1, min(s, round(cw * scale)))
    return Placement(crop, scale, (nh, nw), ((s - nh) // 2, (s - nw) // 2), s)


def decode_target(p: Preprocessing) -> DecodeTarget:
    """What the network needs of a decoded slice: the rule for decoding a JPEG at reduced size.

    A JPEG whose sides are both at least twice ``input_size`` is decoded at 1/2, 1/4 or 1/8
    (the largest that keeps both sides >= ``input_size``), and kept only if the foreground
    crop of the reduced slice still spans at least ``input_size`` pixels on its longer side,
    so that the letterbox shrinks it (area averaging) as it shrinks the full-size crop and
    never enlarges it; otherwise the file is decoded again at the next finer scale.
    """

    def enough(pixels: NDArray[np.float32]) -> bool:
        return placement(as_unit_float(pixels), p).scale <= 1.0

    return DecodeTarget(p.input_size, enough)


def geometric_placed(pixels: NDArray[np.generic], p: Preprocessing) -> tuple[Grey, Placement]:
    """:func:`geometric` and where it put the slice (for the heat map)."""
    img = as_unit_float(pixels)
    where = placement(img, p)
    t, b, left, r = where.crop
    img = img[t:b, left:r]
    s = p.input_size
    nh, nw = where.placed
    # area averaging when shrinking, bilinear when enlarging (as cv2.INTER_AREA / _LINEAR)
    resized = resample.resize(img, nh, nw, shrink=where.scale < 1)
    out = np.zeros((s, s), dtype=np.float32)
    y0, x0 = where.offset
    out[y0 : y0 + nh, x0 : x0 + nw] = resized
    return out, where


def geometric(pixels: NDArray[np.generic], p: Preprocessing) -> Grey:
    """Crop to the foreground and letterbox to ``input_size`` square (float32, [0, 1])."""
    return geometric_placed(pixels, p)[0]


def normalise(img: Grey, p: Preprocessing) -> NDArray[np.float32]:
    """Per-image intensity normalisation of a geometric() output -> C x H x W float32."""
    x = np.asarray(img, dtype=np.float32)
    hi = float(np.percentile(x, p.intensity_percentile)) if x.size else 0.0
    if hi > 1e-6:
        x = np.clip(x / hi, 0.0, 1.0)
    x = (x - p.mean) / p.std
    return np.ascontiguousarray(np.broadcast_to(x, (p.channels, *x.shape)), dtype=np.float32)


def to_input(pixels: NDArray[np.generic], p: Preprocessing) -> NDArray[np.float32]:
    """Decoded slice -> C x H x W network input. The one function both sides use."""
    return normalise(geometric(pixels, p), p)


def to_batch(slices: list[NDArray[np.generic]], p: Preprocessing) -> NDArray[np.float32]:
    """A list of decoded slices -> N x C x H x W."""
    if not slices:
        return np.zeros((0, p.channels, p.input_size, p.input_size), dtype=np.float32)
    return np.stack([to_input(s, p) for s in slices])
