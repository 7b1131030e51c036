"""Property-based: mutated JPEG/PNG/DICOM bytes give valid slices or a ReadError, quickly.

Each format runs exactly ``EXAMPLES`` generated cases (``max_examples``; no example
database, so every run explores fresh cases) with a per-case deadline; the test checks
that they all ran and prints how many were read and how many were refused.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.readers import ReadError, open_file
from tests.core.factories import make_dicom, ramp, write_dicom

#: generated cases per format (3 formats: about 10-20 s in all on 2 idle cores)
EXAMPLES = 250
#: a single case may take at most this long (a hang fails the test)
DEADLINE = timedelta(seconds=10)
FORMATS = ("jpeg", "png", "dicom")
#: values that stress size and length fields when written over 2 or 4 bytes
INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 50_000, 0x7FFFFFFF, 0xFFFFFFFF)


@cache
def originals() -> dict[str, bytes]:
    import tempfile

    import cv2

    img = ramp(40, 56)
    out = {
        "jpeg": cv2.imencode(".jpg", np.dstack([img, img[::-1], img[:, ::-1]]))[1].tobytes(),
        "png": cv2.imencode(".png", ramp(40, 56, np.uint16, 4000))[1].tobytes(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        ds = make_dicom(np.stack([ramp(24, 20, np.uint16, 900)] * 2), slope=2.0, window=(400, 800))
        out["dicom"] = write_dicom(Path(tmp) / "a.dcm", ds).read_bytes()
    return out


position = st.one_of(st.integers(0, 700), st.integers(0, 1 << 20))  # headers are hit often
mutation = st.one_of(
    st.tuples(st.just("set"), position, st.integers(0, 255)),
    st.tuples(st.just("flip"), position, st.integers(0, 7)),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=48)),
    st.tuples(st.just("delete"), position, st.integers(1, 300)),
    st.tuples(st.just("duplicate"), position, st.integers(1, 200)),
    st.tuples(st.just("u16"), position, st.sampled_from(INTERESTING)),
    st.tuples(st.just("u32"), position, st.sampled_from(INTERESTING)),
    st.tuples(st.just("truncate"), position, st.just(0)),
)


def mutate(data: bytes, ops: list[tuple[str, int, object]]) -> bytes:
    b = bytearray(data)
    for op, where, arg in ops:
        i = where % max(1, len(b))
        if op == "set":
            b[i : i + 1] = bytes([int(arg)])  # type: ignore[call-overload]
        elif op == "flip":
            b[i : i + 1] = bytes([b[i] ^ (1 << int(arg))]) if i < len(b) else b""  # type: ignore[call-overload]
        elif op == "insert":
            b[i:i] = arg  # type: ignore[assignment]
        elif op == "delete":
            del b[i : i + int(arg)]  # type: ignore[call-overload]
        elif op == "duplicate":
            b[i:i] = b[i : i + int(arg)]  # type: ignore[call-overload]
        elif op in ("u16", "u32"):
            size = 2 if op == "u16" else 4
            value = int(arg) & ((1 << (8 * size)) - 1)  # type: ignore[call-overload]
            order = "big" if where % 2 else "little"
            b[i : i + size] = value.to_bytes(size, order)
        else:
            del b[max(1, i) :]
    return bytes(b)


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every whole chunk's CRC, so mutations reach the decoder, not the CRC check."""
    b, i = bytearray(data), 8
    while i + 12 <= len(b):
        n = int.from_bytes(b[i : i + 4], "big")
        if i + 12 + n > len(b):
            break
        b[i + 8 + n : i + 12 + n] = zlib.crc32(b[i + 4 : i + 8 + n]).to_bytes(4, "big")
        i += 12 + n
    return bytes(b)


def check_one(fmt: str, data: bytes, name: str, outcomes: Counter[str]) -> None:
    try:
        slices = list(open_file(Path(name), data))
    except ReadError as exc:
        text = str(exc)
        assert text and text == text.strip() and "\n" not in text and "Traceback" not in text
        outcomes["refused"] += 1
        return
    for s in slices:
        assert s.pixels.dtype == np.float32 and s.pixels.ndim == 2 and s.pixels.size > 0
        assert np.isfinite(s.pixels).all()
        assert 0.0 <= float(s.pixels.min()) <= float(s.pixels.max()) <= 1.0
    outcomes["read" if slices else "no slices"] += 1


def fuzzer(fmt: str, outcomes: Counter[str]) -> Callable[[], None]:
    suffix = {"jpeg": ".jpg", "png": ".png", "dicom": ".dcm"}[fmt]

    @settings(
        max_examples=EXAMPLES,
        deadline=DEADLINE,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        ops=st.lists(mutation, min_size=1, max_size=8),
        misnamed=st.booleans(),
        fix_crc=st.booleans(),
    )
    def run(ops: list[tuple[str, int, object]], misnamed: bool, fix_crc: bool) -> None:
        data = mutate(originals()[fmt], ops)
        if fmt == "png" and fix_crc:
            data = fix_png_crcs(data)
        # a misnamed file: content must win over the extension (or be refused in words)
        name = "x" + (".dcm" if misnamed and fmt != "dicom" else ".jpg" if misnamed else suffix)
        outcomes["examples"] += 1
        check_one(fmt, data, name, outcomes)

    return run


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_bytes_give_slices_or_read_error(fmt: str) -> None:
    outcomes: Counter[str] = Counter()
    fuzzer(fmt, outcomes)()
    assert outcomes["examples"] >= EXAMPLES  # every generated case ran (none were dropped)
    assert outcomes["refused"] + outcomes["read"] + outcomes["no slices"] == outcomes["examples"]
    print(f"\n{fmt}: {dict(outcomes)}")


def test_the_originals_are_readable() -> None:
    """The seeds themselves decode (so mutations start from valid files)."""
    for fmt, data in originals().items():
        name = {"jpeg": "a.jpg", "png": "a.png", "dicom": "a.dcm"}[fmt]
        slices = list(open_file(Path(name), data))
        assert len(slices) == (2 if fmt == "dicom" else 1), fmt


def test_an_unknown_value_representation_is_a_read_error() -> None:
    """Found by the fuzz test: one byte set to 0 in a DICOM header gives a tag an unknown
    VR, and pydicom raises NotImplementedError on reading it."""
    data = mutate(originals()["dicom"], [("set", 541, 0)])
    outcomes: Counter[str] = Counter()
    check_one("dicom", data, "x.dcm", outcomes)
    assert outcomes == {"refused": 1}


def test_an_unknown_value_representation_on_bits_allocated_is_a_read_error() -> None:
    """Found by the fuzz test a second time: the unknown VR on BitsAllocated (read after
    the size) raised NotImplementedError out of the reader; any element read is covered."""
    original = originals()["dicom"]
    at = original.find(b"\x28\x00\x00\x01US")  # (0028,0100) BitsAllocated, explicit VR
    assert at > 0
    data = mutate(original, [("set", at + 4, ord("Z"))])  # VR "ZS"
    outcomes: Counter[str] = Counter()
    check_one("dicom", data, "x.dcm", outcomes)
    assert outcomes == {"refused": 1}
