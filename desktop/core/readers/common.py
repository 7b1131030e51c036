"""What every reader shares: the Slice record, the errors, limits and windowing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: refuse images wider or taller than this before allocating anything
MAX_SIDE = 20_000
#: refuse images (or one frame/slice) with more pixels than this
MAX_PIXELS = 200_000_000
#: refuse files (or a multi-frame/volume in total) with more pixels than this
MAX_TOTAL_PIXELS = 1_000_000_000
#: the stated percentile window used when a file carries no window of its own
PERCENTILE_WINDOW = (0.5, 99.5)


class ReadError(Exception):
    """A file could not be read; ``str(exc)`` is a message a person understands."""


class UnsupportedFile(ReadError):
    """A file we recognise but know we cannot handle (e.g. a DICOM transfer syntax)."""


class WindowKind(str, Enum):
    """How raw values became the classifier's [0, 1] slice."""

    #: the file's own window centre/width (DICOM)
    VOI_WINDOW = "voi_window"
    #: the file's own VOI lookup table (DICOM): no centre/width
    VOI_LUT = "voi_lut"
    #: a stated percentile window (``PERCENTILE_WINDOW``) of the slice, file or volume
    PERCENTILE = "percentile"
    #: 8-bit values divided by 255
    EIGHT_BIT = "8-bit"


@dataclass(frozen=True)
class Windowing:
    """How a slice was windowed for the classifier, as numbers (``Slice.window`` says it
    in words): the display's window/level starts from it without parsing the words."""

    kind: WindowKind
    #: the linear window in raw values (None for a lookup table)
    centre: float | None = None
    width: float | None = None
    #: MONOCHROME1: high values dark
    inverted: bool = False

    @classmethod
    def from_range(cls, kind: WindowKind, lo: float, hi: float) -> Windowing:
        return cls(kind, (lo + hi) / 2, max(hi - lo, 1e-6))


@dataclass(frozen=True)
class Slice:
    """One decoded grey slice, windowed to [0, 1] for the classifier."""

    #: 0 for single images; frame index (DICOM multi-frame, TIFF pages); slice index (NIfTI)
    frame: int
    #: H x W float32 in [0, 1]
    pixels: NDArray[np.float32]
    #: how it was windowed, in words
    window: str
    #: DICOM only: modality-rescaled values before windowing (for window/level); else None
    raw: NDArray[np.float32] | None = None
    #: mean chroma of the original picture in [0, 1] (0 for grey files): see colourfulness()
    colour: float = 0.0
    #: the same as ``window`` as numbers (None: not recorded)
    windowing: Windowing | None = None
    #: JPEG only: decoded at 1/``reduced`` of the file's size (:class:`DecodeTarget`); 1: full
    reduced: int = 1


def _always(pixels: NDArray[np.float32]) -> bool:
    return True


@dataclass(frozen=True)
class DecodeTarget:
    """What the network needs of a decoded slice, so that a reader may decode less.

    A JPEG whose both sides are at least twice ``side`` is decoded at 1/2, 1/4 or 1/8 of
    its size (libjpeg's DCT scaling, Pillow's draft mode): the largest reduction that
    keeps both sides >= ``side``. If ``enough`` says the reduced slice is too small after
    all (the network's crop of it would have to be enlarged), the file is decoded again
    at the next finer scale, down to full size. Other formats are always decoded whole.
    :func:`desktop.core.preprocess.decode_target` makes the app's target.
    """

    side: int
    enough: Callable[[NDArray[np.float32]], bool] = _always

    def reduction(self, width: int, height: int) -> int:
        """The JPEG reduction (1, 2, 4 or 8) to try first for a ``width`` x ``height`` file."""
        fits = min(width, height) // max(1, self.side)
        return next((k for k in (8, 4, 2) if fits >= k), 1)


