"""The whole training chain through its command line, on synthetic folders, in one test:

index -> dedup -> split -> train (a few steps) -> calibrate -> export -> parity -> report,
then the released file is loaded and used by the app's own classifier.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.core.classifier import Classifier
from desktop.core.readers import read_slices
from tests.phantoms import VARIANTS, synthetic_slice
from training.__main__ import main

FOLDERS = {
    "glioma_tumor": "glioma",
    "meningioma_tumor": "meningioma",
    "no_tumor": "no_tumor",
    "pituitary_tumor": "pituitary",
}


def make_roots(root: Path, n: int = 48) -> None:
    """Sartaj-like and figshare-like folders, each slice with a transformed copy in the
    other source (the duplicates the split must keep together), plus Br35H "yes" slices
    (tumours of unknown type)."""
    names = list(FOLDERS)
    for seed in range(n):
        label = names[seed % 4]
        img = synthetic_slice(100 + seed, 120, 100)
        # a class-dependent bright blob, so a few steps learn something
        cy, cx = 30 + 15 * (seed % 4), 50
        if label != "no_tumor":
            cv2.circle(img, (cx, cy), 9, 255, -1)
        a = root / "sartaj" / "Training" / label / f"s{seed}.jpg"
        b = root / "figshare" / label.split("_")[0] / f"{seed}.png"
        for path, pix in [(a, img), (b, list(VARIANTS.values())[seed % 5](img))]:
            path.parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(path), np.ascontiguousarray(pix))
    for source, label, blob in (("brats2018", "glioma", True), ("ixi", "no_tumor", False)):
        # volume sources: 8 patients of 3 slices each, with a per-source manifest
        rows = []
        for case in range(8):
            for z in (40, 42, 44):
                img = synthetic_slice(700 + 100 * (source == "ixi") + 10 * case + z, 110, 110)
                if blob:
                    cv2.circle(img, (50, 45), 10, 255, -1)
                name = f"{label}/{source}_{case}_z{z}.jpg"
                (root / source / label).mkdir(parents=True, exist_ok=True)
                assert cv2.imwrite(str(root / source / name), img)
                rows.append(f"{name},{label},{source}{case},t1,{z},0,synthetic\n")
        (root / source / "manifest.csv").write_text(
            "file,label,case,sequence,z,tumour_px,source_note\n" + "".join(rows)
        )
    for seed in range(8):
        img = synthetic_slice(500 + seed, 120, 100)
        cv2.circle(img, (60, 40), 10, 255, -1)
        path = root / "br35h" / "yes" / f"y{seed}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), img)


@pytest.mark.slow
@pytest.mark.timeout(900)  # about a minute alone; longer when training runs share the cores
def test_split_train_release_and_use_in_one_chain(tmp_path: Path) -> None:
    data, splits, run, out = (tmp_path / d for d in ("data", "splits", "run", "models"))
    make_roots(data)

    # index -> dedup -> split
    assert main(["split", "--data-root", str(data), "--out", str(splits), "--soft", "0.8"]) == 0
    manifest = splits / "manifest.csv"
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    audit = json.loads((splits / "audit.json").read_text())
    dropped = audit["dropped_from_train_near_heldout"]["paths"]
    assert len(rows) + len(dropped) == 2 * 48 + 8 + 2 * 24  # near copies of held-out ones left
    per_case: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r["case"]:
            per_case[r["case"]].add(r["split"])
    assert len(per_case) == 16 and all(len(s) == 1 for s in per_case.values())
    split_of_cluster: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        split_of_cluster[r["cluster"]].add(r["split"])
    assert all(len(s) == 1 for s in split_of_cluster.values())  # no cluster straddles
    assert {r["split"] for r in rows} == {"train", "val", "test"}

    # train a few steps (the baseline CNN, from scratch)
    argv = ["train", "--arch", "baseline_cnn", "--size", "48", "--epochs", "2",
            "--steps-per-epoch", "3", "--batch-size", "16", "--threads", "1", "--quiet",
            "--manifest", str(manifest), "--data-root", str(data),
            "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(run)]  # fmt: skip
    assert main(argv) == 0
    assert (run / "best.pth").is_file() and (run / "checkpoint.pth").is_file()

    # calibrate -> export (parity checked inside, strict) -> evaluate -> report
    argv = ["release", "--checkpoint", str(run / "best.pth"), "--out", str(out),
            "--onnx-name", "chain.onnx", "--name", "chain", "--n-boot", "30"]  # fmt: skip
    assert main(argv) == 0  # manifest and data root come from the checkpoint
    onnx_path = out / "chain.onnx"
    report = json.loads((out / "report.json").read_text())
    parity = report["export_parity"]
    assert parity["ok"] and parity["n"] > 0  # real files: the app's path vs PyTorch
    assert parity["logits"] <= 1e-4 and parity["cam"] <= 1e-4
    assert report["test"]["n"] == sum(r["split"] == "test" for r in rows)
    card = (out / "MODEL_CARD.md").read_text()
    assert "Research use only" in card and "chain.onnx" in card
    assert "The manifest has no Sartaj `Testing` images." in card  # none were made
    leakage = report["leakage_audit"]  # the split's audit, carried into report and card
    assert leakage["protocol"]["cluster_threshold"] == 0.98
    assert leakage["heldout_max_similarity_to_train"]["max"] < 0.95
    assert "**Split**" in card and "the protocol of the held-back sets" in card
    cases = report["cases"]  # the case rule: fitted on validation cases, in the metadata
    assert cases["fit"]["validation_cases"] == 2 and cases["test"]["tumour_cases"] == 1
    assert "## Cases" in card and "tumour cases flagged" in card
    assert "| brats2018/t1 |" in card  # by source and sequence
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert (out / "chain.onnx.sha256").read_text().split()[0] == digest

    # the app loads the released file and classifies a slice with it
    clf = Classifier.load(onnx_path)
    assert clf.spec.preprocessing.input_size == 48
    assert clf.spec.case_rule.min_run == cases["rule"]["min_run"]
    slice_ = next(iter(read_slices(data / rows[0]["path"])))
    pred = clf.predict([slice_.pixels])[0]
    assert len(pred.probabilities) == 4
    assert abs(sum(pred.probabilities) - 1.0) < 1e-5
