"""DICOM via pydicom (+ pylibjpeg decoders): every frame is its own Slice.

Per frame: modality rescale (top-level Modality LUT / Rescale, or the Enhanced
per-frame Pixel Value Transformation), then the VOI LUT or window centre/width when
the file has one, otherwise a stated percentile window over all frames; MONOCHROME1
is inverted so that higher is brighter. No patient identifier ever reaches a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from io import BytesIO
from typing import Any

import numpy as np
import pydicom
import pydicom.config
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.processing import apply_modality_lut

from desktop.core.readers.common import (
    PERCENTILE_WINDOW,
    ReadError,
    Slice,
    UnsupportedFile,
    Windowing,
    WindowKind,
    check_size,
    fmt_num,
    linear_window,
    luminance,
    percentile_window,
    window_centre_width,
)

# Read what scanners write even when it bends the standard; never warn about it.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
#: the only Bits Allocated values the standard allows for (integer) Pixel Data
_BITS_ALLOCATED = frozenset({1, 8, 16, 32, 64})


def _parse(data: bytes, force: bool) -> Dataset:
    try:
        return pydicom.dcmread(BytesIO(data), force=force)
    except InvalidDicomError:
        raise ReadError("not a DICOM file") from None
    except Exception:  # noqa: BLE001 - any parser failure means a damaged header
        raise ReadError("corrupt or truncated DICOM header") from None


def _transfer_syntax(ds: Dataset) -> str:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return "unknown" if ts is None else f"{ts.name} ({ts})"


def _decode(ds: Dataset) -> NDArray[Any]:
    try:
        # only the frames the header declares (surplus bytes do not become extra slices)
        ds.pixel_array_options(allow_excess_frames=False)
        return np.asarray(ds.pixel_array)
    except NotImplementedError:
        raise UnsupportedFile(f"unsupported DICOM transfer syntax {_transfer_syntax(ds)}") from None
    except Exception as exc:  # noqa: BLE001 - decoder failures come in many types
        text = str(exc).lower()
        if "less than expected" in text or "truncat" in text or "end of" in text:
            raise ReadError("truncated DICOM pixel data") from None
        if "transfer syntax" in text and ("plugin" in text or "support" in text):
            raise UnsupportedFile(
                f"unsupported DICOM transfer syntax {_transfer_syntax(ds)}"
            ) from None
        raise ReadError(f"could not decode DICOM pixel data ({_transfer_syntax(ds)})") from None


def _frame_item(ds: Dataset, index: int, name: str) -> Dataset | None:
    """An Enhanced-IOD functional group item for one frame (per-frame, then shared)."""
    for groups, i in (
        ("PerFrameFunctionalGroupsSequence", index),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        seq = ds.get(groups)
        if seq and i < len(seq):
            inner = seq[i].get(name)
            if inner:
                item: Dataset = inner[0]
                return item
    return None


#: integers whose magnitude stays below this are exact in float32
_FLOAT32_EXACT = 2**24


def _exact_in_float32(frame: NDArray[Any], slope: float, intercept: float) -> bool:
    """True when ``frame * slope + intercept`` in float32 equals pydicom's float64 result
    cast to float32: integer pixels of at most 16 bits, an integer slope and intercept,
    every result (and partial result) an integer below 2**24."""
    if frame.dtype.kind not in "iu" or frame.dtype.itemsize > 2:
        return False
    if not (float(slope).is_integer() and float(intercept).is_integer()):
        return False
    return 65536 * abs(slope) + abs(intercept) < _FLOAT32_EXACT


def _rescale(frame: NDArray[Any], ds: Dataset, index: int) -> NDArray[np.float32]:
    if "ModalityLUTSequence" not in ds and "RescaleSlope" in ds and "RescaleIntercept" in ds:
        # the common case (MR: 1 and 0; CT: 1 and -1024) without pydicom's float64 copy
        try:
            slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        except (TypeError, ValueError):
            slope = intercept = float("nan")  # pydicom's path says it in words below
        if _exact_in_float32(frame, slope, intercept):
            out = frame.astype(np.float32)
            if slope != 1.0:
                out *= np.float32(slope)
            if intercept != 0.0:
                out += np.float32(intercept)
            return out
    if "ModalityLUTSequence" in ds or "RescaleSlope" in ds or "RescaleIntercept" in ds:
        try:
            return np.asarray(apply_modality_lut(frame, ds), dtype=np.float32)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
            # numpy's UFuncTypeError is a TypeError: e.g. a rescale slope that is not a number
            raise ReadError(
                "DICOM with an unreadable rescale slope/intercept or modality LUT"
            ) from exc
    item = _frame_item(ds, index, "PixelValueTransformationSequence")
    if item is not None and "RescaleSlope" in item:
        slope = float(item.RescaleSlope)
        intercept = float(item.get("RescaleIntercept", 0.0))
        return (frame.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(
            np.float32
        )
    return frame.astype(np.float32)


def _first(value: Any) -> float:
    return float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)


def _voi(
    raw: NDArray[np.float32], ds: Dataset, index: int
) -> tuple[NDArray[np.float32], str, Windowing] | None:
    """The file's own VOI LUT or window for one frame, or None when it has none."""
    if "VOILUTSequence" in ds:
        item = ds.VOILUTSequence[0]
        data = item.get("LUTData")
        if isinstance(data, bytes):  # OW: 16-bit words in the file's byte order
            lut = np.frombuffer(data, dtype="<u2" if ds.is_little_endian else ">u2")
        else:
            lut = np.asarray(data if data is not None else [], dtype=np.float32).ravel()
        # the output is scaled by the largest LUT entry (many LUTs do not use all their bits)
        top = float(lut.max()) if lut.size else 0.0
        descriptor = [int(v) for v in item.get("LUTDescriptor", [])]
        if top > 0 and len(descriptor) == 3:
            first = descriptor[1]
            if first > 32767 and int(ds.get("PixelRepresentation", 0)) == 1:
                first -= 65536  # a signed first-mapped value stored as US
            index = np.clip(np.rint(raw) - first, 0, lut.size - 1).astype(np.intp)
            out = lut.astype(np.float32)[index] / np.float32(top)
            lut_px = np.clip(out, 0.0, 1.0).astype(np.float32)
            return lut_px, "DICOM VOI LUT", Windowing(WindowKind.VOI_LUT)
    source: Dataset | None = ds if "WindowCenter" in ds and "WindowWidth" in ds else None
    if source is None:
        source = _frame_item(ds, index, "FrameVOILUTSequence")
        if source is not None and not ("WindowCenter" in source and "WindowWidth" in source):
            source = None
    if source is None:
        return None
    c, w = _first(source.WindowCenter), _first(source.WindowWidth)
    if not w > 0:
        return None
    function = str(source.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    return (
        window_centre_width(raw, c, w, function),
        f"DICOM VOI window C={fmt_num(c)},W={fmt_num(w)}",
        Windowing(WindowKind.VOI_WINDOW, c, w),
    )


def read_dicom(data: bytes, force: bool = False) -> Iterator[Slice]:
    """All frames of a DICOM file, windowed to [0, 1].

    pydicom raises NotImplementedError when it meets an element with an unknown value
    representation (a corrupt byte), on whichever element is read first; any such
    element makes the file unreadable, said as a ReadError."""
    try:
        yield from _read_dicom(data, force)
    except NotImplementedError:
        raise ReadError("corrupt DICOM element (unknown value representation)") from None


def _read_dicom(data: bytes, force: bool) -> Iterator[Slice]:
    ds = _parse(data, force)
    if force and "SOPClassUID" not in ds and not any(tag in ds for tag in _PIXEL_TAGS):
        raise ReadError("not a DICOM file")  # a .dcm name, but neither header nor pixels
    if not any(tag in ds for tag in _PIXEL_TAGS):
        raise ReadError("DICOM without pixel data")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        # NotImplementedError: pydicom meeting an unknown value representation (corrupt tag)
        raise ReadError("DICOM without image size (Rows/Columns)") from None
    check_size(cols, rows, frames)
    bits = ds.get("BitsAllocated")
    if (
        "PixelData" in ds
        and bits is not None
        and not (isinstance(bits, int) and bits in _BITS_ALLOCATED)
    ):
        raise UnsupportedFile(f"unsupported DICOM bits allocated ({bits})")
    arr = _decode(ds)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if samples > 1:
        arr = luminance(arr)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise UnsupportedFile(f"unsupported DICOM pixel layout {arr.shape}")
    raws = [_rescale(arr[i], ds, i) for i in range(arr.shape[0])]
    window: tuple[float, float] | None = None  # percentiles of all frames, computed once
    invert = photometric == "MONOCHROME1"
    for i, raw in enumerate(raws):
        try:
            voi = _voi(raw, ds, i) if samples == 1 else None
        except (TypeError, ValueError, IndexError, KeyError, AttributeError):
            voi = None  # an unreadable window or VOI LUT: the percentile window instead
        if voi is None:
            if window is None:
                px, lo, hi = percentile_window(raw, reference=np.stack(raws))
                window = (lo, hi)
            else:
                lo, hi = window
                px = linear_window(raw, lo, hi)
            p_lo, p_hi = PERCENTILE_WINDOW
            note = f"DICOM percentile {p_lo:g}-{p_hi:g} ({fmt_num(lo)}..{fmt_num(hi)})"
            how = Windowing.from_range(WindowKind.PERCENTILE, lo, hi)
            if samples > 1:
                note += ", colour to grey"
        else:
            px, note, how = voi
        if invert:
            px = (1.0 - px).astype(np.float32)
            note += ", MONOCHROME1 inverted"
            how = replace(how, inverted=True)
        px = np.ascontiguousarray(px, dtype=np.float32)
        yield Slice(i, px, note, raw, windowing=how)
