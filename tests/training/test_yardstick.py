"""The honest split (training.yardstick): the held-back protocol, volume sources by patient."""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.training.test_dedup import synthetic_slice as synthetic_u8
from training.__main__ import main
from training.data import Label, Record, index_roots
from training.manifest import Split, read_manifest
from training.split import COLUMNS, OPTIONAL_COLUMNS, verify_files
from training.yardstick import (
    DROP_THRESHOLD,
    Thumbs,
    max_similarity,
    split_cases,
    split_loose,
    thumbnail16,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"


def synthetic_slice(seed: int, h: int, w: int) -> np.ndarray:
    return synthetic_u8(seed, h, w).astype(np.float32) / 255.0


LABELS = [Label.GLIOMA, Label.MENINGIOMA, Label.NO_TUMOR, Label.PITUITARY]


def test_similarity_sees_through_flips_and_rotations() -> None:
    img = synthetic_slice(3, 96, 80)
    variants = [img, img[::-1], img[:, ::-1], np.rot90(img), np.rot90(img, 3)[::-1]]
    t = np.stack([thumbnail16(v) for v in variants])
    sim = max_similarity(t, t)
    assert sim.min() > 0.98
    other = thumbnail16(synthetic_slice(4, 96, 80))
    assert max_similarity(other[None], t).max() < 0.95
    assert np.allclose(np.linalg.norm(t.reshape(len(t), -1), axis=1), 1.0, atol=1e-5)
    assert not thumbnail16(np.zeros((40, 40), np.float32)).any()  # flat: no direction


def _records(n: int) -> tuple[list[Record], list[np.ndarray]]:
    recs, imgs = [], []
    for i in range(n):
        label = LABELS[i % 4]
        recs.append(Record(Path(f"/x/{i}.png"), f"src/{label.value}/{i}.png", label, "src"))
        imgs.append(synthetic_slice(1000 + i, 96, 96))
    return recs, imgs


def _thumbs(recs: list[Record], imgs: list[np.ndarray]) -> Thumbs:
    return Thumbs(
        tuple(recs),
        np.stack([thumbnail16(x) for x in imgs]),
        tuple(str(i) for i in range(len(recs))),
    )


def test_copies_share_a_split_and_near_copies_of_heldout_leave_train() -> None:
    recs, imgs = _records(200)
    # exact flipped copies (one cluster) and, for each, a near copy (0.95 <= sim < 0.98
    # mostly): 70% of the slice blended with 30% of another, like an adjacent slice
    for i in range(0, 200, 4):
        recs.append(Record(Path(f"/x/c{i}.png"), f"src/c{i}.png", recs[i].label, "src"))
        imgs.append(imgs[i][:, ::-1].copy())
    n_copies = len(recs)
    for i in range(200):
        noisy = (0.7 * imgs[i] + 0.3 * synthetic_slice(5000 + i, 96, 96)).astype(np.float32)
        recs.append(Record(Path(f"/x/n{i}.png"), f"src/n{i}.png", recs[i].label, "src"))
        imgs.append(noisy)
    th = _thumbs(recs, imgs)
    sim = max_similarity(th.vectors, th.vectors)
    near = [sim[i, n_copies + i] for i in range(200)]
    assert sum(DROP_THRESHOLD <= s < 0.98 for s in near) > 50  # the test builds what it says

    out = split_loose(th, seed=0)
    split_of = {r.rel_path: s for r, s in zip(out.records, out.splits, strict=True)}
    by_cluster: dict[int, set[Split]] = defaultdict(set)
    for c, s in zip(out.clusters, out.splits, strict=True):
        by_cluster[c].add(s)
    assert all(len(v) == 1 for v in by_cluster.values())
    for i in range(0, 200, 4):  # a flipped copy is the same image: same split, or both dropped
        assert split_of.get(f"src/c{i}.png") == split_of.get(recs[i].rel_path)
    # ~12% of single-label clusters per label in test and again in val
    for label in LABELS:
        held = [s for r, s in zip(out.records, out.splits, strict=True) if r.label is label]
        assert any(s is Split.TEST for s in held) and any(s is Split.VAL for s in held)
    # no train slice kept is >= 0.95 to a held-out slice; what was dropped was that close
    assert out.dropped_near_heldout
    assert all(v >= DROP_THRESHOLD for _, v in out.dropped_near_heldout)
    assert max(out.max_sim_to_train.values()) < DROP_THRESHOLD
    kept = {r.rel_path for r in out.records}
    assert not kept & {r.rel_path for r, _ in out.dropped_near_heldout}
    assert split_loose(th, seed=0).splits == out.splits  # seeded
    assert split_loose(th, seed=1).splits != out.splits


def test_volume_sources_split_by_patient() -> None:
    recs = [
        Record(
            Path(f"/v/{s}_{c}_{z}.jpg"),
            f"{s}/{c}_{z}.jpg",
            Label.NO_TUMOR,
            s,
            case=f"{s}{c}",
            z=str(z),
        )
        for s in ("ixi", "brats2018")
        for c in range(20)
        for z in range(5)
    ]
    out = split_cases(recs, seed=0, first_cluster=100)
    per_case: dict[str, set[Split]] = defaultdict(set)
    for r, s in zip(out.records, out.splits, strict=True):
        per_case[r.case].add(s)
    assert all(len(v) == 1 for v in per_case.values())
    for source in ("ixi", "brats2018"):
        cases = {
            r.case: s for r, s in zip(out.records, out.splits, strict=True) if r.source == source
        }
        counts = {sp: sum(1 for s in cases.values() if s is sp) for sp in Split}
        assert counts == {Split.TEST: 3, Split.VAL: 3, Split.TRAIN: 14}
    assert min(out.clusters) == 100 and len(set(out.clusters)) == 40


def _volume_source(root: Path) -> None:
    src = root / "ixi"
    (src / "no_tumor").mkdir(parents=True)
    rows = []
    for c in range(10):
        for z in (40, 50):
            name = f"no_tumor/IXI{c:03d}_t1_z{z:03d}.jpg"
            Image.fromarray(synthetic_u8(500 + 10 * c + z, 90, 120)).save(src / name)
            rows.append([name, "no_tumor", f"IXI{c:03d}", "t1", z, 0, "test"])
    with open(src / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "case", "sequence", "z", "tumour_px", "source_note"])
        w.writerows(rows)


