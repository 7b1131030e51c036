"""A class-activation map of a synthetic lesion peaks on the lesion, end to end.

A small network whose last feature map responds to bright tissue is exported through
the training package's ONNX wrapper and read back by the app's classifier; the CAM the
app shows must put its maximum where the lesion is in the network's input frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from desktop.core.classifier import Classifier
from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import geometric
from tests.phantoms import lesion_phantom as phantom
from training.export import ExportWrapper, build_spec, export_onnx

SIZE = 64
STRIDE = 8


class BrightSpotNet(nn.Module):
    """Features = how much brighter than tissue each 8x8 cell is; glioma weight positive."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(STRIDE)
        self.linear = nn.Linear(2, 4)
        with torch.no_grad():
            self.linear.weight.copy_(
                torch.tensor([[40.0, 0.0], [0.0, 1.0], [0.0, 0.5], [0.0, 0.5]])
            )
            self.linear.bias.zero_()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        grey = self.pool(x[:, :1])
        spot = torch.relu(grey)  # lesion (normalised ~0.9) above tissue (~ -0.2)
        return torch.cat([spot, torch.ones_like(spot) * 0.01], dim=1)

    @property
    def classifier_linear(self) -> nn.Linear:
        return self.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.forward_features(x).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    prep = Preprocessing(input_size=SIZE)
    out = Path(tmp_path_factory.mktemp("cam")) / "spot.onnx"
    export_onnx(ExportWrapper(BrightSpotNet()), build_spec(prep, "bright_spot"), out)
    return Classifier.load(out)


@pytest.mark.parametrize("centre", [(50, 45), (110, 60), (80, 120), (55, 105)])
def test_cam_peaks_on_the_lesion(classifier: Classifier, centre: tuple[int, int]) -> None:
    img = phantom(centre)
    (pred,) = classifier.predict([img])
    assert int(np.argmax(pred.probabilities)) == 0  # the lesion drives the 'glioma' logit
    cam = pred.cam
    assert cam.shape == (SIZE // STRIDE, SIZE // STRIDE)
    # where the lesion lands in the network's input frame (after crop + letterbox)
    g = geometric(img, classifier.spec.preprocessing)
    ly, lx = np.unravel_index(np.argmax(cv2.blur(g, (5, 5))), g.shape)
    cy, cx = np.unravel_index(np.argmax(cam), cam.shape)
    assert abs(cy - ly // STRIDE) <= 1 and abs(cx - lx // STRIDE) <= 1
    # and the map is low far from the lesion
    far = cam[
        (np.abs(np.arange(cam.shape[0])[:, None] - cy) > 2)
        | (np.abs(np.arange(cam.shape[1])[None] - cx) > 2)
    ]
    assert far.max() < 0.5 * cam.max()
