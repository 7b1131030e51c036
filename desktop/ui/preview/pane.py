"""The preview pane: the selected slice large, its probabilities, and the heat map."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop.core.model_spec import CLASS_NAMES, Preprocessing
from desktop.core.reread import FILE_CHANGED
from desktop.core.results import SliceResult, Status
from desktop.ui.preview import heatmap
from desktop.ui.preview.image_view import ColourBar, ImageView
from desktop.ui.preview.loader import SliceLoader
from desktop.ui.preview.strip import SliceStrip
from desktop.ui.preview.window_level import WindowLevelBar
from desktop.ui.review.panel import ReviewPanel
from desktop.ui.table.model import slice_number
from desktop.ui.vocabulary import STATUS_WORDS, class_label, predicted_text

HEATMAP_CAPTION = "Heat map: where the network looked - a sanity check, not a segmentation."
CHANGED_TEXT = (
    f"The {FILE_CHANGED}: its picture is not shown beside the old result, and review is "
    "off for this row. Open it again to classify it anew."
)
NO_HEATMAP_UNSUPPORTED = "No heat map: the model cannot judge this input (unsupported)."


class PreviewPane(QWidget):
    """Shows one :class:`SliceResult`: the slice re-read from disk, the CAM over it."""

    heatmap_saved = Signal(str)
    #: the current row's picture (or why there is none) is on screen
    shown = Signal()
    #: the current row's file is not the one that was classified (a SliceResult)
    file_changed = Signal(object)
    #: the image asks for the previous (-1) or next (+1) slice of the case
    step_requested = Signal(int)

    def __init__(
        self,
        class_names: Iterable[str] = CLASS_NAMES,
        preprocessing: Preprocessing | None = None,
        reader: Callable[[Path], Iterable[Any]] | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.class_names = tuple(class_names)
        self.preprocessing = preprocessing
        #: reads files off the GUI thread and keeps the last one's slices, so arrowing
        #: through the frames of a multi-frame DICOM or a NIfTI volume reads it once
        self.loader = SliceLoader(
            (lambda path, _sha: reader(path)) if reader is not None else None, self
        )
        self.loader.loaded.connect(self._on_loaded)
        self._keep_window = False
        #: where Save PNG starts (the window sets it to the last export folder)
        self.default_folder: Callable[[], str] = lambda: str(Path.home())
        #: True while the current row's picture is being read
        self.loading = False
        self.result: SliceResult | None = None
        self._pixels: Any = None  # the classifier's pixels of the shown slice
        self.base: QImage | None = None
        self.cam: QImage | None = None
        self.cam_rect: QRectF | None = None
        self._build()
        self.show_result(None)

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        self.view = ImageView()
        #: the current case's calls along z (hidden for a single image)
        self.strip = SliceStrip()
        self.window_level = WindowLevelBar()
        self.review = ReviewPanel(self.class_names)
        self.show_heatmap = QCheckBox("Heat map")
        self.show_heatmap.setChecked(True)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.setToolTip("Heat-map opacity")
        self.opacity.setMinimumWidth(60)
        self.opacity.setMaximumWidth(140)
        self.colour_bar = ColourBar()
        self.save_button = QPushButton("Save PNG…")
        self.save_button.setToolTip("Save the slice with the heat map as PNG")
        controls = QHBoxLayout()
        controls.addWidget(self.show_heatmap)
        self.opacity_label = QLabel("Opacity")
        controls.addWidget(self.opacity_label)
        controls.addWidget(self.opacity, 1)
        controls.addStretch(0)
        controls.addWidget(self.save_button)
        self.caption = QLabel(HEATMAP_CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #606060; font-style: italic;")
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        probs = QGridLayout()
        self.bars: list[QProgressBar] = []
        for i, name in enumerate(self.class_names):
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            bar.setMaximumHeight(16)
            probs.addWidget(QLabel(class_label(name)), i, 0)
            probs.addWidget(bar, i, 1)
            self.bars.append(bar)
        box = QFrame()
        box.setFrameShape(QFrame.Shape.StyledPanel)
        box.setLayout(probs)
        self.setMinimumWidth(400)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.title)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.strip)
        lay.addWidget(self.window_level)
        lay.addLayout(controls)
        legend = QHBoxLayout()
        legend.addWidget(self.colour_bar, 0, Qt.AlignmentFlag.AlignTop)
        legend.addWidget(self.caption, 1)
        lay.addLayout(legend)
        lay.addWidget(self.verdict)
        lay.addWidget(box)
        lay.addWidget(self.review)
        self.view.window_dragged.connect(self.window_level.drag)
        self.view.stepped.connect(self.step_requested)
        self.window_level.changed.connect(self._on_window_changed)
        self.show_heatmap.toggled.connect(self._refresh)
        self.opacity.valueChanged.connect(self._refresh)
        self.save_button.clicked.connect(self._ask_save)

    # -- content --------------------------------------------------------------------------
    def show_result(self, result: SliceResult | None) -> None:
        """Show ``result`` (None clears the pane); the picture may follow a moment later.

        The file is read and decoded off the GUI thread (:class:`SliceLoader`), unless it
        is the file shown last; :attr:`shown` says when the picture is on screen.
        """
        previous, self.result = self.result, result
        self.base = self.cam = None
        self.cam_rect = None
        self._pixels = None
        self.loading = False
        if result is None:
            self.loader.cancel()
            self.title.setText("<b>No slice selected</b>")
            self.verdict.setText("")
            self._set_probabilities(None)
            self.view.set_image(None, "Select a row to see the slice")
            self.window_level.set_slice(None)
            self._update_controls()
            return
        self.title.setText(f"{_title(result)}<br><small>{result.path}</small>")
        self.verdict.setText(self._verdict_text(result))
        # an unsupported input's probabilities are no call: shown greyed, for the record
        self._set_probabilities(result.probabilities, valid=result.status is not Status.UNSUPPORTED)
        # the display window stays while moving through one series (folder or file)
        folder = Path(result.path).parent
        self._keep_window = previous is not None and Path(previous.path).parent == folder
        if result.status is Status.ERROR:
            self.loader.cancel()
            self._show_slice(None, "The file could not be read")
            return
        frames = self.loader.cached(result.path, result.image_sha256)
        if frames is not None:
            self._show_frames(frames, "")
            return
        self.loading = True
        self.view.set_image(None, "Loading…")
        self._update_controls()
        self.loader.request(result.path, result.image_sha256)

    def _on_loaded(
        self, path: str, sha256: str | None, frames: dict[int, Any] | None, problem: str
    ) -> None:
        r = self.result
        if r is None or (r.path, r.image_sha256) != (path, sha256):
            return  # another row was chosen meanwhile
        self._show_frames(frames, problem)

    def _show_frames(self, frames: dict[int, Any] | None, problem: str) -> None:
        r = self.result
        assert r is not None
        if problem == FILE_CHANGED:
            self.verdict.setText(
                self._verdict_text(r) + f"<br><b style='color:#b02030'>{CHANGED_TEXT}</b>"
            )
            self._set_probabilities(r.probabilities, valid=False)
            self._show_slice(None, CHANGED_TEXT)
            self.file_changed.emit(r)
            return
        if frames is None:
            self._show_slice(None, problem or "Cannot show this slice")
        elif r.frame not in frames:
            self._show_slice(None, "This slice is no longer in the file")
        else:
            self._show_slice(frames[r.frame], "")

    def _show_slice(self, found: Any, problem: str) -> None:
        r = self.result
        assert r is not None
        pixels = getattr(found, "pixels", None)
        self._pixels = pixels
        self.window_level.blockSignals(True)  # one refresh below, not one per signal
        raw, windowing = getattr(found, "raw", None), getattr(found, "windowing", None)
        self.window_level.set_slice(raw, windowing, keep=self._keep_window)
        self.window_level.blockSignals(False)
        if pixels is not None:
            shown = self.window_level.display()
            self.base = heatmap.slice_image(shown if shown is not None else pixels)
            # an unsupported input gets no heat map: the network's attention on a photo
            # or a blank page would look like a finding
            supported = r.status is not Status.UNSUPPORTED
            if supported and r.cam is not None and self.preprocessing is not None:
                self.cam_rect = heatmap.cam_rect(pixels, self.preprocessing)
        self.loading = False
        self._refresh(placeholder=problem)
        self.shown.emit()

    def _on_window_changed(self) -> None:
        """Display window changed: only the picture changes (the CAM stays where it was)."""
        shown = self.window_level.display()
        pixels = shown if shown is not None else self._pixels
        if pixels is not None:
            self.base = heatmap.slice_image(pixels)
            self._refresh()

    def _verdict_text(self, r: SliceResult) -> str:
        status = STATUS_WORDS[r.status]
        if r.status is Status.OK:
            head = f"<b>{predicted_text(r)}</b> &nbsp; confidence {r.confidence:.1%}"
        elif r.status is Status.UNCERTAIN:
            guess = class_label(r.predicted_class or "?")
            head = f"<b>uncertain</b> <span style='color:gray'>(best guess: {guess})</span>"
        else:
            head = f"<b>{status}</b>"
        parts = [head]
        if r.message:
            parts.append(r.message)
        if r.window:
            parts.append(f"<small>classifier window: {r.window}</small>")
        return "<br>".join(parts)

    def _set_probabilities(self, probs: tuple[float, ...] | None, valid: bool = True) -> None:
        tip = "" if valid else "Not a call: the input is outside what the model was trained on"
        for bar in self.bars:  # setValue/setFormat repaint at once: one deferred paint instead
            bar.setUpdatesEnabled(False)
        try:
            self._fill_bars(probs, valid, tip)
        finally:
            for bar in self.bars:
                bar.setUpdatesEnabled(True)

    def _fill_bars(self, probs: tuple[float, ...] | None, valid: bool, tip: str) -> None:
        for i, bar in enumerate(self.bars):
            bar.setEnabled(valid)
            bar.setToolTip(tip)
            if probs is None or i >= len(probs):
                bar.setValue(0)
                bar.setFormat("—")
            else:
                bar.setValue(round(float(probs[i]) * 1000))
                bar.setFormat(f"{float(probs[i]):.1%}")

    def composed(self) -> QImage | None:
        """The slice with the heat map (if shown), at the slice's resolution."""
        if self.base is None:
            return None
        cam = self.cam if self.show_heatmap.isChecked() else None
        return heatmap.compose(self.base, cam, self.cam_rect)

    def _refresh(self, *_: object, placeholder: str = "") -> None:
        r = self.result
        if r is not None and r.cam is not None and self.cam_rect is not None:
            self.cam = heatmap.cam_image(r.cam, self.opacity.value() / 100)
        self.view.set_image(self.composed(), placeholder or "No image")
        self._update_controls()

    def _update_controls(self) -> None:
        has_cam = self.cam is not None
        for w in (self.show_heatmap, self.opacity, self.colour_bar, self.save_button):
            w.setEnabled(has_cam)
        r = self.result
        unsupported = r is not None and r.status is Status.UNSUPPORTED
        self.caption.setText(NO_HEATMAP_UNSUPPORTED if unsupported else HEATMAP_CAPTION)
        self.opacity.setEnabled(has_cam and self.show_heatmap.isChecked())
        self.opacity_label.setEnabled(self.opacity.isEnabled())

    # -- saving ---------------------------------------------------------------------------
    def default_heatmap_path(self) -> Path | None:
        """The name offered for Save PNG, in :attr:`default_folder` (not the images' own)."""
        if self.result is None:
            return None
        p = Path(self.result.path)
        return Path(self.default_folder()) / f"{p.stem}_frame{self.result.frame}_heatmap.png"

    def save_heatmap(self, path: str | Path) -> bool:
        """Write the slice with its heat map as PNG; False if there is nothing or it failed."""
        if self.base is None or self.cam is None:
            return False
        image = heatmap.compose(self.base, self.cam, self.cam_rect)
        ok = bool(image.save(str(path), "PNG"))  # type: ignore[call-overload]
        if ok:
            self.heatmap_saved.emit(str(path))
        return ok

    def _ask_save(self) -> None:
        default = self.default_heatmap_path()
        path, _ = QFileDialog.getSaveFileName(
            self, "Save heat map", str(default or ""), "PNG image (*.png)"
        )
        if path and not self.save_heatmap(path):
            QMessageBox.warning(self, "Save heat map", f"Could not write {path}.")


def _title(r: SliceResult) -> str:
    """The name and, as the table's File column says it, the slice's number in its case."""
    name = f"<b>{Path(r.path).name}</b>"
    number = slice_number(r)
    if number is None:
        return f"{name} &nbsp; frame {r.frame}" if r.frame else name
    return f"{name} &nbsp; slice {number}"