def test_cli_split_indexes_volume_sources_and_writes_case_columns(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _volume_source(root)
    for i in range(40):
        label = ["glioma", "meningioma", "pituitary"][i % 3]
        d = root / "figshare" / label
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_u8(i, 100, 100)).save(d / f"{i}.png")
    records = index_roots([root / "figshare", root / "ixi"])
    ixi = [r for r in records if r.source == "ixi"]
    assert len(ixi) == 20 and all(r.case and r.sequence == "t1" and r.z for r in ixi)

    out = tmp_path / "splits"
    assert main(["split", "--data-root", str(root), "--out", str(out)]) == 0
    with open(out / "manifest.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == COLUMNS + OPTIONAL_COLUMNS
    rows = read_manifest(out / "manifest.csv")
    per_case: dict[str, set[Split]] = defaultdict(set)
    for r in rows:
        if r.source == "ixi":
            per_case[r.case].add(r.split)
    assert len(per_case) == 10 and all(len(v) == 1 for v in per_case.values())
    audit = json.loads((out / "audit.json").read_text())
    assert audit["protocol"]["cluster_threshold"] == 0.98
    assert sum(audit["patients_split_source"].values()) == 10


@pytest.mark.shared
def test_committed_split_follows_the_protocol() -> None:
    """Every indexed slice is in the manifest or listed as dropped; patients never span splits."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present next to the repository")
    from training.data import default_roots

    manifest = REPO_ROOT / "training" / "splits" / "manifest.csv"
    audit = json.loads((manifest.parent / "audit.json").read_text())
    rows = read_manifest(manifest)
    dropped = set(audit["dropped_from_train_near_heldout"]["paths"])
    indexed = {r.rel_path for r in index_roots(default_roots(SHARED_DATA))}
    assert {r.path for r in rows} | dropped == indexed
    assert not dropped & {r.path for r in rows}
    sample = random.Random(0).sample(rows, 150)  # sha256 of a sample: seconds, not minutes
    assert verify_files(sample, SHARED_DATA) == []
    assert not any(r.conflict == "1" and r.split is not Split.TRAIN for r in rows)
    per_case: dict[tuple[str, str], set[Split]] = defaultdict(set)
    for r in rows:
        if r.case:
            per_case[(r.source, r.case)].add(r.split)
    assert len(per_case) == 135 and all(len(v) == 1 for v in per_case.values())
    assert audit["heldout_max_similarity_to_train"]["max"] <= DROP_THRESHOLD  # 4 digits
