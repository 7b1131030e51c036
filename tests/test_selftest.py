"""The installation self-test (desktop/selftest.py) from source, and the log set-up.

The frozen app runs the same code (scripts/build_and_smoke.sh checks that end to end).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from desktop import __version__, logging_setup, selftest
from desktop.core.classifier import file_sha256

REPO_ROOT = Path(__file__).resolve().parents[1]


def names(report: selftest.SelfTestReport) -> dict[str, selftest.Check]:
    return {c.name: c for c in report.checks}


def record(sha: str | None, version: str = __version__) -> dict[str, object]:
    model = None if sha is None else {"file": "models/x.onnx", "sha256": sha}
    return {"app_version": version, "model": model, "build_time": "t", "git_commit": "abc"}


# ---- the self-test ---------------------------------------------------------------------------


def test_passes_with_the_test_model_and_a_matching_build_record(test_model_path: Path) -> None:
    report = selftest.run_self_test(test_model_path, record(file_sha256(test_model_path)))
    checks = names(report)
    assert report.ok, report.render()
    assert report.reason == ""
    assert "matches the build record" in checks["model"].detail
    for key in selftest.PHANTOMS:
        assert checks[f"phantom {key}"].ok
    assert "DICOM VOI window" in checks["phantom dicom-j2k"].detail
    assert "8-bit JPEG, colour to grey" in checks["phantom jpeg"].detail
    assert "8-bit TIFF" in checks["phantom tiff"].detail
    assert checks["PNG vs the others"].ok
    assert checks["blank image"].detail == "refused as unsupported: blank image"
    assert "6 rows written and read back" in checks["CSV export"].detail
    assert report.render().splitlines()[-1].startswith("self-test PASSED")


def test_from_source_without_a_record_uses_the_sidecar_hash(
    test_model_path: Path, tmp_path: Path
) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(test_model_path.read_bytes())
    assert selftest.run_self_test(model, None).ok
    (tmp_path / "m.onnx.sha256").write_text(f"{'0' * 64}  m.onnx\n", encoding="utf-8")
    report = selftest.run_self_test(model, None)
    assert not report.ok
    assert "differs from m.onnx.sha256" in report.reason


def test_no_model_installed_fails_with_that_reason() -> None:
    report = selftest.run_self_test(None, record(None))
    assert not report.ok
    assert report.reason == "model: no model installed"
    assert "model loads" not in names(report)  # nothing was run without a model
    assert "FAILED - model: no model installed" in report.render()


def test_wrong_hash_fails_before_loading_the_model(test_model_path: Path) -> None:
    report = selftest.run_self_test(test_model_path, record("ab" * 32))
    assert not report.ok
    assert report.reason.startswith("model: test_model.onnx sha256 ")
    assert "differs from the build record (abababababababab...)" in report.reason
    assert "changed or damaged" in report.reason
    assert "model loads" not in names(report)


def test_a_model_the_build_did_not_record_fails(test_model_path: Path) -> None:
    report = selftest.run_self_test(test_model_path, record(None))
    assert not report.ok and "was not recorded at build time" in report.reason


def test_a_build_record_of_another_version_fails(test_model_path: Path) -> None:
    report = selftest.run_self_test(
        test_model_path, record(file_sha256(test_model_path), version="0.0.0-other")
    )
    assert not report.ok
    assert report.reason == f"build record: app {__version__} but the record says 0.0.0-other"


def test_a_corrupt_model_fails_at_loading(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model" * 100)
    report = selftest.run_self_test(bad, None)
    assert not report.ok
    assert report.reason.startswith("model loads: bad.onnx is not a usable ONNX model")


def test_build_info_is_read_from_json_or_none(tmp_path: Path) -> None:
    p = tmp_path / selftest.BUILD_INFO
    assert selftest.load_build_info(p) is None
    p.write_text("{broken", encoding="utf-8")
    assert selftest.load_build_info(p) is None
    p.write_text(json.dumps(record("cd" * 32)), encoding="utf-8")
    info = selftest.load_build_info(p)
    assert info is not None and info["model"]["sha256"] == "cd" * 32
    # a source checkout has no build record (build.spec writes it into the bundle only)
    assert selftest.load_build_info() is None


def test_phantom_is_a_head_like_image_and_samples_are_written(tmp_path: Path) -> None:
    img = selftest.phantom(128)
    assert img.shape == (128, 128) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0 and img.std() > 0.15
    assert img[0, 0] == 0.0 and img[64, 64] > 0.3  # background outside, tissue inside
    files = selftest.write_samples(tmp_path)
    assert sorted(files) == ["blank", "dicom", "dicom-j2k", "jpeg", "png", "tiff"]
    import pydicom

    plain, j2k = (pydicom.dcmread(files[k]) for k in ("dicom", "dicom-j2k"))
    assert j2k.file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
    assert np.array_equal(plain.pixel_array, j2k.pixel_array)


def test_main_exit_codes(test_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest.main(["--model", str(test_model_path)]) == 0
    assert "self-test PASSED" in capsys.readouterr().out
    assert selftest.main(["--model", str(test_model_path.with_name("missing.onnx"))]) == 1
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_dispatch_runs_the_self_test_without_qt_or_a_display(test_model_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    env["WAYLAND_DISPLAY"] = ""
    done = subprocess.run(
        [sys.executable, "-m", "desktop", "--self-test", "--model", str(test_model_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "[PASS] no display needed: Qt not loaded" in done.stdout


# ---- the log file --------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(logging_setup.DATA_DIR_ENV, str(tmp_path / "data"))
    root = logging.getLogger()
    level, hook = root.level, sys.excepthook
    yield tmp_path / "data"
    for h in list(root.handlers):
        if getattr(h, "_brain_mri_review", False):
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    sys.excepthook = hook


def test_redact_removes_paths_and_keeps_the_message() -> None:
    r = logging_setup.redact
    assert r("/data/Doe Jane/scan 1.dcm: truncated JPEG") == "<path>: truncated JPEG"
    assert r("cannot open 'C:\\Patients\\Doe^Jane\\a.dcm' now") == "cannot open '<path>' now"
    assert r("\\\\pacs\\share\\x.dcm: bad") == "<path>: bad"
    assert r("3/4 files, 0.5 s") == "3/4 files, 0.5 s"


def test_platform_data_dir_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(logging_setup.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert (
            logging_setup.data_dir() == tmp_path / "xdg" / "brain-mri-review" / "Brain MRI Review"
        )
    monkeypatch.setenv(logging_setup.DATA_DIR_ENV, str(tmp_path / "portable"))
    assert logging_setup.log_dir() == tmp_path / "portable" / "logs"


def test_log_file_rotates_and_holds_no_paths(data_dir: Path) -> None:
    path = logging_setup.setup_logging(stderr=False)
    assert path == data_dir / "logs" / logging_setup.LOG_NAME
    log = logging.getLogger("desktop.test")
    for i in range(9000):  # about 4.2 MB: more than MAX_BYTES * (BACKUPS + 1)
        log.info("filler line %d %s", i, "x" * 400)
    log.warning("%s: %s", "/home/clinic/Doe Jane/IM0001.dcm", "truncated JPEG")
    text = path.read_text(encoding="utf-8")
    rotated = sorted(p.name for p in path.parent.iterdir())
    assert rotated == [logging_setup.LOG_NAME] + [
        f"{logging_setup.LOG_NAME}.{i}" for i in range(1, logging_setup.BACKUPS + 1)
    ]
    assert all(p.stat().st_size <= logging_setup.MAX_BYTES for p in path.parent.iterdir())
    assert "Doe Jane" not in text and "<path>: truncated JPEG" in text
    assert "filler line 8999" in text


def test_uncaught_exception_is_logged_and_shown(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = logging_setup.setup_logging(stderr=False)
    shown: list[str] = []
    monkeypatch.setattr(logging_setup, "_show_dialog", shown.append)
    logging_setup.install_excepthook(path)
    try:
        raise FileNotFoundError("/mnt/pacs/Doe Jane/IM0002.dcm")
    except FileNotFoundError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    text = path.read_text(encoding="utf-8") if path else ""
    assert "CRITICAL desktop: uncaught exception" in text
    assert 'File "' in text and "test_selftest.py" in text  # the program's frames are kept
    assert "Doe Jane" not in text and "FileNotFoundError: <path>" in text
    assert len(shown) == 1 and str(path) in shown[0] and "Doe Jane" not in shown[0]


def test_crash_dialog_is_shown_once_at_a_time(
    qapp: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []

    def critical(parent: object, title: str, text: str) -> None:
        shown.append(title)
        logging_setup._show_dialog("the same error again, from inside the dialog")

    monkeypatch.setattr(QMessageBox, "critical", critical)
    logging_setup._show_dialog("first")
    logging_setup._show_dialog("later, after the first was closed")
    assert shown == ["Brain MRI Review - unexpected error"] * 2
