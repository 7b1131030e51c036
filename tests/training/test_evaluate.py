"""Metrics with intervals, and calibrate -> export -> evaluate -> report on synthetic data."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from desktop.core.classifier import Classifier
from desktop.core.model_spec import METADATA_KEY, ModelSpec, Preprocessing
from desktop.core.preprocess import to_batch
from tests.training.standin import TinyNet, make_dataset
from training.inputs import read_grey
from training.manifest import PARTIAL, Label, ManifestRow, Split, read_manifest
from training.metrics import bootstrap_ci, cluster_ids, confusion, metrics_with_ci, point_metrics

# hand-made case: labels (PARTIAL = tumour of unknown type) and predictions
Y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, PARTIAL, PARTIAL])
P = np.array([0, 0, 1, 1, 1, 2, 2, 0, 3, 2, 2, 0])


def test_confusion_and_point_metrics_by_hand() -> None:
    cm = confusion(Y, P)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 2, 0], [0, 0, 1, 1]]
    m = point_metrics(Y, P)
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["precision_glioma"] == pytest.approx(2 / 3) and m["precision_pituitary"] == 1.0
    assert m["recall_meningioma"] == 1.0 and m["recall_pituitary"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 2 / 3 + 2 / 3) / 4)
    assert m["tumour_called_no_tumor"] == pytest.approx(2 / 9)  # one pituitary + one partial
    assert m["no_tumor_called_tumour"] == pytest.approx(1 / 3)
    assert m["partial_tumour_vs_no_tumour_accuracy"] == pytest.approx(0.5)


def test_firm_calls_count_silent_misses_by_hand() -> None:
    from desktop.core.results import Status
    from training.evaluate import Predictions, firm_calls

    names = ["glioma", "meningioma", "no_tumor", "pituitary", "tumor"]
    rows = tuple(
        ManifestRow(f"{i}.png", "s", "", Label(names[int(y)]), f"c{i}", Split.TEST)
        for i, y in enumerate(Y)
    )
    # confident on all but rows 1 and 9; row 11 is out of distribution
    conf = np.array([0.99, 0.6, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.99, 0.6, 0.99, 0.99])
    ood = np.zeros(len(Y), np.float32)
    ood[11] = 5.0
    statuses = tuple(
        Status.UNSUPPORTED if o > 1.0 else Status.OK if c >= 0.95 else Status.UNCERTAIN
        for c, o in zip(conf, ood, strict=True)
    )  # what decide() says for these (its own tests: tests/core/test_inference.py)
    pred = Predictions(rows, np.zeros((len(Y), 4), np.float32), ood, statuses)
    f = firm_calls(Y, P, pred, n_boot=50, seed=0)
    assert f["n"] == 9 and f["coverage"] == pytest.approx(9 / 12)
    # the pituitary called no_tumor (row 9) is uncertain: not a silent miss; the partial
    # tumour called no_tumor (row 10) is firm: the one silent miss of 9 tumour slices
    assert f["silent_misses"] == 1 and f["n_tumour"] == 9
    assert f["silent_miss_rate"] == pytest.approx(1 / 9)
    firm_acc = f["metrics"]["accuracy"]
    assert firm_acc["n"] == 8 and firm_acc["value"] == pytest.approx(6 / 8)


def test_macro_f1_over_present_classes() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 2, 1, 1])  # class 2 called once, never true; class 3 absent
    m = point_metrics(y, p)
    f1_0, f1_1 = 2 * 1 * 0.5 / 1.5, 1.0
    assert m["macro_f1"] == pytest.approx((f1_0 + f1_1 + 0.0) / 3)
    assert np.isnan(m["recall_pituitary"]) and np.isnan(m["precision_pituitary"])


def test_weights_equal_repeated_samples() -> None:
    w = np.array([1, 2, 0, 1, 3, 1, 1, 2, 1, 1, 2, 1], dtype=float)
    rep = np.repeat(np.arange(len(Y)), w.astype(int))
    a, b = point_metrics(Y, P, w), point_metrics(Y[rep], P[rep])
    assert a == pytest.approx(b)


def test_bootstrap_intervals_contain_the_point_and_shrink_with_n() -> None:
    ci = metrics_with_ci(Y, P, n_boot=300)
    for k, v in ci.items():
        lo, hi = v["ci95"]
        if not np.isnan(v["value"]):
            assert lo <= v["value"] + 1e-9 and v["value"] <= hi + 1e-9, k
    assert ci["accuracy"]["n"] == 10 and ci["tumour_called_no_tumor"]["n"] == 9
    big_y, big_p = np.tile(Y, 50), np.tile(P, 50)
    wide = np.diff(bootstrap_ci(Y, P, n_boot=300)["accuracy"])[0]
    narrow = np.diff(bootstrap_ci(big_y, big_p, n_boot=300)["accuracy"])[0]
    assert narrow < wide / 3


def test_perfect_and_single_cluster_cases() -> None:
    y = np.array([0, 1, 2, 3, 0, 1])
    ci = bootstrap_ci(y, y, n_boot=100)
    assert ci["accuracy"] == (1.0, 1.0) and ci["macro_f1"] == (1.0, 1.0)
    one = bootstrap_ci(Y, P, clusters=np.zeros(len(Y), int), n_boot=50)  # nothing to resample
    assert one["accuracy"] == pytest.approx((0.7, 0.7))


def test_no_rows_give_nan_intervals_not_an_error() -> None:
    """A block with no images (a source absent from the test split) has no interval."""
    empty = np.array([], dtype=np.int64)
    ci = bootstrap_ci(empty, empty, n_boot=20)
    assert ci and all(np.isnan(lo) and np.isnan(hi) for lo, hi in ci.values())


def test_cluster_ids_group_rows() -> None:
    ids = cluster_ids(["a", "b", "a", "", "", "b"])
    assert ids[0] == ids[2] and ids[1] == ids[5] and ids[3] != ids[4]
    # resampling whole clusters: two identical copies move together -> a wider interval
    y2, p2 = np.repeat(Y, 2), np.repeat(P, 2)
    per_image = np.diff(bootstrap_ci(y2, p2, n_boot=400)["accuracy"])[0]
    per_cluster = np.diff(bootstrap_ci(y2, p2, np.arange(len(y2)) // 2, n_boot=400)["accuracy"])[0]
    assert per_cluster > per_image


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A checkpoint of the stand-in network, briefly trained on a synthetic data set."""
    root = tmp_path_factory.mktemp("data")
    manifest = make_dataset(root, per_class=6)
    prep = Preprocessing(input_size=48)
    rows = [r for r in read_manifest(manifest) if r.label_index != PARTIAL]
    x = torch.from_numpy(to_batch([read_grey(root / r.path) for r in rows], prep))
    y = torch.tensor([r.label_index for r in rows])
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters(), 0.01)
    for _ in range(8):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    ckpt = root / "tiny.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": 1,
            "args": {"arch": "tiny"},
            "arch": "tiny",
            "preprocessing": asdict(prep),
        },
        ckpt,
    )
    return {"root": root, "manifest": manifest, "ckpt": ckpt}


