"""Exact and near-duplicate detection by image content.

Each slice becomes a small thumbnail: the app's own foreground crop
(:func:`desktop.core.preprocess.foreground_box`) stretched to ``size`` x ``size``
(default 32). Two fingerprints are taken
from it, each minus its mean and L2-normalised: the *overall* picture (the thumbnail)
and its *detail* (thumbnail minus a Gaussian blur of sigma ``size/16`` px). For a pair,
each correlation is maximised over the 8 dihedral transforms (flips, 90-degree
rotations), so re-encoding, resizing, framing, flips, rotations and affine intensity
changes do not matter. The pair's similarity is

    sim = min(detail correlation, overall correlation - LOW_PASS_MARGIN)

i.e. both the fine structure and the overall picture must agree (at most 0.9). Measured
on ../shared/data: figshare has one tumour type per patient, so figshare pairs of two
different types are different patients; with ~0.65 of random pairs differing in type,
the share of different-patient pairs is about 1% at 0.84-0.88, 9% at 0.80-0.84, 25% at
0.76-0.80 and 55% at 0.72-0.76 (the rest: copies and adjacent slices). The overall
term removes the detail term's false matches (skull-ring look-alikes such as CT vs T1).
At the default 0.80 no cluster chains past 78 images; below ~0.78 chains start.

Clustering (:func:`cluster`, then :func:`soft_merge`):

1. identical decoded pixels, and pairs >= ``threshold`` (0.80), join clusters with
   union-find, strongest first; a ``max_size`` cap (150, not reached on our data)
   refuses merges that would chain distinct patients into a giant cluster;
2. pairs in the band [``DEFAULT_SOFT_THRESHOLD``, ``threshold``) (0.72-0.80: copies and
   adjacent slices mixed with look-alikes of other patients) join clusters too, unless
   the join would contradict labels or exceed 60 images. On our data this cuts the test
   images with a neighbour >= 0.74 in another split from 264 to 15.

Refused pairs are counted; the split audit reports what crosses splits at each level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import as_unit_float, foreground_box
from training.data import Label, Record, labels_conflict, pixel_hash, read_grey

DEFAULT_SIZE = 32
DEFAULT_THRESHOLD = 0.80
LOW_PASS_MARGIN = 0.10
DEFAULT_MAX_CLUSTER = 150
DEFAULT_SOFT_THRESHOLD = 0.72
DEFAULT_SOFT_MAX_CLUSTER = 60
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Fingerprints:
    """Fingerprints of the decodable records, row ``i`` for ``records[i]``."""

    records: tuple[Record, ...]
    thumbs: NDArray[np.float32]  # N x size x size, see thumbnail()
    content_hash: tuple[str, ...]
    dropped: tuple[Record, ...]


def fingerprint(thumb: NDArray[np.float32]) -> NDArray[np.float32]:
    """A thumbnail as a flat mean-0, unit-norm vector (zeros for a flat image)."""
    v = thumb.astype(np.float32).ravel()
    v = v - v.mean()
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else np.zeros_like(v)


def thumbnail(grey: NDArray[np.floating], size: int = DEFAULT_SIZE) -> NDArray[np.float32]:
    """Crop to the foreground exactly as the app does, then stretch to ``size`` x ``size``.

    Stretching (instead of the app's letterbox) keeps a flipped or rotated copy pixel-
    aligned: letterbox padding of odd width shifts it by a pixel, which at 32 px costs
    the detail correlation ~0.1.
    """
    img = as_unit_float(grey)
    t, b, left, r = foreground_box(img, Preprocessing(input_size=size, channels=1))
    crop = np.ascontiguousarray(img[t:b, left:r])
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def compute_fingerprints(
    records: Sequence[Record], size: int = DEFAULT_SIZE, progress: Progress | None = None
) -> Fingerprints:
    """Decode every record; unreadable files are dropped (and listed in ``dropped``)."""
    kept: list[Record] = []
    dropped: list[Record] = []
    thumbs: list[NDArray[np.float32]] = []
    hashes: list[str] = []
    for r in records:
        grey = read_grey(r.path)
        if progress is not None:
            progress(1)
        if grey is None:
            dropped.append(r)
            continue
        kept.append(r)
        thumbs.append(thumbnail(grey, size))
        hashes.append(pixel_hash(grey))
    t = np.stack(thumbs) if thumbs else np.zeros((0, size, size), np.float32)
    return Fingerprints(tuple(kept), t.astype(np.float32), tuple(hashes), tuple(dropped))


def dihedral(thumbs: NDArray[np.float32]) -> NDArray[np.float32]:
    """The 8 dihedral transforms of N x s x s thumbnails -> 8 x N x s*s."""
    n, s, _ = thumbs.shape
    out = []
    for k in range(4):
        r = np.rot90(thumbs, k, axes=(1, 2))
        out.append(r)
        out.append(r[:, :, ::-1])
    return np.stack([o.reshape(n, s * s) for o in out]).astype(np.float32)


def vectors_of(thumbs: NDArray[np.float32]) -> NDArray[np.float32]:
    """Fingerprint vectors (N x D) of the thumbnails."""
    if not len(thumbs):
        return np.zeros((0, 0), np.float32)
    return np.stack([fingerprint(t) for t in thumbs]).astype(np.float32)


@dataclass(frozen=True)
class Pairs:
    """Similar pairs ``i < j`` with similarity ``sim`` (all at or above ``floor``)."""

    i: NDArray[np.int64]
    j: NDArray[np.int64]
    sim: NDArray[np.float32]
    floor: float
    nearest: NDArray[np.float32]  # per image, best similarity to any other image

    def above(self, threshold: float) -> Pairs:
        keep = self.sim >= threshold
        return Pairs(self.i[keep], self.j[keep], self.sim[keep], threshold, self.nearest)


def detail(thumbs: NDArray[np.float32]) -> NDArray[np.float32]:
    """High-pass of N x s x s thumbnails: minus a Gaussian blur of sigma s/16."""
    sigma = thumbs.shape[-1] / 16.0
    return np.stack([t - cv2.GaussianBlur(t, (0, 0), sigma) for t in thumbs]).astype(np.float32)


def _dihedral_max(a: NDArray[np.float32], variants: NDArray[np.float32]) -> NDArray[np.float32]:
    sim: NDArray[np.float32] = a @ variants[0].T
    for k in range(1, len(variants)):
        np.maximum(sim, a @ variants[k].T, out=sim)
    return sim


def similar_pairs(
    thumbs: NDArray[np.float32],
    floor: float,
    chunk: int = 512,
    progress: Progress | None = None,
) -> Pairs:
    """All pairs with similarity (see module docstring) >= ``floor``; upper triangle."""
    n = len(thumbs)
    if n == 0:
        e = np.zeros(0, np.int64)
        return Pairs(e, e, np.zeros(0, np.float32), floor, np.zeros(0, np.float32))
    shape = thumbs.shape
    low = vectors_of(thumbs)
    high = vectors_of(detail(thumbs))
    low_v = dihedral(low.reshape(shape))
    high_v = dihedral(high.reshape(shape))
    nearest = np.full(n, -1.0, np.float32)
    ii: list[NDArray[np.int64]] = []
    jj: list[NDArray[np.int64]] = []
    ss: list[NDArray[np.float32]] = []
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        sim = _dihedral_max(high[a:b], high_v)
        np.minimum(sim, _dihedral_max(low[a:b], low_v) - LOW_PASS_MARGIN, out=sim)
        sim[np.arange(b - a), np.arange(a, b)] = -1.0  # self
        nearest[a:b] = sim.max(axis=1)
        r, c = np.nonzero(sim[:, a:] >= floor)
        c = c + a
        keep = c > r + a
        ii.append((r[keep] + a).astype(np.int64))
        jj.append(c[keep].astype(np.int64))
        ss.append(sim[r[keep], c[keep]].astype(np.float32))
        if progress is not None:
            progress(b - a)
    return Pairs(np.concatenate(ii), np.concatenate(jj), np.concatenate(ss), floor, nearest)


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def labels(self) -> list[int]:
        """Cluster ids 0..k-1, numbered by first appearance."""
        ids: dict[int, int] = {}
        return [ids.setdefault(self.find(x), len(ids)) for x in range(len(self.parent))]


@dataclass(frozen=True)
class Clusters:
    """Cluster id per image (0..k-1) and the pairs the size cap refused to merge."""

    ids: list[int]
    refused: int


def cluster(
    n: int,
    pairs: Pairs,
    threshold: float,
    content_hash: Sequence[str] = (),
    max_size: int | None = DEFAULT_MAX_CLUSTER,
) -> Clusters:
    """Union identical content hashes, then pairs >= ``threshold``, strongest first.

    A merge that would make a cluster larger than ``max_size`` is refused (None: no cap);
    identical pixels are always merged.
    """
    uf = UnionFind(n)
    first: dict[str, int] = {}
    for idx, h in enumerate(content_hash):
        uf.union(first.setdefault(h, idx), idx)
    keep = np.flatnonzero(pairs.sim >= threshold)
    order = keep[np.argsort(-pairs.sim[keep], kind="stable")]
    refused = 0
    for a, b in zip(pairs.i[order].tolist(), pairs.j[order].tolist(), strict=True):
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        if max_size is not None and uf.size[ra] + uf.size[rb] > max_size:
            refused += 1
            continue
        uf.union(ra, rb)
    return Clusters(uf.labels(), refused)


def soft_merge(
    clusters: Clusters,
    pairs: Pairs,
    low: float,
    high: float,
    labels: Sequence[Label],
    max_size: int = DEFAULT_SOFT_MAX_CLUSTER,
) -> Clusters:
    """Also join clusters linked by a pair in ``[low, high)``, strongest first, unless the
    join would mix contradictory labels (then they are different patients or label noise
    we cannot place) or exceed ``max_size``. ``refused`` counts the refused pairs.

    In that band copies and adjacent slices are mixed with look-alikes of other patients,
    so the joins are guarded; pairs >= ``high`` were joined unconditionally by
    :func:`cluster`.
    """
    n = len(clusters.ids)
    uf = UnionFind(n)
    first: dict[int, int] = {}
    for idx, c in enumerate(clusters.ids):
        uf.union(first.setdefault(c, idx), idx)
    label_sets: dict[int, set[Label]] = {}
    for idx in range(n):
        label_sets.setdefault(uf.find(idx), set()).add(labels[idx])
    band = np.flatnonzero((pairs.sim >= low) & (pairs.sim < high))
    order = band[np.argsort(-pairs.sim[band], kind="stable")]
    refused = 0
    for a, b in zip(pairs.i[order].tolist(), pairs.j[order].tolist(), strict=True):
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        merged = label_sets[ra] | label_sets[rb]
        if uf.size[ra] + uf.size[rb] > max_size or labels_conflict(merged):
            refused += 1  # (joining onto a cluster with label noise would spread it too)
            continue
        uf.union(ra, rb)
        label_sets[uf.find(ra)] = merged
    return Clusters(uf.labels(), refused)


def size_histogram(cluster_ids: Sequence[int]) -> dict[str, int]:
    """How many clusters have each size, in bins 1, 2, 3, 4-5, 6-10, 11-20, 21-50, >50."""
    sizes = np.bincount(np.asarray(cluster_ids, dtype=np.int64)).tolist() if cluster_ids else []
    bins = [(1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 10**9)]
    out: dict[str, int] = {}
    for lo, hi in bins:
        key = str(lo) if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f">{lo - 1}")
        out[key] = int(sum(1 for s in sizes if lo <= s <= hi))
    return out
