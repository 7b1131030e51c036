"""An unsupported input's probabilities are greyed in the preview: they are no call."""

from __future__ import annotations

from desktop.core.results import SliceResult, Status
from desktop.ui.preview import PreviewPane


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
