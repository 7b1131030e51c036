"""ONNX export of a trained network in the app's model contract, and the parity check.

The exported graph (``desktop.core.model_spec``): input ``image`` (N x C x S x S, dynamic
N) -> ``logits`` (N x K), ``cam`` (N x K x h x w: classifier weights applied to the last
feature map, no bias), ``ood_score`` (N: multi-level Mahalanobis score, :mod:`training.ood`,
computed in the graph from constant buffers). The metadata carries a ``ModelSpec``.

Exporter: torch 2.13's default ``dynamo=True`` path needs ``onnxscript``, which this
project does not install; the TorchScript exporter (``dynamo=False``) exports the
EfficientNet (SiLU, squeeze-excitation, stochastic depth = identity in eval) at opset 17
and passes ``onnx.checker`` with ``full_check=True``. Its deprecation warning is muted here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from numpy.typing import NDArray
from torch import nn

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
from desktop.core.preprocess import to_batch
from training.inputs import (
    DEFAULT_DATA_ROOT,
    DEFAULT_MANIFEST,
    REPO_ROOT,
    counts,
    file_sha256,
    load_checkpoint,
    read_grey,
    read_manifest,
)
from training.ood import MultiLevelScorer, head_all, head_outputs

OPSET = 17
PARITY_TOL = 1e-4
#: mean chroma above which a picture is a colour photograph, not an MRI slice. Measured
#: on the 7,351 training-source slices (desktop.core.readers.common.colourfulness):
#: max 0.048, 99.9th percentile 0.026; natural_images: cat 0.30, grace_hopper 0.20,
#: hot_dog 0.14. Twice the training maximum leaves room for tinted exports.
MAX_COLOUR = 0.10


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
        weight = self.model.classifier_linear.weight
        cam = torch.einsum("kf,nfhw->nkhw", weight, fmap)
        return logits, cam, ood


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
    wrapper: ExportWrapper, spec: ModelSpec, out: Path, opset: int = OPSET
) -> onnx.ModelProto:
    """Export ``wrapper`` to ``out`` with ``spec`` in the metadata; checker full check."""
    p = spec.preprocessing
    wrapper = wrapper.eval()
    x = torch.rand(2, p.channels, p.input_size, p.input_size) * 2 - 1
    torch_export(wrapper, x, Path(out), [OUTPUT_LOGITS, OUTPUT_CAM, OUTPUT_OOD], opset)
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
    """Put ``spec`` into the file's metadata (replacing any), full-check and save."""
    model = onnx.load(str(path))
    keep = [(e.key, e.value) for e in model.metadata_props if e.key != METADATA_KEY]
    del model.metadata_props[:]
    for k, v in [*keep, (METADATA_KEY, spec.to_json())]:
        model.metadata_props.add(key=k, value=v)
    model.producer_name = "brain-mri-review training"
    model.doc_string = "Brain MRI slice classifier. Research use only, not for diagnosis."
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return model


def read_spec(path: Path) -> ModelSpec:
    """The ModelSpec in an ONNX file, read the way the app reads it."""
    props = {e.key: e.value for e in onnx.load(str(path), load_external_data=False).metadata_props}
    return ModelSpec.from_json(props[METADATA_KEY])


def session(path: Path, threads: int = 2) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def parity(
    path: Path, model: nn.Module, wrapper: ExportWrapper, slices: Sequence[NDArray[np.float32]]
) -> dict[str, float]:
    """Max abs differences ONNX (app preprocessing + onnxruntime) vs PyTorch, same slices.

    ``logits`` are compared with the network's own ``forward`` (not the wrapper), so a
    head that is not ``linear(mean(features))`` shows up here.
    """
    spec = read_spec(path)
    batch = to_batch(list(slices), spec.preprocessing)
    outs = session(path).run(None, {INPUT_NAME: batch})
    with torch.inference_mode():
        x = torch.from_numpy(batch)
        ref_logits = model.eval()(x).numpy()
        _, ref_cam, ref_ood = (t.numpy() for t in wrapper.eval()(x))
    return {
        "n": len(slices),
        "logits": float(np.abs(outs[0] - ref_logits).max()),
        "cam": float(np.abs(outs[1] - ref_cam).max()),
        "ood_score_rel": float(np.abs(outs[2] - ref_ood).max() / max(1e-6, np.abs(ref_ood).max())),
    }


def git_version() -> str:
    try:
        run = subprocess.run
        head = run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
        dirty = run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "") or "unknown"


