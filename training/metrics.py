"""Classification metrics with cluster-bootstrap 95% confidence intervals.

Labels are indices into ``CLASS_NAMES``; :data:`training.manifest.PARTIAL` (4) is the
partial ``tumor`` label (a tumour of unknown type), which counts only for
tumour-vs-no-tumour metrics. Every metric takes
per-sample weights, so a bootstrap replicate is a vector of weights: resampling whole
duplicate clusters with replacement = a multinomial draw of cluster counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from desktop.core.model_spec import CLASS_NAMES
from training.manifest import NO_TUMOR, PARTIAL, K

__all__ = ["K", "NO_TUMOR", "PARTIAL", "bootstrap_ci", "cluster_ids", "confusion",
           "labelled", "metrics_with_ci", "own_classes_macro_f1", "point_metrics"]  # fmt: skip


def labelled(y: NDArray[np.integer]) -> NDArray[np.bool_]:
    """Rows with one of the four network classes as label (not the partial label)."""
    y = np.asarray(y)
    return (y >= 0) & (y < K)


def confusion(
    y: NDArray[np.integer], p: NDArray[np.integer], w: NDArray[np.floating] | None = None
) -> NDArray[np.float64]:
    """K x K matrix (rows: true class, columns: predicted), labelled samples only."""
    y, p = np.asarray(y), np.asarray(p)
    m = labelled(y)
    weights = None if w is None else np.asarray(w)[m]
    counts = np.bincount(y[m] * K + p[m], weights=weights, minlength=K * K)
    return np.asarray(counts, dtype=np.float64).reshape(K, K)


def _div(a: NDArray[np.float64] | float, b: NDArray[np.float64] | float) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            np.asarray(b) > 0, np.asarray(a) / np.where(np.asarray(b) > 0, b, 1), np.nan
        )


def point_metrics(
    y: NDArray[np.integer],
    p: NDArray[np.integer],
    w: NDArray[np.floating] | None = None,
    all_classes: bool = False,
) -> dict[str, float]:
    """Accuracy, macro-F1, per-class precision/recall, tumour-miss and false-alarm rates.

    macro-F1 averages the classes present in the truth or the predictions (as
    scikit-learn does), so a source without some class still gets a value; with
    ``all_classes`` it averages all K, an absent class scoring 0 (scikit-learn's
    ``labels=range(K)``; 0 with no labelled sample): the training run's model selection.
    """
    y, p = np.asarray(y), np.asarray(p)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    cm = confusion(y, p, w)
    tp = np.diag(cm)
    prec, rec = _div(tp, cm.sum(axis=0)), _div(tp, cm.sum(axis=1))
    f1 = _div(2 * prec * rec, prec + rec)
    present = (cm.sum(axis=1) > 0) | (cm.sum(axis=0) > 0)  # in the truth or the calls
    f1 = np.where(np.isnan(f1) & present, 0.0, f1)
    if all_classes:
        macro_f1 = float(np.mean(np.nan_to_num(f1)))
    else:
        macro_f1 = float(np.mean(f1[present])) if present.any() else float("nan")
    out = {"accuracy": float(_div(tp.sum(), cm.sum())), "macro_f1": macro_f1}
    for k, name in enumerate(CLASS_NAMES):
        out[f"precision_{name}"] = float(prec[k])
        out[f"recall_{name}"] = float(rec[k])
    tumour = y != NO_TUMOR  # includes the partial label
    called_no = p == NO_TUMOR
    out["tumour_called_no_tumor"] = float(_div((w * (tumour & called_no)).sum(), w[tumour].sum()))
    healthy = y == NO_TUMOR
    out["no_tumor_called_tumour"] = float(
        _div((w * (healthy & ~called_no)).sum(), w[healthy].sum())
    )
    partial = y == PARTIAL
    out["partial_tumour_vs_no_tumour_accuracy"] = float(
        _div((w * (partial & ~called_no)).sum(), w[partial].sum())
    )
    return out


def cluster_ids(clusters: Sequence[str]) -> NDArray[np.int64]:
    """Dense integer ids for cluster labels (empty label = a cluster of its own)."""
    out = np.empty(len(clusters), dtype=np.int64)
    seen: dict[str, int] = {}
    for i, c in enumerate(clusters):
        key = c if c != "" else f"__row{i}"
        out[i] = seen.setdefault(key, len(seen))
    return out


def bootstrap_ci(
    y: NDArray[np.integer],
    p: NDArray[np.integer],
    clusters: NDArray[np.integer] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every :func:`point_metrics` value over cluster resamples."""
    y, p = np.asarray(y), np.asarray(p)
    ids = np.arange(len(y)) if clusters is None else np.asarray(clusters)
    _, ids = np.unique(ids, return_inverse=True)
    n_clusters = int(ids.max()) + 1 if len(ids) else 0
    if n_clusters == 0:  # nothing to resample (e.g. a source with no test images)
        return {k: (float("nan"), float("nan")) for k in point_metrics(y, p)}
    rng = np.random.default_rng(seed)
    reps: dict[str, list[float]] = {}
    for _ in range(n_boot):
        counts = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters))
        for k, v in point_metrics(y, p, counts[ids].astype(np.float64)).items():
            reps.setdefault(k, []).append(v)
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict[str, tuple[float, float]] = {}
    for k, values in reps.items():
        a = np.asarray(values)
        a = a[~np.isnan(a)]
        out[k] = (
            (float(np.percentile(a, lo)), float(np.percentile(a, hi)))
            if a.size
            else (
                float("nan"),
                float("nan"),
            )
        )
    return out


def metrics_with_ci(
    y: NDArray[np.integer],
    p: NDArray[np.integer],
    clusters: NDArray[np.integer] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float | list[float] | int]]:
    """{metric: {"value", "ci95": [lo, hi], "n"}}; n = samples the metric is defined on."""
    y = np.asarray(y)
    point = point_metrics(y, p)
    ci = bootstrap_ci(y, p, clusters, n_boot, seed)
    n_lab = int(labelled(y).sum())
    support = {
        "tumour_called_no_tumor": int((y != NO_TUMOR).sum()),
        "no_tumor_called_tumour": int((y == NO_TUMOR).sum()),
        "partial_tumour_vs_no_tumour_accuracy": int((y == PARTIAL).sum()),
    }
    for k, name in enumerate(CLASS_NAMES):
        support[f"recall_{name}"] = int((y == k).sum())
        support[f"precision_{name}"] = int((np.asarray(p)[labelled(y)] == k).sum())
    return {
        k: {"value": v, "ci95": list(ci[k]), "n": support.get(k, n_lab)} for k, v in point.items()
    }


def own_classes_macro_f1(confusion: Sequence[Sequence[float]]) -> tuple[float, int]:
    """Macro-F1 over the classes that occur as labels (rows: true, columns: predicted),
    and how many there are; NaN below two classes."""
    cm = np.asarray(confusion, dtype=float)
    k = min(cm.shape)
    present = [i for i in range(k) if cm[i].sum() > 0]
    if len(present) < 2:
        return float("nan"), len(present)
    f1 = [2 * cm[i, i] / (cm[i].sum() + cm[:, i].sum()) for i in present]
    return float(np.mean(f1)), len(present)
