"""Fitting the case rule on synthetic cases, and case-level metrics with intervals."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop.core.model_spec import CaseRule
from desktop.core.results import Status
from desktop.core.verdict import Verdict
from training.case_rule import (
    case_labels,
    case_metrics,
    fit_case_rule,
    group_cases,
    verdicts,
    wilson,
)

REPO = Path(__file__).resolve().parents[2]


def probs(p_tumour: float) -> list[float]:
    """glioma, meningioma, no_tumor, pituitary with the given tumour probability."""
    return [p_tumour * 0.8, p_tumour * 0.1, 1.0 - p_tumour, p_tumour * 0.1]


def synthetic(seed: int = 0, n_tumour: int = 20, n_healthy: int = 30):
    """Tumour cases: a block of 4-6 adjacent slices at p = 0.88-0.99. Healthy cases: one
    or two isolated slices at p = 0.9 (skull base, vertex), the rest low. z is sparse
    (every 2nd slice) and given out of order."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, float, list[float], str]] = []
    for c in range(n_tumour):
        start, length = int(rng.integers(2, 8)), int(rng.integers(4, 7))
        for k in range(16):
            p = rng.uniform(0.88, 0.99) if start <= k < start + length else rng.uniform(0, 0.3)
            rows.append((f"t{c}", 2.0 * k, probs(p), "glioma" if p > 0.5 else "no_tumor"))
    for c in range(n_healthy):
        stray = {0, 15} if c % 2 else {int(rng.integers(0, 16))}
        for k in range(16):
            p = 0.9 if k in stray else rng.uniform(0, 0.3)
            rows.append((f"h{c}", 2.0 * k, probs(p), "no_tumor"))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    case_ids = [r[0] for r in rows]
    z = np.array([r[1] for r in rows])
    p = np.array([r[2] for r in rows])
    statuses = [Status.OK if max(r[2]) >= 0.6 else Status.UNCERTAIN.value for r in rows]
    labels = case_labels(case_ids, [r[3] for r in rows])
    return p, statuses, case_ids, z, labels


def test_slices_are_numbered_by_rank_of_z() -> None:
    cases = group_cases([probs(0.1)] * 3, ["ok"] * 3, ["a", "a", "a"], [10.0, 2.0, 6.0])
    assert [c.slice_index for c in cases["a"]] == [0, 1, 2]
    assert [round(1 - c.probabilities[2], 3) for c in cases["a"]] == [0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match="one entry a slice"):
        group_cases([probs(0.1)], ["ok", "ok"], ["a"], [0.0])


def test_case_labels_any_tumour_slice() -> None:
    labels = case_labels(["a", "a", "b"], ["no_tumor", "glioma", "no_tumor"])
    assert labels == {"a": True, "b": False}


def test_fit_picks_a_run_that_ignores_stray_slices() -> None:
    p, statuses, case_ids, z, labels = synthetic()
    fit = fit_case_rule(p, statuses, case_ids, z, labels, specificity_floor=0.95)
    assert fit.floor_met and fit.sensitivity == 1.0 and fit.specificity == 1.0
    # one stray slice (or two apart) must not be enough: a run of 1 fails on healthy cases
    assert 2 <= fit.rule.min_run <= 4 and fit.rule.slice_threshold <= 0.88
    single = [c for c in fit.candidates if c[1] == 1 and c[0] <= 0.9]
    assert single and all(c[5] < 0.95 for c in single)
    # the chosen rule gives the same figures when applied by the app's verdict function
    found = verdicts(group_cases(p, statuses, case_ids, z), fit.rule)
    assert all(found[c].verdict is Verdict.TUMOUR_SUSPECTED for c in found if labels[c])
    assert fit.to_dict()["rule"]["min_run"] == fit.rule.min_run


def test_fit_says_when_the_floor_cannot_be_met() -> None:
    p, statuses, case_ids, z, labels = synthetic()
    fit = fit_case_rule(
        p, statuses, case_ids, z, labels, specificity_floor=0.95, runs=(1,), thresholds=(0.7, 0.9)
    )
    assert not fit.floor_met and fit.rule.min_run == 1
    assert fit.specificity == max(c[5] for c in fit.candidates)


