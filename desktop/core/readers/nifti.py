"""NIfTI-1/2 volumes (.nii, .nii.gz) via nibabel: each axial slice its own Slice.

The volume is reoriented to the closest canonical orientation (RAS+), windowed
between the stated percentiles of the whole volume, and each axial slice is shown
the radiological way (anterior up, the patient's right on the image's left).
Empty slices (fewer than ``EMPTY_FRACTION`` of pixels above ``EMPTY_LEVEL`` of the
window, i.e. all background) are skipped and counted on the ``counter``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any, Protocol

import nibabel
import numpy as np
from numpy.typing import NDArray

from desktop.core.readers.common import (
    MAX_TOTAL_PIXELS,
    PERCENTILE_WINDOW,
    ReadError,
    Slice,
    UnsupportedFile,
    Windowing,
    WindowKind,
    check_size,
    fmt_num,
    linear_window,
    percentiles,
)

#: a slice is empty (background) when fewer than this fraction of pixels ...
EMPTY_FRACTION = 0.005
#: ... are above this level of the [0, 1] window
EMPTY_LEVEL = 0.05
#: largest decompressed .nii.gz we accept (bytes)
MAX_DECOMPRESSED = 4 * MAX_TOTAL_PIXELS


class EmptyCounter(Protocol):
    skipped_empty: int


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_DECOMPRESSED)
    except zlib.error:
        raise ReadError("corrupt .nii.gz (bad gzip data)") from None
    if d.unconsumed_tail:
        raise ReadError("NIfTI volume too large when decompressed")
    if not d.eof:
        raise ReadError("truncated .nii.gz")
    return out


def _load(raw: bytes) -> Any:
    if len(raw) < 348:
        raise ReadError("truncated NIfTI header")
    size_le, size_be = struct.unpack("<i", raw[:4])[0], struct.unpack(">i", raw[:4])[0]
    sizes = {size_le, size_be}
    if 348 in sizes:
        cls: Any = nibabel.Nifti1Image
    elif 540 in sizes:
        cls = nibabel.Nifti2Image
    else:
        raise ReadError("not a NIfTI file")
    try:
        return cls.from_bytes(raw)
    except Exception:  # noqa: BLE001 - nibabel raises many types for bad headers
        raise ReadError("corrupt NIfTI header") from None


def _volume(img: Any) -> tuple[NDArray[np.float32], str]:
    shape = tuple(int(s) for s in img.shape)
    if len(shape) < 2 or len(shape) > 4 and any(s > 1 for s in shape[4:]):
        raise UnsupportedFile(f"unsupported NIfTI shape {shape}")
    x, y = shape[0], shape[1]
    z = shape[2] if len(shape) > 2 else 1
    check_size(x, y, z)
    note = ""
    try:
        canonical = nibabel.as_closest_canonical(img)  # type: ignore[no-untyped-call]
        obj = canonical.dataobj
        if len(shape) >= 4 and shape[3] > 1:
            note = f", first of {shape[3]} volumes"
            data = np.asarray(obj[:, :, :, 0])
        else:
            data = np.asarray(obj)
    except ReadError:
        raise
    except Exception:  # noqa: BLE001
        raise ReadError("truncated or corrupt NIfTI data") from None
    data = data.reshape(data.shape[:3] if data.ndim >= 3 else (*data.shape, 1))
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise UnsupportedFile(f"unsupported NIfTI data type {data.dtype}")
    if data.dtype.kind in "iu" and data.dtype.itemsize <= 2:
        return data, note  # exact in float32: each slice is converted as it is windowed
    return data.astype(np.float32, copy=False), note


def read_nifti(data: bytes, counter: EmptyCounter) -> Iterator[Slice]:
    """Axial slices (frame = slice index in canonical order); empty ones counted.

    The window comes from the whole volume; each slice is windowed as it is taken (no
    windowed or float copy of the volume)."""
    raw = _gunzip(data) if data[:2] == b"\x1f\x8b" else data
    vol, note = _volume(_load(raw))
    found = percentiles(vol, PERCENTILE_WINDOW)
    lo, hi = found if found is not None else (0.0, 0.0)
    p_lo, p_hi = PERCENTILE_WINDOW
    text = f"NIfTI percentile {p_lo:g}-{p_hi:g} of volume ({fmt_num(lo)}..{fmt_num(hi)}){note}"
    how = Windowing.from_range(WindowKind.PERCENTILE, lo, hi)
    min_count = EMPTY_FRACTION * vol.shape[0] * vol.shape[1]
    for k in range(vol.shape[2]):
        # RAS+: rows from anterior to posterior, columns from the patient's right to left
        if found is None:  # no finite value: black, as percentile_window makes it
            px = np.zeros((vol.shape[1], vol.shape[0]), dtype=np.float32)
        else:
            px = np.ascontiguousarray(linear_window(vol[::-1, ::-1, k].T, lo, hi))
        if np.count_nonzero(px > EMPTY_LEVEL) <= min_count:
            counter.skipped_empty += 1
            continue
        yield Slice(k, px, text, windowing=how)
