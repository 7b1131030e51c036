"""Turn the quantised ImageNet MobileNetV2 ``.tflite`` into a torchvision-layout state dict.

``python -m training.studies.tflite_import
[--tflite ../shared/weights/mobilenet_v2_1.0_224_quant.tflite]
[--out CACHE/mobilenet_v2_imagenet_torchvision_layout.pth]``, CACHE being
``training.manifest.DEFAULT_CACHE_DIR`` (``$BRAIN_MRI_CACHE``, else
~/.cache/brain_mri_review/training)

Weights are dequantised ((q - zero_point) * scale); biases are int32 with scale
input_scale * weight_scale. Batch norm was folded into the convolutions, so every
BatchNorm2d gets weight 1, running mean 0, running var 1 - eps and the folded bias:
keep those layers in eval mode when fine-tuning (``create_model`` does). The classifier
drops the background row (1001 -> 1000 outputs). Needs the ``tflite`` package.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from training.manifest import DEFAULT_CACHE_DIR, SHARED
from training.models import MobileNetV2

DEFAULT_TFLITE = SHARED / "weights" / "mobilenet_v2_1.0_224_quant.tflite"
DEFAULT_OUT = DEFAULT_CACHE_DIR / "mobilenet_v2_imagenet_torchvision_layout.pth"


def _dequant(graph, model, index: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    t = graph.Tensors(index)
    buf = model.Buffers(t.Buffer()).DataAsNumpy()
    dtype = {3: np.uint8, 2: np.int32, 9: np.int8, 0: np.float32}[t.Type()]
    raw = np.frombuffer(buf.tobytes(), dtype=dtype).reshape(t.ShapeAsNumpy())
    if dtype == np.float32:
        return raw.astype(np.float32)
    q = t.Quantization()
    scale, zero = q.ScaleAsNumpy(), q.ZeroPointAsNumpy()
    axis = q.QuantizedDimension()
    shape = [1] * raw.ndim
    if np.size(scale) > 1:
        shape[axis] = -1
    s = np.asarray(scale, np.float64).reshape(shape)
    z = np.asarray(zero, np.float64).reshape(shape)
    return ((raw.astype(np.float64) - z) * s).astype(np.float32)


def convs_from_tflite(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight OIHW, bias) of every (depthwise) convolution, in graph order."""
    import tflite

    buf = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    code = {
        i: max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
        for i in range(model.OperatorCodesLength())
    }
    out = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        kind = code[op.OpcodeIndex()]
        if kind not in (tflite.BuiltinOperator.CONV_2D, tflite.BuiltinOperator.DEPTHWISE_CONV_2D):
            continue
        w = _dequant(graph, model, op.Inputs(1))
        b = _dequant(graph, model, op.Inputs(2))
        w = (
            w.transpose(3, 0, 1, 2)
            if kind == tflite.BuiltinOperator.DEPTHWISE_CONV_2D
            else (w.transpose(0, 3, 1, 2))
        )
        out.append((np.ascontiguousarray(w), b.reshape(-1)))
    return out


def convert(tflite_path: Path = DEFAULT_TFLITE) -> dict[str, torch.Tensor]:
    """torchvision ``mobilenet_v2`` state dict (1000 classes) from the .tflite file."""
    convs = convs_from_tflite(tflite_path)
    net = MobileNetV2(num_classes=1000)
    state = net.state_dict()
    conv_keys = [k for k, v in state.items() if k.startswith("features") and v.ndim == 4]
    if len(convs) != len(conv_keys) + 1:
        raise ValueError(f"{tflite_path}: {len(convs)} convolutions, expected {len(conv_keys) + 1}")
    for key, (w, b) in zip(conv_keys, convs, strict=False):
        if tuple(state[key].shape) != w.shape:
            raise ValueError(f"{key}: {w.shape} vs {tuple(state[key].shape)}")
        state[key] = torch.from_numpy(w)
        bn = _bn_prefix(key)
        eps = float(cast(nn.BatchNorm2d, net.get_submodule(bn)).eps)
        state[f"{bn}.weight"] = torch.ones(len(b))
        state[f"{bn}.bias"] = torch.from_numpy(b.copy())
        state[f"{bn}.running_mean"] = torch.zeros(len(b))
        state[f"{bn}.running_var"] = torch.full((len(b),), 1.0 - eps)
    w, b = convs[-1]
    state["classifier.1.weight"] = torch.from_numpy(w.reshape(w.shape[0], -1)[1:].copy())
    state["classifier.1.bias"] = torch.from_numpy(b[1:].copy())
    return state


def _bn_prefix(conv_key: str) -> str:
    """The BatchNorm after a conv: ``x.0.weight`` -> ``x.1``, ``conv.2.weight`` -> ``conv.3``."""
    parts = conv_key.split(".")[:-1]
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tflite", type=Path, default=DEFAULT_TFLITE)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    state = convert(args.tflite)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    print(f"wrote {args.out} ({len(state)} tensors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
