"""Training sees every slice exactly as the app does: the cache's network input against the
app's, on real files (colour and grey JPEG, PNG, DICOM, NIfTI), and a check that this
test fails when either side decodes differently (training.parity)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from desktop.core.inference import Slice, read_first
from desktop.core.model_spec import Preprocessing
from training import cache
from training.parity import input_parity

pytestmark = pytest.mark.shared

SIZE = 128  # the bundled model's input size
#: a colour (RGB) JPEG whose OpenCV grey decode differs from the app's by 5 grey levels
OPENCV_DIFFERS = "br35h/tumor_unspecified/y222.jpg"


def _every(folder: Path, n: int) -> list[Path]:
    files = sorted(folder.glob("*.jpg"))
    return files[:: max(1, len(files) // n)][:n]


@pytest.fixture(scope="module")
def sample(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real training files of every source, plus the same real pictures as PNG, real DICOM
    files, and a NIfTI volume made from the real DICOM series."""
    data = shared_dir / "data"
    out: dict[str, Path] = {}
    for sub in ("sartaj/Training/glioma_tumor", "sartaj/Testing/no_tumor", "br35h/no_tumor",
                "figshare/meningioma", "brats2018/glioma", "openneuro_ds002748/no_tumor",
                "ixi/no_tumor"):  # fmt: skip
        for f in _every(data / sub, 3):
            out[str(f.relative_to(data))] = f
    out[OPENCV_DIFFERS] = data / OPENCV_DIFFERS
    tmp = tmp_path_factory.mktemp("parity")
    for key in ("sartaj/Training/glioma_tumor", "figshare/meningioma"):
        src = next(v for k, v in out.items() if k.startswith(key))
        png = tmp / f"{src.stem}.png"
        with Image.open(src) as im:
            im.save(png)  # the same pixels, lossless
        out[f"png:{key}"] = png
    series = sorted((shared_dir / "dicom" / "t1_head_axial").glob("*.dcm"))
    out["dicom:t1_head_axial"] = series[4]
    out["dicom:emri_small"] = shared_dir / "dicom" / "emri_small" / "emri_small.dcm"
    pydicom = pytest.importorskip("pydicom")
    nib = pytest.importorskip("nibabel")
    vol = np.stack([pydicom.dcmread(f).pixel_array for f in series], axis=-1).astype(np.int16)
    nii = tmp / "t1_head.nii.gz"
    nib.save(nib.Nifti1Image(np.transpose(vol, (1, 0, 2)), np.eye(4)), nii)
    out["nifti:t1_head"] = nii
    png16 = tmp / "t1_16bit.png"
    Image.fromarray(pydicom.dcmread(series[4]).pixel_array.astype(np.uint16)).save(png16)
    out["png16:t1_head_axial"] = png16
    return out


def test_sample_covers_every_kind(sample: dict[str, Path]) -> None:
    modes = set()
    for p in sample.values():
        if p.suffix in (".jpg", ".png"):
            with Image.open(p) as im:
                modes.add(im.mode)
    assert {"RGB", "L"} <= modes and any(m.startswith("I") for m in modes)
    assert {p.suffix for p in sample.values()} >= {".jpg", ".png", ".dcm", ".gz"}


def test_cache_input_is_the_apps_input(sample: dict[str, Path]) -> None:
    """Decoded slice bit for bit; cached uint8 exactly round(255 * the app's geometric);
    network input within the uint8 rounding bound (training.parity's docstring)."""
    bad = [r for r in (input_parity(p, SIZE) for p in sample.values()) if not r.ok]
    assert not bad, bad


def _opencv_grey(path: Path, p: object = None) -> NDArray[np.float32] | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if img is None else img.astype(np.float32) / 255.0


def test_fails_when_training_decodes_otherwise(
    sample: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training's old decoder (OpenCV's grey flag) would be caught."""
    monkeypatch.setattr(cache, "read_grey", _opencv_grey)
    r = input_parity(sample[OPENCV_DIFFERS], SIZE)
    assert not r.ok and not r.decoded_equal and r.cached_mismatch > 0


def test_fails_when_the_app_decodes_otherwise(
    sample: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app whose decoding moved away from the cache's would be caught as well."""

    def app_reading_like_opencv(path: Path, p: Preprocessing | None = None) -> Slice:
        s = read_first(path, p)
        grey = _opencv_grey(path)
        assert grey is not None
        return Slice(0, grey, s.window, colour=s.colour)

    monkeypatch.setattr("training.parity.read_first", app_reading_like_opencv)
    r = input_parity(sample[OPENCV_DIFFERS], SIZE)
    assert not r.ok and not r.decoded_equal
