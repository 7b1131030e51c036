"""Exports from the window: reviewer columns and provenance; patient identifiers only on request."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from desktop.core import export
from desktop.ui.app import build_window
from desktop.ui.main_window import MainWindow
from tests.core.factories import PATIENT_ID, PATIENT_NAME, make_dicom, write_dicom

STUDY_DATE = "20230917"


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    y, x = np.mgrid[0:64, 0:64]
    blob = 3000 * np.exp(-((x - 30) ** 2 + (y - 34) ** 2) / 200)
    ds = make_dicom((400 + blob).astype(np.uint16))
    ds.StudyDate = STUDY_DATE
    ds.PatientBirthDate = "19700101"
    write_dicom(folder / "head.dcm", ds)
    return folder


def open_window(qtbot, test_model_path: Path, scans: Path) -> MainWindow:
    from desktop.core.classifier import Classifier

    w = build_window(Classifier.load(test_model_path))
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.controller.idle, timeout=30_000):
        w.classify([scans])
    assert w.model.rowCount() == 1
    return w


def export_to(monkeypatch, window: MainWindow, path: Path) -> str:
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), ""))
    )
    assert window.export(path.suffix[1:])
    return path.read_text(encoding="utf-8")


def answer_warning(monkeypatch, button: QMessageBox.StandardButton) -> list[str]:
    asked: list[str] = []

    def warning(parent, title, text, *args, **kwargs):
        asked.append(text)
        return button

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    return asked


def test_no_identifiers_by_default(qtbot, monkeypatch, caplog, test_model_path, scans, data_dir):
    caplog.set_level(logging.DEBUG)
    window = open_window(qtbot, test_model_path, scans)
    window.table.selectRow(0)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_2)
    assert not window.review.identifiers_action.isChecked()
    csv_text = export_to(monkeypatch, window, data_dir.parent / "out.csv")
    json_text = export_to(monkeypatch, window, data_dir.parent / "out.json")
    row = export.read_csv(data_dir.parent / "out.csv")[0]
    assert list(row) == (
        export.CSV_COLUMNS
        + export.EXTRA_COLUMNS
        + export.REVIEW_COLUMNS
        + export.SLICE_CASE_COLUMNS
    )
    assert row["reviewer_class"] == "meningioma" and row["reviewed_at"]
    assert row["agreement"] in ("agree", "disagree", "no_model_call")
    assert row["model_sha256"] == window.classifier.sha256 and row["image_sha256"]
    assert "not for diagnostic use" in row["notice"].lower()
    doc = export.read_json(data_dir.parent / "out.json")
    assert doc["results"][0]["review"]["reviewer_class"] == "meningioma"
    assert doc["provenance"]["identifiers_included"] is False
    for text in (csv_text, json_text, caplog.text):
        for secret in (PATIENT_NAME, "Doe", PATIENT_ID, STUDY_DATE, "19700101"):
            assert secret not in text
    # nothing in the data folder holds them either (decisions and settings)
    for f in data_dir.rglob("*"):
        if f.is_file():
            assert PATIENT_ID.encode() not in f.read_bytes()


def test_identifiers_when_switched_on_last_one_session(
    qtbot, monkeypatch, test_model_path, scans, data_dir
):
    """Issue 16.8: the opt-in shows unmissably while on and does not survive a restart."""
    window = open_window(qtbot, test_model_path, scans)
    assert not window.identifiers_banner.isVisible()
    asked = answer_warning(monkeypatch, QMessageBox.StandardButton.Cancel)
    window.review.identifiers_action.trigger()  # the user backs out: stays off
    assert asked and not window.review.identifiers_action.isChecked()
    assert not window.identifiers_banner.isVisible()
    answer_warning(monkeypatch, QMessageBox.StandardButton.Ok)
    window.review.identifiers_action.trigger()
    assert window.review.identifiers_action.isChecked()
    assert window.identifiers_banner.isVisible()  # a red line over the table, not a checkmark
    assert "patient identifiers" in window.identifiers_banner.text()
    export_to(monkeypatch, window, data_dir.parent / "ids.csv")
    row = export.read_csv(data_dir.parent / "ids.csv")[0]
    assert (row["patient_id"], row["study_date"]) == (PATIENT_ID, STUDY_DATE)
    assert "patient identifiers" in window.statusBar().currentMessage()
    window.close()
    again = open_window(qtbot, test_model_path, scans)
    assert not again.review.identifiers_action.isChecked()  # the next session starts without
    assert not again.identifiers_banner.isVisible()
    text = export_to(monkeypatch, again, data_dir.parent / "plain.csv")
    assert PATIENT_ID not in text and "patient_id" not in text


def test_an_identifiers_choice_saved_by_an_older_version_is_dropped(
    qtbot, test_model_path, scans, data_dir
):
    from PySide6.QtCore import QSettings

    from desktop.ui.review.controller import IDENTIFIERS_KEY

    data_dir.mkdir(parents=True, exist_ok=True)
    old = QSettings(str(data_dir / "settings.ini"), QSettings.Format.IniFormat)
    old.setValue(IDENTIFIERS_KEY, True)
    old.sync()
    window = open_window(qtbot, test_model_path, scans)
    assert not window.review.identifiers_action.isChecked()
    assert "include_patient_identifiers" not in (data_dir / "settings.ini").read_text()
