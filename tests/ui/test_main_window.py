"""The main window end to end: drop a folder, keyboard, delete, no-model state."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop.core.results import Status
from desktop.ui import main_window
from desktop.ui.app import build_window
from desktop.ui.main_window import NO_MODEL, NOTICE_LINE, MainWindow
from desktop.ui.table.model import Column
from tests.ui.conftest import wait_preview


@pytest.fixture
def classifier(test_model_path: Path):
    from desktop.core.classifier import Classifier

    return Classifier.load(test_model_path)


@pytest.fixture
def window(qtbot, classifier) -> MainWindow:
    w = build_window(classifier)
    qtbot.addWidget(w)
    w.show()
    return w


def drop(window: MainWindow, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.table.mapTo(window, QPoint(40, 40)))
    actions = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    try:  # PySide6 >= 6.12 takes a QPointF (the QPoint form is deprecated there)
        enter = QDragEnterEvent(pos, actions, mime, buttons, mods)
    except TypeError:
        enter = QDragEnterEvent(pos.toPoint(), actions, mime, buttons, mods)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted() and window.table.drop_active  # the drop frame shows
    event = QDropEvent(
        pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, event)
    assert event.isAccepted() and not window.table.drop_active


def fill(qtbot, window: MainWindow, paths: list[Path]) -> None:
    with qtbot.waitSignal(window.controller.idle, timeout=30_000):
        drop(window, paths)
    qtbot.waitUntil(lambda: not window.preview_pending)  # the first row's preview, drawn next
    wait_preview(qtbot, window.preview)  # ... once its file is read off the GUI thread


def test_notice_always_visible(window: MainWindow) -> None:
    assert window.notice.isVisible()
    assert "Research use only" in window.notice.text()
    assert "not for diagnostic use" in NOTICE_LINE
    # the full notice (resources/notice.txt) is one hover away
    assert "not a medical device" in window.notice.toolTip()


def test_dropping_a_folder_fills_rows(qtbot, window: MainWindow, image_folder: Path) -> None:
    fill(qtbot, window, [image_folder])
    assert window.model.rowCount() == 7
    statuses = window.model.status_counts()
    assert statuses[Status.ERROR] == 1
    assert "7 slices" in window.counts.text() and "1 error" in window.counts.text()
    assert not window.progress.isVisible()
    # the same folder again: nothing new; a single file of it: still nothing new
    fill(qtbot, window, [image_folder / "slice_00.png"])
    assert window.model.rowCount() == 7


def test_a_drop_takes_its_local_files_only(qtbot, window: MainWindow, image_folder) -> None:
    web = QUrl("https://example.org/slice.png")
    mime = QMimeData()
    mime.setUrls([web, QUrl.fromLocalFile(str(image_folder / "slice_00.png"))])
    assert main_window._local_paths(mime) == [str(image_folder / "slice_00.png")]
    assert main_window._has_local_paths(mime)
    only_web = QMimeData()
    only_web.setUrls([web])
    assert main_window._local_paths(only_web) == []
    assert not main_window._has_local_paths(only_web)  # the window refuses such a drag
    assert not main_window._has_local_paths(None)


def test_sort_and_filter_through_the_window(qtbot, window: MainWindow, image_folder) -> None:
    fill(qtbot, window, [image_folder])
    window.table.sortByColumn(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    confs = [window.proxy.result_at(r).confidence for r in range(window.proxy.rowCount())]
    numbers = [c for c in confs if c is not None]
    assert numbers == sorted(numbers, reverse=True) and confs[-1] is None
    window.filters.status_box.setCurrentIndex(
        window.filters.status_box.findData(Status.ERROR.value)
    )
    assert window.proxy.rowCount() == 1
    assert window.proxy.result_at(0).path.endswith("broken.jpg")
    window.filters.status_box.setCurrentIndex(0)
    firm = [r for r in window.model.results() if r.status is Status.OK]
    assert firm, "the test model makes some firm calls on these images"
    some_class = firm[0].predicted_class
    window.filters.class_box.setCurrentIndex(window.filters.class_box.findData(some_class))
    shown = [window.proxy.result_at(r) for r in range(window.proxy.rowCount())]
    assert shown and all(r.predicted_class == some_class for r in shown)
    assert all(r.status is Status.OK for r in shown)
    assert "shown" in window.filters.shown.text()


def test_keyboard_moves_preview_and_delete_removes(qtbot, window, image_folder) -> None:
    fill(qtbot, window, [image_folder])
    window.table.sortByColumn(Column.FILE, Qt.SortOrder.AscendingOrder)
    window.table.setFocus()
    window.table.selectRow(0)
    assert window.preview.result is not None
    first = window.preview.result.path
    assert first.endswith("broken.jpg")
    assert window.preview.base is None  # an error row has no image to show
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    second = window.preview.result
    assert second is not None and second.path != first
    wait_preview(qtbot, window.preview)
    assert window.preview.base is not None and window.preview.cam is not None
    assert window.preview.bars[0].format().endswith("%")
    qtbot.keyClick(window.table, Qt.Key.Key_Delete)
    assert window.model.rowCount() == 6
    assert second.path not in window.model.paths()
    # a removed file may be classified again
    fill(qtbot, window, [Path(second.path)])
    assert window.model.rowCount() == 7


def test_heatmap_saves_png(qtbot, window, image_folder, tmp_path) -> None:
    fill(qtbot, window, [image_folder / "slice_01.png"])
    window.table.selectRow(0)
    out = tmp_path / "heat.png"
    assert window.preview.save_heatmap(out)
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (96, 96)
    offered = window.preview.default_heatmap_path()
    assert offered.name == "slice_01_frame0_heatmap.png"
    assert offered.parent != image_folder  # issue 16.11: not into the patient's folder


def test_first_result_is_previewed_at_once(qtbot, window, image_folder) -> None:
    fill(qtbot, window, [image_folder])
    assert window.table.currentIndex().row() == 0
    assert window.preview.result == window.proxy.result_at(0)


def test_no_model_opens_and_classifies_nothing(qtbot, image_folder: Path) -> None:
    window = MainWindow(None)
    qtbot.addWidget(window)
    window.show()
    assert window.model_banner is not None and window.model_banner.isVisible()
    assert NO_MODEL in window.model_banner.text()
    drop(window, [image_folder])
    assert window.model.rowCount() == 0
    assert not window.controller.is_busy()
    assert "No model installed" in window.statusBar().currentMessage()


def test_broken_model_says_why(qtbot) -> None:
    window = MainWindow(None, model_error="model metadata is not valid JSON")
    qtbot.addWidget(window)
    assert "could not be loaded" in window.model_banner.text()
    assert "not valid JSON" in window.model_banner.text()


def test_open_files_and_folder_dialogs(qtbot, window, image_folder, monkeypatch) -> None:
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QFileDialog

    assert window.open_files_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    picked = [str(image_folder / "slice_00.png"), str(image_folder / "slice_01.png")]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (picked, "")))
    with qtbot.waitSignal(window.controller.idle, timeout=30_000):
        window.open_files_action.trigger()
    assert window.model.rowCount() == 2
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(image_folder))
    )
    with qtbot.waitSignal(window.controller.idle, timeout=30_000):
        window.open_folder_action.trigger()
    assert window.model.rowCount() == 7  # the two already classified are not repeated


def test_multi_frame_preview_reads_the_file_once(qtbot, classifier, shared_dir):
    window = build_window(classifier)
    qtbot.addWidget(window)
    dcm = shared_dir / "dicom" / "emri_small" / "emri_small.dcm"
    with qtbot.waitSignal(window.controller.idle, timeout=30_000):
        window.classify([dcm])
    assert window.model.rowCount() == 10
    window.table.setFocus()
    window.table.selectRow(0)
    qtbot.waitUntil(lambda: not window.preview_pending)
    wait_preview(qtbot, window.preview)
    for _ in range(3):
        qtbot.keyClick(window.table, Qt.Key.Key_Down)
        assert not window.preview.loading  # the kept slices: shown at once
    assert window.preview.result.frame == 3
    assert window.preview.base is not None and window.preview.base.width() == 64
    # the first row was shown as it arrived; the rest from the kept slices
    assert window.preview.loader.reads == 1


def test_heatmap_toggle_and_opacity(qtbot, window, image_folder) -> None:
    fill(qtbot, window, [image_folder / "slice_02.png"])
    pane = window.preview
    assert pane.result is not None and pane.cam is not None
    assert "not a segmentation" in pane.caption.text()
    with_map = pane.composed()
    pane.show_heatmap.setChecked(False)
    assert pane.composed() == pane.base.convertToFormat(with_map.format())
    assert not pane.opacity.isEnabled()
    pane.show_heatmap.setChecked(True)
    pane.opacity.setValue(100)
    strong = pane.composed()
    pane.opacity.setValue(10)
    faint = pane.composed()
    assert strong != faint != with_map
    assert pane.view.image == faint  # what is on screen follows the slider


def test_closing_mid_run_stops_the_worker(qtbot, image_folder) -> None:
    from tests.ui.test_worker import GatedPipeline

    pipeline = GatedPipeline()
    window = MainWindow(None, pipeline=pipeline)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.controller.rows_arrived, timeout=10_000):
        window.classify([image_folder])
        pipeline.gate.release(1)
    assert window.controller.is_busy() and window.progress.isVisible()
    window.close()  # cancels and waits; the fixture checks the pool is idle
    assert len(pipeline.seen) == 1


def test_first_row_preview_follows_one_turn_later_and_yields_to_the_user(
    qtbot, window, image_folder
) -> None:
    """The automatic first-row selection draws the preview in the next event-loop turn
    (two short stalls instead of one long one); a row the user picks meanwhile wins."""
    fill(qtbot, window, [image_folder / "slice_01.png", image_folder / "slice_02.png"])
    first, second = window.proxy.result_at(0), window.proxy.result_at(1)
    window.table.setCurrentIndex(QModelIndex())
    assert window.preview.result is None
    window._select_first()
    assert window.table.currentIndex().row() == 0
    assert window.preview_pending and window.preview.result is None  # not yet drawn
    qtbot.waitUntil(lambda: window.preview.result == first)
    assert not window.preview_pending
    # again, but the user moves on before the deferred preview is drawn
    window.table.setCurrentIndex(QModelIndex())
    window._select_first()
    window.table.selectRow(1)
    assert window.preview.result == second and not window.preview_pending
    qtbot.wait(50)
    assert window.preview.result == second  # the stale first-row preview never lands


def test_a_missing_path_is_named(qtbot, window: MainWindow, image_folder: Path) -> None:
    """Issue 16.5: a path that does not exist is named, never dropped in silence."""
    gone = image_folder / "no_such_scan.dcm"
    with qtbot.waitSignal(window.controller.idle, timeout=30_000):
        window.classify([gone, image_folder / "slice_00.png"])
    assert window.model.rowCount() == 1
    text = window.statusBar().currentMessage()
    assert f"Not found: {gone}" in text and text.startswith("Done - 1 slice(s)")


def test_delete_updates_the_counts_at_once(qtbot, window: MainWindow) -> None:
    """Issue 16.7: after Delete the filter bar and status bar count what is left."""
    from desktop.ui.worker import to_row
    from tests.ui.conftest import make_result

    rows = [to_row(make_result(f"s{i:02d}.png")) for i in range(31)]
    rows.append(to_row(make_result("bad.jpg", Status.ERROR, probs=None, message="truncated")))
    window.model.append_rows(rows)
    assert window.filters.shown.text() == "32 rows" and "1 error" in window.counts.text()
    error_row = next(
        r
        for r in range(window.proxy.rowCount())
        if window.proxy.result_at(r).status is Status.ERROR
    )
    window.table.selectRow(error_row)
    window.remove_selected()
    assert window.filters.shown.text() == "31 rows"
    assert window.counts.text() == "31 cases: 31 tumour suspected · 31 slices: 31 ok"


def test_open_files_offers_all_files_first(qtbot, window: MainWindow, monkeypatch) -> None:
    """Issue 16.10: extensionless DICOM (IM1, IM2, ...) is visible in Open Files at once."""
    from PySide6.QtWidgets import QFileDialog

    seen: list[str] = []

    def dialog(parent, title, folder, filters, *args, **kwargs):
        seen.append(filters)
        return [], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(dialog))
    window.open_files_action.trigger()
    assert seen and seen[0].split(";;")[0] == "All files (*)"


def test_exports_start_in_the_last_export_folder(
    qtbot, window: MainWindow, image_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """Issue 16.11: the last export folder is remembered; Save PNG is offered there too."""
    from PySide6.QtWidgets import QFileDialog

    fill(qtbot, window, [image_folder / "slice_00.png"])
    starts: list[str] = []
    target = tmp_path / "exports"
    target.mkdir()

    def dialog(parent, title, start, *args, **kwargs):
        starts.append(start)
        return str(target / f"run{len(starts)}.csv"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(dialog))
    assert window.export("csv") and window.export("csv")
    assert Path(starts[0]).parent != target and Path(starts[1]).parent == target
    assert window.preview.default_heatmap_path().parent == target
