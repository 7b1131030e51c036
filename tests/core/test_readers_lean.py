"""Decoding less (issue 17 item 2): large JPEGs at reduced size for the network, and
DICOM/NIfTI without float64 or volume-sized copies, with the same numbers as before."""

from __future__ import annotations

from pathlib import Path

import cv2
import nibabel
import numpy as np
import pytest

import desktop.core.readers.dicom as dicom_reader
from desktop.core.classifier import Classifier
from desktop.core.inference import read_first
from desktop.core.model_spec import Preprocessing
from desktop.core.pipeline import Pipeline
from desktop.core.preprocess import decode_target, placement, to_input
from desktop.core.readers import DecodeTarget, open_file, read_slices
from desktop.core.readers.common import linear_window, percentile_window, percentiles
from tests.core.factories import make_dicom, write_cv, write_dicom
from tests.phantoms import noisy_head


def _jpeg(path: Path, size: int, colour: bool = False, seed: int = 0) -> Path:
    img = noisy_head(seed, size)
    if colour:
        img = np.dstack([img, img, np.clip(img.astype(int) + 4, 0, 255).astype(np.uint8)])
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


# --- JPEG at reduced size ---------------------------------------------------------------


def test_a_jpeg_twice_the_input_is_decoded_at_half_size(tmp_path: Path) -> None:
    f = _jpeg(tmp_path / "big.jpg", 512)
    p = Preprocessing(input_size=160)
    s = read_first(f, p)
    assert s.reduced == 2 and s.pixels.shape == (256, 256)
    # the crop of the reduced slice still needs no enlarging: the letterbox only shrinks
    assert placement(s.pixels, p).scale <= 1.0
    whole = read_first(f)
    assert whole.reduced == 1 and whole.pixels.shape == (512, 512)
    # 1/8 is tried first (64 px), but the head's crop there is under 64 px: 1/4 it is
    assert read_first(f, Preprocessing(input_size=64)).reduced == 4
    assert read_first(f, Preprocessing(input_size=48)).reduced == 8


def test_jpegs_smaller_than_twice_the_input_and_other_formats_are_decoded_whole(
    tmp_path: Path,
) -> None:
    p = Preprocessing(input_size=160)
    small = read_first(_jpeg(tmp_path / "small.jpg", 300), p)
    assert small.reduced == 1 and small.pixels.shape == (300, 300)
    png = read_first(write_cv(tmp_path / "big.png", noisy_head(1, 512)), p)
    assert png.reduced == 1 and png.pixels.shape == (512, 512)


def test_a_reduced_slice_too_small_for_the_crop_is_decoded_again_finer(tmp_path: Path) -> None:
    """A small head in a large picture: at 1/2 its crop would be under the input size."""
    img = np.zeros((512, 512), np.uint8)
    img[160:352, 160:352] = noisy_head(3, 192)  # a 192 px head: 96 px at 1/2
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    f = tmp_path / "small_head.jpg"
    f.write_bytes(buf.tobytes())
    p = Preprocessing(input_size=128)  # 1/4 first (128 px), then 1/2 (crop 96 < 128), then 1
    s = read_first(f, p)
    assert s.reduced == 1 and s.pixels.shape == (512, 512)
    # an even smaller input fits the 1/2 decode's crop: decoded once more, finer than 1/4
    s = read_first(f, Preprocessing(input_size=80))
    assert s.reduced == 2


def test_colour_jpegs_stay_colour_when_reduced(tmp_path: Path) -> None:
    """The decoder is not asked for grey: grey is made as before (cv2's weights) and the
    colourfulness is measured on the colour picture."""
    f = _jpeg(tmp_path / "tinted.jpg", 512, colour=True)
    s = read_first(f, Preprocessing(input_size=160))
    assert s.reduced == 2 and "colour to grey" in s.window and s.colour > 0.0


def test_the_reduced_input_is_close_to_the_whole_one(tmp_path: Path) -> None:
    p = Preprocessing(input_size=160)
    for seed in range(3):
        f = _jpeg(tmp_path / f"h{seed}.jpg", 512, seed=seed)
        a = to_input(read_first(f).pixels, p)
        b = to_input(read_first(f, p).pixels, p)
        # noise textures differ pixel by pixel; the picture does not
        assert np.abs(a - b).mean() < 0.05


def test_the_pipeline_decodes_for_its_model(tmp_path: Path, test_model_path: Path) -> None:
    from desktop.core.readers import images

    seen: list[int] = []

    original = images._slices

    def spy(data: bytes, fmt: images.ImageFormat, reduce: int = 1):  # noqa: ANN202
        seen.append(reduce)
        return original(data, fmt, reduce)

    f = _jpeg(tmp_path / "big.jpg", 512)
    clf = Classifier.load(test_model_path)  # 32 px input: a 512 px JPEG at 1/8
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(images, "_slices", spy)
        rows = list(Pipeline(clf, workers=1).run([f]))
    assert len(rows) == 1 and rows[0].probabilities is not None
    assert seen and seen[-1] > 1


def test_decode_target_rule() -> None:
    t = DecodeTarget(160)
    assert [t.reduction(w, h) for w, h in [(319, 512), (320, 320), (640, 700), (1280, 1300)]] == [
        1,
        2,
        4,
        8,
    ]
    p = Preprocessing(input_size=32)
    assert decode_target(p).side == 32


