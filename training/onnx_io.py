"""ONNX I/O: the graph in the app's model contract, its metadata, and loading it back.

The exported graph (``desktop.core.model_spec``): input ``image`` (N x C x S x S, dynamic
N) -> ``logits`` (N x K), ``cam`` (N x K x h x w: classifier weights applied to the last
feature map, no bias), ``ood_score`` (N: multi-level Mahalanobis score, :mod:`training.ood`,
computed in the graph from constant buffers). The metadata carries a ``ModelSpec``.
Every file written here gets its ``<file>.sha256`` beside it, and is read back only
through the app's :class:`desktop.core.classifier.Classifier`.

Exporter: torch 2.13's default ``dynamo=True`` path needs ``onnxscript``, which this
project does not install; the TorchScript exporter (``dynamo=False``) exports the
EfficientNet (SiLU, squeeze-excitation, stochastic depth = identity in eval) at opset 17
and passes ``onnx.checker`` with ``full_check=True``. Its deprecation warning is muted here.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from desktop.core.classifier import Classifier, file_sha256
from desktop.core.model_spec import (
    CLASS_NAMES,
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_CAM,
    OUTPUT_LOGITS,
    OUTPUT_OOD,
    ModelSpec,
    Preprocessing,
    Thresholds,
)
from training.ood import MultiLevelScorer, classifier_linear, head_all, head_outputs

OPSET = 17
#: mean chroma above which a picture is a colour photograph, not an MRI slice. Measured
#: on the 7,351 training-source slices (desktop.core.readers.common.colourfulness):
#: max 0.048, 99.9th percentile 0.026; natural_images: cat 0.30, grace_hopper 0.20,
#: hot_dog 0.14. Twice the training maximum leaves room for tinted exports.
MAX_COLOUR = 0.10
#: extra outputs of a features file (:class:`FeatureWrapper`): OOD vectors, one per level
LEVEL = "level{}"


class ExportWrapper(nn.Module):
    """Network + CAM + OOD score with the graph contract's three outputs."""

    def __init__(self, model: nn.Module, scorer: MultiLevelScorer | None = None) -> None:
        super().__init__()
        self.model = model
        self.scorer = scorer

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.scorer is None:
            logits, _, fmap = head_outputs(self.model, image)
            ood = logits[:, 0] * 0.0
        else:
            logits, fmap, vectors = head_all(self.model, image)
            ood = self.scorer(vectors)
        weight = classifier_linear(self.model).weight
        cam = torch.einsum("kf,nfhw->nkhw", weight, fmap)
        return logits, cam, ood


class FeatureWrapper(nn.Module):
    """The contract's outputs (OOD score 0) plus the OOD vectors ``level0..`` (calibration)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, fmap, vectors = head_all(self.model, image)
        cam = torch.einsum("kf,nfhw->nkhw", classifier_linear(self.model).weight, fmap)
        return (logits, cam, logits[:, 0] * 0.0, *vectors)


def build_spec(
    prep: Preprocessing,
    arch: str,
    temperature: float = 1.0,
    thresholds: Thresholds | None = None,
    provenance: dict[str, Any] | None = None,
) -> ModelSpec:
    spec = ModelSpec(
        preprocessing=prep,
        class_names=CLASS_NAMES,
        temperature=float(temperature),
        thresholds=thresholds or Thresholds(),
        architecture=arch,
        provenance=provenance or {},
    )
    spec.validate()
    return spec


def export_onnx(
    wrapper: nn.Module, spec: ModelSpec, out: Path, opset: int = OPSET, extra: int = 0
) -> onnx.ModelProto:
    """Export ``wrapper`` to ``out`` with ``spec`` in the metadata; checker full check.

    ``extra``: outputs beyond the contract's three, named ``level0``, ``level1``, ...
    """
    p = spec.preprocessing
    wrapper = wrapper.eval()
    x = torch.rand(2, p.channels, p.input_size, p.input_size) * 2 - 1
    names = [OUTPUT_LOGITS, OUTPUT_CAM, OUTPUT_OOD, *(LEVEL.format(i) for i in range(extra))]
    torch_export(wrapper, x, Path(out), names, opset)
    return write_spec(out, spec)


def torch_export(
    module: nn.Module, x: torch.Tensor, out: Path, outputs: list[str], opset: int = OPSET
) -> None:
    """TorchScript-based export: input ``image``, every input/output with a dynamic batch."""
    out.parent.mkdir(parents=True, exist_ok=True)
    batch = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            module.eval(),
            (x,),
            str(out),
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_axes={name: batch for name in [INPUT_NAME, *outputs]},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def write_spec(path: Path, spec: ModelSpec) -> onnx.ModelProto:
    """Put ``spec`` into the file's metadata (replacing any), full-check, save, and write
    the ``<file>.sha256`` the app checks the file against."""
    model = onnx.load(str(path))
    keep = [(e.key, e.value) for e in model.metadata_props if e.key != METADATA_KEY]
    del model.metadata_props[:]
    for k, v in [*keep, (METADATA_KEY, spec.to_json())]:
        model.metadata_props.add(key=k, value=v)
    model.producer_name = "brain-mri-review training"
    model.doc_string = "Brain MRI slice classifier. Research use only, not for diagnosis."
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    write_sidecar(Path(path))
    return model


def write_sidecar(path: Path) -> str:
    """``<file>.sha256`` in ``sha256sum`` format; returns the hash."""
    sha = file_sha256(path)
    path.with_name(path.name + ".sha256").write_text(f"{sha}  {path.name}\n", encoding="utf-8")
    return sha


def load(path: Path, threads: int = 2) -> Classifier:
    """An exported file, loaded (and checked) exactly as the app loads it."""
    return Classifier.load(path, threads=threads)


def read_spec(path: Path) -> ModelSpec:
    """The ModelSpec in an exported file, as the app reads it."""
    return load(path, threads=1).spec
