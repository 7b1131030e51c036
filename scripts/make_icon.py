"""Draw the app icon (resources/icon.png) and derive icon.ico (Windows) and icon.icns (macOS).

    .venv/bin/python scripts/make_icon.py [OUT_DIR]     (default: resources/)

A rounded tile with a stylised axial brain slice and a highlighted spot, drawn with
OpenCV at 4x and downsampled (anti-aliased). ICO and ICNS hold PNG images, which
every current Windows and macOS reads, so no image library beyond OpenCV is needed.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import cv2
import numpy as np

SS = 4  # supersampling
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {b"icp4": 16, b"icp5": 32, b"icp6": 64, b"ic07": 128, b"ic08": 256, b"ic09": 512}


def draw(size: int) -> np.ndarray:
    """The icon as BGRA uint8, ``size`` x ``size``."""
    n = size * SS
    img = np.zeros((n, n, 4), np.uint8)
    c = n // 2

    def s(v: float) -> int:
        return round(v * n)

    # rounded tile with a vertical blue gradient
    tile = np.zeros((n, n), np.uint8)
    r, m = s(0.18), s(0.04)
    cv2.rectangle(tile, (m + r, m), (n - m - r, n - m), 255, -1)
    cv2.rectangle(tile, (m, m + r), (n - m, n - m - r), 255, -1)
    for cx in (m + r, n - m - r):
        for cy in (m + r, n - m - r):
            cv2.circle(tile, (cx, cy), r, 255, -1, cv2.LINE_AA)
    grad = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    top, bottom = np.array([178, 110, 28]), np.array([110, 52, 14])  # BGR
    colour = (top * (1 - grad[..., None]) + bottom * grad[..., None]).astype(np.uint8)
    img[..., :3] = np.broadcast_to(colour, (n, n, 3))
    img[..., 3] = tile

    white = (250, 250, 250, 255)
    grey = (235, 225, 215, 255)
    axes = (s(0.30), s(0.36))
    cv2.ellipse(img, (c, c), axes, 0, 0, 360, grey, -1, cv2.LINE_AA)  # brain
    cv2.ellipse(img, (c, c), axes, 0, 0, 360, white, s(0.035), cv2.LINE_AA)  # skull
    cv2.line(img, (c, c - axes[1]), (c, c + axes[1]), (120, 70, 30, 255), s(0.018), cv2.LINE_AA)
    for side in (-1, 1):  # gyri and a ventricle per hemisphere
        for k, y in enumerate((-0.2, -0.04, 0.12, 0.26)):
            x0 = c + side * s(0.06 + 0.02 * (k % 2))
            x1 = c + side * s(0.22 - 0.03 * abs(y) * 4)
            cv2.ellipse(
                img,
                ((x0 + x1) // 2, c + s(y)),
                (abs(x1 - x0) // 2, s(0.03)),
                0,
                0 if side > 0 else 180,
                180 if side > 0 else 360,
                (150, 110, 80, 255),
                s(0.014),
                cv2.LINE_AA,
            )
        cv2.ellipse(
            img,
            (c + side * s(0.07), c + s(0.0)),
            (s(0.035), s(0.09)),
            side * 12,
            0,
            360,
            (120, 70, 30, 255),
            -1,
            cv2.LINE_AA,
        )
    spot = (c + s(0.14), c - s(0.17))
    cv2.circle(img, spot, s(0.075), (40, 170, 255, 255), -1, cv2.LINE_AA)  # finding (amber)
    cv2.circle(img, spot, s(0.075), white, s(0.016), cv2.LINE_AA)
    img[..., 3] = np.minimum(img[..., 3], tile)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def png_bytes(size: int) -> bytes:
    ok, buf = cv2.imencode(".png", draw(size), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def ico(sizes: tuple[int, ...] = ICO_SIZES) -> bytes:
    images = [png_bytes(sz) for sz in sizes]
    head = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, data = b"", b""
    for sz, im in zip(sizes, images, strict=True):
        dim = 0 if sz >= 256 else sz
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(im), offset + len(data))
        data += im
    return head + entries + data


def icns() -> bytes:
    body = b"".join(
        kind + struct.pack(">I", 8 + len(im)) + im
        for kind, im in ((k, png_bytes(sz)) for k, sz in ICNS_TYPES.items())
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "resources"
    out.mkdir(parents=True, exist_ok=True)
    (out / "icon.png").write_bytes(png_bytes(256))
    (out / "icon.ico").write_bytes(ico())
    (out / "icon.icns").write_bytes(icns())
    for name in ("icon.png", "icon.ico", "icon.icns"):
        print(f"{out / name}: {(out / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