def provenance(
    manifest: Path | None, ckpt: dict[str, Any], calibration: dict[str, Any] | None
) -> dict[str, Any]:
    """Training data summary, manifest hash, calibration summary, code version, date."""
    out: dict[str, Any] = {
        "code_version": git_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "epoch": ckpt.get("epoch"),
        "training_args": _plain(ckpt.get("args")),
        # earlier stages of a model trained in several runs (``--init`` a checkpoint)
        "earlier_stages": [
            {**s, "args": _plain(s.get("args")), **_stage_inputs(s.get("args"))}
            for s in _chain_of(ckpt)
        ],
        # the last stage's distillation teacher and manifest (for the card's commands)
        **_stage_inputs(ckpt.get("args")),
        "intended_use": "research only, not for diagnosis",
    }
    if manifest is not None and Path(manifest).is_file():
        rows = read_manifest(manifest)
        out["manifest"] = {"file": Path(manifest).name, "sha256": file_sha256(Path(manifest))}
        out["training_data"] = {
            "images_by_split": counts(rows, "split"),
            "train_by_source_label": counts(
                [r for r in rows if r.split == "train"], "source", "label"
            ),
        }
    if calibration is not None:
        s = calibration.get("summary", {})
        out["calibration"] = {
            k: s[k]
            for k in (
                "temperature",
                "val_ece_before",
                "val_ece_after",
                "uncertain",
                "ood_threshold",
                "ood_rule",
                "uncertain_rule",
            )
            if k in s
        }
    return out


def _stage_inputs(args: Any) -> dict[str, Any]:
    """What a training run read besides its ``--init``: the manifest's sha256 and, for
    knowledge distillation, the teacher run whose ``predict-logits`` output it used
    (found as ``best.pth`` beside the logits file, while that exists)."""
    d = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    out = _manifest_sha(d)
    logits = d.get("kd_teacher")
    if logits:
        out["teacher"] = _teacher(Path(logits))
    return out


def _manifest_sha(args: dict[str, Any]) -> dict[str, Any]:
    """``{"manifest_sha256": ...}`` of a run's manifest while the file exists, else ``{}``."""
    manifest = args.get("manifest")
    if manifest and Path(manifest).is_file():
        return {"manifest_sha256": file_sha256(Path(manifest))}
    return {}


def _teacher(logits: Path) -> dict[str, Any]:
    """The run(s) behind a teacher logits file: ``LOGITS.json`` (written by
    ``predict-logits``) names the checkpoints; older files: ``best.pth`` beside them."""
    import torch

    teacher: dict[str, Any] = {"logits": str(logits)}
    try:
        record = json.loads(logits.with_suffix(".json").read_text())
        paths = [Path(c) for c in record["checkpoints"]]
        teacher["combine"] = record.get("combine")
    except (OSError, ValueError, KeyError, TypeError):
        paths = [logits.with_name("best.pth")]
    members = []
    for ckpt in paths:
        if ckpt.is_file():
            t = torch.load(ckpt, map_location="cpu", weights_only=False)
            member = {
                "checkpoint": str(ckpt),
                "args": _plain(t.get("args")),
                "epoch": t.get("epoch"),
            }
            members.append({**member, **_manifest_sha(member["args"])})
    if members:
        teacher["members"] = members
    return teacher


def _chain_of(ckpt: dict[str, Any]) -> list[dict[str, Any]]:
    """The earlier stages of a checkpoint: read again from its ``--init`` file while that
    exists (complete even for checkpoints saved before chains were recorded), else the
    chain recorded at training time."""
    from training.train import warm_start_chain

    args = ckpt.get("args") or {}
    d = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    init = d.get("init")
    if init and Path(init).is_file():
        return warm_start_chain(init)
    return list(ckpt.get("init_chain") or [])


def _plain(args: Any) -> dict[str, Any]:
    """Training arguments as JSON-safe values (paths and the like as strings)."""
    d = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    ok = (str, int, float, bool, type(None))
    return {str(k): v if isinstance(v, ok) else str(v) for k, v in sorted(d.items())}


def parity_slices(manifest: Path, data_root: Path, n: int = 12) -> list[NDArray[np.float32]]:
    """Real test-split images when the data is present, else synthetic brain-like slices."""
    out: list[NDArray[np.float32]] = []
    if Path(manifest).is_file() and Path(data_root).is_dir():
        rows = [r for r in read_manifest(manifest) if r.split == "test"]
        for r in rows[:: max(1, len(rows) // n)][:n]:
            g = read_grey(Path(data_root) / r.path)
            if g is not None:
                out.append(g)
    if out:
        return out
    return synthetic_slices(n)


def synthetic_slices(n: int, seed: int = 0) -> list[NDArray[np.float32]]:
    """Grey ellipses with a bright blob, different sizes (stand-ins for brain slices)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(96, 300, 2))
        img = np.zeros((h, w), np.float32)
        cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 0.5, -1)
        cy, cx = int(rng.integers(h // 3, 2 * h // 3)), int(rng.integers(w // 3, 2 * w // 3))
        cv2.circle(img, (cx, cy), max(3, min(h, w) // 10), 0.9, -1)
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
    from training.calibrate import load_calibration

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
