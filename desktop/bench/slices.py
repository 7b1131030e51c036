"""Benchmark inputs: image files from a folder, or synthetic brain-like phantoms.

Phantoms are written as PNG files so that every benchmark decodes real files: a
skull ring, grey brain tissue with smooth texture, dark ventricles and sometimes a
bright lesion, 512 x 512 like most of the training images.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from desktop.core import resample
from desktop.core.discovery import discover

PHANTOM_SIZE = 512


def _ellipse(
    img: NDArray[np.float32], c: tuple[int, int], axes: tuple[int, int], angle: float, value: float
) -> None:
    """Fill an ellipse (centre x, y; semi-axes; degrees) with ``value`` in place."""
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]].astype(np.float32)
    t = np.deg2rad(angle)
    dx, dy = xx - c[0], yy - c[1]
    u = dx * np.cos(t) + dy * np.sin(t)
    v = -dx * np.sin(t) + dy * np.cos(t)
    img[(u / max(axes[0], 1)) ** 2 + (v / max(axes[1], 1)) ** 2 <= 1.0] = value


def _blur(img: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """Separable Gaussian blur, edges extended."""
    r = int(3 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    pad = np.pad(img, r, mode="edge")
    rows = sum(k[i] * pad[i : i + img.shape[0], :] for i in range(2 * r + 1))
    return np.asarray(sum(k[i] * rows[:, i : i + img.shape[1]] for i in range(2 * r + 1)))


def phantom(rng: np.random.Generator, size: int = PHANTOM_SIZE) -> NDArray[np.uint8]:
    """One brain-like axial slice (uint8 grey)."""
    img = np.zeros((size, size), np.float32)
    c = (size // 2 + int(rng.integers(-12, 13)), size // 2 + int(rng.integers(-12, 13)))
    ax = (int(size * rng.uniform(0.30, 0.38)), int(size * rng.uniform(0.36, 0.44)))
    angle = float(rng.uniform(-10, 10))
    _ellipse(img, c, (ax[0] + 10, ax[1] + 10), angle, 0.85)  # skull
    _ellipse(img, c, ax, angle, 0.45)  # brain
    noise = rng.normal(0, 1, (size // 16, size // 16)).astype(np.float32)
    texture = resample.resize(noise, size, size, shrink=False) * 0.06
    img = np.where(img == np.float32(0.45), img + texture, img)
    for side in (-1, 1):  # ventricles
        v = (c[0] + side * size // 22, c[1] - size // 40)
        _ellipse(img, v, (size // 40, size // 11), angle + side * 12, 0.12)
    if rng.random() < 0.75:  # lesion
        r = int(rng.integers(size // 30, size // 9))
        p = (
            c[0] + int(rng.integers(-ax[0] // 2, ax[0] // 2)),
            c[1] + int(rng.integers(-ax[1] // 2, ax[1] // 2)),
        )
        _ellipse(img, p, (r, r), 0.0, float(rng.uniform(0.7, 0.95)))
    noisy = _blur(img, 1.2) + rng.normal(0, 0.02, img.shape)
    out: NDArray[np.uint8] = np.clip(noisy * 255.0, 0, 255).astype(np.uint8)
    return out


def write_phantoms(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` phantom PNG files in ``folder`` (a few distinct bases, each file shifted)."""
    rng = np.random.default_rng(seed)
    bases = [phantom(rng) for _ in range(min(n, 24))]
    out = []
    for i in range(n):
        img = np.roll(
            bases[i % len(bases)], (int(rng.integers(-20, 21)), int(rng.integers(-20, 21))), (0, 1)
        )
        img[0, 0] = i % 256  # every file has its own bytes
        path = folder / f"phantom_{i:05d}.png"
        Image.fromarray(img).save(path, format="PNG")
        out.append(path)
    return out


def folder_files(folder: Path, n: int | None = None) -> list[Path]:
    """Image files under ``folder`` (the app's own discovery), the first ``n``."""
    files = discover([folder]).files
    return files[:n] if n else files


@contextmanager
def phantom_folder(n: int, seed: int = 0) -> Iterator[tuple[Path, list[Path]]]:
    """A temporary folder with ``n`` phantom PNGs; removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="brain_mri_bench_"))
    try:
        yield tmp, write_phantoms(tmp, n, seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