# --- percentiles and windows without float64 copies ----------------------------------------


def _arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out: list[np.ndarray] = [
        np.array([-32768, 32767], np.int16),  # adjacent order statistics 65535 apart
        np.array([0] * 990 + [32767] * 10, np.int16),
        np.array([-0.3, 0.7, 1e-8] * 5, np.float32),
        np.array([np.nan, 1, 2, np.inf, -np.inf], np.float32),
        np.array([5], np.uint8),
    ]
    for k in range(60):
        n = int(rng.integers(1, 3000))
        out.append(
            [
                rng.normal(0, 1000, n).astype(np.float32),
                rng.choice(np.array([-32768, 0, 32767], np.int16), n),
                rng.integers(0, 65535, n).astype(np.uint16),
                np.where(rng.random(n) < 0.9, 0, rng.normal(0, 1e6, n)).astype(np.float32),
                rng.normal(0, 1, n),
                rng.integers(-(2**31), 2**31 - 1, n).astype(np.int32),
            ][k % 6]
        )
    return out


def _old_linear_window(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    out = (v > lo).astype(np.float32) if not hi > lo else (v - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def test_percentiles_are_numpys_on_float64_without_the_copy() -> None:
    for x in _arrays():
        f = np.asarray(x, dtype=np.float64)
        f = f[np.isfinite(f)]
        for q in [(0.5, 99.5), (1.0, 99.5), (0.0, 100.0), (50.0,)]:
            expected = tuple(float(v) for v in np.percentile(f, q))
            assert percentiles(x, q) == expected, (x.dtype, q)
    assert percentiles(np.array([np.nan], np.float32), (1.0,)) is None


def test_linear_window_is_unchanged_bit_for_bit() -> None:
    for x in _arrays():
        lo, hi = percentiles(x, (0.5, 99.5)) or (0.0, 0.0)
        for a, b in ((lo, hi), (lo, lo)):
            np.testing.assert_array_equal(linear_window(x, a, b), _old_linear_window(x, a, b))
    px, lo, hi = percentile_window(np.arange(100, dtype=np.int16).reshape(10, 10))
    assert px.dtype == np.float32 and (lo, hi) == (0.495, 98.505)


def test_nifti_int16_volume_is_windowed_slice_by_slice_as_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    vol = np.zeros((40, 48, 12), np.int16)
    vol[6:34, 5:43, 2:10] = rng.integers(100, 3000, size=(28, 38, 8))
    f = tmp_path / "v.nii.gz"
    nibabel.save(nibabel.Nifti1Image(vol, np.eye(4)), str(f))
    slices = list(read_slices(f))
    assert [s.frame for s in slices] == list(range(2, 10))
    lo, hi = np.percentile(vol.astype(np.float64), [0.5, 99.5])  # the old whole-volume way
    whole = _old_linear_window(vol.astype(np.float32), float(lo), float(hi))
    for s in slices:
        np.testing.assert_array_equal(s.pixels, np.ascontiguousarray(whole[::-1, ::-1, s.frame].T))
        assert s.pixels.flags.c_contiguous and s.pixels.dtype == np.float32


@pytest.mark.parametrize(("slope", "intercept"), [(1, 0), (1, -1024), (2, 5), (0.5, 0.25)])
def test_dicom_rescale_without_float64_gives_pydicoms_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slope: float, intercept: float
) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 4096, size=(40, 50)).astype(np.uint16)
    f = write_dicom(tmp_path / "ct.dcm", make_dicom(pixels, slope=slope, intercept=intercept))
    integer = float(slope).is_integer() and float(intercept).is_integer()
    assert dicom_reader._exact_in_float32(pixels, slope, intercept) is integer
    calls: list[int] = []
    real = dicom_reader.apply_modality_lut

    def pydicom_path(arr: np.ndarray, ds: object) -> np.ndarray:
        calls.append(1)
        return real(arr, ds)  # type: ignore[arg-type]

    monkeypatch.setattr(dicom_reader, "apply_modality_lut", pydicom_path)
    (fast,) = list(read_slices(f))
    assert bool(calls) is not integer  # integer rescales skip pydicom's float64 path
    monkeypatch.setattr(dicom_reader, "_exact_in_float32", lambda *a: False)
    (ref,) = list(read_slices(f))
    assert calls  # the reference really went through pydicom's float64 path
    np.testing.assert_array_equal(fast.raw, ref.raw)
    np.testing.assert_array_equal(fast.pixels, ref.pixels)


def test_open_file_takes_a_target(tmp_path: Path) -> None:
    f = _jpeg(tmp_path / "big.jpg", 512)
    (s,) = list(open_file(f, target=DecodeTarget(100)))
    assert s.reduced == 4 and s.pixels.shape == (128, 128)


def test_a_decoder_that_declines_to_scale_gives_a_whole_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``reduced`` says what the decoder did, not what was asked of it."""
    from PIL import JpegImagePlugin

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda self, mode, size: None)
    s = read_first(_jpeg(tmp_path / "big.jpg", 512), Preprocessing(input_size=160))
    assert s.reduced == 1 and s.pixels.shape == (512, 512)
