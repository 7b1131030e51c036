"""Evaluation THROUGH the exported ONNX file and the app's own path.

Every test image goes through :mod:`desktop.core.inference` exactly as in the app: its
readers, its preprocessing (from the file's metadata), its Classifier, and its status
rule :func:`desktop.core.decide.decide` (firm calls, coverage and the probes' statuses
are the app's ``ok`` / ``uncertain`` / ``unsupported``). Metrics (with cluster-bootstrap
95% intervals, :mod:`training.metrics`) on the manifest's test split, overall and by
source; the Sartaj ``Testing`` folder on its own line; calibration, the ``uncertain``
threshold and the OOD probes on the exported model. The result is one JSON-able dict
(``models/report.json``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from desktop.core.classifier import Classifier
from desktop.core.inference import Call, classify, prepare
from desktop.core.model_spec import CLASS_NAMES, ModelSpec
from desktop.core.results import Status
from training.calibration import expected_calibration_error, reliability_bins, softmax
from training.inputs import file_sha256, read_inputs, read_slice
from training.manifest import NO_TUMOR, PARTIAL, ManifestRow, Split, read_manifest, source_order
from training.metrics import cluster_ids, confusion, labelled, metrics_with_ci
from training.onnx_io import load
from training.probes import all_probes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Predictions:
    """ONNX outputs and the app's calls for manifest rows (unreadable files are left out)."""

    rows: tuple[ManifestRow, ...]
    logits: NDArray[np.float32]
    ood: NDArray[np.float32]
    #: the app's status of every row (:func:`desktop.core.decide.decide`)
    statuses: tuple[Status, ...]

    @property
    def labels(self) -> NDArray[np.int64]:
        return np.array([r.label_index for r in self.rows], dtype=np.int64)

    @property
    def firm(self) -> NDArray[np.bool_]:
        """Rows the app shows as ``ok``."""
        return np.array([s is Status.OK for s in self.statuses], dtype=bool)

    def subset(self, mask: NDArray[np.bool_]) -> Predictions:
        idx = np.flatnonzero(mask)
        return Predictions(
            tuple(self.rows[i] for i in idx),
            self.logits[idx],
            self.ood[idx],
            tuple(self.statuses[i] for i in idx),
        )


def _read(
    rows: Sequence[ManifestRow], root: Path, spec: ModelSpec
) -> tuple[list[ManifestRow], list[Any]]:
    return read_inputs(rows, root, spec.preprocessing)


def predict(
    onnx_path: Path, rows: Sequence[ManifestRow], data_root: Path, batch_size: int = 32
) -> Predictions:
    """Run every row through the app's path (decoding overlaps inference)."""
    clf = load(onnx_path)
    spec = clf.spec
    chunks = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    kept: list[ManifestRow] = []
    calls: list[Call] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = [pool.submit(_read, c, Path(data_root), spec) for c in chunks[:2]]
        for i in range(len(chunks)):
            rows_i, items = pending.pop(0).result()
            if i + 2 < len(chunks):
                pending.append(pool.submit(_read, chunks[i + 2], Path(data_root), spec))
            if not rows_i:
                continue
            kept.extend(rows_i)
            calls.extend(classify(clf, items))
    k = len(spec.class_names)
    return Predictions(
        tuple(kept),
        np.stack([c.logits for c in calls]) if calls else np.zeros((0, k), np.float32),
        np.array([c.ood_score for c in calls], dtype=np.float32),
        tuple(c.verdict.status for c in calls),
    )


