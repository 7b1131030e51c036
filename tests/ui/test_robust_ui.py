"""The window under faults: a broken model is explained, failed exports keep the data,
nothing is silently overwritten, and no network connection is ever opened."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from desktop.core import export
from desktop.ui import app
from desktop.ui.app import build_window
from desktop.ui.main_window import MainWindow
from tests.core.test_robust_model_cli import CASES, broken_model


@pytest.mark.parametrize("kind", ["missing", "truncated", "tampered"])
def test_broken_model_is_explained_in_the_window(
    kind: str, qtbot, monkeypatch, tmp_path: Path, test_model_path: Path
) -> None:
    model = broken_model(kind, tmp_path, test_model_path)
    boxes: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QMessageBox,
        "critical",
        staticmethod(lambda parent, title, text: boxes.append((title, text))),
    )
    # app.run as the user starts it, minus the blocking event loop (pytest-qt runs events)
    monkeypatch.setattr(QApplication, "exec", lambda *args: 0)
    assert app.run(["--model", str(model)]) == 0
    qtbot.waitUntil(lambda: len(boxes) == 1, timeout=10_000)  # the box is shown from the loop
    (window,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    qtbot.addWidget(window)
    assert boxes == [("The model could not be loaded", boxes[0][1])]
    assert CASES[kind] in boxes[0][1] and "Traceback" not in boxes[0][1]
    assert window.model_banner is not None and not window.model_banner.isHidden()
    assert CASES[kind] in window.model_banner.text()
    assert window.classifier is None and not window.controller.can_classify
    window.close()


@pytest.fixture
def filled_window(qtbot, test_model_path: Path, image_folder: Path) -> MainWindow:
    from desktop.core.classifier import Classifier

    window = build_window(Classifier.load(test_model_path))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.controller.idle, timeout=180_000):
        window.classify([image_folder])
    assert window.model.rowCount() == 7
    return window


def save_as(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), ""))
    )


def capture_boxes(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(
        QMessageBox, "critical", staticmethod(lambda parent, title, text: shown.append(text))
    )
    return shown


def test_full_disk_keeps_rows_and_the_old_file(
    monkeypatch, filled_window: MainWindow, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    out.write_text("yesterday's export\n")
    save_as(monkeypatch, out)  # the dialog asked and the user chose to replace it
    shown = capture_boxes(monkeypatch)
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    assert not filled_window.export("csv")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert len(shown) == 1 and "No space left on device" in shown[0]
    assert out.read_text() == "yesterday's export\n"  # atomic: the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "scans"]  # no temp
    assert filled_window.model.rowCount() == 7  # the data stays in the window
    assert filled_window.export("csv")  # and can be exported once there is space
    assert len(export.read_csv(out)) == 7


def test_read_only_folder_is_reported(monkeypatch, filled_window: MainWindow, tmp_path: Path):
    """A read-only folder (root ignores modes, so the temp-file creation is refused)."""
    import tempfile

    def refused(*args: object, **kwargs: object):  # noqa: ANN202
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    save_as(monkeypatch, tmp_path / "out.json")
    shown = capture_boxes(monkeypatch)
    assert not filled_window.export("json")
    assert len(shown) == 1 and "Permission denied" in shown[0] and "out.json" in shown[0]
    assert not (tmp_path / "out.json").exists()
    assert filled_window.model.rowCount() == 7


def test_completed_extension_never_overwrites_silently(
    monkeypatch, filled_window: MainWindow, tmp_path: Path
) -> None:
    """The dialog confirmed "results"; "results.csv" (which we add) was never asked about."""
    (tmp_path / "results.csv").write_text("precious\n")
    save_as(monkeypatch, tmp_path / "results")
    shown = capture_boxes(monkeypatch)
    assert not filled_window.export("csv")
    assert (tmp_path / "results.csv").read_text() == "precious\n"
    assert len(shown) == 1 and "already exists" in shown[0]
    assert filled_window.model.rowCount() == 7


def inet_socket_inodes() -> set[str]:
    """Inodes of this process's TCP/UDP sockets (Linux), whoever opened them (C++ too)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    inet = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        inet.update(line.split()[9] for line in lines if len(line.split()) > 9)
    return ours & inet


def test_window_and_pipeline_never_touch_the_network(
    qtbot, monkeypatch, test_model_path: Path, image_folder: Path, tmp_path: Path
) -> None:
    attempts: list[str] = []

    def refuse(name: str):  # noqa: ANN202
        def blocked(*args: object, **kwargs: object) -> None:
            attempts.append(name)
            raise OSError(errno.ENETUNREACH, f"network blocked by the test ({name})")

        return blocked

    for name in ("connect", "connect_ex", "sendto", "bind"):
        monkeypatch.setattr(socket.socket, name, refuse(name))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    before = inet_socket_inodes()

    from desktop.core.classifier import Classifier

    window = build_window(Classifier.load(test_model_path))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.controller.idle, timeout=180_000):
        window.classify([image_folder])
    assert window.model.rowCount() == 7
    window.table.selectRow(0)  # the preview reads the file again
    qtbot.wait(200)
    save_as(monkeypatch, tmp_path / "out.csv")
    assert window.export("csv") and len(export.read_csv(tmp_path / "out.csv")) == 7
    window.close()
    assert attempts == []
    assert inet_socket_inodes() - before == set()
