"""Files the core tests write: images of every format and depth, DICOM, NIfTI."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

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


def make_dicom(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple[float, float] | None = None,
    voi_lut: np.ndarray | None = None,
    with_pixels: bool = True,
) -> Dataset:
    """An MR DICOM dataset (explicit VR little endian) holding uint16 ``pixels``.

    ``pixels`` is R x C or F x R x C (multi-frame). It carries a patient name and ID
    so tests can check that they never leak.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.Modality = "MR"
    arr = np.asarray(pixels, dtype=np.uint16)
    ds.Rows, ds.Columns = arr.shape[-2:]
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept or 0.0
        ds.RescaleType = "US"
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_lut is not None:
        item = Dataset()
        item.LUTDescriptor = [len(voi_lut), 0, 16]
        item.add_new(0x00283006, "US", [int(v) for v in voi_lut])  # LUTData
        ds.VOILUTSequence = [item]
    if with_pixels:
        ds.PixelData = arr.tobytes()
    return ds


def write_dicom(path: Path, ds: Dataset) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path
