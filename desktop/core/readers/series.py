"""What grouping files into cases needs from a DICOM header, read without the pixels.

Only the series identity and the slice geometry are read (SeriesInstanceUID,
SeriesNumber, InstanceNumber, ImagePositionPatient, ImageOrientationPatient,
NumberOfFrames); no patient attribute is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom
import pydicom.config

# Read what scanners write even when it bends the standard; never warn about it.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

_TAGS = [
    "SeriesInstanceUID",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "NumberOfFrames",
]


@dataclass(frozen=True)
class DicomGeometry:
    """Series identity and slice geometry of one DICOM file (None where absent)."""

    series_uid: str | None
    series_number: int | None
    instance_number: int | None
    #: ImagePositionPatient: the first pixel's centre in patient coordinates (mm)
    position: tuple[float, float, float] | None
    #: ImageOrientationPatient: row direction then column direction cosines
    orientation: tuple[float, float, float, float, float, float] | None
    frames: int


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _floats(value: object, n: int) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def dicom_geometry(path: str | Path, force: bool = False) -> DicomGeometry | None:
    """The header fields of one DICOM file, or None when it cannot be parsed."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS, force=force)
    except Exception:  # noqa: BLE001 - unreadable: the file becomes a case of its own
        return None
    uid = ds.get("SeriesInstanceUID")
    position = _floats(ds.get("ImagePositionPatient"), 3)
    orientation = _floats(ds.get("ImageOrientationPatient"), 6)
    return DicomGeometry(
        series_uid=str(uid) if uid else None,
        series_number=_int(ds.get("SeriesNumber")),
        instance_number=_int(ds.get("InstanceNumber")),
        position=position,  # type: ignore[arg-type]
        orientation=orientation,  # type: ignore[arg-type]
        frames=max(1, _int(ds.get("NumberOfFrames")) or 1),
    )
