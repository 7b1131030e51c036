"""Export from the window: CSV/JSON round trip, and a failed write keeps the data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from desktop.core import export
from desktop.core.results import Status
from desktop.ui.app import build_window
from desktop.ui.main_window import MainWindow


@pytest.fixture
def filled_window(qtbot, test_model_path: Path, image_folder: Path) -> MainWindow:
    from desktop.core.classifier import Classifier

    window = build_window(Classifier.load(test_model_path))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.idle, timeout=30_000):
        window.classify([image_folder])
    assert window.model.rowCount() == 7
    return window


def answer_save_dialog(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), ""))
    )


def test_csv_round_trip(monkeypatch, filled_window: MainWindow, tmp_path: Path) -> None:
    out = tmp_path / "results"  # no extension: the window adds .csv
    answer_save_dialog(monkeypatch, out)
    assert filled_window.export("csv")
    rows = export.read_csv(out.with_suffix(".csv"))
    assert len(rows) == 7
    assert list(rows[0])[: len(export.CSV_COLUMNS)] == export.CSV_COLUMNS
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["broken.jpg"]["status"] == "error" and by_name["broken.jpg"]["message"]
    table = {Path(r.path).name: r for r in filled_window.model.results()}
    for name, row in by_name.items():
        assert row["status"] == table[name].status.value
        if table[name].status is Status.OK:
            assert row["predicted_class"] == table[name].predicted_class
            assert float(row["confidence"]) == pytest.approx(table[name].confidence, abs=1e-4)
    assert all("not for diagnostic use" in r["notice"].lower() for r in rows)
    assert {r["model_file"] for r in rows} == {"test_model.onnx"}


def test_json_round_trip(monkeypatch, filled_window: MainWindow, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    answer_save_dialog(monkeypatch, out)
    assert filled_window.export("json")
    doc = export.read_json(out)
    assert "not for diagnostic use" in doc["notice"].lower()
    assert len(doc["results"]) == 7
    assert doc["provenance"]["model_sha256"] == filled_window.classifier.sha256


def test_failed_write_shows_message_and_keeps_rows(
    monkeypatch, filled_window: MainWindow, tmp_path: Path
) -> None:
    answer_save_dialog(monkeypatch, tmp_path / "no_such_folder" / "out.csv")
    shown: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "critical", staticmethod(lambda parent, title, text: shown.append(text))
    )
    assert not filled_window.export("csv")
    assert len(shown) == 1 and "no_such_folder" in shown[0]
    assert filled_window.model.rowCount() == 7
    assert not (tmp_path / "no_such_folder").exists()


def test_cancelled_dialog_writes_nothing(monkeypatch, filled_window, tmp_path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    assert not filled_window.export("json")
    assert list(tmp_path.glob("*.json")) == []
