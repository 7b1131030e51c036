"""PNG, JPEG, BMP and TIFF via Pillow, decoded from bytes (non-ASCII paths work).

The header is read first so that decompression bombs are refused before any pixel
buffer is allocated. 8-bit images are divided by 255; 16-bit and float images are
windowed between stated percentiles; colour becomes grey by luminance, with OpenCV's
fixed-point BT.601 weights so that pixels equal those the model was trained on
(the training cache was decoded with OpenCV).
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageSequence

from desktop.core.readers.common import (
    MAX_PIXELS,
    MAX_TOTAL_PIXELS,
    PERCENTILE_WINDOW,
    DecodeTarget,
    ReadError,
    Slice,
    UnsupportedFile,
    Windowing,
    WindowKind,
    check_size,
    colourfulness,
    fmt_num,
    luminance,
    percentile_window,
)

# Pillow's own pixel limit, a second line behind the header check: above it Pillow
# raises DecompressionBombError instead of allocating.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

log = logging.getLogger(__name__)


class ImageFormat(str, Enum):
    PNG = "PNG"
    JPEG = "JPEG"
    BMP = "BMP"
    TIFF = "TIFF"


EXTENSIONS = {
    ".png": ImageFormat.PNG,
    ".jpg": ImageFormat.JPEG,
    ".jpeg": ImageFormat.JPEG,
    ".jpe": ImageFormat.JPEG,
    ".jfif": ImageFormat.JPEG,
    ".bmp": ImageFormat.BMP,
    ".dib": ImageFormat.BMP,
    ".tif": ImageFormat.TIFF,
    ".tiff": ImageFormat.TIFF,
}


def image_format(head: bytes) -> ImageFormat | None:
    """The format from the magic bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if head.startswith(b"BM") and len(head) >= 26:
        return ImageFormat.BMP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ImageFormat.TIFF
    return None


_OTHER_FORMATS = {
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"\x00\x00\x00\x0cjP  ": "JPEG 2000",
    b"\xffO\xffQ": "JPEG 2000",
    b"8BPS": "Photoshop",
    b"\x00\x00\x01\x00": "icon",
}


def other_image_format(head: bytes) -> str | None:
    """The name of an image format we recognise but do not read, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    for magic, name in _OTHER_FORMATS.items():
        if head.startswith(magic):
            return name
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ReadError("truncated PNG")
    w, h = struct.unpack(">II", data[16:24])
    return w, h


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            raise ReadError("corrupt JPEG (bad marker)")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            if i + 9 > n:
                break
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        if marker in (0xDA, 0xD9):
            break
        i += 2 + length
    raise ReadError("truncated JPEG")


def _bmp_size(data: bytes) -> tuple[int, int]:
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        w, h = struct.unpack("<HH", data[18:22])
    else:
        w, h = struct.unpack("<ii", data[18:26])
    return abs(w), abs(h)


#: most TIFF pages we read from one file
MAX_TIFF_PAGES = 1000


def tiff_pages(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of every page, from the IFD chain, without decoding."""
    end = "<" if data[:2] == b"II" else ">"
    pages: list[tuple[int, int]] = []
    seen: set[int] = set()
    try:
        (ifd,) = struct.unpack(end + "I", data[4:8])
        while ifd and ifd not in seen and len(pages) <= MAX_TIFF_PAGES:
            seen.add(ifd)
            (count,) = struct.unpack(end + "H", data[ifd : ifd + 2])
            size: dict[int, int] = {}
            for k in range(count):
                e = ifd + 2 + 12 * k
                tag, typ = struct.unpack(end + "HH", data[e : e + 4])
                if tag in (256, 257):
                    fmt = end + ("H" if typ == 3 else "I")
                    (size[tag],) = struct.unpack(fmt, data[e + 8 : e + 8 + struct.calcsize(fmt)])
            pages.append((size[256], size[257]))
            nxt = ifd + 2 + 12 * count
            (ifd,) = struct.unpack(end + "I", data[nxt : nxt + 4])
    except (struct.error, KeyError):
        if not pages:
            raise ReadError("truncated or corrupt TIFF") from None
    if len(pages) > MAX_TIFF_PAGES:
        raise ReadError(f"TIFF with too many pages (more than {MAX_TIFF_PAGES})")
    return pages


def _tiff_size(data: bytes) -> tuple[int, int]:
    return tiff_pages(data)[0]


_SIZE = {
    ImageFormat.PNG: _png_size,
    ImageFormat.JPEG: _jpeg_size,
    ImageFormat.BMP: _bmp_size,
    ImageFormat.TIFF: _tiff_size,
}


