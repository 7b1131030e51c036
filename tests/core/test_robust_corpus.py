"""Issue 7's hostile corpus, generated here: every bad file costs one row, never the run.

``build_corpus`` writes each item of the issue list (plus good images) and returns what
each file must become: one row with a given status and message, or a skip counted by
discovery. ``test_whole_corpus`` runs it all through discovery and the pipeline.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.uid import UID

import desktop.core.pipeline as pl
from desktop.core.classifier import Classifier
from desktop.core.discovery import discover
from desktop.core.pipeline import Pipeline
from desktop.core.readers import images
from desktop.core.results import Status
from tests.core.factories import make_dicom, write_dicom
from tests.phantoms import noisy_head as brain_like

#: a good image is classified: any status but error, with probabilities (the tiny test
#: model may call a synthetic slice out-of-distribution, which is a classification too)
CLASSIFIED = (Status.OK, Status.UNCERTAIN, Status.UNSUPPORTED)
LONG_NAME = "N" * 246 + ".png"  # 250 characters
TIME_LIMIT = 1.0


@dataclass(frozen=True)
class Expect:
    """What one corpus file must give: ``statuses`` and a message containing ``message``."""

    statuses: tuple[Status, ...]
    message: str = ""


def encoded(suffix: str, img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(suffix, img)
    assert ok
    return buf.tobytes()


def animated_gif(path: Path) -> Path:
    from PIL import Image

    frames = [Image.fromarray(brain_like(k, 48)).convert("P") for k in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


def build_corpus(root: Path) -> tuple[dict[str, Expect], list[str]]:
    """Write the corpus into ``root``: (expected row per file name, names to be skipped)."""
    root.mkdir()
    expect: dict[str, Expect] = {}
    ok = Expect(CLASSIFIED)

    def put(name: str, data: bytes, e: Expect) -> None:
        (root / name).write_bytes(data)
        expect[name] = e

    # good images, including awkward names and formats
    put("scan with spaces.png", encoded(".png", brain_like(0)), ok)
    put("ünïcödé 脑部 スキャン.jpg", encoded(".jpg", np.dstack([brain_like(1)] * 3)), ok)
    put(LONG_NAME, encoded(".png", brain_like(2)), ok)
    put("sixteen_bit.tif", encoded(".tif", brain_like(3).astype(np.uint16) * 250), ok)
    from PIL import Image

    Image.fromarray(np.dstack([brain_like(4)] * 3)).convert("CMYK").save(root / "cmyk.jpg")
    expect["cmyk.jpg"] = ok
    dcm = write_dicom(root / "good.dcm", make_dicom(brain_like(5).astype(np.uint16) * 12))
    expect["good.dcm"] = ok
    put(
        "later_deleted.png",
        encoded(".png", brain_like(6)),
        Expect((Status.ERROR,), "file not found"),
    )
    put(
        "later_truncated.jpg",
        encoded(".jpg", brain_like(7)),
        Expect((Status.ERROR,), "truncated JPEG"),
    )
    put("later_swapped.png", encoded(".png", brain_like(8)), ok)
    put("stuck.png", encoded(".png", brain_like(9)), Expect((Status.ERROR,), "reading took longer"))
    put("locked.png", encoded(".png", brain_like(10)), Expect((Status.ERROR,), "permission denied"))

    # a 1 x 1 image is read, then refused by the classifier's blank check
    put("one_pixel.png", encoded(".png", np.full((1, 1), 128, np.uint8)),
        Expect((Status.UNSUPPORTED,), "blank image"))  # fmt: skip

    # empty, truncated, random
    empty = Expect((Status.ERROR,), "empty file (0 bytes)")
    for name in ("zero.jpg", "zero.png", "zero.dcm"):
        put(name, b"", empty)
    jpg, png = encoded(".jpg", brain_like(11)), encoded(".png", brain_like(12))
    put("half.jpg", jpg[: len(jpg) // 2], Expect((Status.ERROR,), "truncated JPEG"))
    put("half.png", png[: len(png) // 2], Expect((Status.ERROR,), "truncated PNG"))
    dcm_bytes = dcm.read_bytes()
    put("half.dcm", dcm_bytes[: len(dcm_bytes) - 5000],
        Expect((Status.ERROR,), "truncated DICOM pixel data"))  # fmt: skip
    rng = np.random.default_rng(7)
    put("random.jpg", rng.bytes(6000), Expect((Status.ERROR,), "not an image file"))
    put("random.dcm", rng.bytes(6000), Expect((Status.ERROR,), "not a DICOM file"))

    # decompression bomb: the header claims 50,000 x 50,000
    bomb = bytearray(png)
    bomb[16:24] = struct.pack(">II", 50_000, 50_000)
    put("bomb.png", bytes(bomb), Expect((Status.ERROR,), "image too large (50000 x 50000)"))

    # DICOM variants
    write_dicom(
        root / "no_pixels.dcm", make_dicom(brain_like(13).astype(np.uint16), with_pixels=False)
    )
    expect["no_pixels.dcm"] = Expect((Status.ERROR,), "DICOM without pixel data")
    mpeg = make_dicom(brain_like(14).astype(np.uint16))
    mpeg.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2 video
    mpeg.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"\xfe\xff\x00\xe0\x04\x00\x00\x00abcd"
    mpeg["PixelData"].is_undefined_length = True
    mpeg["PixelData"].VR = "OB"
    mpeg.save_as(root / "mpeg2.dcm", enforce_file_format=True)
    expect["mpeg2.dcm"] = Expect((Status.UNSUPPORTED,), "unsupported DICOM transfer syntax MPEG2")
    for bits in (12, 24):
        odd = make_dicom(brain_like(15, 16).astype(np.uint16))
        odd.BitsAllocated, odd.BitsStored, odd.HighBit = bits, bits, bits - 1
        write_dicom(root / f"bits{bits}.dcm", odd)
        expect[f"bits{bits}.dcm"] = Expect(
            (Status.UNSUPPORTED,), f"unsupported DICOM bits allocated ({bits})"
        )

    # an animated GIF is skipped by name; the same bytes named .png are one row
    animated_gif(root / "animated.gif")
    put("gif_named.png", (root / "animated.gif").read_bytes(),
        Expect((Status.UNSUPPORTED,), "unsupported image format (GIF)"))  # fmt: skip
    (root / "notes.txt").write_text("a report, not an image")
    (root / "export.csv").write_text("a,b\n1,2\n")
    (root / "loop").symlink_to(root, target_is_directory=True)
    return expect, ["animated.gif", "notes.txt", "export.csv"]


def test_whole_corpus(
    tmp_path: Path, test_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "hostile corpus"
    expect, skipped = build_corpus(root)

    # unreadable permissions (we run as root, where chmod does not bite): the read fails
    real_read_bytes = pathlib.Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.png":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)

    # a reader that never returns for one file: the per-file time limit makes it a row
    real_read_file, release = pl.read_file, threading.Event()

    def read_file(path: Path, target=None):  # noqa: ANN001, ANN202
        if path.name == "stuck.png":
            release.wait(60)
        return real_read_file(path, target)

    monkeypatch.setattr(pl, "read_file", read_file)

    # the bomb must be refused before any decoder sees it
    decoded: list[str] = []
    real_decode = images._decode

    def decode(data: bytes, fmt: images.ImageFormat, reduce: int = 1):  # noqa: ANN202
        decoded.append(hashlib.sha256(data).hexdigest())
        return real_decode(data, fmt, reduce)

    monkeypatch.setattr(images, "_decode", decode)

    found = discover([root])
    assert sorted(p.name for p in found.files) == sorted(expect)
    assert found.skipped == len(skipped)  # the loop is walked once, never counted or followed

    # changed between discovery and reading
    (root / "later_deleted.png").unlink()
    jpg = (root / "later_truncated.jpg").read_bytes()
    (root / "later_truncated.jpg").write_bytes(jpg[: len(jpg) // 3])
    swapped = encoded(".png", brain_like(99))
    (root / "later_swapped.png").write_bytes(swapped)

    start = time.monotonic()
    pipeline = Pipeline(Classifier.load(test_model_path), file_time_limit=TIME_LIMIT)
    try:
        rows = list(pipeline.run(found.files))
    finally:
        release.set()
    elapsed = time.monotonic() - start

    assert [Path(r.path).name for r in rows] == [p.name for p in found.files]  # one row each
    by_name = {Path(r.path).name: r for r in rows}
    for name, e in expect.items():
        row = by_name[name]
        assert row.status in e.statuses, (name, row.status, row.message)
        assert e.message in row.message, (name, row.message)
        assert row.message == row.message.strip() and "Traceback" not in row.message
        assert "\n" not in row.message and len(row.message) < 200
        if e.statuses == CLASSIFIED:
            assert row.probabilities is not None and row.thumbnail is not None, name
    assert by_name["later_swapped.png"].image_sha256 == hashlib.sha256(swapped).hexdigest()
    assert by_name["stuck.png"].message == f"reading took longer than {TIME_LIMIT:g} s; skipped"
    assert hashlib.sha256((root / "bomb.png").read_bytes()).hexdigest() not in decoded
    assert len(decoded) >= 5  # the decoder did run for the good PNG/JPEG files
    errors = sum(r.status is Status.ERROR for r in rows)
    assert pipeline.stats.files == len(expect) and pipeline.stats.unreadable_files == errors
    assert elapsed < 60  # nothing hangs: the stuck file costs about TIME_LIMIT
    counts = {s: sum(r.status is s for r in rows) for s in Status}
    print(f"\ncorpus: {len(expect) + len(skipped)} files, {len(rows)} rows, "
          f"{found.skipped} skipped, {counts}, {elapsed:.1f} s")  # fmt: skip


def test_files_given_one_by_one_each_give_one_row(tmp_path: Path, test_model_path: Path) -> None:
    """Explicitly dropped files are not filtered: even a GIF or a .txt gets its row."""
    root = tmp_path / "c"
    expect, skipped = build_corpus(root)
    names = [n for n in expect if n not in ("stuck.png", "locked.png")] + skipped
    rows = list(Pipeline(Classifier.load(test_model_path)).run(root / n for n in names))
    assert [Path(r.path).name for r in rows] == names
    by_name = {Path(r.path).name: r for r in rows}
    assert by_name["animated.gif"].status is Status.UNSUPPORTED
    assert by_name["animated.gif"].message == "unsupported image format (GIF)"
    assert by_name["notes.txt"].message == "not an image file"
    good = [r for n, r in by_name.items() if expect.get(n) == Expect(CLASSIFIED)]
    assert len(good) == 7 and all(r.probabilities is not None for r in good)


@pytest.mark.skipif(
    not hasattr(os, "fork") or os.geteuid() != 0, reason="needs root to drop to nobody"
)
def test_real_permission_denied_as_nobody(tmp_path: Path) -> None:
    """A mode-000 file read by an unprivileged process (fork, then setuid nobody)."""
    import tempfile

    from desktop.core.pipeline import read_file

    folder = Path(tempfile.mkdtemp(prefix="robust-perm-"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked.png"
        locked.write_bytes(encoded(".png", brain_like(0)))
        locked.chmod(0)
        (folder / "closed").mkdir(mode=0o700)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: drop privileges, read, report, exit without cleanup
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                row = read_file(locked).row
                found = discover([folder])
                msg = f"{row.status.value if row else 'none'}|{row.message if row else ''}|"
                msg += f"{len(found.files)}|{found.skipped}"
            except BaseException as exc:  # noqa: BLE001
                msg = f"crash|{type(exc).__name__}: {exc}"
            os.write(w, msg.encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as fh:
            out = fh.read().decode()
        os.waitpid(pid, 0)
    finally:
        for p in folder.iterdir():
            p.chmod(0o700)
        import shutil

        shutil.rmtree(folder)
    # locked.png: kept by discovery (sniffed by name), one error row; closed/: counted
    assert out == "error|permission denied|1|1", out


def test_multiframe_percentile_window_is_computed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long series without a VOI window: one percentile pass over the volume, not one
    per frame (that was quadratic: minutes for a few hundred frames)."""
    from desktop.core.readers import read_slices

    frames = np.stack([brain_like(k, 48).astype(np.uint16) * (k + 1) for k in range(60)])
    path = write_dicom(tmp_path / "series.dcm", make_dicom(frames))
    from desktop.core.readers import common

    calls: list[int] = []
    real = np.percentile
    real_percentiles = common.percentiles

    def percentiles(a, q):  # noqa: ANN001, ANN202
        calls.append(np.size(a))
        return real_percentiles(a, q)

    monkeypatch.setattr(common, "percentiles", percentiles)
    slices = list(read_slices(path))
    assert len(slices) == 60 and calls == [frames.size]
    finite = frames.astype(np.float64).ravel()
    lo, hi = real(finite, [0.5, 99.5])
    for k in (0, 30, 59):
        want = np.clip((frames[k].astype(np.float32) - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(slices[k].pixels, want, atol=1e-5)
