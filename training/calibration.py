"""Calibration maths (pure NumPy, no model): temperature scaling, ECE, the threshold.

* temperature: one scalar T fitted on validation logits by minimising the NLL of
  softmax(logits / T) (golden-section search on log T; NLL is unimodal there);
* ECE: 15 equal-width confidence bins, |accuracy - confidence| weighted by bin size;
* ``uncertain``: the smallest threshold on the calibrated top probability at which the
  error rate of the accepted validation calls is <= ``max_error`` (default 1%), never
  below ``floor`` (0.5); coverage and error rate at it are reported.

The softmax is the app's (:func:`desktop.core.classifier.softmax`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from desktop.core.classifier import softmax

__all__ = [
    "ECE_BINS",
    "ThresholdChoice",
    "choose_threshold",
    "coverage_error",
    "expected_calibration_error",
    "fit_temperature",
    "nll",
    "reliability_bins",
    "softmax",
]

ECE_BINS = 15


def nll(logits: NDArray[np.floating], labels: NDArray[np.integer], temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits / T)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(z)), labels]))


def fit_temperature(
    logits: NDArray[np.floating],
    labels: NDArray[np.integer],
    bounds: tuple[float, float] = (0.01, 100.0),
    tol: float = 1e-5,
) -> float:
    """The temperature minimising validation NLL (golden-section search on log T)."""
    labels = np.asarray(labels, dtype=np.int64)
    a, b = math.log(bounds[0]), math.log(bounds[1])
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return math.exp((a + b) / 2)


def expected_calibration_error(
    probs: NDArray[np.floating], labels: NDArray[np.integer], n_bins: int = ECE_BINS
) -> float:
    """ECE with ``n_bins`` equal-width bins (lo, hi] on the top probability."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def reliability_bins(
    probs: NDArray[np.floating], labels: NDArray[np.integer], n_bins: int = ECE_BINS
) -> list[dict[str, float]]:
    """Per-bin (lo, hi, count, confidence, accuracy) for a reliability diagram."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        m = bins == b
        out.append(
            {
                "lo": b / n_bins,
                "hi": (b + 1) / n_bins,
                "count": int(m.sum()),
                "confidence": float(conf[m].mean()) if m.any() else float("nan"),
                "accuracy": float(correct[m].mean()) if m.any() else float("nan"),
            }
        )
    return out


@dataclass(frozen=True)
class ThresholdChoice:
    """The ``uncertain`` threshold and what it does on the data it was chosen on."""

    threshold: float
    coverage: float  #: fraction of calls accepted (confidence >= threshold)
    error_rate: float  #: error rate among the accepted calls
    target_met: bool  #: False when no threshold reached ``max_error``


def coverage_error(
    conf: NDArray[np.floating], correct: NDArray[np.bool_], threshold: float
) -> tuple[float, float]:
    """(coverage, error rate of accepted calls) at ``threshold``."""
    acc = np.asarray(conf) >= threshold
    if not acc.any():
        return 0.0, 0.0
    return float(acc.mean()), float(1.0 - np.asarray(correct)[acc].mean())


def choose_threshold(
    conf: NDArray[np.floating],
    correct: NDArray[np.bool_],
    max_error: float = 0.01,
    floor: float = 0.5,
) -> ThresholdChoice:
    """Smallest threshold (>= floor) whose accepted calls err at most ``max_error``.

    Candidates are the observed confidences; if none meets the target, the candidate with
    the lowest error rate (ties: the lower threshold) is returned with target_met=False.
    """
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    order = np.argsort(-conf, kind="stable")
    c_sorted, ok_sorted = conf[order], correct[order]
    errors = np.cumsum(~ok_sorted)  # errors among the top-i+1 most confident
    n_acc = np.arange(1, len(conf) + 1)
    err_rate = errors / n_acc
    # a threshold equal to c_sorted[i] accepts every call with conf >= it: use the last tie
    last_of_tie = np.r_[c_sorted[1:] != c_sorted[:-1], True]
    valid = last_of_tie & (c_sorted >= floor)
    if not valid.any():
        cov, err = coverage_error(conf, correct, floor)
        return ThresholdChoice(floor, cov, err, err <= max_error)
    idx = np.flatnonzero(valid)
    good = idx[err_rate[idx] <= max_error]
    met = good.size > 0
    # sorted by falling confidence: the last good index is the smallest threshold
    i = int(good[-1]) if met else int(idx[::-1][np.argmin(err_rate[idx][::-1])])
    t = float(max(c_sorted[i], floor))
    cov, err = coverage_error(conf, correct, t)
    return ThresholdChoice(t, cov, err, met)
