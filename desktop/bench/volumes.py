"""Inputs of the preview scenario (``gui_volume_stall_ms``): a NIfTI volume and a DICOM series.

The volume is 256 x 256 x 180 (the size whose preview froze the window for 659 ms when it
was decoded on the GUI thread); the series is ``../shared/dicom/t1_head_axial`` when it is
there, else synthetic slices of the same kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the volume of issue 16 (x, y, z)
VOLUME_SHAPE = (256, 256, 180)
SHARED_SERIES = Path(__file__).resolve().parents[2] / ".." / "shared" / "dicom" / "t1_head_axial"


def write_volume(path: Path, shape: tuple[int, int, int] = VOLUME_SHAPE, seed: int = 0) -> Path:
    """A head-like int16 ellipsoid with noise, as gzipped NIfTI."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    x, y, z = (np.linspace(-1, 1, n, dtype=np.float32) for n in shape)
    r2 = x[:, None, None] ** 2 / 0.7 + y[None, :, None] ** 2 / 0.85 + z[None, None, :] ** 2
    vol = np.where(r2 < 1.0, 600.0 + 300.0 * np.cos(6 * r2), 0.0).astype(np.float32)
    vol += rng.normal(0, 20, vol.shape).astype(np.float32) * (vol > 0)
    img = nib.Nifti1Image(vol.astype(np.int16), np.diag([1.0, 1.0, 1.0, 1.0]))
    nib.save(img, str(path))
    return path


def series_files(folder: Path, n: int = 24) -> list[Path]:
    """The shared T1 series if present, else ``n`` synthetic DICOM slices written here."""
    if SHARED_SERIES.is_dir():
        found = sorted(p for p in SHARED_SERIES.iterdir() if p.is_file())
        if found:
            return found
    from desktop.selftest import write_dicom

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:256, 0:256]
    out = []
    for i in range(n):
        head = ((xx - 128) ** 2 / 90**2 + (yy - 128) ** 2 / 110**2) < 1.0
        px = head * (1500 + 40 * i) + rng.normal(0, 30, head.shape) * head
        out.append(folder / f"IM{i + 1}")
        write_dicom(out[-1], np.clip(px, 0, 4080).astype(np.uint16))
    return out
