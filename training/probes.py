"""Out-of-distribution probe images: what must come out ``unsupported``.

Natural photographs (``../shared/weights/natural_images``), blank and noise images, a
synthetic document page, simple patterns, and broken versions of real brain slices
(grey levels inverted, tiles shuffled). All are float32 grey in [0, 1], as decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from desktop.core.inference import ReadError, Slice, read_first
from training.manifest import SHARED

Grey = NDArray[np.float32]

NATURAL_IMAGES = SHARED / "weights" / "natural_images"


def as_slice(pixels: Grey, colour: float = 0.0) -> Slice:
    return Slice(0, np.ascontiguousarray(pixels, dtype=np.float32), "probe", colour=colour)


def document_page(size: int = 512, seed: int = 0) -> Grey:
    """A white page with lines of black text, like a scanned letter."""
    rng = np.random.default_rng(seed)
    page = Image.new("L", (int(size * 0.75), size), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=15)
    words = ["Patient", "report", "MRI", "brain", "findings", "impression", "normal", "date"]
    y = 40
    while y < size - 20:
        line = " ".join(rng.choice(words, size=5))
        draw.text((20, y - 12), line, fill=0, font=font)
        y += int(rng.integers(22, 34))
    return np.asarray(page, dtype=np.float32) / 255.0


def gaussian_blur(img: Grey, sigma: float) -> Grey:
    """Separable Gaussian blur (kernel to 4 sigma, edges reflected)."""
    r = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(np.float32)
    out = np.pad(np.asarray(img, dtype=np.float32), r, mode="reflect")
    out = np.apply_along_axis(np.convolve, 0, out, k, mode="valid")
    out = np.apply_along_axis(np.convolve, 1, out, k, mode="valid")
    return np.ascontiguousarray(out, dtype=np.float32)


def shuffled_tiles(img: Grey, tiles: int = 6, seed: int = 0) -> Grey:
    """The image cut into tiles x tiles blocks put back in random order."""
    h, w = (img.shape[0] // tiles) * tiles, (img.shape[1] // tiles) * tiles
    th, tw = h // tiles, w // tiles
    blocks = [
        img[r * th : (r + 1) * th, c * tw : (c + 1) * tw]
        for r in range(tiles)
        for c in range(tiles)
    ]
    order = np.random.default_rng(seed).permutation(len(blocks))
    rows = [
        np.hstack([blocks[i] for i in order[r * tiles : (r + 1) * tiles]]) for r in range(tiles)
    ]
    return np.ascontiguousarray(np.vstack(rows), dtype=np.float32)


def synthetic_probes(size: int = 256, seed: int = 0) -> dict[str, Grey]:
    """Probes that need no files."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    checker = ((np.arange(size)[:, None] // 32 + np.arange(size)[None, :] // 32) % 2).astype(
        np.float32
    )
    return {
        "blank_black": np.zeros((size, size), np.float32),
        "blank_white": np.ones((size, size), np.float32),
        "blank_grey": np.full((size, size), 0.5, np.float32),
        "noise_uniform": rng.random((size, size), dtype=np.float32),
        "noise_gaussian_blur": gaussian_blur(rng.random((size, size), dtype=np.float32), 4),
        "document": document_page(2 * size, seed),
        "gradient": np.ascontiguousarray(0.5 * (xx + yy), dtype=np.float32),
        "checkerboard": checker,
    }


def natural_probes(folder: Path = NATURAL_IMAGES) -> dict[str, Slice]:
    """The natural photographs, read as the app reads them (colour measured), and their
    inverted versions; empty if the folder is absent."""
    out: dict[str, Slice] = {}
    if not folder.is_dir():
        return out
    for f in sorted(folder.iterdir()):
        try:
            s = read_first(f)
        except ReadError:
            continue
        out[f"natural_{f.stem}"] = s
        out[f"natural_{f.stem}_inverted"] = as_slice(1.0 - s.pixels, s.colour)
    return out


def distorted_probes(brains: Sequence[Grey]) -> dict[str, Grey]:
    """Real brain slices broken on purpose: grey levels inverted, tiles shuffled."""
    out: dict[str, Grey] = {}
    for i, b in enumerate(brains):
        out[f"brain{i}_inverted"] = np.ascontiguousarray(1.0 - b, dtype=np.float32)
        out[f"brain{i}_tiles_shuffled"] = shuffled_tiles(b, seed=i)
    return out


def all_probes(brains: Sequence[Grey] = ()) -> dict[str, Slice]:
    """Every probe by name (natural images only where ../shared is present)."""
    grey = {**synthetic_probes(), **distorted_probes(brains)}
    return {**natural_probes(), **{k: as_slice(v) for k, v in grey.items()}}
