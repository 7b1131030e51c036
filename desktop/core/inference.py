"""The one path from a file to a status: read -> geometric -> normalise -> classify -> decide.

The app's pipeline, CLI and preview and the whole training package (decode cache,
calibration, evaluation, probes, export parity, release) use these functions, so the
network sees the same numbers in training as in the app, and the status in the model
card is the one the app shows. Qt-free, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from desktop.core.classifier import Classifier, Outputs, softmax
from desktop.core.decide import ImageChecks, Verdict, decide
from desktop.core.model_spec import ModelSpec, Preprocessing
from desktop.core.preprocess import Placement, decode_target, geometric_placed, normalise
from desktop.core.readers import ReadError, Slice, open_file

__all__ = [
    "Call",
    "ImageChecks",
    "NetInput",
    "ReadError",
    "Slice",
    "classify",
    "decide_outputs",
    "prepare",
    "prepare_batch",
    "read_first",
]


def read_first(path: str | Path, p: Preprocessing | None = None) -> Slice:
    """The first slice of a file, decoded exactly as the app decodes it (its readers).

    With the model's preprocessing ``p``, a large JPEG is decoded at reduced size as the
    app's pipeline decodes it for that model (:func:`desktop.core.preprocess.decode_target`);
    without, at full size (as the preview shows it).
    Raises :class:`~desktop.core.readers.ReadError` (words for a person) when the file
    cannot be read or holds no slice.
    """
    for s in open_file(path, target=None if p is None else decode_target(p)):
        return s
    raise ReadError("no slices to classify")


@dataclass(frozen=True)
class NetInput:
    """One decoded slice made ready for the network."""

    #: :func:`desktop.core.preprocess.geometric` output, S x S float32 in [0, 1]
    geometric: NDArray[np.float32]
    #: where the slice lies inside ``geometric`` (for the heat map)
    placement: Placement
    #: the network input, C x S x S float32
    tensor: NDArray[np.float32]
    checks: ImageChecks


def prepare(pixels: NDArray[np.generic], p: Preprocessing, colour: float = 0.0) -> NetInput:
    """A decoded slice (or a :class:`Slice`'s pixels) -> geometric, placement, input, checks."""
    g, where = geometric_placed(pixels, p)
    return NetInput(g, where, normalise(g, p), ImageChecks.of(pixels, colour))


def prepare_slice(s: Slice, p: Preprocessing) -> NetInput:
    return prepare(s.pixels, p, s.colour)


def prepare_batch(items: Sequence[NetInput], p: Preprocessing) -> NDArray[np.float32]:
    """N x C x S x S from prepared inputs (an empty batch keeps its shape)."""
    if not items:
        return np.zeros((0, p.channels, p.input_size, p.input_size), dtype=np.float32)
    return np.stack([i.tensor for i in items])


@dataclass(frozen=True)
class Call:
    """The model's answer for one slice and the status the app shows for it."""

    logits: NDArray[np.float32]
    probabilities: NDArray[np.float64]  #: calibrated (temperature applied)
    ood_score: float
    verdict: Verdict

    @property
    def top(self) -> int:
        return int(np.argmax(self.probabilities))


def decide_outputs(outputs: Outputs, checks: Sequence[ImageChecks], spec: ModelSpec) -> list[Call]:
    """The app's status for every row of a batch's raw outputs (:func:`decide`)."""
    probs = softmax(outputs.logits, spec.temperature)
    return [
        Call(
            outputs.logits[i],
            probs[i],
            float(outputs.ood[i]),
            decide(probs[i], float(outputs.ood[i]), c, spec.thresholds, spec.class_names),
        )
        for i, c in enumerate(checks)
    ]


def classify(clf: Classifier, items: Sequence[NetInput]) -> list[Call]:
    """Prepared slices -> the model's calls and the app's statuses, one batch."""
    out = clf.outputs(prepare_batch(items, clf.spec.preprocessing))
    return decide_outputs(out, [i.checks for i in items], clf.spec)