def test_fit_refers_a_near_miss_when_the_floor_allows() -> None:
    blocks = {  # case: (tumour?, P(tumour) of its 10 slices)
        "A": (True, [0.05] * 3 + [0.95] * 3 + [0.05] * 4),
        "B": (True, [0.05] * 3 + [0.6] * 3 + [0.05] * 4),  # a near miss
        "C": (False, [0.05] * 5 + [0.6] * 2 + [0.05] * 3),  # two leaning slices
        "D": (False, [0.05] * 10),
    }
    case_ids = [c for c, (_, ps) in blocks.items() for _ in ps]
    p = np.array([probs(x) for _, ps in blocks.values() for x in ps])
    z = [float(k) for _, ps in blocks.values() for k in range(len(ps))]
    statuses = ["ok"] * len(z)
    labels = {c: t for c, (t, _) in blocks.items()}
    fit = fit_case_rule(p, statuses, case_ids, z, labels, thresholds=(0.8,))
    assert fit.rule == CaseRule(0.8, 3, 0.5, 0.5)
    assert (fit.sensitivity, fit.referral, fit.specificity) == (0.5, 1.0, 1.0)
    found = verdicts(group_cases(p, statuses, case_ids, z), fit.rule)
    assert found["B"].verdict is Verdict.UNCERTAIN and found["C"].verdict is Verdict.NO_TUMOUR


def test_fit_needs_both_kinds_of_case_and_every_label() -> None:
    p, statuses, case_ids, z, labels = synthetic()
    with pytest.raises(ValueError, match="without a label"):
        fit_case_rule(p, statuses, case_ids, z, {"t0": True})
    only_tumour = {c: True for c in labels}
    with pytest.raises(ValueError, match="tumour and tumour-free"):
        fit_case_rule(p, statuses, case_ids, z, only_tumour)


def test_metrics_with_intervals() -> None:
    p, statuses, case_ids, z, labels = synthetic(seed=3, n_tumour=10, n_healthy=40)
    rule = CaseRule(slice_threshold=0.85, min_run=1)  # flags every healthy case with a stray
    m = case_metrics(verdicts(group_cases(p, statuses, case_ids, z), rule), labels, n_boot=500)
    assert m["tumour_cases"] == 10 and m["tumour_free_cases"] == 40
    assert m["sensitivity"] == 1.0 and m["specificity"] == 0.0
    assert m["sensitivity_ci"] == (1.0, 1.0)  # a bootstrap interval collapses at 1 ...
    lo, hi = m["sensitivity_wilson"]  # ... a Wilson interval does not
    assert 0.65 < lo < 0.75 and hi == pytest.approx(1.0)
    assert m["verdicts_tumour_free_cases"]["tumour_suspected"] == 40
    again = case_metrics(
        verdicts(group_cases(p, statuses, case_ids, z), CaseRule(0.85, 3)), labels, n_boot=500
    )
    assert again["specificity"] == 1.0


def test_bootstrap_interval_brackets_the_rate() -> None:
    from desktop.core.verdict import CaseVerdict

    def v(verdict: Verdict) -> CaseVerdict:
        return CaseVerdict(verdict, None, None, None, 0, 1, {}, "")

    found = {
        f"p{i}": v(Verdict.TUMOUR_SUSPECTED if i < 18 else Verdict.UNCERTAIN) for i in range(20)
    }
    found.update({f"n{i}": v(Verdict.NO_TUMOUR if i < 27 else Verdict.ERROR) for i in range(30)})
    labels = {c: c.startswith("p") for c in found}
    m = case_metrics(found, labels, n_boot=2000, seed=1)
    assert m["sensitivity"] == 0.9 and m["specificity"] == 0.9
    lo, hi = m["sensitivity_ci"]
    assert 0.7 <= lo < 0.9 < hi <= 1.0
    assert m == case_metrics(found, labels, n_boot=2000, seed=1)  # seeded: reproducible
    assert all(math.isnan(b) for b in wilson(0, 0))  # no cases, no interval


def test_no_torch_is_imported() -> None:
    code = "import sys, training.case_rule; sys.exit('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
