"""An unsupported input's probabilities are greyed in the preview: they are no call."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from desktop.core.results import SliceResult, Status
from desktop.ui.preview.pane import PreviewPane
from tests.ui.conftest import wait_preview


def result(status: Status) -> SliceResult:
    return SliceResult(
        path="/nowhere/photo.jpg",
        frame=0,
        status=status,
        message="a colour picture, not a brain MRI slice",
        predicted_class="meningioma" if status is not Status.UNSUPPORTED else None,
        confidence=0.89,
        probabilities=(0.05, 0.89, 0.02, 0.04),
    )


def test_unsupported_probabilities_are_greyed_and_explained(qtbot) -> None:
    pane = PreviewPane(reader=lambda path: [])
    qtbot.addWidget(pane)
    pane.show_result(result(Status.UNSUPPORTED))
    assert all(not bar.isEnabled() for bar in pane.bars)
    assert pane.bars[1].format() == "89.0%"  # still there, for the record
    assert "outside what the model was trained on" in pane.bars[1].toolTip()
    pane.show_result(result(Status.OK))
    assert all(bar.isEnabled() for bar in pane.bars) and pane.bars[1].toolTip() == ""


def test_an_unsupported_input_gets_no_heat_map(qtbot) -> None:
    """The network's attention on a photo or a blank page would read as a finding."""
    from desktop.core.model_spec import Preprocessing
    from desktop.core.readers.common import Slice
    from desktop.ui.preview.pane import HEATMAP_CAPTION, NO_HEATMAP_UNSUPPORTED

    pixels = np.zeros((64, 64), np.float32)
    pixels[16:48, 16:48] = 0.8
    pane = PreviewPane(
        preprocessing=Preprocessing(input_size=32),
        reader=lambda path: [Slice(frame=0, pixels=pixels, window="")],
    )
    qtbot.addWidget(pane)
    cam = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    r = result(Status.UNSUPPORTED)
    pane.show_result(replace(r, cam=cam))
    wait_preview(qtbot, pane)
    assert pane.base is not None  # the picture is shown ...
    assert pane.cam is None and not pane.save_button.isEnabled()  # ... without an overlay
    assert not pane.show_heatmap.isEnabled()
    assert pane.caption.text() == NO_HEATMAP_UNSUPPORTED
    ok = result(Status.OK)
    pane.show_result(replace(ok, path="/nowhere/slice.png", cam=cam))
    wait_preview(qtbot, pane)
    assert pane.cam is not None and pane.show_heatmap.isEnabled()
    assert pane.caption.text() == HEATMAP_CAPTION
