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

import cv2
import numpy as np
from numpy.typing import NDArray

from desktop.core.discovery import discover

PHANTOM_SIZE = 512


def phantom(rng: np.random.Generator, size: int = PHANTOM_SIZE) -> NDArray[np.uint8]:
    """One brain-like axial slice (uint8 grey)."""
    img = np.zeros((size, size), np.float32)
    c = (size // 2 + int(rng.integers(-12, 13)), size // 2 + int(rng.integers(-12, 13)))
    ax = (int(size * rng.uniform(0.30, 0.38)), int(size * rng.uniform(0.36, 0.44)))
    angle = float(rng.uniform(-10, 10))
    cv2.ellipse(img, c, (ax[0] + 10, ax[1] + 10), angle, 0, 360, 0.85, -1)  # skull
    cv2.ellipse(img, c, ax, angle, 0, 360, 0.45, -1)  # brain
    noise = rng.normal(0, 1, (size // 16, size // 16)).astype(np.float32)
    texture = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC) * 0.06
    img = np.where(img == 0.45, img + texture, img)
    for side in (-1, 1):  # ventricles
        v = (c[0] + side * size // 22, c[1] - size // 40)
        cv2.ellipse(img, v, (size // 40, size // 11), angle + side * 12, 0, 360, 0.12, -1)
    if rng.random() < 0.75:  # lesion
        r = int(rng.integers(size // 30, size // 9))
        p = (
            c[0] + int(rng.integers(-ax[0] // 2, ax[0] // 2)),
            c[1] + int(rng.integers(-ax[1] // 2, ax[1] // 2)),
        )
        cv2.circle(img, p, r, float(rng.uniform(0.7, 0.95)), -1)
    noisy = cv2.GaussianBlur(img, (0, 0), 1.2) + rng.normal(0, 0.02, img.shape)
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
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise OSError(f"could not encode {path.name}")
        path.write_bytes(buf.tobytes())
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
