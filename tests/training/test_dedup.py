"""Near-duplicate detection on crafted synthetic slices (training.dedup)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.phantoms import VARIANTS, synthetic_slice, synthetic_volume
from training.data import Label, Record, index_roots, read_grey
from training.dedup import (
    DEFAULT_SOFT_THRESHOLD,
    DEFAULT_THRESHOLD,
    Pairs,
    cluster,
    compute_fingerprints,
    similar_pairs,
    size_histogram,
    soft_merge,
    thumbnail,
)


@pytest.fixture
def crafted(tmp_path: Path) -> list[Record]:
    """Originals 0..3 in class folders, variants of original 0, low-quality JPEG of 1."""
    folder = tmp_path / "synth" / "glioma"
    folder.mkdir(parents=True)
    for seed in range(4):
        cv2.imwrite(str(folder / f"orig{seed}.png"), synthetic_slice(seed))
    base = synthetic_slice(0)
    for name, fn in VARIANTS.items():
        cv2.imwrite(str(folder / f"v_{name}.png"), np.ascontiguousarray(fn(base)))
    cv2.imwrite(str(folder / "v_jpeg.jpg"), synthetic_slice(1), [cv2.IMWRITE_JPEG_QUALITY, 15])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return index_roots([tmp_path / "synth"])


def _sim(pairs: Pairs, a: int, b: int) -> float:
    a, b = min(a, b), max(a, b)
    hit = np.flatnonzero((pairs.i == a) & (pairs.j == b))
    return float(pairs.sim[hit[0]]) if hit.size else -1.0


def test_crafted_duplicates_are_found_and_distinct_images_are_not(crafted: list[Record]) -> None:
    fps = compute_fingerprints(crafted, size=32)
    assert [r.path.name for r in fps.dropped] == ["broken.jpg"]
    names = [r.path.stem for r in fps.records]
    idx = {n: i for i, n in enumerate(names)}
    pairs = similar_pairs(fps.thumbs, floor=-1.0, chunk=3)  # small chunks: test the blocking
    for name in VARIANTS:
        assert _sim(pairs, idx["orig0"], idx[f"v_{name}"]) >= DEFAULT_THRESHOLD, name
    assert _sim(pairs, idx["orig1"], idx["v_jpeg"]) >= DEFAULT_THRESHOLD
    for a in range(4):
        for b in range(a + 1, 4):
            assert _sim(pairs, idx[f"orig{a}"], idx[f"orig{b}"]) < DEFAULT_THRESHOLD - 0.1
    ids = cluster(len(names), pairs, DEFAULT_THRESHOLD, fps.content_hash).ids
    assert len({ids[idx[n]] for n in ["orig0"] + [f"v_{v}" for v in VARIANTS]}) == 1
    assert ids[idx["orig1"]] == ids[idx["v_jpeg"]]
    assert len({ids[idx[f"orig{s}"]] for s in range(4)}) == 4


def test_similarity_is_symmetric_and_nearest_is_reported(crafted: list[Record]) -> None:
    fps = compute_fingerprints(crafted, size=32)
    p1 = similar_pairs(fps.thumbs, floor=-1.0)
    p2 = similar_pairs(fps.thumbs[::-1].copy(), floor=-1.0)
    n = len(fps.records)
    for a, b in [(0, 1), (2, 5), (3, n - 1)]:
        assert _sim(p1, a, b) == pytest.approx(_sim(p2, n - 1 - a, n - 1 - b), abs=1e-5)
    assert p1.nearest.shape == (n,) and (p1.nearest >= DEFAULT_THRESHOLD).sum() >= 7


def test_thumbnail_ignores_framing() -> None:
    im = synthetic_slice(3).astype(np.float32) / 255
    framed = cv2.copyMakeBorder(im, 40, 0, 25, 60, cv2.BORDER_CONSTANT)
    assert np.abs(thumbnail(im) - thumbnail(framed)).mean() < 0.03


def test_identical_pixels_always_cluster_and_the_size_cap_stops_chains() -> None:
    n = 6
    chain = Pairs(
        np.array([0, 1, 2, 3]),
        np.array([1, 2, 3, 4]),
        np.array([0.99, 0.95, 0.9, 0.85]),
        0.8,
        np.zeros(n, np.float32),
    )
    uncapped = cluster(n, chain, 0.8, max_size=None)
    assert len(set(uncapped.ids[:5])) == 1 and uncapped.ids[5] != uncapped.ids[0]
    capped = cluster(n, chain, 0.8, max_size=3)
    # strongest first: 0-1-2 fill the cap, 2-3 is refused, 3-4 still join each other
    assert capped.refused == 1
    assert capped.ids[0] == capped.ids[1] == capped.ids[2] != capped.ids[3] == capped.ids[4]
    hashed = cluster(n, chain, 0.999, content_hash=["a", "b", "c", "d", "e", "a"])
    assert hashed.ids[0] == hashed.ids[5] and len(set(hashed.ids)) == 5
    assert size_histogram(uncapped.ids) == {
        "1": 1,
        "2": 0,
        "3": 0,
        "4-5": 1,
        "6-10": 0,
        "11-20": 0,
        "21-50": 0,
        ">50": 0,
    }


def test_soft_merges_respect_labels_and_size() -> None:
    g, m, n_, t = Label.GLIOMA, Label.MENINGIOMA, Label.NO_TUMOR, Label.TUMOR
    labels = [g, g, t, m, n_, g, g]
    hard = cluster(
        7,
        Pairs(*(np.array([0]), np.array([1]), np.array([0.9])), 0.8, np.zeros(7, np.float32)),
        0.8,
    )
    band = Pairs(
        np.array([1, 1, 1, 0, 5]),
        np.array([2, 3, 4, 5, 6]),
        np.array([0.79, 0.78, 0.77, 0.76, 0.75]),
        0.7,
        np.zeros(7, np.float32),
    )
    soft = soft_merge(hard, band, 0.72, 0.8, labels, max_size=4)
    ids = soft.ids
    assert ids[0] == ids[1] == ids[2]  # tumor (partial) agrees with glioma
    assert ids[3] != ids[0] and ids[4] != ids[0]  # meningioma / no_tumor: refused
    assert ids[5] == ids[0] and ids[6] != ids[0]  # the size cap of 4 stops the chain
    assert soft.refused == 3
    assert (
        soft_merge(hard, band, 0.78, 0.8, labels).ids
        == cluster(
            7,
            Pairs(
                np.array([0, 1]),
                np.array([1, 2]),
                np.array([0.9, 0.8]),
                0.8,
                np.zeros(7, np.float32),
            ),
            0.8,
        ).ids
    )  # only the band [low, high) is used


def test_records_keep_labels_through_fingerprinting(crafted: list[Record]) -> None:
    fps = compute_fingerprints(crafted)
    assert all(r.label is Label.GLIOMA for r in fps.records)
    assert len(fps.content_hash) == len(fps.records) == len(fps.thumbs)
    grey = read_grey(fps.records[0].path)
    assert grey is not None


def test_adjacent_slices_cluster_and_distant_ones_do_not() -> None:
    """Neighbouring sections of one volume are near-duplicates (the split must keep them
    together); sections far apart, and the same level of another volume, are not."""
    vol, other = synthetic_volume(0), synthetic_volume(1)
    zs = [30, 31, 32, 34, 40, 50]
    images = [vol[z] for z in zs] + [other[30]]
    thumbs = np.stack([thumbnail(im.astype(np.float32) / 255, 32) for im in images])
    pairs = similar_pairs(thumbs, floor=-1.0)
    z = {name: i for i, name in enumerate(zs)}
    far = len(images) - 1  # the other volume
    assert _sim(pairs, z[30], z[31]) >= DEFAULT_THRESHOLD  # 1 slice apart
    assert _sim(pairs, z[30], z[32]) >= DEFAULT_THRESHOLD  # 2 slices apart
    assert DEFAULT_SOFT_THRESHOLD <= _sim(pairs, z[34], z[40]) < DEFAULT_THRESHOLD  # 6 apart
    assert _sim(pairs, z[30], z[50]) < DEFAULT_SOFT_THRESHOLD - 0.05  # 20 apart
    for i in range(len(zs)):
        assert _sim(pairs, i, far) < DEFAULT_SOFT_THRESHOLD - 0.05
    hard = cluster(len(images), pairs, DEFAULT_THRESHOLD)
    assert hard.ids[z[30]] == hard.ids[z[31]] == hard.ids[z[32]] == hard.ids[z[34]]
    assert hard.ids[z[40]] != hard.ids[z[30]]
    # the guarded soft band also joins the slice 6 apart (same label), nothing further
    labels = [Label.GLIOMA] * len(images)
    soft = soft_merge(hard, pairs, DEFAULT_SOFT_THRESHOLD, DEFAULT_THRESHOLD, labels)
    assert soft.ids[z[40]] == soft.ids[z[30]]
    assert len({soft.ids[z[30]], soft.ids[z[50]], soft.ids[far]}) == 3
