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
