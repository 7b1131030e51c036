"""The model contract: the one place where the training package and the app meet.

``training`` writes a :class:`ModelSpec` as JSON into the ONNX metadata under
:data:`METADATA_KEY` when it exports; ``desktop.core`` reads it back when it loads a
model. Every number the app needs to feed the network and to interpret its outputs
(input size, resize policy, scaling, class names, temperature, thresholds) lives here
and nowhere else.

Graph contract (names are constants below):

* input ``INPUT_NAME``: float32 ``N x C x H x W``, dynamic ``N``;
* output ``OUTPUT_LOGITS``: float32 ``N x K`` raw logits, classes in ``class_names`` order;
* output ``OUTPUT_CAM``: float32 ``N x K x h x w`` class-activation maps (classifier
  weights applied to the last feature map, before pooling, no gradients needed);
* output ``OUTPUT_OOD``: float32 ``N`` out-of-distribution score (larger = less like the
  training data); ``thresholds.ood_score`` is the cut above which a slice is
  ``unsupported``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

METADATA_KEY = "brain_mri_review"
SCHEMA_VERSION = 1
KNOWN_SCHEMA_VERSIONS = (1,)

INPUT_NAME = "image"
OUTPUT_LOGITS = "logits"
OUTPUT_CAM = "cam"
OUTPUT_OOD = "ood_score"

#: Canonical class names, in the order every model of this project outputs them.
CLASS_NAMES: tuple[str, ...] = ("glioma", "meningioma", "no_tumor", "pituitary")


class ModelContractError(ValueError):
    """The model file does not follow the contract; the message is for a person."""


@dataclass(frozen=True)
class Preprocessing:
    """How a decoded grey slice (float32 in [0, 1], H x W) becomes the network input.

    Steps, in order (implemented once, in :mod:`desktop.core.preprocess`):
    1. ``crop_foreground``: crop to the bounding box of pixels above
       ``foreground_threshold`` (plus ``crop_margin`` of the box size), so framing
       differences between sources do not matter;
    2. ``resize``: ``"letterbox"`` keeps the aspect ratio and pads with zeros to
       ``input_size`` x ``input_size``;
    3. intensity: divide by the ``intensity_percentile`` percentile of the image and
       clip to [0, 1] (per-image normalisation, counters scanner/sequence scaling);
    4. ``(x - mean) / std``;
    5. ``grey_to_channels``: ``"replicate"`` copies the grey plane to all ``channels``
       channels (the only rule; named so that a model file states it).
    """

    input_size: int
    channels: int = 3
    resize: str = "letterbox"
    crop_foreground: bool = True
    foreground_threshold: float = 0.08
    crop_margin: float = 0.04
    intensity_percentile: float = 99.5
    mean: float = 0.5
    std: float = 0.5
    grey_to_channels: str = "replicate"


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds fitted by the training package (never set by the app)."""

    #: calibrated top probability below which a call is ``uncertain``
    uncertain: float = 0.6
    #: ``ood_score`` above which a slice is ``unsupported`` (not like a brain MRI slice)
    ood_score: float = float("inf")
    #: a slice whose standard deviation (in [0, 1] units) is below this is blank
    blank_std: float = 0.01
    #: a picture whose mean chroma (max - min of R, G, B, in [0, 1]) is above this is a
    #: colour picture, not a grey MRI slice (1.0 disables the check)
    max_colour: float = 1.0


@dataclass(frozen=True)
class CaseRule:
    """How a case's slice calls become its verdict (:func:`desktop.core.verdict.case_verdict`).

    Fitted by ``training.case_rule`` on validation cases; the defaults serve models
    written before the rule existed.
    """

    #: a classified (ok or uncertain) slice is a tumour slice when its tumour probability
    #: 1 - P(negative_class) is at least this
    slice_threshold: float = 0.8
    #: tumour slices adjacent in anatomical order needed to suspect a tumour (a case with
    #: fewer slices than this needs all of them)
    min_run: int = 3
    #: without such a run, as many adjacent slices with a tumour probability of at least
    #: this make the case uncertain (a near miss); equal to ``slice_threshold``: never
    doubt_threshold: float = 0.5
    #: a case with fewer than this fraction of its slices classified (the rest
    #: unsupported or unreadable) is uncertain unless a tumour is suspected
    min_classified_fraction: float = 0.5
    #: the class that means "no tumour"
    negative_class: str = "no_tumor"


@dataclass(frozen=True)
class ModelSpec:
    """Everything the app needs to know about a model file."""

    preprocessing: Preprocessing
    class_names: tuple[str, ...] = CLASS_NAMES
    temperature: float = 1.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    case_rule: CaseRule = field(default_factory=CaseRule)
    architecture: str = "efficientnet_b0"
    schema_version: int = SCHEMA_VERSION
    #: free-form provenance: training data summary, split manifest hash, metrics, date
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        d["class_names"] = list(self.class_names)
        return json.dumps(d, sort_keys=True, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelContractError(f"model metadata is not valid JSON ({exc})") from exc
        if not isinstance(d, dict):
            raise ModelContractError("model metadata is not a JSON object")
        version = d.get("schema_version")
        if version not in KNOWN_SCHEMA_VERSIONS:
            raise ModelContractError(
                f"model metadata schema version {version!r} is not one this app knows "
                f"({', '.join(map(str, KNOWN_SCHEMA_VERSIONS))}); a newer app is needed"
            )
        try:
            spec = cls(
                preprocessing=Preprocessing(**d["preprocessing"]),
                class_names=tuple(d["class_names"]),
                temperature=float(d["temperature"]),
                thresholds=Thresholds(**d["thresholds"]),
                case_rule=CaseRule(**d.get("case_rule", {})),
                architecture=str(d.get("architecture", "unknown")),
                schema_version=int(version),
                provenance=dict(d.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelContractError(f"model metadata is incomplete or malformed ({exc})") from exc
        spec.validate()
        return spec

    def validate(self) -> None:
        p = self.preprocessing
        if p.input_size < 8 or p.channels not in (1, 3):
            raise ModelContractError(
                f"unsupported input shape in metadata ({p.channels}x{p.input_size})"
            )
        if p.resize != "letterbox":
            raise ModelContractError(f"unknown resize policy {p.resize!r}")
        if p.grey_to_channels != "replicate":
            raise ModelContractError(f"unknown grey-to-channels rule {p.grey_to_channels!r}")
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            raise ModelContractError("class names in metadata are empty or repeated")
        # the table, the review keys 1-4 and the export columns are made for these classes
        if tuple(self.class_names) != CLASS_NAMES:
            raise ModelContractError(
                f"the model's classes ({', '.join(self.class_names)}) are not the ones this "
                f"app shows ({', '.join(CLASS_NAMES)}): it needs a newer version of the app"
            )
        if not self.temperature > 0:
            raise ModelContractError("calibration temperature must be positive")
        if p.std <= 0:
            raise ModelContractError("normalisation std must be positive")
        r = self.case_rule
        fraction_ok = 0.0 <= r.min_classified_fraction <= 1.0
        doubt_ok = 0.0 < r.doubt_threshold <= r.slice_threshold
        if not (0.0 < r.slice_threshold <= 1.0 and r.min_run >= 1 and fraction_ok and doubt_ok):
            raise ModelContractError(f"case rule out of range in metadata ({r})")
