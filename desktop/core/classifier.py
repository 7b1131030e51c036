"""The ONNX classifier: one onnxruntime session, created once, reused, batched.

Everything about the model (input size, normalisation, class names, temperature,
thresholds) is read from its metadata (:mod:`desktop.core.model_spec`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from desktop.core.decide import ImageChecks, Verdict, decide
from desktop.core.model_spec import (
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_CAM,
    OUTPUT_LOGITS,
    OUTPUT_OOD,
    ModelContractError,
    ModelSpec,
)
from desktop.core.preprocess import to_batch, to_input
from desktop.core.results import Status

log = logging.getLogger(__name__)

_OUTPUTS = (OUTPUT_LOGITS, OUTPUT_CAM, OUTPUT_OOD)


class ModelLoadError(Exception):
    """The model could not be loaded; the message is for a person."""


@dataclass(frozen=True)
class Outputs:
    """The graph's raw outputs for a batch of N inputs."""

    logits: NDArray[np.float32]  #: N x K, before temperature
    cam: NDArray[np.float32]  #: N x K x h x w
    ood: NDArray[np.float32]  #: N


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one slice."""

    #: calibrated (temperature-scaled) probabilities, in ``spec.class_names`` order
    probabilities: tuple[float, ...]
    #: class-activation map of the predicted class, h x w float32 in [0, 1]
    cam: NDArray[np.float32]
    ood_score: float

    @property
    def top(self) -> int:
        return int(np.argmax(self.probabilities))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def recorded_sha256(model: Path) -> str | None:
    """The hash in ``<model>.sha256`` beside the model (first word), or None."""
    sidecar = model.with_name(model.name + ".sha256")
    try:
        words = sidecar.read_text(encoding="utf-8").split()
    except OSError:
        return None
    return words[0] if words else None


def softmax(logits: NDArray[np.floating[Any]], temperature: float = 1.0) -> NDArray[np.float64]:
    """softmax(logits / temperature) over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float64)


def pixel_std(pixels: NDArray[Any]) -> float:
    """Standard deviation of a decoded slice (what the blank-image threshold compares)."""
    return float(np.std(np.asarray(pixels, dtype=np.float32)))


def _normalise_cams(cams: NDArray[Any]) -> NDArray[np.float32]:
    """Each map of an N x h x w stack scaled to [0, 1] (a flat map becomes zeros; NaN
    and infinities as :func:`numpy.nan_to_num`), in one pass over the batch."""
    c = np.nan_to_num(np.asarray(cams, dtype=np.float32))
    flat = c.reshape(len(c), -1)
    lo = flat.min(axis=1)[:, None, None]
    span = flat.max(axis=1)[:, None, None] - lo
    flat_maps = span < 1e-12
    out = (c - lo) / np.where(flat_maps, 1.0, span)
    out[np.broadcast_to(flat_maps, out.shape)] = 0.0
    return np.asarray(out, dtype=np.float32)


