"""colourfulness: the chroma gate that keeps colour photographs out (limit 0.10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from desktop.core.readers import read_slices
from desktop.core.readers.common import colourfulness


def test_grey_stored_as_rgb_is_zero_and_pure_colour_is_one() -> None:
    grey = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16)[..., None], 3, axis=2)
    assert colourfulness(grey) == 0.0
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    assert colourfulness(red) == 1.0
    assert colourfulness(red.astype(np.uint16) * 257) == 1.0  # scaled by the dtype's max
    assert colourfulness(red.astype(np.float32) / 255) == 1.0
    assert colourfulness(np.zeros((16, 16), np.uint8)) == 0.0  # one plane: no colour


def test_value_is_the_mean_chroma_on_the_sampled_grid() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    img[::4, ::4, 1] = 102  # only the sampled pixels are coloured
    assert colourfulness(img) == 102 / 255
    assert colourfulness(img, step=1) == 102 / 255 / 16
    assert colourfulness(np.zeros((0, 0, 3), np.uint8)) == 0.0


def test_reader_measures_colour_before_greying(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    grey = np.repeat(photo[..., :1], 3, axis=2)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    (p,) = list(read_slices(tmp_path / "photo.png"))
    (g,) = list(read_slices(tmp_path / "grey.png"))
    assert p.colour > 0.3 and g.colour == 0.0
