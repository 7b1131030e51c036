"""Decode and resize every manifest image once into a uint8 cache (one file per size).

Each file is decoded by the app's readers (:func:`training.data.read_grey`), as the app
decodes it for a model of that input size (a large JPEG at reduced size:
:func:`desktop.core.preprocess.decode_target`). The cache
holds the output of :func:`desktop.core.preprocess.geometric` (crop to the
foreground, letterbox) for each manifest row, quantised to uint8, in manifest order:
``<cache_dir>/<manifest-hash>_<size>_<DECODING>.npy`` (N x size x size) and ``... .json``
(paths, labels, sources, subsets, splits). Intensity normalisation happens later, per
batch, after augmentation (:mod:`training.augment`), the same way the app normalises.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from desktop.core.model_spec import Preprocessing
from desktop.core.preprocess import geometric
from training.data import read_grey as read_grey  # the app's readers (parity.py checks it)
from training.manifest import DEFAULT_CACHE_DIR as DEFAULT_CACHE_DIR  # train.py reads these
from training.manifest import DEFAULT_DATA_ROOT as DEFAULT_DATA_ROOT
from training.manifest import DEFAULT_MANIFEST as DEFAULT_MANIFEST
from training.manifest import LABELS, PARTIAL, read_manifest

log = logging.getLogger(__name__)

#: names how files are decoded: a cache made by an older decoding is not reused
#: ("draft": large JPEGs at reduced size, issue 17 item 2)
DECODING = "draft"
#: label index of the partial "some tumour" label (not a network output): the manifest's
TUMOR_INDEX = PARTIAL


@dataclass(frozen=True)
class Cache:
    """Cached geometric images and their manifest columns, in manifest order."""

    images: NDArray[np.uint8]  # N x S x S
    labels: NDArray[np.int64]  # index into LABELS (4 = partial "tumor")
    sources: NDArray[np.str_]
    subsets: NDArray[np.str_]
    splits: NDArray[np.str_]
    paths: tuple[str, ...]
    size: int
    #: volume sources: patient id and MRI sequence ("" for loose slices)
    cases: NDArray[np.str_] | None = None
    sequences: NDArray[np.str_] | None = None

    def indices(self, split: str) -> NDArray[np.int64]:
        return np.flatnonzero(self.splits == split)


def manifest_digest(manifest: Path) -> str:
    return hashlib.sha256(Path(manifest).read_bytes()).hexdigest()[:12]


def _work(job: tuple[str, int]) -> NDArray[np.uint8]:
    path, size = job
    p = Preprocessing(input_size=size)
    grey = read_grey(Path(path), p)
    if grey is None:
        log.warning("cannot decode %s; cached as blank", path)
        return np.zeros((size, size), np.uint8)
    g = geometric(grey, p)
    return np.round(g * 255.0).astype(np.uint8)


def cache_paths(cache_dir: Path, manifest: Path, size: int) -> tuple[Path, Path]:
    stem = Path(cache_dir) / f"{manifest_digest(manifest)}_{size}_{DECODING}"
    return stem.with_suffix(".npy"), stem.with_suffix(".json")


def build_cache(
    manifest: Path, data_root: Path, cache_dir: Path, size: int, workers: int = 2
) -> Path:
    """Decode and letterbox every manifest image once; returns the .npy path."""
    npy, meta = cache_paths(cache_dir, manifest, size)
    if npy.exists() and meta.exists():
        return npy
    rows = read_manifest(manifest)
    jobs = [(str(r.file(data_root)), size) for r in rows]
    from tqdm import tqdm

    with Pool(workers) as pool:
        images = list(
            tqdm(pool.imap(_work, jobs, chunksize=16), total=len(jobs), desc=f"cache {size}px")
        )
    arr = np.stack(images) if images else np.zeros((0, size, size), np.uint8)
    npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    names = ("path", "label", "source", "subset", "split", "case", "sequence", "z")
    cols = {c: [str(getattr(r, c, "") or "") for r in rows] for c in names}
    meta.write_text(json.dumps({"size": size, "manifest": str(manifest), **cols}))
    tmp.replace(npy)
    return npy


def load_cache(manifest: Path, data_root: Path, cache_dir: Path, size: int) -> Cache:
    """The cache for ``manifest`` at ``size``, built first if missing."""
    npy = build_cache(manifest, data_root, cache_dir, size)
    meta = json.loads(npy.with_suffix(".json").read_text())
    return Cache(
        images=np.load(npy),
        labels=np.array([LABELS.index(x) for x in meta["label"]], dtype=np.int64),
        sources=np.array(meta["source"]),
        subsets=np.array(meta["subset"]),
        splits=np.array(meta["split"]),
        paths=tuple(meta["path"]),
        size=size,
        cases=np.array(meta.get("case", [""] * len(meta["path"]))),
        sequences=np.array(meta.get("sequence", [""] * len(meta["path"]))),
    )