def default_threads(cores: int | None = None) -> int:
    """onnxruntime compute threads: half the cores (at least 1, at most 4).

    Reading a slice (decode, resize, hash, thumbnail) costs about as much CPU as
    classifying it, so the readers (:func:`desktop.core.pipeline.default_workers`) get the
    other half. On 2 cores, 1 + 1 beat 2 + 2 threads in throughput and in GUI stalls
    (docs/PERFORMANCE.md, third session); onnxruntime's second thread adds only ~1.5x.
    :meth:`Classifier.load` takes ``threads`` to choose otherwise.
    """
    n = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(4, n // 2))


#: what onnxruntime says when a model is newer than it (opset, IR version, an operator
#: it has no kernel for): the app is too old, not the file broken
_NEWER_MODEL_SIGNS = (
    "opset",
    "ir version",
    "not_implemented",
    "could not find an implementation",
)


def session_error_words(name: str, exc: BaseException) -> str:
    """Why onnxruntime refused the model file ``name``, in words a person can act on."""
    text = str(exc)
    low = text.lower()
    if any(sign in low for sign in _NEWER_MODEL_SIGNS):
        return (
            f"{name} needs a newer version of the app (the model uses an ONNX version "
            f"newer than this app's onnxruntime {ort.__version__} supports)"
        )
    if "protobuf" in low:
        return f"{name} is not a usable ONNX model (truncated or corrupt file)"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{name} could not be loaded by onnxruntime ({first[:300]})"


class Classifier:
    """One loaded model. Create with :meth:`load`."""

    def __init__(self, path: Path, session: ort.InferenceSession, spec: ModelSpec, sha: str):
        self.path = path
        self.session = session
        self.spec = spec
        self.sha256 = sha

    @classmethod
    def load(
        cls, path: str | Path, expected_sha256: str | None = None, threads: int | None = None
    ) -> Classifier:
        """Load and validate a model file; raises ModelLoadError in words.

        The file's sha256 must equal ``expected_sha256`` when given, else the one
        recorded in a ``<model>.sha256`` file beside it (``sha256sum`` format) if any.
        ``threads``: onnxruntime's compute threads (default :func:`default_threads`).
        """
        p = Path(path)
        if not p.is_file():
            raise ModelLoadError(f"model file not found: {p}")
        if p.stat().st_size == 0:
            raise ModelLoadError(f"model file is empty: {p.name}")
        sha = file_sha256(p)
        expected = expected_sha256 or recorded_sha256(p)
        if expected is not None and expected.lower() != sha:
            raise ModelLoadError(
                f"{p.name} does not match its recorded sha256 (the file was changed or damaged)"
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads) if threads else default_threads()
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # readers run alongside inference: idle ORT threads must not spin on the cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(
                str(p), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            log.error("onnxruntime could not load %s", p, exc_info=True)
            raise ModelLoadError(session_error_words(p.name, exc)) from exc
        meta = session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ModelLoadError(
                f"{p.name} is not a Brain MRI Review model (no '{METADATA_KEY}' metadata)"
            )
        try:
            spec = ModelSpec.from_json(meta[METADATA_KEY])
        except ModelContractError as exc:
            raise ModelLoadError(f"{p.name}: {exc}") from None
        cls._check_graph(p.name, session, spec)
        return cls(p, session, spec, sha)

    @staticmethod
    def _check_graph(name: str, session: ort.InferenceSession, spec: ModelSpec) -> None:
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        if INPUT_NAME not in inputs:
            raise ModelLoadError(f"{name} has no input named '{INPUT_NAME}'")
        missing = [o for o in _OUTPUTS if o not in outputs]
        if missing:
            raise ModelLoadError(f"{name} lacks the output(s) {', '.join(missing)}")
        logits = next(o for o in session.get_outputs() if o.name == OUTPUT_LOGITS).shape
        k = len(spec.class_names)
        if len(logits) == 2 and isinstance(logits[1], int) and logits[1] != k:
            raise ModelLoadError(
                f"{name} gives {logits[1]} logits but its metadata names {k} classes"
            )
        shape = inputs[INPUT_NAME].shape
        p = spec.preprocessing
        want = [p.channels, p.input_size, p.input_size]
        if len(shape) != 4 or any(
            isinstance(d, int) and d != w for d, w in zip(shape[1:], want, strict=True)
        ):
            raise ModelLoadError(
                f"{name}: input shape {shape} does not match the metadata "
                f"(N x {p.channels} x {p.input_size} x {p.input_size})"
            )

    def prepare(self, pixels: NDArray[Any]) -> NDArray[np.float32]:
        """One decoded slice -> its network input (C x S x S); thread-safe, no session."""
        return to_input(pixels, self.spec.preprocessing)

    def predict(self, slices: Sequence[NDArray[Any]]) -> list[Prediction]:
        """Predictions for decoded slices (float32 H x W in [0, 1]), one batch."""
        if not slices:
            return []
        return self.predict_batch(to_batch(list(slices), self.spec.preprocessing))

    def outputs(self, batch: NDArray[np.float32]) -> Outputs:
        """The graph's raw outputs for network inputs made by :meth:`prepare`."""
        n = len(batch)
        k = len(self.spec.class_names)
        if not n:
            return Outputs(np.zeros((0, k), np.float32), np.zeros((0, k, 1, 1), np.float32),
                           np.zeros(0, np.float32))  # fmt: skip
        logits, cams, ood = self.run(list(_OUTPUTS), batch)
        logits = np.asarray(logits, dtype=np.float32).reshape(n, -1)
        if logits.shape[1] != k:
            raise ModelLoadError(
                f"the model gives {logits.shape[1]} logits but its metadata names {k} classes"
            )
        return Outputs(
            logits, np.asarray(cams, dtype=np.float32), np.asarray(ood, np.float32).reshape(n)
        )

    def run(self, names: Sequence[str], batch: NDArray[np.float32]) -> list[NDArray[Any]]:
        """The named graph outputs for a batch (files may carry outputs beyond the contract)."""
        return [np.asarray(o) for o in self.session.run(list(names), {INPUT_NAME: batch})]

    def predict_batch(self, batch: NDArray[np.float32]) -> list[Prediction]:
        """Predictions for network inputs already made by :meth:`prepare` (N x C x S x S)."""
        n = len(batch)
        if not n:
            return []
        out = self.outputs(batch)
        probs = softmax(out.logits, self.spec.temperature)
        tops = probs.argmax(axis=1)
        cams = _normalise_cams(out.cam[np.arange(n), tops])
        rows, ood = probs.tolist(), out.ood.tolist()
        preds = [
            Prediction(probabilities=tuple(rows[i]), cam=cams[i], ood_score=ood[i])
            for i in range(n)
        ]
        return preds

    def status_of(self, slice_pixels: NDArray[Any], prediction: Prediction) -> tuple[Status, str]:
        """The status and message from the model's own thresholds."""
        return self.status_from_std(pixel_std(slice_pixels), prediction)

    def status_from_std(
        self, std: float, prediction: Prediction, colour: float = 0.0
    ) -> tuple[Status, str]:
        """:meth:`status_of` given the slice's standard deviation (:func:`pixel_std`) and
        the picture's colourfulness (:func:`desktop.core.readers.common.colourfulness`)."""
        v = self.decide(prediction, ImageChecks(std, colour))
        return v.status, v.message

    def decide(self, prediction: Prediction, checks: ImageChecks) -> Verdict:
        """:func:`desktop.core.decide.decide` with this model's thresholds and classes."""
        return decide(
            prediction.probabilities,
            prediction.ood_score,
            checks,
            self.spec.thresholds,
            self.spec.class_names,
        )

    def summary(self) -> dict[str, Any]:
        """What exports record about the model (no paths beyond the file name)."""
        s = self.spec
        return {
            "file": self.path.name,
            "sha256": self.sha256,
            "architecture": s.architecture,
            "schema_version": s.schema_version,
            "class_names": list(s.class_names),
            "input_size": s.preprocessing.input_size,
            "temperature": s.temperature,
            "thresholds": {
                "uncertain": s.thresholds.uncertain,
                "ood_score": s.thresholds.ood_score,
                "blank_std": s.thresholds.blank_std,
                "max_colour": s.thresholds.max_colour,
            },
            "provenance": dict(s.provenance),
        }
