"""Synthetic sample files: the head phantom and the one DICOM writer.

The self-test writes its sample files with these, and so do the tests (through
``tests/core/factories.py``): one way to make a DICOM file in the whole project.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

PHANTOM_SIZE = 256


def phantom(size: int = PHANTOM_SIZE) -> NDArray[np.float32]:
    """A synthetic axial head slice in [0, 1]: skull ring, brain, ventricles, a bright lesion."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) * 2.0 - 1.0

    def ellipse(cx: float, cy: float, rx: float, ry: float) -> NDArray[np.bool_]:
        return np.asarray(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0)

    img = np.zeros((size, size), np.float32)
    img[ellipse(0, 0, 0.78, 0.92)] = 0.85  # scalp and skull
    img[ellipse(0, 0, 0.70, 0.84)] = 0.45  # brain
    img[ellipse(0, 0, 0.55, 0.70) & (np.abs(x) > 0.04)] = 0.55  # grey/white contrast
    img[ellipse(-0.12, -0.05, 0.08, 0.22) | ellipse(0.12, -0.05, 0.08, 0.22)] = 0.12  # ventricles
    img[ellipse(0.35, 0.30, 0.12, 0.10)] = 0.95  # enhancing lesion
    texture = np.random.default_rng(7).normal(0.0, 0.02, img.shape).astype(np.float32)
    out: NDArray[np.float32] = np.clip(img + texture * (img > 0), 0.0, 1.0).astype(np.float32)
    return out


def mr_dataset(
    pixels: NDArray[np.generic],
    *,
    patient: tuple[str, str] = ("", ""),
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple[float, float] | None = None,
    voi_lut: NDArray[np.generic] | None = None,
    with_pixels: bool = True,
) -> Dataset:
    """An MR DICOM dataset (explicit VR little endian) holding uint16 ``pixels``
    (R x C, or F x R x C: multi-frame); ``patient`` = (name, id)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID = patient
    ds.Modality = "MR"
    arr = np.asarray(pixels, dtype="<u2")
    ds.Rows, ds.Columns = arr.shape[-2:]
    if arr.ndim == 3:
        ds.NumberOfFrames = arr.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 16
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
        ds.PixelData = np.ascontiguousarray(arr).tobytes()
    return ds


def write_dicom(path: Path, ds: Dataset, compress: bool = False) -> Path:
    """Save ``ds`` as a DICOM file (JPEG 2000 lossless when ``compress``)."""
    if compress:
        from pydicom.uid import JPEG2000Lossless

        ds.compress(JPEG2000Lossless)
    ds.save_as(path, enforce_file_format=True)
    return path
