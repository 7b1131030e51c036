"""Window/level of DICOM slices in the preview: display only, never what the classifier got."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop.core.readers.common import Windowing, window_centre_width

CLASSIFIER = "Classifier's window"
FULL_RANGE = "Full range"
AUTO = "Auto (1-99 %)"
CUSTOM = "Custom"
#: CT presets (Hounsfield units), offered only when the values look like CT
CT_PRESETS = {
    "CT brain (C40 W80)": (40.0, 80.0),
    "CT subdural (C75 W215)": (75.0, 215.0),
    "CT stroke (C40 W40)": (40.0, 40.0),
    "CT bone (C600 W2800)": (600.0, 2800.0),
}
_STEPS = 1000


@dataclass(frozen=True)
class Window:
    centre: float
    width: float

    @classmethod
    def from_range(cls, lo: float, hi: float) -> Window:
        return cls((lo + hi) / 2, max(hi - lo, 1e-6))


def classifier_window(windowing: Windowing | None) -> Window | None:
    """The centre/width the classifier used (None: a lookup table, or not recorded)."""
    if windowing is None or windowing.centre is None or windowing.width is None:
        return None
    return Window(windowing.centre, windowing.width)


def looks_like_ct(raw: NDArray[np.floating]) -> bool:
    """Hounsfield units: air near -1000."""
    return bool(raw.size) and float(np.nanmin(raw)) <= -500.0


def apply_window(raw: NDArray[np.floating], w: Window, invert: bool = False) -> NDArray[np.float32]:
    """``raw`` windowed linearly (DICOM PS3.3 C.11.2.1.2) to [0, 1] for display."""
    out = window_centre_width(np.asarray(raw, dtype=np.float32), w.centre, w.width)
    return (1.0 - out).astype(np.float32) if invert else out


class WindowLevelBar(QWidget):
    """Preset, centre and width sliders and reset for one DICOM slice.

    ``display()`` is the image to show (None: show the classifier's pixels as they are).
    ``changed`` is emitted whenever it changes.
    """

    changed = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.raw: NDArray[np.float32] | None = None
        self.active: Window | None = None  # None: the classifier's own pixels
        self.invert = False
        self._lo, self._hi = 0.0, 1.0
        self._classifier: Window | None = None
        self.presets = QComboBox()
        self.presets.setToolTip("Display window (does not change the classification)")
        self.centre = QSlider(Qt.Orientation.Horizontal)
        self.width_slider = QSlider(Qt.Orientation.Horizontal)
        for s, tip in ((self.centre, "Window centre (level)"), (self.width_slider, "Window width")):
            s.setRange(0, _STEPS)
            s.setToolTip(tip + " - or drag on the image with the right mouse button")
            s.setMinimumWidth(50)
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the window the classifier used")
        self.values = QLabel()
        self.values.setToolTip("Centre and width on the DICOM values (after rescale)")
        self.presets.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        top = QHBoxLayout()
        top.addWidget(QLabel("Window"))
        top.addWidget(self.presets)
        top.addWidget(self.values, 1)
        top.addWidget(self.reset_button)
        sliders = QHBoxLayout()
        sliders.addWidget(QLabel("Centre"))
        sliders.addWidget(self.centre, 1)
        sliders.addWidget(QLabel("Width"))
        sliders.addWidget(self.width_slider, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addLayout(sliders)
        self.presets.activated.connect(lambda _: self._on_preset())
        self.centre.valueChanged.connect(self._on_slider)
        self.width_slider.valueChanged.connect(self._on_slider)
        self.reset_button.clicked.connect(self.reset)
        self.set_slice(None)

    # -- state ------------------------------------------------------------------------------
    def set_slice(
        self,
        raw: NDArray[np.floating] | None,
        windowing: Windowing | None = None,
        keep: bool = False,
    ) -> None:
        """A new slice: back to the classifier's window (``windowing``, the slice's record),
        or (``keep``, e.g. the next slice of the same series) the window or preset chosen
        for the previous slice."""
        kept, kept_name = self.active, self.presets.currentText()
        self.raw = None if raw is None else np.asarray(raw, dtype=np.float32)
        self.invert = windowing is not None and windowing.inverted
        self.setVisible(self.raw is not None and self.raw.size > 0)
        if self.raw is None or not self.raw.size:
            self._classifier = self.active = None
            return
        finite = self.raw[np.isfinite(self.raw)]
        self._lo, self._hi = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
        if self._hi <= self._lo:
            self._hi = self._lo + 1.0
        self._classifier = classifier_window(windowing)
        self.presets.clear()
        names = [CLASSIFIER, FULL_RANGE, AUTO]
        if looks_like_ct(self.raw):
            names += list(CT_PRESETS)
        self.presets.addItems(names)
        if keep and kept is not None and kept_name == CUSTOM:
            self.set_window(kept)
        elif keep and kept is not None and kept_name in names:
            self._select(kept_name)
            self._on_preset()
        else:
            self.reset()

    def display(self) -> NDArray[np.float32] | None:
        if self.raw is None or self.active is None:
            return None
        return apply_window(self.raw, self.active, self.invert)

    def reset(self) -> None:
        self._select(CLASSIFIER)
        self._set_window(None)

    def set_window(self, window: Window) -> None:
        """A custom window (sliders, drag, tests)."""
        self._select(CUSTOM)
        self._set_window(window)

    def drag(self, dx: float, dy: float) -> None:
        """Right-drag on the image: right widens, up brightens (lowers the centre)."""
        if self.raw is None:
            return
        w = self.current()
        step = (self._hi - self._lo) / 400
        self.set_window(Window(w.centre + dy * step, max(w.width + dx * step, step)))

    def current(self) -> Window:
        """The window on screen (the classifier's, or the full range when it is a LUT)."""
        if self.active is not None:
            return self.active
        return self._classifier or Window.from_range(self._lo, self._hi)

    # -- internals ------------------------------------------------------------------------
    def _select(self, name: str) -> None:
        if name == CUSTOM and self.presets.findText(CUSTOM) < 0:
            self.presets.addItem(CUSTOM)
        self.presets.setCurrentIndex(self.presets.findText(name))

    def _on_preset(self) -> None:
        name = self.presets.currentText()
        if self.raw is None or name == CUSTOM:
            return
        if name == CLASSIFIER:
            self._set_window(None)
        elif name == FULL_RANGE:
            self._set_window(Window.from_range(self._lo, self._hi))
        elif name == AUTO:
            lo, hi = np.nanpercentile(self.raw, (1, 99))
            self._set_window(Window.from_range(float(lo), float(max(hi, lo + 1e-6))))
        else:
            self._set_window(Window(*CT_PRESETS[name]))

    def _set_window(self, window: Window | None) -> None:
        self.active = window
        w = self.current()
        span = self._hi - self._lo
        for slider, value in (
            (self.centre, (w.centre - self._lo) / span),
            (self.width_slider, w.width / (2 * span)),
        ):
            slider.blockSignals(True)
            slider.setValue(round(float(np.clip(value, 0, 1)) * _STEPS))
            slider.blockSignals(False)
        self.values.setText(f"C {w.centre:.4g}   W {w.width:.4g}")
        self.reset_button.setEnabled(window is not None)
        self.changed.emit()

    def _on_slider(self, _: int) -> None:
        span = self._hi - self._lo
        centre = self._lo + self.centre.value() / _STEPS * span
        width = max(self.width_slider.value() / _STEPS * 2 * span, span / _STEPS)
        self.set_window(Window(centre, width))
