"""Two variants of the app's path compared on a split: what each calls, and how far apart.

Used by the decoding study (:mod:`training.draft_parity`: a large JPEG decoded at reduced
size, or whole) and the precision study (:mod:`training.quantize`: int8 against fp32).
Every row goes through :mod:`desktop.core.inference` as in the app: its readers, its
preprocessing (from the model's metadata), its classifier and :func:`desktop.core.decide.decide`
(a *firm* call is the app's ``ok``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from desktop.core.classifier import Classifier
from desktop.core.inference import NetInput, classify, prepare
from desktop.core.results import Status
from training.inputs import prefetch, read_slice
from training.manifest import ManifestRow, Split, read_manifest
from training.metrics import labelled, point_metrics

__all__ = ["Scored", "compare", "score", "split_rows", "summary"]


@dataclass(frozen=True)
class Scored:
    """The app's calls on manifest rows (unreadable files left out)."""

    rows: tuple[ManifestRow, ...]
    #: calibrated probabilities (the model's temperature), N x K
    probs: NDArray[np.float64]
    statuses: tuple[Status, ...]
    #: per row: the JPEG decoder's reduction (1: decoded whole; :class:`DecodeTarget`)
    reduced: tuple[int, ...] = ()

    @property
    def labels(self) -> NDArray[np.int64]:
        return np.array([r.label_index for r in self.rows], dtype=np.int64)

    @property
    def firm(self) -> NDArray[np.bool_]:
        return np.array([s is Status.OK for s in self.statuses], dtype=bool)


def split_rows(manifest: Path, split: str = "test", limit: int = 0) -> list[ManifestRow]:
    """The rows of one split (every ``step``-th row when ``limit`` asks for fewer)."""
    rows = [r for r in read_manifest(manifest) if r.split is Split(split)]
    if limit and len(rows) > limit:
        rows = rows[:: -(-len(rows) // limit)]
    return rows


_Chunk = tuple[list[ManifestRow], list[NetInput], list[int]]


def _inputs(
    rows: Sequence[ManifestRow], root: Path, clf: Classifier, full_decode: bool, batch: int
) -> Iterator[_Chunk]:
    prep = clf.spec.preprocessing
    for start in range(0, len(rows), batch):
        kept, items, reduced = [], [], []
        for r in rows[start : start + batch]:
            s = read_slice(r.file(root), None if full_decode else prep)
            if s is not None:
                kept.append(r)
                items.append(prepare(s.pixels, prep, s.colour))
                reduced.append(s.reduced)
        yield kept, items, reduced


def score(
    clf: Classifier,
    rows: Sequence[ManifestRow],
    data_root: Path,
    full_decode: bool = False,
    batch_size: int = 32,
) -> Scored:
    """Every row through the app's path (decoding overlaps inference). ``full_decode``
    decodes every file whole instead of as the app's pipeline does (reduced JPEGs)."""
    kept: list[ManifestRow] = []
    probs: list[NDArray[np.float64]] = []
    statuses: list[Status] = []
    reduced: list[int] = []
    chunks = prefetch(_inputs(rows, Path(data_root), clf, full_decode, batch_size))
    for chunk, items, red in chunks:
        if not chunk:
            continue
        calls = classify(clf, items)
        kept.extend(chunk)
        reduced.extend(red)
        probs.extend(c.probabilities for c in calls)
        statuses.extend(c.verdict.status for c in calls)
    k = len(clf.spec.class_names)
    return Scored(
        tuple(kept), np.stack(probs) if probs else np.zeros((0, k)), tuple(statuses), tuple(reduced)
    )


def summary(s: Scored) -> dict[str, Any]:
    """Accuracy and macro-F1 of the labelled rows (argmax, whatever the status), and the
    firm calls' coverage and error (the app's ``ok`` among labelled rows)."""
    y, p = s.labels, s.probs.argmax(axis=1)
    lab = labelled(y)
    m = point_metrics(y, p)
    firm = s.firm & lab
    n_firm = int(firm.sum())
    return {
        "n": len(y),
        "n_labelled": int(lab.sum()),
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "tumour_called_no_tumor": m["tumour_called_no_tumor"],
        "firm_coverage": n_firm / max(1, int(lab.sum())),
        "firm_n": n_firm,
        "firm_error": float((p[firm] != y[firm]).mean()) if n_firm else 0.0,
        "by_status": {st.value: int(sum(x is st for x in s.statuses)) for st in Status},
    }


def compare(a: Scored, b: Scored) -> dict[str, Any]:
    """How far ``b``'s calibrated probabilities and calls are from ``a``'s, row by row."""
    if tuple(r.path for r in a.rows) != tuple(r.path for r in b.rows):
        raise ValueError("the two variants read different rows")
    diff = np.abs(a.probs - b.probs)
    per_row = diff.max(axis=1) if len(diff) else np.zeros(0)
    return {
        "max_abs_prob_change": float(per_row.max()) if len(per_row) else 0.0,
        "mean_abs_prob_change": float(diff.mean()) if diff.size else 0.0,
        "mean_row_max_prob_change": float(per_row.mean()) if len(per_row) else 0.0,
        "p99_row_max_prob_change": float(np.percentile(per_row, 99)) if len(per_row) else 0.0,
        "top_class_changed": int((a.probs.argmax(axis=1) != b.probs.argmax(axis=1)).sum()),
        "status_changed": int(sum(x is not y for x, y in zip(a.statuses, b.statuses, strict=True))),
        "worst_rows": [
            {"path": a.rows[i].path, "row_max_prob_change": float(per_row[i])}
            for i in np.argsort(-per_row)[:5]
        ],
    }