def check_size(width: int, height: int, frames: int = 1) -> None:
    """Raise ReadError for sizes that would exhaust memory (decompression bombs)."""
    if width <= 0 or height <= 0:
        raise ReadError(f"image has no pixels ({width} x {height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ReadError(f"image too large ({width} x {height})")
    if frames > 1 and width * height * frames > MAX_TOTAL_PIXELS:
        raise ReadError(f"image too large ({frames} frames of {width} x {height})")


def load_bytes(path: str | Path) -> bytes:
    """The whole file, read once; works with non-ASCII paths. Raises ReadError in words."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ReadError("file not found") from None
    except IsADirectoryError:
        raise ReadError("is a folder, not a file") from None
    except PermissionError:
        raise ReadError("permission denied") from None
    except OSError as exc:
        raise ReadError(f"could not read file ({exc.strerror or 'I/O error'})") from None
    if not data:
        raise ReadError("empty file (0 bytes)")
    return data


def percentiles(values: NDArray[np.generic], q: tuple[float, ...]) -> tuple[float, ...] | None:
    """``np.percentile(values as float64, q)`` over the finite values (None if none), the
    same numbers, without a float64 copy of ``values``.

    Only the order statistics are needed: they are picked by ``np.partition`` of one copy in
    the values' own type (exact in float64 whatever the type), and interpolated in float64
    as NumPy's "linear" method does (tests/core/test_readers_lean.py checks it against
    ``np.percentile``).
    """
    a = np.asarray(values).ravel()
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        if not finite.all():
            a = a[finite]
    elif a.dtype.kind not in "iub":
        a = a.astype(np.float64)
    n = a.size
    if n == 0:
        return None
    virtual = (n - 1) * np.true_divide(np.asarray(q, dtype=np.float64), 100)
    below = np.floor(virtual)
    prev = np.clip(below, 0, n - 1).astype(np.intp)
    nxt = np.clip(below + 1, 0, n - 1).astype(np.intp)
    gamma = virtual - below
    part = np.partition(a, np.unique(np.concatenate((prev, nxt))))
    lo, hi = part[prev].astype(np.float64), part[nxt].astype(np.float64)
    diff = hi - lo  # NumPy's _lerp: from the nearer end
    out = np.where(gamma >= 0.5, hi - diff * (1 - gamma), lo + diff * gamma)
    return tuple(float(v) for v in out)


def percentile_window(
    values: NDArray[np.generic],
    lo_hi: tuple[float, float] = PERCENTILE_WINDOW,
    reference: NDArray[np.generic] | None = None,
) -> tuple[NDArray[np.float32], float, float]:
    """Window ``values`` linearly between two percentiles (of ``reference`` if given)."""
    found = percentiles(values if reference is None else reference, lo_hi)
    if found is None:
        return np.zeros(np.shape(values), dtype=np.float32), 0.0, 0.0
    lo, hi = found
    return linear_window(values, lo, hi), lo, hi


def linear_window(values: NDArray[np.generic], lo: float, hi: float) -> NDArray[np.float32]:
    """(values - lo) / (hi - lo) clipped to [0, 1]; a flat window maps to 0 below, 1 above.

    Computed in float32 in one output array (no float32 copy of the input first)."""
    if not hi > lo:
        out = (np.asarray(values, dtype=np.float32) > np.float32(lo)).astype(np.float32)
    else:
        out = np.subtract(values, np.float32(lo), dtype=np.float32)
        out /= np.float32(hi - lo)
    np.nan_to_num(out, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0, out=out)


def luminance(rgb: NDArray[np.generic]) -> NDArray[np.float32]:
    """H x W x 3 RGB (any dtype) -> H x W float32 grey with ITU-R BT.601 weights (as cv2)."""
    a = np.asarray(rgb, dtype=np.float32)
    grey = 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]
    return np.asarray(grey, dtype=np.float32)


def fmt_num(x: float) -> str:
    """A short number for window descriptions."""
    return f"{x:.6g}"


def window_centre_width(
    x: NDArray[np.float32], centre: float, width: float, function: str = "LINEAR"
) -> NDArray[np.float32]:
    """DICOM PS3.3 C.11.2.1.2 windowing, mapped to [0, 1]."""
    if function == "SIGMOID":
        out = 1.0 / (1.0 + np.exp(-4.0 * (x - centre) / max(width, 1e-6)))
    elif function == "LINEAR_EXACT":
        out = (x - centre) / max(width, 1e-6) + 0.5
    else:
        w = max(width, 1.0)
        out = (x - (centre - 0.5)) / max(w - 1.0, 1e-6) + 0.5
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float32)


def colourfulness(img: NDArray[np.generic], step: int = 4) -> float:
    """Mean chroma (max - min over the colour channels) of an H x W x C picture, in [0, 1].

    Grey pictures stored as RGB give ~0; MRI exports in the training data stay below 0.05,
    photographs lie far above. Sampled on every ``step``-th pixel (a summary, not a map).
    """
    if img.ndim != 3 or img.shape[2] < 3:
        return 0.0
    c = img[::step, ::step, :3]
    if not c.size:
        return 0.0
    if img.dtype.kind in "ui":  # max - min never wraps: no float copy of the image
        chroma = c.max(axis=2) - c.min(axis=2)
        bits = 8 * img.dtype.itemsize - (img.dtype.kind == "i")
        return float(chroma.mean(dtype=np.float64) / float(2**bits - 1))  # / dtype's max
    f = np.asarray(c, dtype=np.float32)
    return float((f.max(axis=2) - f.min(axis=2)).mean())
