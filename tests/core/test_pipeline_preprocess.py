"""The faster ``as_unit_float`` / ``foreground_box`` give the network exactly the input the
previous implementations gave (the reference copies below are the code they replaced)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from desktop.core import preprocess
from desktop.core.model_spec import Preprocessing


def reference_as_unit_float(pixels: np.ndarray) -> np.ndarray:
    out = np.asarray(pixels, dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D grey slice, got shape {out.shape}")
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def reference_foreground_box(img: np.ndarray, p: Preprocessing) -> tuple[int, int, int, int]:
    h, w = img.shape
    mask = img > p.foreground_threshold
    rows = np.flatnonzero(mask.mean(axis=1) > 0.01)
    cols = np.flatnonzero(mask.mean(axis=0) > 0.01)
    if rows.size == 0 or cols.size == 0:
        return 0, h, 0, w
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (bottom - top) * (right - left) < 0.02 * h * w:
        return 0, h, 0, w
    my = int(round((bottom - top) * p.crop_margin))
    mx = int(round((right - left) * p.crop_margin))
    return max(0, top - my), min(h, bottom + my), max(0, left - mx), min(w, right + mx)


def reference_to_input(pixels: np.ndarray, p: Preprocessing) -> np.ndarray:
    from desktop.core import resample

    img = reference_as_unit_float(pixels)
    if p.crop_foreground:
        t, b, left, r = reference_foreground_box(img, p)
        img = img[t:b, left:r]
    s = p.input_size
    h, w = img.shape
    scale = s / max(h, w)
    nh, nw = max(1, min(s, round(h * scale))), max(1, min(s, round(w * scale)))
    resized = resample.resize(img, nh, nw, shrink=scale < 1)
    out = np.zeros((s, s), dtype=np.float32)
    y0, x0 = (s - nh) // 2, (s - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = resized
    return preprocess.normalise(out, p)


def slices(rng: np.random.Generator) -> list[np.ndarray]:
    """Brain-like, noisy, out-of-range, NaN/inf, integer and thin slices."""
    out = []
    for _ in range(20):
        h, w = rng.integers(20, 300, 2)
        img = np.zeros((h, w), np.float32)
        t, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
        img[t : t + h // 2, left : left + w // 2] = rng.random((h // 2, w // 2))
        out.append(img)
        out.append(rng.normal(0.3, 0.5, (h, w)).astype(np.float32))  # below 0 and above 1
    special = rng.random((64, 80)).astype(np.float32)
    special[rng.random(special.shape) < 0.1] = np.nan
    special[rng.random(special.shape) < 0.05] = np.inf
    special[rng.random(special.shape) < 0.05] = -np.inf
    special[0, 0] = -0.0
    out += [
        special,
        rng.integers(0, 2, (50, 70)).astype(np.uint8),
        rng.integers(0, 4096, (40, 40)).astype(np.uint16),
        rng.random((30, 50)).astype(np.float64) * 3 - 1,
        np.zeros((1, 200), np.float32),
        np.full((200, 1), 0.5, np.float32),
    ]
    return out


@pytest.mark.parametrize("crop", [True, False])
def test_network_input_is_unchanged(crop: bool) -> None:
    p = Preprocessing(input_size=112, crop_foreground=crop)
    for img in slices(np.random.default_rng(7)):
        u = preprocess.as_unit_float(img)
        ref = reference_as_unit_float(img)
        assert u.dtype == ref.dtype == np.float32
        np.testing.assert_array_equal(u, ref)
        assert np.array_equal(np.signbit(u), np.signbit(ref))
        assert preprocess.foreground_box(ref, p) == reference_foreground_box(ref, p)
        np.testing.assert_array_equal(preprocess.to_input(img, p), reference_to_input(img, p))


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    )
)
def test_unit_float_and_box_match_on_any_values(img: np.ndarray) -> None:
    np.testing.assert_array_equal(preprocess.as_unit_float(img), reference_as_unit_float(img))
    u = reference_as_unit_float(img)
    p = Preprocessing(input_size=112)
    assert preprocess.foreground_box(u, p) == reference_foreground_box(u, p)


def test_still_refuses_non_grey_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        preprocess.as_unit_float(np.zeros((4, 4, 3), np.float32))
