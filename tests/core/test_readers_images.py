"""PNG / JPEG / BMP / TIFF: every depth and colour type, and the failures in words."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.core.readers import ReadError, Slice, UnsupportedFile, read_slices, sniff
from tests.core.factories import ramp, write_cv, write_palette_png

LOSSLESS = [".png", ".bmp", ".tif"]


def one(path: Path) -> Slice:
    slices = list(read_slices(path))
    assert len(slices) == 1
    s = slices[0]
    assert s.frame == 0 and s.raw is None
    assert s.pixels.dtype == np.float32 and s.pixels.ndim == 2
    assert float(s.pixels.min()) >= 0.0 and float(s.pixels.max()) <= 1.0
    return s


@pytest.mark.parametrize("suffix", [*LOSSLESS, ".tiff"])
def test_grey_8bit_is_divided_by_255(tmp_path: Path, suffix: str) -> None:
    img = ramp()
    s = one(write_cv(tmp_path / f"g{suffix}", img))
    np.testing.assert_array_equal(s.pixels, img.astype(np.float32) / 255)
    assert s.window.startswith("8-bit")


def test_grey_jpeg_close_to_source(tmp_path: Path) -> None:
    img = ramp()
    s = one(write_cv(tmp_path / "g.jpg", img))
    assert s.pixels.shape == img.shape
    assert np.abs(s.pixels - img / 255).mean() < 0.03
    assert "JPEG" in s.window


@pytest.mark.parametrize("suffix", LOSSLESS)
def test_rgb_becomes_luminance(tmp_path: Path, suffix: str) -> None:
    g = ramp()
    bgr = np.dstack([255 - g, g // 2, g])
    s = one(write_cv(tmp_path / f"c{suffix}", bgr))
    expected = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    np.testing.assert_allclose(s.pixels, expected, atol=1e-6)
    assert "colour to grey" in s.window


def test_rgb_jpeg(tmp_path: Path) -> None:
    g = ramp()
    bgr = np.dstack([g, g, g])
    s = one(write_cv(tmp_path / "c.jpeg", bgr))
    assert np.abs(s.pixels - g / 255).mean() < 0.03


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_rgba_opaque_equals_rgb_and_alpha_darkens(tmp_path: Path, suffix: str) -> None:
    g = ramp()
    bgr = np.dstack([g, g, g])
    opaque = one(write_cv(tmp_path / f"o{suffix}", np.dstack([bgr, np.full_like(g, 255)])))
    np.testing.assert_allclose(opaque.pixels, g / 255, atol=1e-6)
    half = one(write_cv(tmp_path / f"h{suffix}", np.dstack([bgr, np.full_like(g, 128)])))
    np.testing.assert_allclose(half.pixels, np.rint(g * (128 / 255)) / 255, atol=1 / 255)
    assert "alpha" in half.window


def test_rgba_bmp(tmp_path: Path) -> None:
    g = ramp()
    s = one(write_cv(tmp_path / "a.bmp", np.dstack([g, g, g, np.full_like(g, 255)])))
    np.testing.assert_allclose(s.pixels, g / 255, atol=1e-6)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_uses_stated_percentile_window(tmp_path: Path, suffix: str) -> None:
    img = ramp(dtype=np.uint16, top=40000)
    s = one(write_cv(tmp_path / f"d{suffix}", img))
    lo, hi = np.percentile(img.astype(np.float64), [0.5, 99.5])
    expected = np.clip((img - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(s.pixels, expected, atol=1e-5)
    assert "16-bit" in s.window and "percentile 0.5-99.5" in s.window


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_is_read_at_8_bits_and_says_so(tmp_path: Path, suffix: str) -> None:
    # Pillow has no 16-bit colour mode: the high byte of each channel is kept (rare in MRI
    # exports, which are grey), and the window text says so
    g = ramp(dtype=np.uint16, top=60000)
    s = one(write_cv(tmp_path / f"c16{suffix}", np.dstack([g, g, g])))
    np.testing.assert_allclose(s.pixels, (g >> 8).astype(np.float32) / 255, atol=1 / 255 + 1e-6)
    assert "16-bit colour read at 8 bits" in s.window


def test_palette_png(tmp_path: Path) -> None:
    palette = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (200, 200, 200)]
    idx = (ramp() % 4).astype(np.uint8)
    s = one(write_palette_png(tmp_path / "p.png", idx, palette))
    lum = np.array([round(0.299 * r + 0.587 * g + 0.114 * b) for r, g, b in palette]) / 255
    np.testing.assert_allclose(s.pixels, lum[idx], atol=1 / 255)


def test_multipage_tiff_pages_are_frames(tmp_path: Path) -> None:
    pages = [ramp(), 255 - ramp()]
    ok, buf = cv2.imencodemulti(".tif", pages)
    assert ok
    path = tmp_path / "pages.tif"
    path.write_bytes(buf.tobytes())
    slices = list(read_slices(path))
    assert [s.frame for s in slices] == [0, 1]
    np.testing.assert_array_equal(slices[1].pixels, pages[1] / np.float32(255))


def test_non_ascii_path(tmp_path: Path) -> None:
    folder = tmp_path / "Hirnschnitt_ü_脑"
    folder.mkdir()
    s = one(write_cv(folder / "bild_é.png", ramp()))
    np.testing.assert_array_equal(s.pixels, ramp() / np.float32(255))


def test_content_wins_over_extension(tmp_path: Path) -> None:
    png_bytes = write_cv(tmp_path / "x.png", ramp()).read_bytes()
    (tmp_path / "looks_like.jpg").write_bytes(png_bytes)
    assert "PNG" in one(tmp_path / "looks_like.jpg").window


def read_error(path: Path) -> str:
    with pytest.raises(ReadError) as info:
        list(read_slices(path))
    msg = str(info.value)
    assert "Traceback" not in msg and msg
    return msg


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = write_cv(tmp_path / "ok.jpg", np.dstack([ramp()] * 3)).read_bytes()
    for cut in (200, len(data) // 2, len(data) - 2):
        (tmp_path / "t.jpg").write_bytes(data[:cut])
        assert read_error(tmp_path / "t.jpg") == "truncated JPEG"


def test_truncated_png(tmp_path: Path) -> None:
    data = write_cv(tmp_path / "ok.png", ramp()).read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    assert read_error(tmp_path / "t.png") == "truncated PNG"


def test_not_an_image_and_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("this is text, not pixels")
    assert read_error(tmp_path / "notes.png") == "not an image file"
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert read_error(tmp_path / "empty.jpg") == "empty file (0 bytes)"
    assert read_error(tmp_path / "missing.png") == "file not found"


def test_decompression_bomb_refused_from_header(tmp_path: Path) -> None:
    data = bytearray(write_cv(tmp_path / "ok.png", ramp()).read_bytes())
    data[16:24] = struct.pack(">II", 30_000, 25_000)
    (tmp_path / "bomb.png").write_bytes(bytes(data))
    assert read_error(tmp_path / "bomb.png") == "image too large (30000 x 25000)"
    bmp = bytearray(write_cv(tmp_path / "ok.bmp", ramp()).read_bytes())
    bmp[18:26] = struct.pack("<ii", 15_000, -15_000)
    (tmp_path / "bomb.bmp").write_bytes(bytes(bmp))
    assert read_error(tmp_path / "bomb.bmp") == "image too large (15000 x 15000)"


def test_corrupt_png_body(tmp_path: Path) -> None:
    data = bytearray(write_cv(tmp_path / "ok.png", ramp()).read_bytes())
    data[45:80] = bytes(35)  # inside the compressed data
    (tmp_path / "bad.png").write_bytes(bytes(data))
    assert "PNG" in read_error(tmp_path / "bad.png")


def test_sniff(tmp_path: Path) -> None:
    png = write_cv(tmp_path / "a.png", ramp())
    (tmp_path / "no_suffix").write_bytes(png.read_bytes())
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data.bin").write_bytes(bytes(200))
    assert sniff(png) and sniff(tmp_path / "no_suffix")
    assert sniff(tmp_path / "scan.NII.GZ")  # by name, even before it exists
    assert not sniff(tmp_path / "notes.txt") and not sniff(tmp_path / "data.bin")


def test_float_tiff_uses_percentile_window(tmp_path: Path) -> None:
    img = ramp(dtype=np.uint16, top=1000).astype(np.float32) / 4.0 - 50.0
    s = one(write_cv(tmp_path / "f.tif", img))
    lo, hi = np.percentile(img.astype(np.float64), [0.5, 99.5])
    np.testing.assert_allclose(s.pixels, np.clip((img - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert s.window.startswith("float32 TIFF, percentile 0.5-99.5")


def test_gif_is_recognised_but_unsupported(tmp_path: Path) -> None:
    (tmp_path / "anim.gif").write_bytes(b"GIF89a" + bytes(40))
    with pytest.raises(UnsupportedFile, match=r"unsupported image format \(GIF\)"):
        list(read_slices(tmp_path / "anim.gif"))
    assert not sniff(tmp_path / "anim.gif")


@pytest.mark.parametrize("suffix", [".bmp", ".tif", ".png"])
def test_palette_via_pillow(tmp_path: Path, suffix: str) -> None:
    image_mod = pytest.importorskip("PIL.Image")
    palette = [(0, 0, 0), (255, 0, 0), (0, 0, 255), (90, 200, 30)]
    idx = (ramp() % 4).astype(np.uint8)
    img = image_mod.fromarray(idx, mode="P")
    img.putpalette([v for c in palette for v in c] + [0] * (768 - 12))
    path = tmp_path / f"pal{suffix}"
    img.save(path)
    s = one(path)
    lum = np.array([0.299 * r + 0.587 * g + 0.114 * b for r, g, b in palette]) / 255
    np.testing.assert_allclose(s.pixels, lum[idx], atol=1.5 / 255)


def test_palette_png_with_transparency(tmp_path: Path) -> None:
    image_mod = pytest.importorskip("PIL.Image")
    idx = (ramp() % 2).astype(np.uint8)
    img = image_mod.fromarray(idx, mode="P")
    img.putpalette([200, 200, 200, 200, 200, 200] + [0] * 762)
    path = tmp_path / "trns.png"
    img.save(path, transparency=0)  # index 0 fully transparent
    s = one(path)
    np.testing.assert_allclose(s.pixels, np.where(idx == 0, 0.0, 200 / 255), atol=1.5 / 255)


def test_tiff_pages_are_size_checked_before_decoding(tmp_path: Path) -> None:
    ok, buf = cv2.imencodemulti(".tif", [ramp(), ramp()])
    assert ok
    data = bytearray(buf.tobytes())
    from desktop.core.readers.images import tiff_pages

    assert tiff_pages(bytes(data)) == [(64, 48), (64, 48)]
    # make the second page claim 40,000 x 48 pixels
    ifd = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[ifd : ifd + 2])[0]
    second = struct.unpack("<I", data[ifd + 2 + 12 * count : ifd + 6 + 12 * count])[0]
    n2 = struct.unpack("<H", data[second : second + 2])[0]
    for k in range(n2):
        e = second + 2 + 12 * k
        tag, typ = struct.unpack("<HH", data[e : e + 4])
        if tag == 256:
            fmt = "<H" if typ == 3 else "<I"
            data[e + 8 : e + 8 + struct.calcsize(fmt)] = struct.pack(fmt, 40_000)
    (tmp_path / "pages.tif").write_bytes(bytes(data))
    assert read_error(tmp_path / "pages.tif") == "image too large (40000 x 48)"