def summarise(
    pred: Predictions, spec: ModelSpec, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Metrics with intervals, confusion, calibration and threshold effects for a set."""
    y = pred.labels
    probs = softmax(pred.logits, spec.temperature)
    p = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    lab = labelled(y)
    out: dict[str, Any] = {
        "n": int(len(y)),
        "n_labelled": int(lab.sum()),
        "n_partial_tumor": int((y == PARTIAL).sum()),
        "metrics": metrics_with_ci(y, p, cluster_ids([r.cluster for r in pred.rows]), n_boot, seed),
        "confusion": confusion(y, p).astype(int).tolist(),
        "partial_tumor_predicted": np.bincount(
            p[y == PARTIAL], minlength=len(CLASS_NAMES)
        ).tolist(),
    }
    if lab.any():
        correct = p[lab] == y[lab]
        # coverage = the app's ``ok`` (decide: blank, colour, OOD and confidence checks)
        accepted = pred.firm[lab]
        by_confidence = conf[lab] >= spec.thresholds.uncertain
        out["ece_uncalibrated"] = expected_calibration_error(softmax(pred.logits[lab]), y[lab])
        out["ece_calibrated"] = expected_calibration_error(probs[lab], y[lab])
        out["reliability"] = reliability_bins(probs[lab], y[lab])
        out["uncertain"] = {
            "threshold": spec.thresholds.uncertain,
            "coverage": float(accepted.mean()),
            "error_rate_accepted": float(1 - correct[accepted].mean()) if accepted.any() else 0.0,
            "error_rate_all": float(1 - correct.mean()),
            "coverage_by_confidence_alone": float(by_confidence.mean()),
        }
    out["ood_flagged_rate"] = (
        float((pred.ood > spec.thresholds.ood_score).mean()) if len(y) else 0.0
    )
    out["by_status"] = {s.value: int(sum(x is s for x in pred.statuses)) for s in Status}
    out["firm"] = firm_calls(y, p, pred, n_boot, seed)
    return out


def firm_calls(
    y: NDArray[np.int64], p: NDArray[np.int64], pred: Predictions, n_boot: int, seed: int
) -> dict[str, Any]:
    """The calls the app shows as ``ok`` (:func:`desktop.core.decide.decide`: not blank,
    not a colour picture, in distribution, calibrated confidence at the threshold).

    These are what a reader may take at face value, so their errors matter most: above
    all a tumour slice given a firm ``no_tumor`` (a silent miss). ``silent_miss_rate``
    is over all tumour slices (type-unknown included), whatever their status.
    """
    firm = pred.firm
    tumour = y != NO_TUMOR
    clusters = cluster_ids([r.cluster for r in pred.rows])
    misses = int((tumour & firm & (p == NO_TUMOR)).sum())
    return {
        "n": int(firm.sum()),
        "coverage": float(firm.mean()) if len(y) else 0.0,
        "metrics": metrics_with_ci(y[firm], p[firm], clusters[firm], n_boot, seed)
        if firm.any()
        else {},
        "silent_misses": misses,
        "silent_miss_rate": float(misses / tumour.sum()) if tumour.any() else 0.0,
        "n_tumour": int(tumour.sum()),
    }


def sartaj_testing(
    pred: Predictions, manifest: Sequence[ManifestRow], spec: ModelSpec, n_boot: int, seed: int
) -> dict[str, Any]:
    """The Sartaj Testing folder as its own line, with why it is not an honest test."""
    train_clusters = {
        r.cluster for r in manifest if r.source == "sartaj" and r.subset == "Training"
    }
    testing = [r for r in manifest if r.source == "sartaj" and r.subset == "Testing"]
    with_copy = [r for r in testing if r.cluster in train_clusters]
    in_train = sum(r.split is Split.TRAIN for r in testing)
    n = len(testing)
    pct = 100.0 * len(with_copy) / max(1, n)
    out = summarise(pred, spec, n_boot, seed)
    out.update(
        {
            "n_images": n,
            "n_with_copy_in_sartaj_training": len(with_copy),
            "with_copy_by_label": _count([r.label for r in with_copy]),
            "by_label": _count([r.label for r in testing]),
            "by_our_split": _count([r.split for r in testing]),
            "why_not_honest": (
                f"Sartaj's Testing folder is not an independent test: {len(with_copy)} of its "
                f"{n} images ({pct:.0f}%) fall in the same near-duplicate cluster as an image "
                f"in Sartaj Training, so a network trained on that folder has seen most of "
                f"them (here {in_train} of them are in our own training split); a score on it "
                f"measures recall of seen images as much as generalisation."
            ),
        }
    )
    return out


def _count(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def probe_table(clf: Classifier, brains: Sequence[NDArray[np.float32]]) -> dict[str, Any]:
    """OOD score, call and the app's status of every probe image through the exported model."""
    spec = clf.spec
    probes = all_probes(brains)
    names = list(probes)
    items = [prepare(probes[n].pixels, spec.preprocessing, probes[n].colour) for n in names]
    calls = classify(clf, items)
    table = {}
    for n, item, c in zip(names, items, calls, strict=True):
        table[n] = {
            "ood_score": c.ood_score,
            "above_ood_threshold": c.ood_score > spec.thresholds.ood_score,
            "blank_by_std": item.checks.std < spec.thresholds.blank_std,
            "colour": item.checks.colour,
            "status": c.verdict.status.value,
            "message": c.verdict.message,
            "unsupported": c.verdict.status is Status.UNSUPPORTED,
            "would_call": spec.class_names[c.top],
            "confidence": float(c.probabilities.max()),
        }
    return table


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """Wilson score 95% interval of a proportion k / n ([nan, nan] for n = 0)."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / d
    return [round(max(0.0, c - h), 4), round(min(1.0, c + h), 4)]


def detection_table(pred: Predictions, spec: ModelSpec) -> dict[str, Any]:
    """Per source and MR sequence: tumour slices detected (not called no_tumor) and
    tumour-free slices called no_tumor, by the top class and by firm (``ok``) calls.

    A slice counts as detected when the top class is a tumour, whatever the status; the
    ``firm`` figures count only ``ok`` calls (an abstention is neither a hit nor a miss).
    Intervals are Wilson 95% over slices (slices of one patient are not independent: the
    number of patients is given beside them).
    """
    probs = softmax(pred.logits, spec.temperature)
    top = probs.argmax(axis=1)
    firm = pred.firm
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(pred.rows):
        seq = r.sequence or "sequence not recorded"
        groups.setdefault(f"{r.source}/{seq}", []).append(i)
    out: dict[str, Any] = {}
    for key in sorted(groups):
        idx = np.array(groups[key])
        y = pred.labels[idx]
        row: dict[str, Any] = {"n": int(len(idx))}
        row["patients"] = len({pred.rows[i].case for i in idx if pred.rows[i].case}) or None
        for name, mask, good in (
            ("tumour", y != NO_TUMOR, top[idx] != NO_TUMOR),
            ("no_tumor", y == NO_TUMOR, top[idx] == NO_TUMOR),
        ):
            n = int(mask.sum())
            if not n:
                continue
            k = int((good & mask).sum())
            f = firm[idx] & mask
            row[name] = {
                "n": n,
                "rate": round(k / n, 4),
                "ci95": wilson(k, n),
                "firm_coverage": round(float(f.sum() / n), 4),
                "firm_rate": round(float((good & f).sum() / max(int(f.sum()), 1)), 4),
                "firm_wrong": int((f & ~good).sum()),
            }
        if (y == CLASS_NAMES.index("glioma")).any():
            g = y == CLASS_NAMES.index("glioma")
            row["glioma_recall"] = round(float((top[idx][g] == y[g]).mean()), 4)
        out[key] = row
    return out


def _sequence_masks(pred: Predictions) -> dict[str, NDArray[np.bool_]]:
    """Volume-source rows grouped by source/sequence (loose-slice sources have none)."""
    keys = np.array([f"{r.source}/{r.sequence}" if r.sequence else "" for r in pred.rows])
    return {k: keys == k for k in sorted(set(keys.tolist())) if k}


def leakage_audit(manifest_path: Path) -> dict[str, Any] | None:
    """The split's leakage audit (``audit.json`` beside the manifest, written by ``split``)."""
    path = manifest_path.with_name("audit.json")
    try:
        audit = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if "protocol" in audit:  # the honest split (training.yardstick)
        dropped = audit.get("dropped_from_train_near_heldout") or {}
        return {
            "file": path.name,
            "protocol": audit["protocol"],
            "dropped_from_train_near_heldout": dropped.get("count"),
            "heldout_max_similarity_to_train": audit.get("heldout_max_similarity_to_train"),
            "conflicting_clusters": audit.get("conflicting_clusters"),
            "patients_split_source": audit.get("patients_split_source"),
        }
    conflicting = audit.get("conflicting_clusters") or {}
    return {
        "file": path.name,
        "threshold": audit.get("threshold"),
        "by_threshold": audit.get("leakage") or [],
        "conflicting_clusters": conflicting.get("count"),
        "conflicting_images": conflicting.get("images"),
        "conflict_policy": conflicting.get("policy"),
    }


def evaluate_model(
    onnx_path: Path,
    manifest_path: Path,
    data_root: Path,
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 32,
    name: str | None = None,
) -> dict[str, Any]:
    """The full evaluation report of one exported model (JSON-able)."""
    t0 = time.time()
    clf = load(onnx_path)
    spec = clf.spec
    manifest = read_manifest(manifest_path)
    manifest_sha = file_sha256(Path(manifest_path))
    trained_on = (spec.provenance.get("manifest") or {}).get("sha256")
    if trained_on not in (None, manifest_sha):
        log.warning("%s is not the manifest the model was exported with", manifest_path)
    is_sartaj_testing = [r.source == "sartaj" and r.subset == "Testing" for r in manifest]
    wanted = [
        r for r, st in zip(manifest, is_sartaj_testing, strict=True) if r.split is Split.TEST or st
    ]
    pred = predict(onnx_path, wanted, data_root, batch_size)
    if not pred.rows:
        raise SystemExit(f"no test image could be read under {data_root}")
    in_test = np.array([r.split is Split.TEST for r in pred.rows])
    test = pred.subset(in_test)
    sources = np.array([r.source for r in test.rows])
    brains = [
        s.pixels
        for r in test.rows[:: max(1, len(test.rows) // 3)][:3]
        if (s := read_slice(r.file(data_root))) is not None
    ]
    report: dict[str, Any] = {
        "name": name or spec.architecture,
        "model": {
            "file": Path(onnx_path).name,
            "sha256": file_sha256(Path(onnx_path)),
            "architecture": spec.architecture,
            "input_size": spec.preprocessing.input_size,
            "temperature": spec.temperature,
            "thresholds": {
                "uncertain": spec.thresholds.uncertain,
                "ood_score": spec.thresholds.ood_score,
                "blank_std": spec.thresholds.blank_std,
                "max_colour": spec.thresholds.max_colour,
            },
            "code_version": spec.provenance.get("code_version"),
            "validation_calibration": spec.provenance.get("calibration"),
            "training_data": spec.provenance.get("training_data"),
            "training_args": spec.provenance.get("training_args"),
            "earlier_stages": spec.provenance.get("earlier_stages") or [],
            "teacher": spec.provenance.get("teacher"),
            "pretrained": spec.provenance.get("pretrained"),
            "manifest_sha256": spec.provenance.get("manifest_sha256"),
        },
        "manifest": {
            "file": Path(manifest_path).name,
            "sha256": manifest_sha,
            "same_as_training": trained_on in (None, manifest_sha),
        },
        "leakage_audit": leakage_audit(Path(manifest_path)),
        "n_unreadable": len(wanted) - len(pred.rows),
        "test": summarise(test, spec, n_boot, seed),
        "by_source": {
            s: summarise(test.subset(sources == s), spec, n_boot, seed)
            for s in sorted(set(sources), key=source_order)
        },
        "by_source_sequence": detection_table(test, spec),
        "by_source_sequence_summary": {
            key: summarise(test.subset(mask), spec, min(n_boot, 300), seed)
            for key, mask in _sequence_masks(test).items()
        },
        "sartaj_testing": sartaj_testing(
            pred.subset(
                np.array([r.source == "sartaj" and r.subset == "Testing" for r in pred.rows])
            ),
            manifest,
            spec,
            n_boot,
            seed,
        ),
        "ood_probes": probe_table(clf, brains),
    }
    report["all_probes_unsupported"] = all(v["unsupported"] for v in report["ood_probes"].values())
    report["seconds"] = round(time.time() - t0, 1)
    return report
