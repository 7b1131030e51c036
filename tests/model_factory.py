"""A small, deterministic ONNX model that follows the contract in ``desktop.core.model_spec``.

Test fixture only: never shipped. The graph is

    image (N x C x S x S)
      -> Conv (C -> F channels, 4x4 kernel, stride 4) + bias -> Relu      = features
      -> Conv 1x1 with the linear weights W (K x F), no bias               = cam (N x K x S/4 x S/4)
      -> GlobalAveragePool -> Flatten -> + b                               = logits (N x K)
    features -> GlobalAveragePool -> distance from a constant centre       = ood_score (N)

so logits = W @ mean(features) + b (exactly a class-activation-map classifier), and
different images give different classes. Weights come from a fixed seed; the
ood_score is the distance of the pooled features from their centre on real slices.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

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

OPSET = 17
#: thresholds of the default test model: real slices are mostly below ood 1.0, noise
#: and stripes above 1.4, so every status can occur
DEFAULT_THRESHOLDS = Thresholds(uncertain=0.6, ood_score=1.2, blank_std=0.01)
N_FEATURES = 8
STRIDE = 4


def make_test_spec(
    input_size: int = 32,
    *,
    temperature: float = 1.0,
    thresholds: Thresholds | None = None,
    channels: int = 3,
    class_names: tuple[str, ...] = CLASS_NAMES,
) -> ModelSpec:
    """The ModelSpec the test model carries (also handy to compare against)."""
    return ModelSpec(
        preprocessing=Preprocessing(input_size=input_size, channels=channels),
        class_names=class_names,
        temperature=temperature,
        thresholds=thresholds or DEFAULT_THRESHOLDS,
        architecture="test_cam_net",
        provenance={"fixture": "tests/model_factory.py", "trained": False},
    )


#: pooled-feature centre of real brain MRI slices for the default seed (measured once on
#: 300 Sartaj slices); the bias makes logits W @ (features - centre), so real slices
#: spread over all four classes. The model is untrained: its classes mean nothing.
CENTRE_SEED_11 = (1.223, 0.333, 0.443, 0.189, 0.604, 0.364, 0.572, 0.085)
LOGIT_SCALE = 12.0


def fixed_weights(channels: int = 3, n_classes: int = 4, seed: int = 11) -> dict[str, Any]:
    """The fixed weights of the test model (numpy arrays), for tests that recompute outputs."""
    rng = np.random.default_rng(seed)
    conv_w = rng.normal(0.0, 0.5, (N_FEATURES, channels, STRIDE, STRIDE)).astype(np.float32)
    conv_b = rng.normal(0.0, 0.2, (N_FEATURES,)).astype(np.float32)
    lin_w = (rng.normal(0.0, 1.0, (n_classes, N_FEATURES)) * LOGIT_SCALE).astype(np.float32)
    if seed == 11:
        centre = np.asarray(CENTRE_SEED_11, dtype=np.float32)
    else:
        centre = np.full((N_FEATURES,), 0.5, dtype=np.float32)
    lin_b = (-lin_w @ centre).astype(np.float32)
    return {"conv_w": conv_w, "conv_b": conv_b, "lin_w": lin_w, "lin_b": lin_b, "centre": centre}


def make_test_model(
    path: str | Path,
    input_size: int = 32,
    *,
    temperature: float = 1.0,
    thresholds: Thresholds | None = None,
    spec: ModelSpec | None = None,
    metadata: str | None = None,
    omit_outputs: tuple[str, ...] = (),
    schema_version: int | None = None,
    seed: int = 11,
) -> Path:
    """Write the test model to ``path`` and return it.

    ``spec`` overrides the generated ModelSpec; ``metadata`` replaces the JSON text
    verbatim (for malformed-metadata tests; ``""`` writes no metadata entry at all);
    ``omit_outputs`` drops outputs by name; ``schema_version`` forces a version number.
    """
    if input_size % STRIDE:
        raise ValueError(f"input_size must be a multiple of {STRIDE}")
    spec = spec or make_test_spec(input_size, temperature=temperature, thresholds=thresholds)
    if schema_version is not None:
        spec = replace(spec, schema_version=schema_version)
    s = spec.preprocessing.input_size
    c = spec.preprocessing.channels
    k = len(spec.class_names)
    w = fixed_weights(c, k, seed)
    inits = [
        numpy_helper.from_array(w["conv_w"], "conv_w"),
        numpy_helper.from_array(w["conv_b"], "conv_b"),
        numpy_helper.from_array(w["lin_w"].reshape(k, N_FEATURES, 1, 1), "lin_w"),
        numpy_helper.from_array(w["lin_b"], "lin_b"),
        numpy_helper.from_array(w["centre"].reshape(1, N_FEATURES, 1, 1), "centre"),
    ]
    nodes = [
        helper.make_node(
            "Conv", [INPUT_NAME, "conv_w", "conv_b"], ["pre"], kernel_shape=[4, 4], strides=[4, 4]
        ),
        helper.make_node("Relu", ["pre"], ["features"]),
        helper.make_node("Conv", ["features", "lin_w"], [OUTPUT_CAM], kernel_shape=[1, 1]),
        helper.make_node("GlobalAveragePool", [OUTPUT_CAM], ["cam_pooled"]),
        helper.make_node("Flatten", ["cam_pooled"], ["cam_flat"], axis=1),
        helper.make_node("Add", ["cam_flat", "lin_b"], [OUTPUT_LOGITS]),
        helper.make_node("GlobalAveragePool", ["features"], ["feat_pooled"]),
        helper.make_node("Sub", ["feat_pooled", "centre"], ["feat_diff"]),
        helper.make_node("ReduceSumSquare", ["feat_diff"], ["sq"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Sqrt", ["sq"], [OUTPUT_OOD]),
    ]
    h = s // STRIDE
    outputs = [
        helper.make_tensor_value_info(OUTPUT_LOGITS, TensorProto.FLOAT, ["N", k]),
        helper.make_tensor_value_info(OUTPUT_CAM, TensorProto.FLOAT, ["N", k, h, h]),
        helper.make_tensor_value_info(OUTPUT_OOD, TensorProto.FLOAT, ["N"]),
    ]
    outputs = [o for o in outputs if o.name not in omit_outputs]
    graph = helper.make_graph(
        nodes,
        "test_cam_net",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", c, s, s])],
        outputs,
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="tests.model_factory",
    )
    model.ir_version = 8
    text = spec.to_json() if metadata is None else metadata
    if text != "":
        helper.set_model_props(model, {METADATA_KEY: text})
    onnx.checker.check_model(model, full_check=True)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def reference_outputs(batch: np.ndarray, seed: int = 11) -> dict[str, np.ndarray]:
    """The test model's outputs for an N x C x S x S batch, computed in numpy."""
    n, c, s, _ = batch.shape
    w = fixed_weights(c, 4, seed)
    h = s // STRIDE
    patches = batch.reshape(n, c, h, STRIDE, h, STRIDE)
    pre = np.einsum("nciajb,fcab->nfij", patches, w["conv_w"]) + w["conv_b"][None, :, None, None]
    feats = np.maximum(pre, 0.0)
    cam = np.einsum("kf,nfij->nkij", w["lin_w"], feats)
    logits = cam.mean(axis=(2, 3)) + w["lin_b"]
    pooled = feats.mean(axis=(2, 3))
    ood = np.sqrt(((pooled - w["centre"]) ** 2).sum(axis=1))
    return {OUTPUT_LOGITS: logits, OUTPUT_CAM: cam, OUTPUT_OOD: ood}


if __name__ == "__main__":  # python -m tests.model_factory OUT.onnx [INPUT_SIZE]
    import sys

    size = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    print(make_test_model(sys.argv[1], size))
