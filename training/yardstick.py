"""The honest split: validation and test built the way the held-back sets were built.

The held-back evaluation sets kept outside this repository were made by one protocol;
our own validation and test splits follow it, so that what we select on measures what
the held-back sets will measure:

* **Loose-slice sources** (Sartaj, figshare, Br35H): every slice becomes a grey 16 x 16
  thumbnail (area resize of the whole decoded image), mean removed, L2-normalised. The
  similarity of two slices is the largest correlation over the 8 flips / 90-degree
  rotations of one of them. Clusters are the connected components of pairs
  >= :data:`CLUSTER_THRESHOLD` (0.98). Of the clusters whose slices all carry one label,
  ~12% per label go to test and ~12% to validation (seeded); clusters with contradicting
  labels stay in train. Then every train slice with similarity >= :data:`DROP_THRESHOLD`
  (0.95) to any validation or test slice is dropped (it is listed in the audit, and not
  in the manifest).
* **Volume sources** (a ``manifest.csv`` with patient ids: BraTS, OpenNeuro, IXI): split
  by patient, ~15% of the patients per source to test and ~15% to validation (seeded);
  a patient never spans two splits.

The manifest (``training/splits/manifest.csv``) has the columns of
:data:`training.split.COLUMNS` plus ``case``, ``sequence`` and ``z`` (empty for loose
slices); ``cluster`` is the 0.98-cluster (loose slices) or one id per patient.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from desktop.core import resample
from training.data import Record, labels_conflict, pixel_hash, read_grey
from training.dedup import fingerprint
from training.manifest import Split

THUMB_SIZE = 16
CLUSTER_THRESHOLD = 0.98
DROP_THRESHOLD = 0.95
HOLDOUT_FRACTION = 0.12
CASE_FRACTION = 0.15
Progress = Callable[[int], None]


def thumbnail16(grey: NDArray[np.floating]) -> NDArray[np.float32]:
    """The whole slice, area-resized to 16 x 16, mean removed, L2-normalised (flat: zeros)."""
    g = np.asarray(grey, dtype=np.float32)
    t = resample.resize(g, THUMB_SIZE, THUMB_SIZE, shrink=min(g.shape) >= THUMB_SIZE)
    return fingerprint(t).reshape(THUMB_SIZE, THUMB_SIZE)


def _decode_one(path: str) -> tuple[NDArray[np.float32] | None, str]:
    grey = read_grey(Path(path))
    if grey is None:
        return None, ""
    return thumbnail16(grey), pixel_hash(grey)


@dataclass(frozen=True)
class Thumbs:
    records: tuple[Record, ...]
    vectors: NDArray[np.float32]  # N x 16 x 16
    content_hash: tuple[str, ...]
    dropped: tuple[Record, ...] = ()


def compute_thumbs(
    records: Sequence[Record], workers: int = 2, progress: Progress | None = None
) -> Thumbs:
    """Decode every record (app readers) into its 16 x 16 fingerprint; unreadable ones dropped."""
    kept, dropped, vecs, hashes = [], [], [], []
    with Pool(workers) as pool:
        for r, (v, h) in zip(
            records, pool.imap(_decode_one, [str(r.path) for r in records], 32), strict=True
        ):
            if progress is not None:
                progress(1)
            if v is None:
                dropped.append(r)
                continue
            kept.append(r)
            vecs.append(v)
            hashes.append(h)
    arr = np.stack(vecs) if vecs else np.zeros((0, THUMB_SIZE, THUMB_SIZE), np.float32)
    return Thumbs(tuple(kept), arr, tuple(hashes), tuple(dropped))


def dihedral8(t: NDArray[np.float32]) -> NDArray[np.float32]:
    """The 8 flips / 90-degree rotations of N x S x S thumbnails: 8 x N x S*S."""
    out = []
    for k in range(4):
        r = np.rot90(t, k, axes=(1, 2))
        out += [r, r[:, :, ::-1]]
    return np.stack([o.reshape(len(t), -1) for o in out]).astype(np.float32)


def max_similarity(
    a: NDArray[np.float32], b: NDArray[np.float32], chunk: int = 1024
) -> NDArray[np.float32]:
    """``S[i, j]`` = max over the 8 transforms of b[j] of corr(a[i], b[j]) (len(a) x len(b))."""
    va = a.reshape(len(a), -1)
    vb = dihedral8(b)  # 8 x M x D
    out = np.full((len(a), len(b)), -1.0, np.float32)
    for s in range(0, len(a), chunk):
        block = va[s : s + chunk]
        for k in range(8):
            np.maximum(out[s : s + chunk], block @ vb[k].T, out=out[s : s + chunk])
    return out


def components(n: int, i: NDArray[np.int64], j: NDArray[np.int64]) -> NDArray[np.int64]:
    """Connected-component ids (0..) of an undirected graph on ``n`` nodes."""
    parent = np.arange(n)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = int(parent[x])
        return x

    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(x) for x in range(n)])
    _, ids = np.unique(roots, return_inverse=True)
    return ids.astype(np.int64)


@dataclass
class HonestSplit:
    """The outcome: records kept with their cluster and split, and what was dropped."""

    records: list[Record]
    clusters: list[int]
    splits: list[Split]
    content_hash: list[str]
    conflicts: set[int]
    dropped_near_heldout: list[tuple[Record, float]] = field(default_factory=list)
    dropped_unreadable: list[Record] = field(default_factory=list)
    #: per loose-slice held-out slice, its largest similarity to any train slice kept
    max_sim_to_train: dict[str, float] = field(default_factory=dict)


def split_loose(
    th: Thumbs, seed: int, fraction: float = HOLDOUT_FRACTION, first_cluster: int = 0
) -> HonestSplit:
    """The held-back protocol on loose slices (see the module docstring)."""
    n = len(th.records)
    sim = max_similarity(th.vectors, th.vectors)
    iu, ju = np.nonzero(np.triu(sim >= CLUSTER_THRESHOLD, 1))
    # identical decoded pixels are one image, whatever the thumbnail says
    by_hash: dict[str, list[int]] = defaultdict(list)
    for k, h in enumerate(th.content_hash):
        by_hash[h].append(k)
    extra = [(v[0], x) for v in by_hash.values() for x in v[1:]]
    if extra:
        iu = np.concatenate([iu, np.array([a for a, _ in extra])])
        ju = np.concatenate([ju, np.array([b for _, b in extra])])
    ids = components(n, iu.astype(np.int64), ju.astype(np.int64))
    members: dict[int, list[int]] = defaultdict(list)
    for k, c in enumerate(ids.tolist()):
        members[c].append(k)
    by_label: dict[str, list[int]] = defaultdict(list)
    conflicts: set[int] = set()
    for c, ks in members.items():
        labels = {th.records[k].label for k in ks}
        if len(labels) > 1 and labels_conflict(labels) or len(labels) > 1:
            conflicts.add(c)
        else:
            by_label[next(iter(labels)).value].append(c)
    rng = np.random.default_rng(seed)
    split_of = {c: Split.TRAIN for c in members}
    for label in sorted(by_label):
        cl = sorted(by_label[label])
        order = [cl[k] for k in rng.permutation(len(cl))]
        k = int(round(fraction * len(cl)))
        for c in order[:k]:
            split_of[c] = Split.TEST
        for c in order[k : 2 * k]:
            split_of[c] = Split.VAL
    splits = [split_of[int(c)] for c in ids]
    held = np.array([s is not Split.TRAIN for s in splits])
    train = ~held
    # drop train slices close to any held-out slice
    near = sim[np.ix_(train, held)].max(axis=1) if held.any() and train.any() else np.zeros(0)
    train_idx = np.flatnonzero(train)
    drop = set(train_idx[near >= DROP_THRESHOLD].tolist())
    keep = [k for k in range(n) if k not in drop]
    keep_train = np.array([k for k in keep if splits[k] is Split.TRAIN], dtype=np.int64)
    out = HonestSplit(
        records=[th.records[k] for k in keep],
        clusters=[int(ids[k]) + first_cluster for k in keep],
        splits=[splits[k] for k in keep],
        content_hash=[th.content_hash[k] for k in keep],
        conflicts={c + first_cluster for c in conflicts},
        dropped_near_heldout=[
            (th.records[k], float(v))
            for k, v in zip(train_idx.tolist(), near.tolist(), strict=True)
            if k in drop
        ],
        dropped_unreadable=list(th.dropped),
    )
    if held.any() and len(keep_train):
        m = sim[np.ix_(np.flatnonzero(held), keep_train)].max(axis=1)
        out.max_sim_to_train = {
            th.records[k].rel_path: round(float(v), 4)
            for k, v in zip(np.flatnonzero(held).tolist(), m.tolist(), strict=True)
        }
    return out


def split_cases(
    records: Sequence[Record], seed: int, fraction: float = CASE_FRACTION, first_cluster: int = 0
) -> HonestSplit:
    """Volume sources: whole patients to test / validation / train, per source (seeded)."""
    rng = np.random.default_rng(seed + 1)
    split_of: dict[tuple[str, str], Split] = {}
    for source in sorted({r.source for r in records}):
        cases = sorted({r.case for r in records if r.source == source})
        order = [cases[k] for k in rng.permutation(len(cases))]
        k = max(1, int(round(fraction * len(cases)))) if len(cases) >= 3 else 0
        for i, c in enumerate(order):
            split_of[(source, c)] = Split.TEST if i < k else Split.VAL if i < 2 * k else Split.TRAIN
    case_ids = {key: first_cluster + i for i, key in enumerate(sorted(split_of))}
    return HonestSplit(
        records=list(records),
        clusters=[case_ids[(r.source, r.case)] for r in records],
        splits=[split_of[(r.source, r.case)] for r in records],
        content_hash=["" for _ in records],
        conflicts=set(),
    )


def is_volume(r: Record) -> bool:
    return bool(r.case)


def honest_split(
    records: Sequence[Record], seed: int = 0, workers: int = 2, progress: Progress | None = None
) -> HonestSplit:
    """Loose slices by the held-back protocol, volume sources by patient; one result."""
    loose = [r for r in records if not is_volume(r)]
    vol = [r for r in records if is_volume(r)]
    th = compute_thumbs(loose, workers, progress)
    a = split_loose(th, seed)
    b = split_cases(vol, seed, first_cluster=max(a.clusters, default=-1) + 1)
    if progress is not None:
        progress(len(vol))
    return HonestSplit(
        records=a.records + b.records,
        clusters=a.clusters + b.clusters,
        splits=a.splits + b.splits,
        content_hash=a.content_hash + b.content_hash,
        conflicts=a.conflicts | b.conflicts,
        dropped_near_heldout=a.dropped_near_heldout,
        dropped_unreadable=a.dropped_unreadable,
        max_sim_to_train=a.max_sim_to_train,
    )


def audit(result: HonestSplit) -> dict[str, object]:
    """Counts by split / source / label (and sequence), what was dropped, the held-out margin."""
    counts: dict[str, int] = defaultdict(int)
    cases: dict[str, set[str]] = defaultdict(set)
    for r, s in zip(result.records, result.splits, strict=True):
        counts[f"{s.value}/{r.source}/{r.label.value}"] += 1
        if r.sequence:
            counts[f"{s.value}/{r.source}/{r.label.value}/{r.sequence}"] += 1
        if r.case:
            cases[f"{s.value}/{r.source}"].add(r.case)
    margin = np.array(list(result.max_sim_to_train.values()), dtype=np.float64)
    dropped_by: dict[str, int] = defaultdict(int)
    for r, _ in result.dropped_near_heldout:
        dropped_by[f"{r.source}/{r.label.value}"] += 1
    return {
        "protocol": {
            "thumbnail": f"grey {THUMB_SIZE}x{THUMB_SIZE}, area resize, mean removed, L2",
            "similarity": "max correlation over the 8 flips / 90-degree rotations",
            "cluster_threshold": CLUSTER_THRESHOLD,
            "holdout_fraction_per_label": HOLDOUT_FRACTION,
            "drop_from_train_threshold": DROP_THRESHOLD,
            "volume_sources": f"by patient, {CASE_FRACTION:.0%} test, {CASE_FRACTION:.0%} val",
        },
        "images": len(result.records),
        "clusters": len(set(result.clusters)),
        "conflicting_clusters": len(result.conflicts),
        "counts_split_source_label": dict(sorted(counts.items())),
        "patients_split_source": {k: len(v) for k, v in sorted(cases.items())},
        "dropped_from_train_near_heldout": {
            "count": len(result.dropped_near_heldout),
            "by_source_label": dict(sorted(dropped_by.items())),
            "paths": sorted(r.rel_path for r, _ in result.dropped_near_heldout),
        },
        "dropped_unreadable": [r.rel_path for r in result.dropped_unreadable],
        "heldout_max_similarity_to_train": {
            "max": round(float(margin.max()), 4) if margin.size else None,
            "median": round(float(np.median(margin)), 4) if margin.size else None,
            "share_at_or_above_0.90": round(float((margin >= 0.90).mean()), 4)
            if margin.size
            else None,
        },
    }