def header_size(data: bytes, fmt: ImageFormat) -> tuple[int, int]:
    """(width, height) from the file header, without decoding pixels."""
    try:
        return _SIZE[fmt](data)
    except struct.error:
        raise ReadError(f"truncated {fmt.value}") from None


def _check_complete(data: bytes, fmt: ImageFormat) -> None:
    if fmt is ImageFormat.JPEG:
        # 0xFFD9 cannot occur inside entropy-coded data (0xFF is stuffed), so the
        # end-of-image marker must follow the last start-of-scan.
        sos = data.rfind(b"\xff\xda")
        if sos < 0 or data.rfind(b"\xff\xd9") < sos:
            raise ReadError("truncated JPEG")
    elif fmt is ImageFormat.PNG and data.rfind(b"IEND") < 0:
        raise ReadError("truncated PNG")


#: OpenCV's fixed-point BT.601 weights (R, G, B in 1/2**15, as OpenCV 5's COLOR_RGB2GRAY):
#: integer grey equal to cv2's, bit for bit
_GREY_FIXED = (9798, 19235, 3735)
_GREY_SHIFT = 15


def _to_grey(img: NDArray[Any]) -> tuple[NDArray[Any], str]:
    """Grey, grey+alpha, RGB or RGBA of any depth -> one plane, and a note on colour."""
    if img.ndim == 2:
        return img, ""
    if img.shape[2] == 1:
        return img[:, :, 0], ""
    if img.shape[2] == 2:  # grey + alpha
        grey, alpha, note = img[:, :, 0], img[:, :, 1], ""
    else:
        grey, note = _luminance(img[:, :, :3]), ", colour to grey"
        if img.shape[2] == 3:
            return grey, note
        alpha = img[:, :, 3]
    a = alpha.astype(np.float32)
    if img.dtype.kind in "ui":
        a /= float(np.iinfo(img.dtype).max)
    out = grey.astype(np.float32) * a
    if img.dtype.kind in "ui":
        out = np.rint(out)
    return out.astype(img.dtype), note + ", alpha over black"


def _luminance(rgb: NDArray[Any]) -> NDArray[Any]:
    """RGB -> grey as cv2.COLOR_RGB2GRAY: fixed point for integers, float weights else."""
    if rgb.dtype.kind not in "ui":
        return luminance(rgb)
    r, g, b = (rgb[:, :, i].astype(np.uint32) for i in range(3))
    wr, wg, wb = _GREY_FIXED
    return ((r * wr + g * wg + b * wb + (1 << (_GREY_SHIFT - 1))) >> _GREY_SHIFT).astype(rgb.dtype)


_AS_RGB = {"P": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "RGBX": "RGB"}
_AS = {"1": "L", "La": "LA", "RGBa": "RGBA", "PA": "RGBA"}
#: cv2's fixed-point grey as a Pillow conversion matrix: Pillow computes it in float32,
#: where every product and sum is exact, and rounds half up, as cv2 does
_GREY_MATRIX = (*(w / (1 << _GREY_SHIFT) for w in _GREY_FIXED), 0.0)


@dataclass(frozen=True)
class _Plane:
    """One frame reduced to a single plane, how colourful it was, and a note on colour."""

    pixels: NDArray[Any]
    colour: float
    note: str


def _plane(frame: Image.Image) -> _Plane:
    """One Pillow frame as one grey plane (the colour measured before it is dropped)."""
    mode = frame.mode
    if mode == "P" and "transparency" in frame.info:
        frame = frame.convert("RGBA")
    elif mode in _AS_RGB or mode in _AS:
        frame = frame.convert(_AS_RGB.get(mode) or _AS[mode])
    if frame.mode == "RGB":  # most colour files: grey and colour measured in C, no RGB copy
        w, h = frame.size
        every_4th = frame.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.NEAREST)
        colour = colourfulness(np.asarray(every_4th), step=1)
        grey = np.asarray(frame.convert("L", matrix=_GREY_MATRIX))
        return _Plane(grey, colour, ", colour to grey")
    arr = np.asarray(frame)
    if mode.startswith("I;16"):
        arr = arr.astype(np.uint16)  # native byte order
    elif mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 0xFFFF:
        arr = arr.astype(np.uint16)
    if arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4):
        raise UnsupportedFile(f"unsupported image with {arr.shape[2]} channels")
    colour = colourfulness(arr)
    grey, note = _to_grey(arr)
    return _Plane(grey, colour, note)


