"""Fitting the case rule on validation cases, and case-level metrics with intervals.

The verdict itself is :func:`desktop.core.verdict.case_verdict` (the app's code, used
here unchanged, so the rule is written once). Inputs are per-slice arrays: calibrated
probabilities ``N x K`` (classes in ``class_names`` order), statuses (``Status`` or
their string values, as :func:`desktop.core` decides them), case ids, the slice
position along z, and one label per case (True = the case has a tumour). A case is
one volume, as the app sees it: with the volume sources of ``../shared/data`` that is
``case`` and ``sequence`` of the manifest together (one patient's FLAIR is one case,
the same patient's T1 another).

Slices are numbered within their case by the rank of their z, so slices that the
data sources sampled sparsely (every 2nd slice of a BraTS tumour, 12-16 slices of a
healthy volunteer) are neighbours when no sampled slice lies between them. A run of
``min_run`` in these data therefore spans more millimetres than in a full volume;
the report should say so beside the figures.

Selection (:func:`fit_case_rule`) over a grid of ``slice_threshold`` x ``min_run`` x
``doubt_threshold``: among the candidates whose specificity on the validation cases
is at least ``specificity_floor``, the one with the highest sensitivity; ties go to
the highest referral rate of tumour cases (``tumour_suspected`` or ``uncertain``: a
near miss is shown to the reviewer rather than cleared), then to the higher
specificity, the longer run, the higher slice threshold, the higher doubt threshold.
Sensitivity counts ``tumour_suspected`` verdicts only; specificity counts
``no_tumour`` verdicts only (``uncertain`` and ``error`` are neither a hit nor a
clearance). ``min_classified_fraction`` is given, not fitted (lowering it can only
clear more cases). If no candidate meets the floor, the one with the highest
specificity is chosen and ``floor_met`` is False.

No torch here: numpy and ``desktop.core`` only.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from desktop.core.model_spec import CLASS_NAMES, CaseRule
from desktop.core.results import Status
from desktop.core.verdict import CaseVerdict, Verdict, case_verdict

#: candidate slice thresholds (tumour probability) and run lengths
THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
RUNS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8)
#: candidate near-miss thresholds (only those at or below the slice threshold; the slice
#: threshold itself, "no near misses", is always a candidate)
DOUBTS: tuple[float, ...] = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class _Call:
    status: Status
    probabilities: tuple[float, ...] | None
    slice_index: int


def group_cases(
    probabilities: ArrayLike,
    statuses: Sequence[Status | str],
    case_ids: Sequence[Hashable],
    z: ArrayLike,
) -> dict[Hashable, list[_Call]]:
    """Per case, its slices numbered by the rank of their z (see the module text)."""
    probs = np.asarray(probabilities, dtype=np.float64)
    zs = np.asarray(z, dtype=np.float64)
    if not (len(probs) == len(statuses) == len(case_ids) == len(zs)):
        raise ValueError("probabilities, statuses, case ids and z must have one entry a slice")
    members: dict[Hashable, list[int]] = {}
    for i, c in enumerate(case_ids):
        members.setdefault(c, []).append(i)
    out: dict[Hashable, list[_Call]] = {}
    for c, idx in members.items():
        ordered = sorted(idx, key=lambda i: (zs[i], i))
        out[c] = [
            _Call(Status(statuses[i]), tuple(float(v) for v in probs[i]), rank)
            for rank, i in enumerate(ordered)
        ]
    return out


def case_labels(
    case_ids: Sequence[Hashable], slice_labels: Sequence[str], negative: str = "no_tumor"
) -> dict[Hashable, bool]:
    """A case has a tumour when any of its slices is labelled other than ``negative``."""
    out: dict[Hashable, bool] = {}
    for c, label in zip(case_ids, slice_labels, strict=True):
        out[c] = out.get(c, False) or label != negative
    return out


def verdicts(
    cases: Mapping[Hashable, Sequence[_Call]],
    rule: CaseRule,
    class_names: Sequence[str] = CLASS_NAMES,
) -> dict[Hashable, CaseVerdict]:
    return {c: case_verdict(calls, class_names, rule) for c, calls in cases.items()}


def _rates(
    found: Mapping[Hashable, CaseVerdict], labels: Mapping[Hashable, bool]
) -> tuple[float, float, float]:
    """Sensitivity, referral rate of tumour cases, specificity."""
    pos = [found[c].verdict for c in found if labels[c]]
    neg = [found[c].verdict is Verdict.NO_TUMOUR for c in found if not labels[c]]
    sens = float(np.mean([v is Verdict.TUMOUR_SUSPECTED for v in pos])) if pos else math.nan
    referred = [v in (Verdict.TUMOUR_SUSPECTED, Verdict.UNCERTAIN) for v in pos]
    refer = float(np.mean(referred)) if pos else math.nan
    spec = float(np.mean(neg)) if neg else math.nan
    return sens, refer, spec


@dataclass(frozen=True)
class CaseRuleFit:
    rule: CaseRule
    sensitivity: float
    #: tumour cases suspected or uncertain (shown to the reviewer, not cleared)
    referral: float
    specificity: float
    floor_met: bool
    specificity_floor: float
    #: every candidate: (slice_threshold, min_run, doubt_threshold, sensitivity,
    #: referral, specificity)
    candidates: tuple[tuple[float, int, float, float, float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rule"] = asdict(self.rule)
        d["candidates"] = [list(c) for c in self.candidates]
        return d


def fit_case_rule(
    probabilities: ArrayLike,
    statuses: Sequence[Status | str],
    case_ids: Sequence[Hashable],
    z: ArrayLike,
    labels: Mapping[Hashable, bool],
    *,
    specificity_floor: float = 0.90,
    thresholds: Sequence[float] = THRESHOLDS,
    runs: Sequence[int] = RUNS,
    doubts: Sequence[float] = DOUBTS,
    min_classified_fraction: float = 0.5,
    class_names: Sequence[str] = CLASS_NAMES,
    negative_class: str = "no_tumor",
) -> CaseRuleFit:
    """The case rule chosen on validation cases (see the module text for the criterion)."""
    cases = group_cases(probabilities, statuses, case_ids, z)
    missing = [c for c in cases if c not in labels]
    if missing:
        raise ValueError(f"{len(missing)} case(s) without a label, e.g. {missing[0]!r}")
    if not any(labels[c] for c in cases) or all(labels[c] for c in cases):
        raise ValueError("fitting the case rule needs tumour and tumour-free cases")
    table: list[tuple[float, int, float, float, float, float]] = []
    for t in thresholds:
        for d in sorted({float(t), *(float(x) for x in doubts if x <= t)}):
            for r in runs:
                rule = CaseRule(t, r, d, min_classified_fraction, negative_class)
                sens, refer, spec = _rates(verdicts(cases, rule, class_names), labels)
                table.append((float(t), int(r), d, sens, refer, spec))
    ok = [c for c in table if c[5] >= specificity_floor]
    if ok:
        best = max(ok, key=lambda c: (c[3], c[4], c[5], c[1], c[0], c[2]))
    else:
        best = max(table, key=lambda c: (c[5], c[3], c[4], c[1], c[0], c[2]))
    rule = CaseRule(best[0], best[1], best[2], min_classified_fraction, negative_class)
    return CaseRuleFit(rule, best[3], best[4], best[5], bool(ok), specificity_floor, tuple(table))


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaNs for n = 0)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def case_metrics(
    found: Mapping[Hashable, CaseVerdict],
    labels: Mapping[Hashable, bool],
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Case-level sensitivity and specificity with 95% intervals.

    ``*_ci``: percentile bootstrap over cases, resampling tumour and tumour-free cases
    separately (stratified, so each replicate has both); ``*_wilson``: Wilson score
    intervals, which stay informative when a rate is 0 or 1 on few cases (a bootstrap
    interval then collapses to a point). ``referral``: tumour cases suspected or
    uncertain (shown to the reviewer rather than cleared). Also each verdict's count
    per group.
    """
    pos = np.array([found[c].verdict is Verdict.TUMOUR_SUSPECTED for c in found if labels[c]])
    shown = (Verdict.TUMOUR_SUSPECTED, Verdict.UNCERTAIN)
    referred = np.array([found[c].verdict in shown for c in found if labels[c]])
    neg = np.array([found[c].verdict is Verdict.NO_TUMOUR for c in found if not labels[c]])
    rng = np.random.default_rng(seed)

    def boot(x: np.ndarray) -> tuple[float, float]:
        if not len(x):
            return math.nan, math.nan
        means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        return float(lo), float(hi)

    def shares(tumour: bool) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for c in found:
            if labels[c] == tumour:
                out[found[c].verdict.value] += 1
        return out

    return {
        "tumour_cases": len(pos),
        "tumour_free_cases": len(neg),
        "sensitivity": float(pos.mean()) if len(pos) else math.nan,
        "sensitivity_ci": boot(pos.astype(np.float64)),
        "sensitivity_wilson": wilson(int(pos.sum()), len(pos)),
        "referral": float(referred.mean()) if len(referred) else math.nan,
        "referral_wilson": wilson(int(referred.sum()), len(referred)),
        "specificity": float(neg.mean()) if len(neg) else math.nan,
        "specificity_ci": boot(neg.astype(np.float64)),
        "specificity_wilson": wilson(int(neg.sum()), len(neg)),
        "verdicts_tumour_cases": shares(True),
        "verdicts_tumour_free_cases": shares(False),
        "bootstrap": {"replicates": n_boot, "seed": seed, "stratified": True},
    }
