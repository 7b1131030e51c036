"""Every synthetic slice the tests use, in one place (numpy/OpenCV only; no files).

The app's own phantom and DICOM writer (used by the self-test too) are in
:mod:`desktop.samples`.
"""

from __future__ import annotations

import cv2
import numpy as np

from tests.core.factories import ramp


def brain_like(size: int = 96, seed: int = 0) -> np.ndarray:
    """A grey ellipse with a bright blob: enough structure for the test model."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.uint8)
    cv2.ellipse(img, (size // 2, size // 2), (size // 3, size * 2 // 5), 0, 0, 360, 110, -1)
    cx, cy = rng.integers(size // 3, 2 * size // 3, 2)
    cv2.circle(img, (int(cx), int(cy)), size // 10, 230, -1)
    noise = rng.normal(0, 8, img.shape)
    return np.clip(img + noise * (img > 0), 0, 255).astype(np.uint8)


def noisy_head(
    seed: int, size: int = 160, rx: float | None = None, ry: float | None = None
) -> np.ndarray:
    """uint8: a head-shaped ellipse (semi-axes ``rx``, ``ry``; default 0.38 and 0.44 of
    ``size``) filled with uniform noise between 90 and 150, on black."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    c = size / 2
    rx, ry = rx or 0.38 * size, ry or 0.44 * size
    head = ((xx - c) / rx) ** 2 + ((yy - c) / ry) ** 2 < 1
    img = head * (90 + 60 * rng.random((size, size)))
    return np.clip(img, 0, 255).astype(np.uint8)


def picture(k: int, h: int = 200, w: int = 260) -> np.ndarray:
    """uint8: a bright disk (radius and brightness grow with ``k``) over a grey ramp."""
    yy, xx = np.mgrid[0:h, 0:w]
    disk = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) < (30 + 8 * k) ** 2
    return np.clip(disk * (120 + 10 * k) + ramp(h, w) // (k + 2), 0, 255).astype(np.uint8)


def disks(n: int = 12) -> list[np.ndarray]:
    """float32 [0, 1]: ``n`` off-centre disks of random size and brightness, noisier each."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:64, 0:80] / 64.0
    out = []
    for k in range(n):
        r = rng.uniform(0.1, 0.4)
        disk = ((xx - 0.6) ** 2 + (yy - 0.5) ** 2 < r**2).astype(np.float32)
        out.append(np.clip(disk * rng.uniform(0.4, 1) + rng.random((64, 80)) * 0.1 * k, 0, 1))
    return [i.astype(np.float32) for i in out]


def synthetic_slice(seed: int, h: int = 200, w: int = 170) -> np.ndarray:
    """A head-like uint8 slice: bright skull ring around a blobby interior unique to the seed."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    r = ((yy - h / 2) / (h * 0.42)) ** 2 + ((xx - w / 2) / (w * 0.42)) ** 2
    tex = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 8)
    tex = cv2.GaussianBlur((tex > np.median(tex)).astype(np.float32), (0, 0), 2)
    img = np.where(r < 0.85, 0.15 + 0.75 * tex, 0.0) + np.where((r >= 0.85) & (r < 1), 0.9, 0)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


VARIANTS = {
    "flipped": lambda im: im[:, ::-1],
    "rotated90": lambda im: np.rot90(im),
    "resized": lambda im: cv2.resize(im, (im.shape[1] * 3 // 5, im.shape[0] * 3 // 5)),
    "upscaled_padded": lambda im: cv2.copyMakeBorder(
        cv2.resize(im, (im.shape[1] * 2, im.shape[0] * 2)), 30, 10, 50, 0, cv2.BORDER_CONSTANT
    ),
    "darker": lambda im: (im.astype(np.float32) * 0.7).astype(np.uint8),
}


def synthetic_volume(seed: int, d: int = 64, h: int = 180, w: int = 150) -> np.ndarray:
    """A head-like uint8 volume whose interior structure changes smoothly along z (a
    thresholded 3-D Gaussian random field, about 6 voxels across), sliced like an MRI."""
    rng = np.random.default_rng(seed)
    noise = rng.random((d, h, w)).astype(np.float32)
    f = [np.fft.fftfreq(n) for n in (d, h, w)]
    k2 = f[0][:, None, None] ** 2 + f[1][None, :, None] ** 2 + f[2][None, None, :] ** 2
    field = np.real(np.fft.ifftn(np.fft.fftn(noise) * np.exp(-2 * (np.pi * 6.0) ** 2 * k2)))
    tex = (field > np.median(field)).astype(np.float32)
    yy, xx = np.mgrid[:h, :w]
    r = ((yy - h / 2) / (h * 0.42)) ** 2 + ((xx - w / 2) / (w * 0.42)) ** 2
    out = []
    for z in range(d):
        t = cv2.GaussianBlur(tex[z], (0, 0), 2)
        img = np.where(r < 0.85, 0.15 + 0.75 * t, 0.0) + np.where((r >= 0.85) & (r < 1), 0.9, 0)
        out.append((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.stack(out)


def slice_image(label: str, rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """A uint8 'brain' ellipse with a class-dependent bright blob (none for no_tumor)."""
    img = np.zeros((size, size), np.float32)
    cv2.ellipse(img, (size // 2, size // 2), (size // 3, int(size / 2.6)), 0, 0, 360, 0.45, -1)
    spots = {"glioma": (0.35, 0.35), "meningioma": (0.65, 0.3), "pituitary": (0.5, 0.7)}
    if label in spots or label == "tumor":
        fy, fx = spots.get(label, spots[str(rng.choice(list(spots)))])
        cv2.circle(img, (int(fx * size), int(fy * size)), size // 9, 0.95, -1)
    img += rng.normal(0, 0.04, img.shape).astype(np.float32)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def lesion_phantom(centre: tuple[int, int], size: int = 160) -> np.ndarray:
    """float32: a dim brain ellipse with one bright round lesion at ``centre`` (x, y)."""
    img = np.zeros((size, size), np.float32)
    cv2.ellipse(img, (size // 2, size // 2), (60, 70), 0, 0, 360, 0.4, -1)
    cv2.circle(img, centre, 9, 0.95, -1)
    return img
