"""Damaged files of every format: the readers answer with ReadError, never anything else."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.readers import ReadError, read_slices
from tests.core.factories import make_dicom, ramp, write_cv, write_dicom


def originals(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "a.png": write_cv(folder / "a.png", ramp()),
        "a.jpg": write_cv(folder / "a.jpg", np.dstack([ramp()] * 3)),
        "a.bmp": write_cv(folder / "a.bmp", ramp()),
        "a.tif": write_cv(folder / "a.tif", ramp(dtype=np.uint16, top=9000)),
        "a.dcm": write_dicom(folder / "a.dcm", make_dicom(ramp(16, 16, np.uint16, 900))),
    }
    nii = folder / "a.nii.gz"
    nibabel.save(nibabel.Nifti1Image(ramp(8, 8).reshape(8, 8, 1).repeat(3, 2), np.eye(4)), nii)
    files["a.nii.gz"] = nii
    return {name: p.read_bytes() for name, p in files.items()}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return originals(tmp_path_factory.mktemp("orig"))


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["a.png", "a.jpg", "a.bmp", "a.tif", "a.dcm", "a.nii.gz"]),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=6),
)
def test_damaged_files_raise_read_error_only(
    good: dict[str, bytes],
    tmp_path: Path,
    name: str,
    cut: float,
    flips: list[tuple[float, int]],
) -> None:
    data = bytearray(good[name])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = data[: max(1, int(len(data) * cut))] if cut < 0.98 else data
    path = tmp_path / name
    path.write_bytes(bytes(data))
    try:
        slices = list(read_slices(path))
    except ReadError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    for s in slices:
        assert s.pixels.dtype == np.float32 and s.pixels.ndim == 2
        assert np.isfinite(s.pixels).all() and 0 <= s.pixels.min() <= s.pixels.max() <= 1
