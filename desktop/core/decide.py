"""The one rule that turns a slice's model outputs and image checks into a status.

The app (pipeline, CLI, preview) and the training package (calibration, evaluation,
probes, the model card) all call :func:`decide`, so the figures in the model card are
those of the rule the app runs. Pure: no model, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from desktop.core.model_spec import Thresholds
from desktop.core.results import Status


@dataclass(frozen=True)
class ImageChecks:
    """What the rule needs to know about the picture itself (not the network)."""

    #: standard deviation of the decoded [0, 1] slice (the blank-image check)
    std: float
    #: mean chroma of the original picture (:func:`desktop.core.readers.common.colourfulness`)
    colour: float = 0.0

    @classmethod
    def of(cls, pixels: NDArray[np.generic], colour: float = 0.0) -> ImageChecks:
        return cls(float(np.std(np.asarray(pixels, dtype=np.float32))), float(colour))


@dataclass(frozen=True)
class Verdict:
    """A status and the words a person reads beside it ("" for ``ok``)."""

    status: Status
    message: str = ""

    @property
    def firm(self) -> bool:
        """A call a reader may take at face value (only ``ok`` is one)."""
        return self.status is Status.OK


def decide(
    probabilities: Sequence[float],
    ood_score: float,
    checks: ImageChecks,
    thresholds: Thresholds,
    class_names: Sequence[str],
) -> Verdict:
    """ok / uncertain / unsupported, in this order of checks: blank picture, colour
    picture, out-of-distribution score, then the calibrated top probability."""
    t = thresholds
    if checks.std < t.blank_std:
        return Verdict(Status.UNSUPPORTED, "blank image")
    if checks.colour > t.max_colour:
        return Verdict(
            Status.UNSUPPORTED,
            f"a colour picture, not a brain MRI slice (chroma {checks.colour:.2f})",
        )
    if ood_score > t.ood_score:
        return Verdict(
            Status.UNSUPPORTED,
            f"not a brain MRI slice (out-of-distribution score {ood_score:.3g})",
        )
    probs = [float(p) for p in probabilities]
    top = int(np.argmax(probs))
    if probs[top] < t.uncertain:
        ranked = sorted(zip(probs, class_names, strict=True), reverse=True)
        best = ", ".join(f"{name} {prob:.0%}" for prob, name in ranked[:2])
        return Verdict(Status.UNCERTAIN, f"low confidence: {best}")
    return Verdict(Status.OK)