@pytest.fixture(scope="module")
def released(run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m training release`` on the stand-in checkpoint; returns the output folder."""
    from training.__main__ import main

    out = tmp_path_factory.mktemp("models")
    argv = ["release", "--checkpoint", str(run["ckpt"]), "--manifest", str(run["manifest"]),
            "--data-root", str(run["root"]), "--out", str(out), "--n-boot", "50",
            "--onnx-name", "tiny.onnx", "--name", "tiny stand-in"]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("training.models.create_model", lambda arch, num_classes=4: TinyNet())
        assert main(argv) == 0
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)  # seconds normally; minutes when training runs share the 2 cores
def test_release_end_to_end(run: dict[str, Path], released: Path) -> None:
    out = released
    onnx_path = out / "tiny.onnx"
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    spec = ModelSpec.from_json({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    rep = json.loads((out / "report.json").read_text())
    cal = json.loads(run["ckpt"].with_suffix(".calibration.json").read_text())
    assert rep["export_parity"]["ok"] and rep["export_parity"]["logits"] < 1e-4

    # the metadata carries the calibration, the thresholds and the provenance
    assert spec.temperature == pytest.approx(cal["temperature"])
    assert spec.thresholds.uncertain == pytest.approx(cal["uncertain"]["threshold"])
    assert spec.thresholds.ood_score == pytest.approx(cal["ood_threshold"])
    prov = spec.provenance
    assert prov["manifest"]["sha256"] == rep["manifest"]["sha256"]
    assert prov["test_metrics"]["accuracy"]["value"] == rep["test"]["metrics"]["accuracy"]["value"]
    assert {"code_version", "date", "training_data", "calibration"} <= set(prov)

    # the report's accuracy is what onnxruntime says on the test images (independent recount)
    rows = [r for r in read_manifest(run["manifest"]) if r.split == "test"]
    x = to_batch([read_grey(run["root"] / r.path) for r in rows], spec.preprocessing)
    logits = Classifier.load(onnx_path).outputs(x).logits
    lab = np.array([r.label_index for r in rows])
    acc = float((logits.argmax(1)[lab != PARTIAL] == lab[lab != PARTIAL]).mean())
    assert rep["test"]["metrics"]["accuracy"]["value"] == pytest.approx(acc)
    assert rep["test"]["n"] == len(rows) and set(rep["by_source"]) == {
        "br35h",
        "figshare",
        "sartaj",
    }
    assert rep["test"]["n_partial_tumor"] == sum(r.label == "tumor" for r in rows)

    # Sartaj Testing: 4 of 6 images per class are copies of Training images
    st = rep["sartaj_testing"]
    assert st["n_images"] == 24 and st["n_with_copy_in_sartaj_training"] == 16
    assert "16 of its 24 images" in st["why_not_honest"]

    # probes, figures, card
    assert {"blank_black", "noise_uniform", "document"} <= set(rep["ood_probes"])
    assert rep["ood_probes"]["blank_black"]["unsupported"]  # std 0 < blank_std at least
    for name in (
        "confusion_test",
        "confusion_by_source",
        "reliability_test",
        "reliability_by_source",
        "confusion_sartaj_testing",
    ):
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (out / "MODEL_CARD.md").read_text()
    assert "Research use only" in card and "not an independent test" in card
    assert f"{rep['test']['metrics']['accuracy']['value']:.3f}" in card
    assert "| tiny stand-in |" in card and rep["model"]["sha256"] in card
    # the sidecar hash the app checks is written with the model, and the app accepts it
    from desktop.core.classifier import recorded_sha256

    onnx_file = next(out.glob("*.onnx"))
    assert recorded_sha256(onnx_file) == rep["model"]["sha256"]
    assert Classifier.load(onnx_file).sha256 == rep["model"]["sha256"]
    firm = rep["test"]["firm"]
    assert 0 <= firm["silent_misses"] <= firm["n_tumour"] and firm["n"] <= rep["test"]["n"]
    assert "Firm calls" in card and "Silent misses" in card


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_report_command_compares_runs(released: Path, tmp_path: Path) -> None:
    from training.__main__ import main

    rep = json.loads((released / "report.json").read_text())
    rep["name"] = "run B"
    (tmp_path / "b.json").write_text(json.dumps(rep))
    argv = ["report", "--runs", str(released / "report.json"), str(tmp_path / "b.json"),
            "--out", str(tmp_path / "card")]  # fmt: skip
    assert main(argv) == 0
    card_path = tmp_path / "card" / "MODEL_CARD.md"
    card = card_path.read_text()
    assert "| tiny stand-in |" in card and "| run B |" in card
    assert (tmp_path / "card" / "figures" / "confusion_test.png").is_file()
    # hand-written sections below the marker survive the next regeneration, once
    from training.release import HAND_WRITTEN

    notes = "## Session notes\n\nWritten by a person.\n"
    card_path.write_text(card.replace("run B", "stale") + f"\n{HAND_WRITTEN}\n{notes}")
    assert main(argv) == 0
    again = card_path.read_text()
    assert "| run B |" in again and "stale" not in again  # the generated part is new
    assert again.endswith(f"{HAND_WRITTEN}\n{notes}") and again.count(HAND_WRITTEN) == 1


def test_by_source_macro_f1_counts_only_the_classes_a_source_has() -> None:
    from training.metrics import own_classes_macro_f1

    # figshare-like: no tumour-free slices, one tumour called no_tumor (column 2)
    cm = [[9, 1, 0, 0], [0, 8, 1, 1], [0, 0, 0, 0], [0, 0, 0, 10]]
    f1, n = own_classes_macro_f1(cm)
    assert n == 3
    assert f1 == pytest.approx(np.mean([18 / 19, 16 / 19, 20 / 21]))
    # Br35H-like: only no_tumor among the labelled types (row 4: type unknown, ignored)
    f1, n = own_classes_macro_f1([[0] * 4, [0] * 4, [3, 1, 150, 9], [0] * 4, [5, 60, 8, 120]])
    assert n == 1 and np.isnan(f1)
