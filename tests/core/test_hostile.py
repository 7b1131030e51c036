"""A hostile folder (generated here): every bad file costs one row, the rest is classified."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

from desktop.core.classifier import Classifier
from desktop.core.discovery import discover
from desktop.core.pipeline import Pipeline
from desktop.core.results import Status
from tests.core.factories import make_dicom, ramp, write_cv, write_dicom
from tests.phantoms import noisy_head


def brain_like(seed: int) -> np.ndarray:
    return noisy_head(seed, rx=60, ry=70)


def build_corpus(root: Path) -> dict[str, Status | None]:
    """Files and the status each must get (None: classified, any non-error status)."""
    root.mkdir()
    expect: dict[str, Status | None] = {}

    def good(name: str, img: np.ndarray) -> None:
        write_cv(root / name, img)
        expect[name] = None

    good("normal scan.png", brain_like(0))
    good("ünïcödé_脑.jpg", np.dstack([brain_like(1)] * 3))
    good("tiff16.tif", brain_like(2).astype(np.uint16) * 200)
    good("L" * 240 + ".png", brain_like(3))
    write_cv(root / "one_pixel.png", np.full((1, 1), 128, np.uint8))
    expect["one_pixel.png"] = Status.UNSUPPORTED  # blank
    (root / "zero.jpg").write_bytes(b"")
    rng = np.random.default_rng(9)
    (root / "random.jpg").write_bytes(rng.bytes(5000))
    (root / "random.dcm").write_bytes(rng.bytes(5000))
    jpg = write_cv(root / "full.jpg", brain_like(4)).read_bytes()
    (root / "full.jpg").unlink()
    (root / "half.jpg").write_bytes(jpg[: len(jpg) // 2])
    png = write_cv(root / "p.png", brain_like(5)).read_bytes()
    (root / "p.png").unlink()
    (root / "half.png").write_bytes(png[: len(png) // 2])
    bomb = bytearray(png)
    bomb[16:24] = struct.pack(">II", 50_000, 50_000)
    (root / "bomb.png").write_bytes(bytes(bomb))
    dcm = write_dicom(root / "ok.dcm", make_dicom(brain_like(6).astype(np.uint16) * 10))
    expect["ok.dcm"] = None
    (root / "half.dcm").write_bytes(dcm.read_bytes()[:-3000])
    write_dicom(root / "nopixels.dcm", make_dicom(ramp(dtype=np.uint16), with_pixels=False))
    odd = make_dicom(ramp(8, 8, np.uint16))
    odd.BitsAllocated, odd.BitsStored, odd.HighBit = 12, 12, 11
    write_dicom(root / "bits12.dcm", odd)
    (root / "anim.gif").write_bytes(b"GIF89a" + bytes(64))  # skipped as a non-image
    (root / "notes.txt").write_text("a report")  # skipped
    for name in ("zero.jpg", "random.jpg", "random.dcm", "half.jpg", "half.png", "bomb.png"):
        expect[name] = Status.ERROR
    for name in ("half.dcm", "nopixels.dcm"):
        expect[name] = Status.ERROR
    expect["bits12.dcm"] = Status.UNSUPPORTED  # "unsupported DICOM bits allocated (12)"
    return expect


def test_hostile_folder(tmp_path: Path, test_model_path: Path) -> None:
    root = tmp_path / "hostile"
    expect = build_corpus(root)
    (root / "loop").symlink_to(root, target_is_directory=True)
    found = discover([root])
    assert sorted(p.name for p in found.files) == sorted(expect)
    assert found.skipped == 2  # anim.gif, notes.txt (the loop is walked once, not counted)
    rows = list(Pipeline(Classifier.load(test_model_path)).run(found.files))
    assert [Path(r.path).name for r in rows] == [p.name for p in found.files]  # one row each
    by_name = {Path(r.path).name: r for r in rows}
    for name, status in expect.items():
        row = by_name[name]
        if status is None:
            assert row.status is not Status.ERROR and row.probabilities is not None, name
        else:
            assert row.status is status, (name, row.status, row.message)
        assert row.message == row.message.strip() and "Traceback" not in row.message
    assert by_name["bomb.png"].message == "image too large (50000 x 50000)"
    assert by_name["zero.jpg"].message == "empty file (0 bytes)"
    assert by_name["half.jpg"].message == "truncated JPEG"
    assert by_name["nopixels.dcm"].message == "DICOM without pixel data"
    assert by_name["random.dcm"].message == "not a DICOM file"
    assert by_name["one_pixel.png"].message == "blank image"


def test_file_vanishes_between_discovery_and_reading(tmp_path: Path, test_model_path: Path) -> None:
    write_cv(tmp_path / "a.png", brain_like(0))
    write_cv(tmp_path / "b.png", brain_like(1))
    files = discover([tmp_path]).files
    os.remove(tmp_path / "a.png")
    rows = list(Pipeline(Classifier.load(test_model_path)).run(files))
    assert [(Path(r.path).name, r.status, r.message) for r in rows][0] == (
        "a.png",
        Status.ERROR,
        "file not found",
    )
    assert rows[1].status is not Status.ERROR


def test_cmyk_jpeg(tmp_path: Path) -> None:
    image_mod = pytest.importorskip("PIL.Image")
    from desktop.core.readers import read_slices

    rgb = np.dstack([brain_like(0)] * 3)
    image_mod.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    (s,) = list(read_slices(tmp_path / "cmyk.jpg"))
    assert s.pixels.shape == (160, 160)
    assert np.corrcoef(s.pixels.ravel(), brain_like(0).ravel())[0, 1] > 0.9
