"""Train/val/test split by duplicate cluster, stratified by class, and its manifest.

Manifest (``training/splits/manifest.csv``), one row per slice, columns:

* ``path``: POSIX path relative to the data root (``sartaj/Training/glioma_tumor/x.jpg``);
* ``source``, ``subset``, ``label``: as in :class:`training.data.Record`
  (``label`` is ``glioma|meningioma|no_tumor|pituitary|tumor``; ``tumor`` is partial);
* ``cluster``: duplicate-cluster id after the soft merges of :mod:`training.dedup`;
  a cluster never straddles splits;
* ``split``: ``train|val|test``;
* ``sha256``: of the file bytes; ``content_hash``: of the decoded 8-bit grey pixels;
* ``conflict``: 1 if the cluster holds contradictory labels (no_tumor with a tumour, or
  two specific tumour types): label noise, or distinct patients' look-alikes chained at
  the threshold. They are kept, always in ``train`` (never val/test, where they would
  make scores meaningless); a trainer may skip them.

The one reader of a manifest is :func:`training.manifest.read_manifest`;
:func:`verify_files` checks its rows' files still match their sha256.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import Label, Record, file_sha256, labels_conflict
from training.dedup import Pairs, size_histogram
from training.manifest import ManifestRow, Split

COLUMNS = (
    "path",
    "source",
    "subset",
    "label",
    "cluster",
    "split",
    "sha256",
    "content_hash",
    "conflict",
)
#: volume sources only (empty for loose slices); older manifests lack them
OPTIONAL_COLUMNS = ("case", "sequence", "z")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)
__all__ = ["labels_conflict"]  # re-exported: defined in training.data


def cluster_label(labels: Sequence[Label]) -> Label:
    """The label of a non-conflicting cluster: its specific label if any, else the one."""
    specific = [x for x in labels if x.is_specific]
    return specific[0] if specific else labels[0]


def assign_splits(
    records: Sequence[Record],
    cluster_ids: Sequence[int],
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> tuple[list[Split], set[int]]:
    """A split per record (whole clusters together), and the set of conflicting clusters.

    Clusters are grouped into strata by (cluster label, sources in it); within a stratum
    they are shuffled with ``seed`` and, largest first, each goes to the split furthest
    below its target share of images. Conflicting clusters all go to train.
    """
    members: dict[int, list[int]] = defaultdict(list)
    for idx, c in enumerate(cluster_ids):
        members[c].append(idx)
    conflicts: set[int] = set()
    strata: dict[str, list[int]] = defaultdict(list)
    for c, idxs in members.items():
        labels = [records[i].label for i in idxs]
        if labels_conflict(labels):
            conflicts.add(c)
            continue
        sources = "+".join(sorted({records[i].source for i in idxs}))
        strata[f"{cluster_label(labels).value}|{sources}"].append(c)
    rng = np.random.default_rng(seed)
    target = np.asarray(fractions, dtype=np.float64) / sum(fractions)
    splits_of = list(Split)
    by_cluster: dict[int, Split] = {c: Split.TRAIN for c in conflicts}
    for key in sorted(strata):
        clusters = sorted(strata[key])
        order = rng.permutation(len(clusters))
        shuffled = [clusters[i] for i in order]
        shuffled.sort(key=lambda c: -len(members[c]))  # stable: ties keep the shuffle
        total = sum(len(members[c]) for c in shuffled)
        have = np.zeros(3)
        for c in shuffled:
            deficit = target * total - have
            k = int(np.argmax(deficit))
            by_cluster[c] = splits_of[k]
            have[k] += len(members[c])
    return [by_cluster[c] for c in cluster_ids], conflicts


def write_manifest(
    path: Path,
    records: Sequence[Record],
    cluster_ids: Sequence[int],
    splits: Sequence[Split],
    sha256: Sequence[str],
    content_hash: Sequence[str],
    conflicts: set[int],
) -> None:
    """Write the manifest CSV, rows sorted by ``path``."""
    rows = sorted(
        zip(records, cluster_ids, splits, sha256, content_hash, strict=True),
        key=lambda t: t[0].rel_path,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS + OPTIONAL_COLUMNS)
        for r, c, s, sha, ch in rows:
            w.writerow(
                [r.rel_path, r.source, r.subset, r.label.value, c, s.value, sha, ch]
                + [int(c in conflicts)]
                + [getattr(r, k, "") for k in OPTIONAL_COLUMNS]
            )


@dataclass(frozen=True)
class Mismatch:
    rel_path: str
    reason: str  # "missing" or "sha256 differs"


def verify_files(
    rows: Sequence[ManifestRow],
    data_root: Path,
    progress: Callable[[int], None] | None = None,
) -> list[Mismatch]:
    """Files (under ``data_root``) that are missing or whose bytes no longer match the
    manifest's sha256; rows come from :func:`training.manifest.read_manifest`."""
    bad: list[Mismatch] = []
    for r in rows:
        file = r.file(data_root)
        if not file.is_file():
            bad.append(Mismatch(r.path, "missing"))
        elif file_sha256(file) != r.sha256:
            bad.append(Mismatch(r.path, "sha256 differs"))
        if progress is not None:
            progress(1)
    return bad


