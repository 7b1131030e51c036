"""DICOM: rescale, windows, MONOCHROME1, multi-frame, compressed syntaxes, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import UID

from desktop.core.readers import ReadError, UnsupportedFile, read_slices, sniff
from tests.core.factories import PATIENT_ID, PATIENT_NAME, make_dicom, ramp, write_dicom

SYNTAXES = [
    "emri_small.dcm",
    "emri_small_RLE.dcm",
    "emri_small_big_endian.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
]


@pytest.mark.shared
def test_emri_five_transfer_syntaxes_decode_to_the_same_pixels(shared_dir: Path) -> None:
    decoded = {}
    for name in SYNTAXES:
        slices = list(read_slices(shared_dir / "dicom" / "emri_small" / name))
        assert [s.frame for s in slices] == list(range(10))
        decoded[name] = (np.stack([s.pixels for s in slices]), np.stack([s.raw for s in slices]))
    ref_px, ref_raw = decoded[SYNTAXES[0]]
    assert ref_px.shape == (10, 64, 64)
    assert ref_raw.max() > 100  # 12-bit data, not all zero
    assert len({ref_px[i].tobytes() for i in range(10)}) == 10  # frames differ
    for name in SYNTAXES[1:]:
        np.testing.assert_array_equal(decoded[name][1], ref_raw, err_msg=name)
        np.testing.assert_array_equal(decoded[name][0], ref_px, err_msg=name)


@pytest.mark.shared
def test_t1_head_axial_slices(shared_dir: Path) -> None:
    files = sorted((shared_dir / "dicom" / "t1_head_axial").glob("*.dcm"))
    assert len(files) == 10
    for f in files:
        (s,) = list(read_slices(f))
        assert s.pixels.shape == (384, 274) and s.pixels.dtype == np.float32
        assert s.pixels.min() == 0.0 and s.pixels.max() == 1.0
        assert s.pixels.std() > 0.1  # a head, not a flat image
        assert s.raw is not None and s.raw.shape == s.pixels.shape
        assert "percentile 0.5-99.5" in s.window


def test_rescale_then_window_centre_width(tmp_path: Path) -> None:
    stored = np.arange(0, 400, dtype=np.uint16).reshape(20, 20)
    ds = make_dicom(stored, slope=2.0, intercept=-100.0, window=(200.0, 201.0))
    (s,) = list(read_slices(write_dicom(tmp_path / "w.dcm", ds)))
    raw = stored * 2.0 - 100.0
    np.testing.assert_allclose(s.raw, raw)
    # PS3.3 C.11.2.1.2.1 linear window, c=200, w=201: 0 at <= 99.5 - 0.5, 1 above 299.5
    expected = np.clip((raw - 199.5) / 200.0 + 0.5, 0, 1)
    np.testing.assert_allclose(s.pixels, expected, atol=1e-6)
    assert s.pixels[raw <= 99].max() == 0.0 and s.pixels[raw >= 300].min() == 1.0
    assert s.window == "DICOM VOI window C=200,W=201"


def test_voi_lut_sequence(tmp_path: Path) -> None:
    stored = (np.arange(64, dtype=np.uint16) % 16).reshape(8, 8)
    lut = np.array([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000] + [1000] * 5)
    (s,) = list(read_slices(write_dicom(tmp_path / "lut.dcm", make_dicom(stored, voi_lut=lut))))
    np.testing.assert_allclose(s.pixels, lut[stored] / 1000.0, atol=1e-6)
    assert s.window == "DICOM VOI LUT"


def test_percentile_window_when_no_voi(tmp_path: Path) -> None:
    stored = ramp(dtype=np.uint16, top=3000)
    (s,) = list(read_slices(write_dicom(tmp_path / "p.dcm", make_dicom(stored))))
    lo, hi = np.percentile(stored.astype(np.float64), [0.5, 99.5])
    np.testing.assert_allclose(s.pixels, np.clip((stored - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert s.window.startswith("DICOM percentile 0.5-99.5")


def test_unreadable_window_falls_back_to_percentiles(tmp_path: Path) -> None:
    # hypothesis found a Window Center of "\x0000.0": pydicom raises ValueError on access
    stored = ramp(dtype=np.uint16, top=3000)
    ds = make_dicom(stored, window=(200.0, 400.0))
    path = write_dicom(tmp_path / "badwin.dcm", ds)
    data = path.read_bytes()
    at = data.index(b"\x28\x00\x50\x10DS") + 8  # (0028,1050) Window Center, explicit VR LE
    # its first character becomes NUL: same length, so the rest of the file stays valid
    path.write_bytes(data[:at] + b"\x00" + data[at + 1 :])
    (s,) = list(read_slices(path))
    lo, hi = np.percentile(stored.astype(np.float64), [0.5, 99.5])
    np.testing.assert_allclose(s.pixels, np.clip((stored - lo) / (hi - lo), 0, 1), atol=1e-5)
    assert s.window.startswith("DICOM percentile")


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    stored = ramp(dtype=np.uint16, top=1000)
    (m2,) = list(read_slices(write_dicom(tmp_path / "m2.dcm", make_dicom(stored))))
    ds = make_dicom(stored, photometric="MONOCHROME1")
    (m1,) = list(read_slices(write_dicom(tmp_path / "m1.dcm", ds)))
    np.testing.assert_allclose(m1.pixels, 1.0 - m2.pixels, atol=1e-6)
    assert "MONOCHROME1 inverted" in m1.window


def test_multiframe_every_frame_is_a_slice(tmp_path: Path) -> None:
    frames = np.stack([ramp(dtype=np.uint16, top=500 * (k + 1)) for k in range(3)])
    frames[1, :5] = 4000
    ds = make_dicom(frames)
    slices = list(read_slices(write_dicom(tmp_path / "mf.dcm", ds)))
    assert [s.frame for s in slices] == [0, 1, 2]
    for k, s in enumerate(slices):
        np.testing.assert_array_equal(s.raw, frames[k].astype(np.float32))
    # one percentile window for the whole file, so frames keep their relative brightness
    assert slices[0].pixels.mean() < slices[2].pixels.mean()


def test_dicom_recognised_by_content_not_extension(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "IM000001", make_dicom(ramp(dtype=np.uint16)))
    assert sniff(path)
    assert len(list(read_slices(path))) == 1


def read_error(path: Path) -> str:
    with pytest.raises(ReadError) as info:
        list(read_slices(path))
    msg = str(info.value)
    assert PATIENT_NAME not in msg and PATIENT_ID not in msg and "Traceback" not in msg
    return msg


def test_without_pixel_data(tmp_path: Path) -> None:
    ds = make_dicom(ramp(dtype=np.uint16), with_pixels=False)
    assert read_error(write_dicom(tmp_path / "sr.dcm", ds)) == "DICOM without pixel data"


def test_truncated_pixel_data(tmp_path: Path) -> None:
    data = write_dicom(tmp_path / "ok.dcm", make_dicom(ramp(dtype=np.uint16))).read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 1500])
    assert "truncated" in read_error(tmp_path / "cut.dcm")


def test_unsupported_transfer_syntax(tmp_path: Path) -> None:
    ds = make_dicom(ramp(dtype=np.uint16))
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2 video
    ds.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"\xfe\xff\x00\xe0\x04\x00\x00\x00abcd"
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    path = tmp_path / "mpeg.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(UnsupportedFile) as info:
        list(read_slices(path))
    assert str(info.value).startswith("unsupported DICOM transfer syntax MPEG2")


def test_damaged_header(tmp_path: Path) -> None:
    data = write_dicom(tmp_path / "ok.dcm", make_dicom(ramp(dtype=np.uint16))).read_bytes()
    (tmp_path / "head.dcm").write_bytes(data[:200])
    assert read_error(tmp_path / "head.dcm") in {
        "corrupt or truncated DICOM header",
        "DICOM without pixel data",
    }


def test_too_large_refused_before_decoding(tmp_path: Path) -> None:
    ds = make_dicom(ramp(dtype=np.uint16))
    ds.Rows, ds.Columns = 30_000, 30_000
    assert read_error(write_dicom(tmp_path / "big.dcm", ds)) == "image too large (30000 x 30000)"
