"""Cluster-level, stratified, seeded splits and the manifest (training.split)."""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.phantoms import VARIANTS, synthetic_slice
from training.__main__ import main
from training.data import Label, Record
from training.dedup import Pairs
from training.manifest import Split, read_manifest
from training.split import (
    COLUMNS,
    OPTIONAL_COLUMNS,
    assign_splits,
    labels_conflict,
    leakage,
    verify_files,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"
MANIFEST = REPO_ROOT / "training" / "splits" / "manifest.csv"
SPECIFIC = [Label.GLIOMA, Label.MENINGIOMA, Label.NO_TUMOR, Label.PITUITARY]


def _population(seed: int = 1, n_clusters: int = 600) -> tuple[list[Record], list[int]]:
    """Records in clusters of 1-12 images, one label per cluster, a few conflicting."""
    rng = random.Random(seed)
    records: list[Record] = []
    ids: list[int] = []
    for c in range(n_clusters):
        label = rng.choice([*SPECIFIC, Label.TUMOR])
        labels = [label] * rng.choice([1, 1, 2, 2, 3, 5, 8, 12])
        if c % 50 == 0:  # label noise: a no_tumor copy of a tumour slice
            labels.append(Label.NO_TUMOR if label is not Label.NO_TUMOR else Label.GLIOMA)
        if c % 70 == 1 and label is not Label.NO_TUMOR:  # partial + specific tumour: no conflict
            labels.append(Label.TUMOR)
        for k, lab in enumerate(labels):
            src = "br35h" if lab in (Label.TUMOR, Label.NO_TUMOR) and k % 2 else "figshare"
            records.append(Record(Path(f"/x/{c}_{k}.jpg"), f"{src}/{c}_{k}.jpg", lab, src))
            ids.append(c)
    return records, ids


def test_labels_conflict_rules() -> None:
    assert labels_conflict([Label.NO_TUMOR, Label.TUMOR])
    assert labels_conflict([Label.NO_TUMOR, Label.GLIOMA])
    assert labels_conflict([Label.GLIOMA, Label.MENINGIOMA])
    assert not labels_conflict([Label.TUMOR, Label.PITUITARY, Label.PITUITARY])
    assert not labels_conflict([Label.NO_TUMOR, Label.NO_TUMOR])
    assert not labels_conflict([Label.TUMOR])


def test_clusters_never_straddle_and_conflicts_stay_out_of_test() -> None:
    records, ids = _population()
    splits, conflicts = assign_splits(records, ids, seed=0)
    per_cluster: dict[int, set[Split]] = defaultdict(set)
    for c, s in zip(ids, splits, strict=True):
        per_cluster[c].add(s)
    assert all(len(s) == 1 for s in per_cluster.values())
    assert conflicts == {c for c in range(600) if c % 50 == 0}
    assert all(per_cluster[c] == {Split.TRAIN} for c in conflicts)
    partial_plus_specific = [
        c
        for c in range(1, 600, 70)
        if len({records[i].label for i in range(len(ids)) if ids[i] == c}) == 2
    ]
    assert partial_plus_specific and not conflicts & set(partial_plus_specific)


def test_split_is_stratified_by_class() -> None:
    records, ids = _population()
    splits, conflicts = assign_splits(records, ids, seed=0)
    counts = Counter(
        (r.label, s) for r, s, c in zip(records, splits, ids, strict=True) if c not in conflicts
    )
    for label in [*SPECIFIC, Label.TUMOR]:
        total = sum(counts[label, s] for s in Split)
        for s, want in zip(Split, (0.70, 0.15, 0.15), strict=True):
            assert counts[label, s] / total == pytest.approx(want, abs=0.05), (label, s)


def test_split_is_reproducible_by_seed() -> None:
    records, ids = _population()
    a, _ = assign_splits(records, ids, seed=0)
    b, _ = assign_splits(records, ids, seed=0)
    c, _ = assign_splits(records, ids, seed=1)
    assert a == b
    assert a != c


def test_leakage_counts_pairs_across_splits() -> None:
    pairs = Pairs(
        np.array([0, 1, 2]),
        np.array([1, 2, 3]),
        np.array([0.9, 0.8, 0.7]),
        0.6,
        np.zeros(4, np.float32),
    )
    splits = [Split.TRAIN, Split.TRAIN, Split.TEST, Split.TEST]
    assert leakage(pairs, splits, 0.85)["crossing_pairs"] == 0
    loose = leakage(pairs, splits, 0.75)
    assert loose["crossing_pairs"] == 1
    assert loose["crossing_by_splits"] == {"test-train": 1}
    assert loose["test_images_with_a_crossing_pair"] == 1


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """Two sources of synthetic slices, each original with a transformed copy elsewhere."""
    root = tmp_path / "data"
    for seed in range(40):
        label = ["glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"][seed % 4]
        img = synthetic_slice(100 + seed, 120, 100)
        a = root / "sartaj" / "Training" / label / f"s{seed}.jpg"
        b = root / "figshare" / label.split("_")[0] / f"{seed}.png"
        for path, pix in [(a, img), (b, list(VARIANTS.values())[seed % 5](img))]:
            path.parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(path), np.ascontiguousarray(pix))
    return root


def test_cli_split_writes_a_consistent_manifest(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "splits"
    args = ["split-clusters", "--data-root", str(tiny_root), "--out", str(out), "--soft", "0.8"]
    assert main(args) == 0  # no soft band: clusters are exactly the crafted copies
    with open(out / "manifest.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == COLUMNS + OPTIONAL_COLUMNS
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 80 and len({r.cluster for r in rows}) == 40  # each copy found
    for r in rows:
        assert r.file(tiny_root).is_file() and "\\" not in r.path
    by_cluster: dict[str, set[Split]] = defaultdict(set)
    for r in rows:
        by_cluster[r.cluster].add(r.split)
    assert all(len(s) == 1 for s in by_cluster.values())
    assert verify_files(rows, tiny_root) == []
    verify = ["verify", "--data-root", str(tiny_root), "--manifest", str(out / "manifest.csv")]
    assert main(verify) == 0
    rows[0].file(tiny_root).write_bytes(b"changed")
    rows[1].file(tiny_root).unlink()
    bad = {m.rel_path: m.reason for m in verify_files(rows, tiny_root)}
    assert bad == {rows[0].path: "sha256 differs", rows[1].path: "missing"}
    assert main(verify) == 1


def test_cli_index_and_dedup_report_counts(
    tiny_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "--data-root", str(tiny_root)]) == 0
    assert "80 images" in capsys.readouterr().out
    assert main(["dedup", "--data-root", str(tiny_root), "--threshold", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "threshold: 40 clusters, 0 pairs refused" in out
    assert "soft merges: " in out


def test_committed_manifest_loads_through_the_one_reader() -> None:
    """training/splits/manifest.csv as committed: every row, the volume columns kept."""
    with open(MANIFEST, newline="", encoding="utf-8") as f:
        raw = list(csv.DictReader(f))
    rows = read_manifest(MANIFEST)
    assert len(rows) == len(raw) > 0
    for r, d in zip(rows, raw, strict=True):
        assert (r.path, r.source, r.label.value, r.split.value, r.cluster, r.conflict) == (
            d["path"], d["source"], d["label"], d["split"], d["cluster"], d["conflict"],
        )  # fmt: skip
        assert (r.case, r.sequence, r.z) == (d["case"], d["sequence"], d["z"])
    assert any(r.case and r.sequence and r.z for r in rows)  # the volume sources' slices
