"""The preview reads its file off the GUI thread and notices a file changed since it was
classified (issue 16, items 1 and 2)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from desktop.core.readers.common import Slice
from desktop.core.reread import FILE_CHANGED
from desktop.core.results import Status
from desktop.ui.app import build_window
from desktop.ui.main_window import MainWindow
from desktop.ui.preview.pane import PreviewPane
from tests.ui.conftest import brain_like, make_result, wait_preview


@pytest.fixture
def classifier(test_model_path: Path):
    from desktop.core.classifier import Classifier

    return Classifier.load(test_model_path)


def classify(qtbot, window: MainWindow, paths: list[Path]) -> None:
    with qtbot.waitSignal(window.controller.idle, timeout=30_000):
        window.classify(paths)
    qtbot.waitUntil(lambda: not window.preview_pending)
    wait_preview(qtbot, window.preview)


def test_an_overwritten_file_is_not_shown_beside_its_old_result(
    qtbot, classifier, tmp_path: Path
) -> None:
    f = tmp_path / "a.png"
    cv2.imwrite(str(f), brain_like(seed=1))
    window = build_window(classifier)
    qtbot.addWidget(window)
    classify(qtbot, window, [f])
    pane = window.preview
    (result,) = window.model.results()
    assert result.status is not Status.ERROR and pane.base is not None
    window.table.clearSelection()
    window.table.setCurrentIndex(window.proxy.index(-1, -1))
    cv2.imwrite(str(f), brain_like(seed=8))  # the same name, another picture
    with qtbot.waitSignal(pane.file_changed, timeout=10_000):
        window.table.selectRow(0)
        wait_preview(qtbot, pane)
    assert pane.base is None and pane.cam is None  # no new picture under the old verdict
    assert FILE_CHANGED in pane.verdict.text()
    assert not any(b.isEnabled() for b in pane.bars)
    # review is off for that row: keys and buttons save nothing under the old hash
    panel = pane.review
    assert not any(b.isEnabled() for b in panel.class_buttons)
    assert FILE_CHANGED in panel.state.text()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_1)
    window.review.set_class(classifier.spec.class_names[0])
    assert window.review.decisions() == {}


def test_the_file_is_read_off_the_gui_thread(qtbot) -> None:
    """A slow read (a big volume) does not block show_result; the picture follows."""
    release = threading.Event()
    threads: list[str] = []

    def slow_reader(path: Path) -> list[Slice]:
        threads.append(threading.current_thread().name)
        release.wait(10)
        return [Slice(frame=0, pixels=np.full((32, 32), 0.5, np.float32), window="")]

    pane = PreviewPane(reader=slow_reader)
    qtbot.addWidget(pane)
    start = time.perf_counter()
    pane.show_result(make_result("big.nii.gz"))
    took = time.perf_counter() - start
    assert took < 0.5 and pane.loading and pane.base is None
    assert pane.view.placeholder.startswith("Loading")
    with qtbot.waitSignal(pane.shown, timeout=10_000):
        release.set()
    assert pane.base is not None and not pane.loading
    assert threads and threads[0] != threading.main_thread().name
    pane.loader.wait()


def test_only_the_newest_row_is_read(qtbot) -> None:
    """Arrowing past rows of other files reads none of them but the last."""
    gate = threading.Event()
    read: list[str] = []

    def reader(path: Path) -> list[Slice]:
        gate.wait(10)
        read.append(path.name)
        return [Slice(frame=0, pixels=np.zeros((8, 8), np.float32), window="")]

    pane = PreviewPane(reader=reader)
    qtbot.addWidget(pane)
    for name in ("a.png", "b.png", "c.png", "d.png"):
        pane.show_result(make_result(name))
    with qtbot.waitSignal(pane.shown, timeout=10_000):
        gate.set()
    pane.loader.wait()
    assert pane.result is not None and pane.result.path.endswith("d.png")
    assert read[-1] == "d.png" and len(read) <= 2  # the first may have started already


def test_going_back_to_a_volume_does_not_read_it_again(qtbot, tmp_path: Path) -> None:
    """Rows of a volume and of a series selected in turn: the volume is decoded once.

    Reading it again on each return kept the shared core busy for most of a second and
    stalled the GUI thread for over 100 ms during a run (issue 16 item 2)."""
    volume = tmp_path / "volume.nii.gz"
    series = [tmp_path / f"IM{i}" for i in range(3)]
    for f in (volume, *series):
        f.write_bytes(b"x")
    read: list[str] = []

    def reader(path: Path) -> list[Slice]:
        read.append(path.name)
        frames = range(4) if path == volume else range(1)
        return [Slice(k, np.zeros((8, 8), np.float32), "") for k in frames]

    pane = PreviewPane(reader=reader)
    qtbot.addWidget(pane)
    folder = str(tmp_path)
    for step in range(6):
        name, frame = ("volume.nii.gz", step // 2) if step % 2 == 0 else (f"IM{step // 2}", 0)
        pane.show_result(make_result(name, frame=frame, folder=folder))
        wait_preview(qtbot, pane)
        assert pane.base is not None and pane.result is not None
        assert pane.result.frame == frame
    pane.loader.wait()
    assert read == ["volume.nii.gz", "IM0", "IM1", "IM2"]
    assert pane.loader.reads == 4
    # a file written since it was kept is read again
    volume.write_bytes(b"xy")
    pane.show_result(make_result("volume.nii.gz", frame=1, folder=folder))
    wait_preview(qtbot, pane)
    pane.loader.wait()
    assert read[-1] == "volume.nii.gz" and pane.loader.reads == 5


def test_the_kept_files_have_a_budget(qtbot, tmp_path: Path, monkeypatch) -> None:
    from desktop.ui.preview import loader

    monkeypatch.setattr(loader, "KEEP_FILES", 2)
    names = [f"f{i}.png" for i in range(4)]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    pane = PreviewPane(reader=lambda p: [Slice(0, np.zeros((8, 8), np.float32), "")])
    qtbot.addWidget(pane)
    for n in names:
        pane.show_result(make_result(n, folder=str(tmp_path)))
        wait_preview(qtbot, pane)
    pane.loader.wait()
    assert [Path(p).name for p in pane.loader.kept_files()] == names[-2:]
    monkeypatch.setattr(loader, "KEEP_BYTES", 1)  # the newest is kept whatever its size
    pane.show_result(make_result(names[0], folder=str(tmp_path)))
    wait_preview(qtbot, pane)
    pane.loader.wait()
    assert [Path(p).name for p in pane.loader.kept_files()] == names[:1]
