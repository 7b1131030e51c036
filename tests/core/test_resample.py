"""The numpy resize and the Pillow decoding give the pixels OpenCV gave (the model was
trained on OpenCV's), so dropping OpenCV from the app changed no network input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop.core import resample
from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import foreground_box, geometric
from desktop.core.readers import read_slices

cv2 = pytest.importorskip("cv2", reason="OpenCV (dev extra) is the reference")

SIZES = [(512, 512), (630, 630), (512, 441), (225, 225), (1024, 700), (201, 256), (3, 5)]


@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.parametrize("target", [96, 112, 128])
def test_equals_cv2_resize(h: int, w: int, target: int) -> None:
    img = np.random.default_rng(h * w + target).random((h, w), dtype=np.float32)
    scale = target / max(h, w)
    nh, nw = max(1, min(target, round(h * scale))), max(1, min(target, round(w * scale)))
    shrink = scale < 1
    ref = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    got = resample.resize(img, nh, nw, shrink=shrink)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_area_weights_sum_to_one_and_average_blocks() -> None:
    idx, wts = resample.area_taps(512, 112)
    np.testing.assert_allclose(wts.sum(axis=1), 1.0, atol=1e-6)
    img = np.kron(np.arange(16, dtype=np.float32).reshape(4, 4), np.ones((4, 4), np.float32))
    np.testing.assert_array_equal(resample.resize(img, 4, 4, shrink=True), img[::4, ::4])


def test_same_size_is_a_copy() -> None:
    img = np.random.default_rng(1).random((50, 60), dtype=np.float32)
    out = resample.resize(img, 50, 60, shrink=True)
    np.testing.assert_array_equal(out, img)
    assert out is not img


def test_geometric_equals_the_cv2_version() -> None:
    p = Preprocessing(input_size=112)
    img = np.zeros((480, 400), np.float32)
    img[60:420, 50:350] = np.random.default_rng(2).random((360, 300), dtype=np.float32) * 0.8 + 0.2
    out = geometric(img, p)
    t, b, left, r = foreground_box(img, p)
    crop = img[t:b, left:r]
    s = p.input_size
    scale = s / max(crop.shape)
    nh, nw = round(crop.shape[0] * scale), round(crop.shape[1] * scale)
    ref = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    y0, x0 = (s - nh) // 2, (s - nw) // 2
    np.testing.assert_allclose(out[y0 : y0 + nh, x0 : x0 + nw], ref, atol=1e-5)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".tif"])
def test_colour_files_decode_to_cv2_grey(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(3)
    bgr = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    path = tmp_path / f"c{suffix}"
    assert cv2.imwrite(str(path), bgr)
    ref = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2GRAY)
    (s,) = list(read_slices(path))
    np.testing.assert_array_equal(s.pixels, ref.astype(np.float32) / 255)


def test_rgba_png_alpha_over_black_as_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    bgra = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    path = tmp_path / "a.png"
    assert cv2.imwrite(str(path), bgra)
    grey = cv2.cvtColor(bgra, cv2.COLOR_BGRA2GRAY).astype(np.float32)
    ref = np.rint(grey * (bgra[:, :, 3] / np.float32(255))).astype(np.uint8)
    (s,) = list(read_slices(path))
    np.testing.assert_array_equal(s.pixels, ref.astype(np.float32) / 255)
    assert "alpha over black" in s.window
