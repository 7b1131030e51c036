"""Files the core tests write: images of every format and depth, DICOM, NIfTI."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydicom.dataset import Dataset

from desktop.samples import mr_dataset
from desktop.samples import write_dicom as write_dicom  # the one DICOM writer

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-SECRET-4711"


def ramp(h: int = 48, w: int = 64, dtype: Any = np.uint8, top: int = 255) -> np.ndarray:
    """A deterministic grey pattern covering the whole range of ``dtype`` up to ``top``."""
    yy, xx = np.mgrid[0:h, 0:w]
    v = ((xx * 7 + yy * 13) % 97) / 96.0
    return np.rint(v * top).astype(dtype)


def write_cv(path: Path, img: np.ndarray) -> Path:
    """Encode with OpenCV to the format of the suffix (works with non-ASCII paths)."""
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok, path
    path.write_bytes(buf.tobytes())
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_palette_png(path: Path, indices: np.ndarray, palette: list[tuple[int, int, int]]) -> Path:
    """An 8-bit palette (colour type 3) PNG, written by hand."""
    h, w = indices.shape
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    plte = b"".join(bytes(c) for c in palette)
    raw = b"".join(b"\x00" + indices[r].astype(np.uint8).tobytes() for r in range(h))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"PLTE", plte)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


def make_dicom(pixels: np.ndarray, **kwargs: Any) -> Dataset:
    """:func:`desktop.samples.mr_dataset` with a patient name and ID, so tests can check
    that they never leak."""
    return mr_dataset(pixels, patient=(PATIENT_NAME, PATIENT_ID), **kwargs)
