"""NIfTI: canonical orientation, axial slices as frames, volume window, empty slices."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel
import numpy as np
import pytest

from desktop.core.readers import ReadError, open_file, read_slices


def head_volume() -> np.ndarray:
    """X x Y x Z (RAS voxel order) with a body in slices 2..7 and a marker voxel."""
    vol = np.zeros((20, 24, 10), dtype=np.int16)
    rng = np.random.default_rng(3)
    vol[4:16, 3:21, 2:8] = rng.integers(200, 800, size=(12, 18, 6))
    vol[14, 19, 5] = 2000  # patient right-ish (high x), anterior (high y)
    return vol


def save(path: Path, vol: np.ndarray, affine: np.ndarray) -> Path:
    nibabel.save(nibabel.Nifti1Image(vol, affine), str(path))
    return path


def test_axial_slices_window_and_empty_count(tmp_path: Path) -> None:
    vol = head_volume()
    src = open_file(save(tmp_path / "head.nii.gz", vol, np.eye(4)))
    slices = list(src)
    assert [s.frame for s in slices] == [2, 3, 4, 5, 6, 7]
    assert src.skipped_empty == 4
    lo, hi = np.percentile(vol.astype(np.float64), [0.5, 99.5])
    for s in slices:
        expected = np.clip((vol[::-1, ::-1, s.frame].T - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(s.pixels, expected, atol=1e-5)
        assert s.pixels.shape == (24, 20)  # rows: y (A->P), columns: x (R->L)
        assert s.window.startswith("NIfTI percentile 0.5-99.5 of volume")


def test_radiological_display(tmp_path: Path) -> None:
    vol = np.zeros((20, 24, 3), dtype=np.int16)
    vol[..., 1] = 100
    vol[19, 23, 1] = 1000  # right, anterior
    (s,) = list(read_slices(save(tmp_path / "m.nii", vol, np.eye(4))))
    assert s.frame == 1
    assert np.unravel_index(np.argmax(s.pixels), s.pixels.shape) == (0, 0)


def test_non_canonical_affine_reads_canonical(tmp_path: Path) -> None:
    vol = head_volume()
    canonical = list(read_slices(save(tmp_path / "ras.nii", vol, np.eye(4))))
    # the same physical volume stored as L-P-S voxel order, then with axes permuted
    lps = vol[::-1, ::-1, :].copy()
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    aff[:3, 3] = [19, 23, 0]
    flipped = list(read_slices(save(tmp_path / "lps.nii", lps, aff)))
    permuted_data = np.transpose(vol, (2, 0, 1)).copy()  # stored as Z, X, Y
    perm = np.zeros((4, 4))
    perm[0, 1] = perm[1, 2] = perm[2, 0] = perm[3, 3] = 1.0
    permuted = list(read_slices(save(tmp_path / "zxy.nii.gz", permuted_data, perm)))
    for other in (flipped, permuted):
        assert [s.frame for s in other] == [s.frame for s in canonical]
        for a, b in zip(canonical, other, strict=True):
            np.testing.assert_allclose(a.pixels, b.pixels, atol=1e-6)


def test_4d_reads_first_volume(tmp_path: Path) -> None:
    vol = head_volume()
    four = np.stack([vol, vol * 0 + 7], axis=-1)
    slices = list(read_slices(save(tmp_path / "fmri.nii", four, np.eye(4))))
    assert [s.frame for s in slices] == [2, 3, 4, 5, 6, 7]
    assert "first of 2 volumes" in slices[0].window


def test_all_empty_volume_yields_nothing(tmp_path: Path) -> None:
    src = open_file(save(tmp_path / "zero.nii", np.zeros((8, 8, 5), np.float32), np.eye(4)))
    assert list(src) == [] and src.skipped_empty == 5


def test_truncated_and_corrupt(tmp_path: Path) -> None:
    good = save(tmp_path / "good.nii", head_volume(), np.eye(4)).read_bytes()
    (tmp_path / "cut.nii").write_bytes(good[: len(good) // 2])
    (tmp_path / "cut.nii.gz").write_bytes(gzip.compress(good)[:300])
    (tmp_path / "junk.nii").write_bytes(b"x" * 400)
    expected = {
        "cut.nii": "truncated or corrupt NIfTI data",
        "cut.nii.gz": "truncated .nii.gz",
        "junk.nii": "not a NIfTI file",
    }
    for name, message in expected.items():
        with pytest.raises(ReadError, match=message.replace(".", r"\.")):
            list(read_slices(tmp_path / name))