def leakage(
    pairs: Pairs, splits: Sequence[Split], threshold: float, labels: Sequence[Label] = ()
) -> dict[str, object]:
    """Near-duplicate pairs at or above ``threshold`` whose two slices are in different splits.

    With ``labels``, crossing pairs are also counted by whether their labels contradict
    (look-alikes of different patients, or label noise) or agree (possible leakage).
    """
    keep = pairs.sim >= threshold
    s = np.asarray([x.value for x in splits])
    a, b = pairs.i[keep], pairs.j[keep]
    cross = s[a] != s[b]
    kinds: dict[str, int] = defaultdict(int)
    for x, y in zip(s[a][cross].tolist(), s[b][cross].tolist(), strict=True):
        kinds["-".join(sorted((x, y)))] += 1
    test_idx = set(np.flatnonzero(s == Split.TEST.value).tolist())
    ca, cb = a[cross].tolist(), b[cross].tolist()
    out: dict[str, object] = {
        "threshold": round(float(threshold), 4),
        "pairs": int(keep.sum()),
        "crossing_pairs": int(cross.sum()),
        "crossing_by_splits": dict(sorted(kinds.items())),
        "test_images_with_a_crossing_pair": len(({*ca} | {*cb}) & test_idx),
    }
    if labels:
        bad = [labels_conflict((labels[i], labels[j])) for i, j in zip(ca, cb, strict=True)]
        agree = {i for i, j, x in zip(ca, cb, bad, strict=True) for i in (i, j) if not x}
        out["crossing_pairs_with_contradicting_labels"] = int(sum(bad))
        out["crossing_pairs_with_agreeing_labels"] = len(bad) - int(sum(bad))
        out["test_images_with_a_crossing_pair_of_agreeing_labels"] = len(agree & test_idx)
    return out


def overlaps(records: Sequence[Record], cluster_ids: Sequence[int]) -> dict[str, str]:
    """For groups A, B (source/subset/label): how many of A share a cluster with B."""
    groups: dict[str, list[int]] = defaultdict(list)
    for r, c in zip(records, cluster_ids, strict=True):
        groups["/".join(x for x in (r.source, r.subset, r.label.value) if x)].append(c)
    sets = {k: set(v) for k, v in groups.items()}
    out: dict[str, str] = {}
    for a in sorted(groups):
        for b in sorted(groups):
            if a == b:
                continue
            n = sum(1 for c in groups[a] if c in sets[b])
            if n:
                out[f"{a} in {b}"] = f"{n}/{len(groups[a])}"
    for a in sorted(groups):  # distinct clusters within a group
        out[f"{a} distinct clusters"] = f"{len(sets[a])}/{len(groups[a])}"
    return out


def build_audit(
    records: Sequence[Record],
    cluster_ids: Sequence[int],
    splits: Sequence[Split],
    conflicts: set[int],
    pairs: Pairs,
    leak_thresholds: Sequence[float],
    dropped: Sequence[Record] = (),
    max_listed: int = 40,
) -> dict[str, object]:
    """The small JSON audit written next to the manifest."""
    counts: dict[str, int] = defaultdict(int)
    for r, s in zip(records, splits, strict=True):
        counts[f"{s.value}/{r.source}/{r.label.value}"] += 1
    sizes = np.bincount(np.asarray(cluster_ids, dtype=np.int64))
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(cluster_ids):
        members[c].append(i)

    def describe(c: int) -> dict[str, object]:
        labs: dict[str, int] = defaultdict(int)
        for i in members[c]:
            labs[f"{records[i].source}/{records[i].label.value}"] += 1
        return {"cluster": c, "size": len(members[c]), "groups": dict(sorted(labs.items()))}

    biggest = [int(c) for c in np.argsort(-sizes, kind="stable")[:10]]
    conflict_list = sorted(conflicts, key=lambda c: -len(members[c]))
    labels = [r.label for r in records]
    return {
        "images": len(records),
        "dropped_unreadable": [r.rel_path for r in dropped],
        "clusters": int(len(sizes)),
        "cluster_size_histogram": size_histogram(list(cluster_ids)),
        "largest_clusters": [describe(c) for c in biggest],
        "counts_split_source_label": dict(sorted(counts.items())),
        "conflicting_clusters": {
            "count": len(conflicts),
            "images": int(sum(len(members[c]) for c in conflicts)),
            "policy": "kept, all in train, conflict=1 in the manifest (never val/test)",
            "listed": [
                {**describe(c), "paths": [f"{records[i].rel_path}" for i in members[c][:12]]}
                for c in conflict_list[:max_listed]
            ],
        },
        "leakage": [leakage(pairs, splits, t, labels) for t in leak_thresholds],
        "overlaps": overlaps(records, cluster_ids),
    }
