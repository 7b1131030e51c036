"""Window/level in the preview: changes what is shown, never what was classified."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from desktop.core.readers import read_slices
from desktop.core.readers.common import Windowing, WindowKind
from desktop.core.results import SliceResult
from desktop.ui.preview.pane import PreviewPane
from desktop.ui.preview.window_level import (
    AUTO,
    CLASSIFIER,
    CT_PRESETS,
    FULL_RANGE,
    Window,
    WindowLevelBar,
    apply_window,
    classifier_window,
)
from tests.core.factories import make_dicom, write_dicom
from tests.ui.conftest import wait_preview


def image_bytes(image: QImage | None) -> bytes:
    assert image is not None and not image.isNull()
    return bytes(image.convertToFormat(QImage.Format.Format_RGB32).constBits())


def gradient(h: int = 64, w: int = 80) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (x * 40 + y * 10).astype(np.uint16)  # 0 .. 3790


def test_classifier_window_is_a_record_on_the_slice(tmp_path: Path) -> None:
    """Issue 16.17: numbers on the slice, not a sentence parsed back with a regex."""
    assert classifier_window(Windowing(WindowKind.VOI_WINDOW, 40, 400)) == Window(40, 400)
    ranged = Windowing.from_range(WindowKind.PERCENTILE, 4, 358)
    assert classifier_window(ranged) == Window(181, 354)
    assert classifier_window(Windowing(WindowKind.VOI_LUT)) is None
    assert classifier_window(None) is None
    # the readers fill it in: the file's own window, and MONOCHROME1
    (s,) = read_slices(write_dicom(tmp_path / "w.dcm", make_dicom(gradient(), window=(1900, 3800))))
    assert s.windowing == Windowing(WindowKind.VOI_WINDOW, 1900, 3800)
    ds = make_dicom(gradient())
    ds.PhotometricInterpretation = "MONOCHROME1"
    (m1,) = read_slices(write_dicom(tmp_path / "m1.dcm", ds))
    assert m1.windowing is not None and m1.windowing.kind is WindowKind.PERCENTILE
    assert m1.windowing.inverted and m1.windowing.width > 0


def test_bar_presets_reset_and_drag(qtbot) -> None:
    bar = WindowLevelBar()
    qtbot.addWidget(bar)
    raw = gradient().astype(np.float32)
    bar.set_slice(raw, Windowing(WindowKind.VOI_WINDOW, 1000, 500))
    assert not bar.isHidden()
    items = [bar.presets.itemText(i) for i in range(bar.presets.count())]
    assert items == [CLASSIFIER, FULL_RANGE, AUTO]  # no CT presets for MR values
    assert bar.display() is None and bar.current() == Window(1000, 500)
    assert "C 1000" in bar.values.text() and not bar.reset_button.isEnabled()
    with qtbot.waitSignal(bar.changed):
        bar.presets.setCurrentText(FULL_RANGE)
        bar.presets.activated.emit(bar.presets.currentIndex())
    shown = bar.display()
    assert shown is not None and shown.min() == 0.0 and shown.max() == 1.0
    before = bar.current()
    bar.drag(40, -20)  # right widens, up lowers the centre (brighter)
    after = bar.current()
    assert after.width > before.width and after.centre < before.centre
    assert bar.presets.currentText() == "Custom" and bar.reset_button.isEnabled()
    bar.width_slider.setValue(bar.width_slider.value() // 2)
    assert bar.current().width < after.width
    bar.reset()
    assert bar.display() is None and bar.current() == Window(1000, 500)
    bar.set_slice(None)
    assert bar.isHidden()


def test_ct_presets_only_for_hounsfield_values(qtbot) -> None:
    bar = WindowLevelBar()
    qtbot.addWidget(bar)
    bar.set_slice(np.linspace(-1024, 2000, 400, dtype=np.float32).reshape(20, 20))
    items = [bar.presets.itemText(i) for i in range(bar.presets.count())]
    assert set(CT_PRESETS) <= set(items)
    bar.presets.setCurrentText("CT brain (C40 W80)")
    bar.presets.activated.emit(bar.presets.currentIndex())
    assert bar.current() == Window(40, 80)


def test_monochrome1_stays_inverted() -> None:
    raw = np.array([[0, 100]], np.float32)
    normal = apply_window(raw, Window(50, 100))
    assert normal[0, 0] < normal[0, 1]
    inverted = apply_window(raw, Window(50, 100), invert=True)
    assert inverted[0, 0] > inverted[0, 1]


@pytest.fixture
def dicom_result(tmp_path: Path, test_model_path: Path) -> tuple[SliceResult, object]:
    from desktop.core.classifier import Classifier
    from desktop.core.pipeline import Pipeline

    path = write_dicom(tmp_path / "grad.dcm", make_dicom(gradient(), window=(1900, 3800)))
    clf = Classifier.load(test_model_path)
    (result,) = list(Pipeline(clf).run([path]))
    return result, clf


def test_window_changes_the_picture_not_the_result(qtbot, dicom_result) -> None:
    result, clf = dicom_result
    before = (result.probabilities, result.predicted_class, result.window)
    pane = PreviewPane(clf.spec.class_names, clf.spec.preprocessing)
    qtbot.addWidget(pane)
    pane.show()
    pane.show_result(result)
    wait_preview(qtbot, pane)
    bar = pane.window_level
    assert bar.isVisible() and bar.current() == Window(1900, 3800)
    assert "C=1900" in pane.verdict.text()  # which window the classifier used
    original = image_bytes(pane.composed())
    rect = pane.cam_rect
    bar.set_window(Window(500, 400))
    changed = image_bytes(pane.composed())
    assert changed != original
    assert pane.cam_rect == rect and pane.cam is not None  # the heat map stays in place
    assert (result.probabilities, result.predicted_class, result.window) == before
    # what the classifier gets from this file is unchanged too
    again = clf.predict([pane._pixels])[0].probabilities
    assert np.allclose(again, result.probabilities, atol=1e-5)
    bar.reset()
    assert image_bytes(pane.composed()) == original
    # right-drag on the image changes the window too
    view = pane.view
    centre = QPointF(view.width() / 2, view.height() / 2)
    right, none = Qt.MouseButton.RightButton, Qt.MouseButton.NoButton
    mods = Qt.KeyboardModifier.NoModifier
    for kind, pos, button, buttons in (
        (QEvent.Type.MouseButtonPress, centre, right, right),
        (QEvent.Type.MouseMove, centre + QPointF(30, 25), none, right),
        (QEvent.Type.MouseButtonRelease, centre + QPointF(30, 25), right, none),
    ):
        QApplication.sendEvent(view, QMouseEvent(kind, pos, pos, button, buttons, mods))
    w = bar.current()
    assert w.width > 3800 and w.centre > 1900
    assert image_bytes(pane.composed()) != original


def test_no_window_controls_for_plain_images(qtbot, image_folder: Path) -> None:
    from tests.ui.conftest import make_result

    pane = PreviewPane()
    qtbot.addWidget(pane)
    pane.show()
    result = make_result("slice_00.png", folder=str(image_folder))
    sha = hashlib.sha256((image_folder / "slice_00.png").read_bytes()).hexdigest()
    pane.show_result(replace(result, image_sha256=sha))
    wait_preview(qtbot, pane)
    assert pane.base is not None and not pane.window_level.isVisible()


def test_window_stays_within_a_series(qtbot, tmp_path: Path, test_model_path: Path) -> None:
    from desktop.core.classifier import Classifier
    from desktop.core.pipeline import Pipeline

    series, other = tmp_path / "series", tmp_path / "other"
    series.mkdir()
    other.mkdir()
    files = [
        write_dicom(series / "a.dcm", make_dicom(gradient(), window=(1900, 3800))),
        write_dicom(series / "b.dcm", make_dicom(gradient() // 2, window=(950, 1900))),
        write_dicom(other / "c.dcm", make_dicom(gradient(), window=(1000, 500))),
    ]
    a, b, c = list(Pipeline(Classifier.load(test_model_path)).run(files))
    pane = PreviewPane()
    qtbot.addWidget(pane)
    pane.show()
    pane.show_result(a)
    wait_preview(qtbot, pane)
    pane.window_level.set_window(Window(700, 300))
    pane.show_result(b)  # next slice of the series: the chosen window stays, and is shown
    wait_preview(qtbot, pane)
    assert pane.window_level.current() == Window(700, 300)
    b_shown = image_bytes(pane.composed())
    pane.window_level.reset()
    assert image_bytes(pane.composed()) != b_shown
    pane.window_level.set_window(Window(700, 300))
    pane.show_result(c)  # another series: back to the classifier's window
    wait_preview(qtbot, pane)
    assert pane.window_level.current() == Window(1000, 500)
    assert pane.window_level.display() is None
