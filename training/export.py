"""Export a checkpoint (and its calibration) to the app's model contract, and check parity.

Parity: the exported file, loaded by the app's :class:`~desktop.core.classifier.Classifier`,
against the PyTorch network, on the same inputs made by the app's own path
(:mod:`desktop.core.inference`) from real test-split files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from desktop.core.inference import prepare, prepare_batch
from desktop.core.model_spec import Thresholds
from training.calibrate import load_calibration
from training.inputs import file_sha256, load_checkpoint, read_slice
from training.manifest import DEFAULT_DATA_ROOT, DEFAULT_MANIFEST, Split, read_manifest
from training.onnx_io import (
    MAX_COLOUR,
    OPSET,
    ExportWrapper,
    build_spec,
    export_onnx,
    load,
)
from training.provenance import provenance

__all__ = [
    "MAX_COLOUR",
    "PARITY_TOL",
    "ExportWrapper",
    "build_spec",
    "default_calibration",
    "export_checkpoint",
    "export_onnx",
    "parity",
    "parity_slices",
    "synthetic_slices",
]

PARITY_TOL = 1e-4


def parity(
    path: Path, model: nn.Module, wrapper: ExportWrapper, slices: Sequence[NDArray[np.float32]]
) -> dict[str, Any]:
    """Max abs differences ONNX (the app's path: Classifier) vs PyTorch, same slices.

    ``logits`` are compared with the network's own ``forward`` (not the wrapper), so a
    head that is not ``linear(mean(features))`` shows up here.
    """
    clf = load(path)
    p = clf.spec.preprocessing
    batch = prepare_batch([prepare(s, p) for s in slices], p)
    outs = clf.outputs(batch)
    with torch.inference_mode():
        x = torch.from_numpy(batch)
        ref_logits = model.eval()(x).numpy()
        _, ref_cam, ref_ood = (t.numpy() for t in wrapper.eval()(x))
    return {
        "n": len(slices),
        "logits": float(np.abs(outs.logits - ref_logits).max()),
        "cam": float(np.abs(outs.cam - ref_cam).max()),
        "ood_score_rel": float(np.abs(outs.ood - ref_ood).max() / max(1e-6, np.abs(ref_ood).max())),
    }


def parity_slices(manifest: Path, data_root: Path, n: int = 12) -> list[NDArray[np.float32]]:
    """Real test-split images when the data is present, else synthetic brain-like slices."""
    out: list[NDArray[np.float32]] = []
    if Path(manifest).is_file() and Path(data_root).is_dir():
        rows = [r for r in read_manifest(manifest) if r.split is Split.TEST]
        for r in rows[:: max(1, len(rows) // n)][:n]:
            s = read_slice(r.file(data_root))
            if s is not None:
                out.append(s.pixels)
    if out:
        return out
    return synthetic_slices(n)


def synthetic_slices(n: int, seed: int = 0) -> list[NDArray[np.float32]]:
    """Grey ellipses with a bright blob, different sizes (stand-ins for brain slices)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(96, 300, 2))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.where(((yy - h // 2) / (h // 3)) ** 2 + ((xx - w // 2) / (w // 3)) ** 2 <= 1,
                       0.5, 0.0).astype(np.float32)  # fmt: skip
        cy, cx = int(rng.integers(h // 3, 2 * h // 3)), int(rng.integers(w // 3, 2 * w // 3))
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= max(3, min(h, w) // 10) ** 2] = 0.9
        out.append(np.clip(img + rng.normal(0, 0.03, img.shape).astype(np.float32), 0, 1))
    return out


def export_checkpoint(
    checkpoint: Path,
    out: Path,
    calibration: Path | None = None,
    manifest: Path | None = DEFAULT_MANIFEST,
    data_root: Path = DEFAULT_DATA_ROOT,
    opset: int = OPSET,
    blank_std: float = Thresholds.blank_std,
    strict: bool = True,
) -> dict[str, Any]:
    """Export a checkpoint (+ its calibration) and check parity; returns a summary.

    ``strict``: raise when ONNX and PyTorch logits differ by more than PARITY_TOL
    (otherwise the difference is only reported, with ``parity["ok"] = False``).
    """
    model, prep, ckpt = load_checkpoint(checkpoint)
    cal, scorer = (None, None) if calibration is None else load_calibration(calibration)
    thresholds = Thresholds(
        uncertain=float(cal["uncertain"]) if cal else Thresholds.uncertain,
        ood_score=float(cal["ood_threshold"]) if cal else float("inf"),
        blank_std=blank_std,
        max_colour=MAX_COLOUR,
    )
    spec = build_spec(
        prep,
        str(ckpt["arch"]),
        cal["temperature"] if cal else 1.0,
        thresholds,
        provenance(manifest, ckpt, cal),
    )
    wrapper = ExportWrapper(model, scorer).eval()
    export_onnx(wrapper, spec, out, opset)
    slices = parity_slices(manifest or DEFAULT_MANIFEST, data_root)
    diffs = parity(out, model, wrapper, slices)
    diffs["ok"] = diffs["logits"] <= PARITY_TOL
    if strict and not diffs["ok"]:
        raise RuntimeError(f"ONNX/PyTorch logits differ by {diffs['logits']:.2e} > {PARITY_TOL}")
    return {
        "onnx": str(out),
        "sha256": file_sha256(Path(out)),
        "parity": diffs,
        "calibrated": cal is not None,
        "spec": json.loads(spec.to_json()),
    }


def default_calibration(checkpoint: Path) -> Path | None:
    cand = Path(checkpoint).with_suffix(".calibration.pt")
    return cand if cand.is_file() else None
