"""Result records: one per slice, whatever happened to it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import NDArray


class Status(str, Enum):
    """What became of a slice. The values are what exports write."""

    OK = "ok"
    UNCERTAIN = "uncertain"
    UNSUPPORTED = "unsupported"
    ERROR = "error"


@dataclass(frozen=True)
class SliceResult:
    """The outcome for one slice (one image, one DICOM frame, one NIfTI slice).

    ``probabilities`` are calibrated (temperature-scaled) and follow ``class_names``
    of the model; ``predicted_class`` is ``None`` unless ``status`` is ``OK`` or
    ``UNCERTAIN`` (an uncertain call keeps its best guess for the reviewer, but the
    table and exports show the status first).
    """

    path: str
    frame: int
    status: Status
    message: str = ""
    predicted_class: str | None = None
    confidence: float | None = None
    probabilities: tuple[float, ...] | None = None
    image_sha256: str | None = None
    #: small grey thumbnail (uint8, longest side <= 128) for the table; None on error
    thumbnail: NDArray[np.uint8] | None = None
    #: class-activation map of the predicted class, float32 in [0, 1], network grid size
    cam: NDArray[np.float32] | None = None
    #: out-of-distribution score the model gave (larger = less like training data)
    ood_score: float | None = None
    #: how the slice was windowed for the classifier, in words (e.g. "DICOM VOI LUT")
    window: str = ""
    #: the id of the case the slice belongs to (see :mod:`desktop.core.cases`); the
    #: pipeline run without a plan makes each file a case named by its path
    case: str = ""
    #: the slice's place in its case, in anatomical order (0 for a single image)
    slice_index: int = 0