def _decode(data: bytes, fmt: ImageFormat, reduce: int = 1) -> list[_Plane]:
    """Every frame (all TIFF pages, else one); a JPEG at 1/``reduce`` of its size."""
    # Pillow has no 16-bit colour mode: such PNG/TIFF frames arrive at 8 bits; say so
    png_deep = fmt is ImageFormat.PNG and len(data) > 25 and data[24] == 16 and data[25] in (2, 6)
    with Image.open(io.BytesIO(data), formats=[fmt.value]) as im:
        if reduce > 1 and fmt is ImageFormat.JPEG:
            w, h = im.size
            # the same mode (no grey from the decoder: grey is made as cv2 makes it)
            im.draft(im.mode, (w // reduce, h // reduce))
        frames = ImageSequence.Iterator(im) if fmt is ImageFormat.TIFF else [im]
        planes = []
        for frame in frames:
            bits = getattr(frame, "tag_v2", {}).get(258, (8,)) if fmt is ImageFormat.TIFF else ()
            plane = _plane(frame)
            if plane.note and (png_deep or max(bits, default=8) > 8):
                plane = replace(plane, note=plane.note + " (16-bit colour read at 8 bits)")
            planes.append(plane)
        return planes


def _window(plane: _Plane, fmt: ImageFormat) -> Slice:
    grey, note = plane.pixels, plane.note
    if grey.dtype == np.uint8:
        px = grey.astype(np.float32) / np.float32(255.0)
        how = Windowing.from_range(WindowKind.EIGHT_BIT, 0.0, 255.0)
        return Slice(0, px, f"8-bit {fmt.value}{note}", colour=plane.colour, windowing=how)
    bits = "16-bit" if grey.dtype in (np.uint16, np.int16) else str(grey.dtype)
    px, lo, hi = percentile_window(grey)
    p_lo, p_hi = PERCENTILE_WINDOW
    return Slice(
        0,
        px,
        f"{bits} {fmt.value}{note}, percentile {p_lo:g}-{p_hi:g} ({fmt_num(lo)}..{fmt_num(hi)})",
        colour=plane.colour,
        windowing=Windowing.from_range(WindowKind.PERCENTILE, lo, hi),
    )


def read_image(
    data: bytes, fmt: ImageFormat, target: DecodeTarget | None = None
) -> Iterator[Slice]:
    """Decode an image file's bytes; TIFF pages become frames 0, 1, ...

    With a ``target``, a large JPEG is decoded at reduced size (:class:`DecodeTarget`).
    """
    w, h = header_size(data, fmt)
    check_size(w, h)
    if fmt is ImageFormat.TIFF:
        sizes = tiff_pages(data)
        for pw, ph in sizes:
            check_size(pw, ph)
        if sum(pw * ph for pw, ph in sizes) > MAX_TOTAL_PIXELS:
            raise ReadError(f"image too large ({len(sizes)} TIFF pages, {w} x {h} and more)")
    _check_complete(data, fmt)
    reduce = target.reduction(w, h) if target is not None and fmt is ImageFormat.JPEG else 1
    while True:
        slices = _slices(data, fmt, reduce)
        # what the decoder did (it may decline to scale, e.g. a file of several tiles)
        got = max(1, round(w / slices[0].pixels.shape[1])) if reduce > 1 else 1
        if got == 1 or target is None or target.enough(slices[0].pixels):
            break
        reduce = got // 2  # the reduced slice is too small for the network: decode finer
    yield from (replace(s, reduced=got) for s in slices)


def _slices(data: bytes, fmt: ImageFormat, reduce: int = 1) -> list[Slice]:
    """Every frame decoded (a JPEG at 1/``reduce``) and windowed; ReadError in words."""
    try:
        planes = _decode(data, fmt, reduce)
    except MemoryError:
        raise ReadError(f"{fmt.value} too large to decode in memory") from None
    except UnsupportedFile:
        raise
    except Exception as exc:  # noqa: BLE001 - hostile files make Pillow raise many kinds
        log.info("%s decoder refused the file: %s: %s", fmt.value, type(exc).__name__, exc)
        planes = []
    if not planes:
        raise ReadError(f"could not decode {fmt.value} (corrupt or truncated file)")
    out = []
    for i, plane in enumerate(planes):
        if plane.pixels.dtype.kind not in "uif":
            raise UnsupportedFile(f"unsupported {fmt.value} pixel type {plane.pixels.dtype}")
        out.append(replace(_window(plane, fmt), frame=i))
    return out
