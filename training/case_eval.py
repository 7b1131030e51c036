"""The case rule of a released model: fitted on validation cases, measured on test cases.

A case is one volume as the app sees it: the manifest's ``case`` (patient) and
``sequence`` together, for the volume sources (rows with a ``case``). Every slice goes
through the app's path (:func:`training.evaluate.predict`: readers, preprocessing,
Classifier, ``decide``); the calibrated probabilities and statuses feed
:mod:`training.case_rule`, whose verdict is the app's own
(:func:`desktop.core.verdict.case_verdict`). The fitted :class:`CaseRule` goes into the
model's metadata; case-level sensitivity and specificity on the test cases, with
intervals, into the report and the card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from desktop.core.model_spec import ModelSpec
from training.calibration import softmax
from training.case_rule import case_labels, case_metrics, fit_case_rule, group_cases, verdicts
from training.evaluate import Predictions, predict
from training.manifest import ManifestRow, Split, read_manifest

#: validation cases: the rule keeps at least this share of tumour-free cases cleared
SPECIFICITY_FLOOR = 0.90


def _case_id(r: ManifestRow) -> str:
    return f"{r.source}/{r.case}/{r.sequence or '-'}"


def _inputs(pred: Predictions, spec: ModelSpec) -> tuple[Any, list[str], list[str], Any, Any]:
    probs = softmax(pred.logits, spec.temperature)
    ids = [_case_id(r) for r in pred.rows]
    statuses = [s.value for s in pred.statuses]
    z = np.array([float(r.z or 0) for r in pred.rows])
    labels = case_labels(ids, [r.label for r in pred.rows])
    return probs, statuses, ids, z, labels


def volume_rows(rows: Sequence[ManifestRow], split: Split) -> list[ManifestRow]:
    return [r for r in rows if r.case and r.split is split]


def fit_and_measure(
    onnx_path: Path, manifest: Path, data_root: Path, spec: ModelSpec, n_boot: int = 2000
) -> tuple[ModelSpec, dict[str, Any]]:
    """(spec with the fitted case rule, the report's ``cases`` section)."""
    rows = read_manifest(manifest)
    val = predict(onnx_path, volume_rows(rows, Split.VAL), data_root)
    test = predict(onnx_path, volume_rows(rows, Split.TEST), data_root)
    probs, statuses, ids, z, labels = _inputs(val, spec)
    fit = fit_case_rule(probs, statuses, ids, z, labels, specificity_floor=SPECIFICITY_FLOOR)
    new_spec = replace(spec, case_rule=fit.rule)
    val_found = verdicts(group_cases(probs, statuses, ids, z), fit.rule, spec.class_names)
    t_probs, t_statuses, t_ids, t_z, t_labels = _inputs(test, spec)
    found = verdicts(group_cases(t_probs, t_statuses, t_ids, t_z), fit.rule, spec.class_names)
    by_group: dict[str, dict[str, Any]] = {}

    def group(c: object) -> str:  # "source/case/sequence" -> "source/sequence"
        source, _, sequence = str(c).split("/")
        return f"{source}/{sequence}"

    for key in sorted({group(c) for c in found}):
        sub = [c for c in found if group(c) == key]
        by_group[key] = {
            "cases": len(sub),
            "tumour_cases": sum(t_labels[c] for c in sub),
            "verdicts": {
                v: sum(found[c].verdict.value == v for c in sub)
                for v in sorted({found[c].verdict.value for c in sub})
            },
        }
    section = {
        "definition": "a case = one patient's one sequence (manifest case + sequence) of the"
        " volume sources; slices numbered by the rank of z among the sampled slices (BraTS"
        " tumour slices are every 2nd slice, healthy volunteers 12-16 slices a person), so a"
        " run spans more millimetres than in a full volume",
        "rule": asdict(fit.rule),
        "fit": {
            "specificity_floor": fit.specificity_floor,
            "floor_met": fit.floor_met,
            "validation_sensitivity": fit.sensitivity,
            "validation_referral": fit.referral,
            "validation_specificity": fit.specificity,
            "validation_cases": len(val_found),
        },
        "test": case_metrics(found, t_labels, n_boot),
        "test_by_source_sequence": by_group,
        "test_cases": {
            str(c): {
                "tumour": bool(t_labels[c]),
                "verdict": v.verdict.value,
                "suspected_class": v.suspected_class,
                "tumour_slices": v.tumour_slices,
                "slices": v.slices,
            }
            for c, v in sorted(found.items(), key=lambda kv: str(kv[0]))
        },
    }
    return new_spec, section
