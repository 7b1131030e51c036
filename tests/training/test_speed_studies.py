"""The studies of issue 17: decoding less (training.draft_parity) and int8
(training.quantize), on small synthetic sets with the test model, and on real JPEGs."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.bench.folder import model_precision
from desktop.core.classifier import Classifier, file_sha256
from desktop.core.inference import classify, prepare, read_first
from desktop.core.resources import bundled_model_path
from tests.phantoms import noisy_head
from training import draft_parity, quantize
from training.variants import compare, score, split_rows, summary

LABELS = ("glioma", "meningioma", "no_tumor", "pituitary")


def _manifest(root: Path, n: int = 8) -> Path:
    """``n`` 512 px JPEGs and one 512 px PNG in the test split, ``n`` JPEGs in train."""
    rows = []
    for split in ("test", "train"):
        for i in range(n + (split == "test")):
            png = split == "test" and i == n
            rel = f"synth/{split}_{i}.{'png' if png else 'jpg'}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            img = noisy_head(i + 100 * (split == "train"), 512, rx=90 + 12 * i, ry=150 + 9 * i)
            cv2.imwrite(str(root / rel), img)
            rows.append([rel, "synth", "", LABELS[i % 4], f"{split}{i}", split])
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "source", "subset", "label", "cluster", "split"])
        w.writerows(rows)
    return manifest


def test_draft_parity_decodes_each_way(tmp_path: Path, test_model_path: Path) -> None:
    manifest = _manifest(tmp_path)
    res = draft_parity.draft_parity(test_model_path, manifest, tmp_path)
    assert res["rows"] == 9 and res["rows_reduced"] == 8  # the PNG is decoded whole
    assert res["full"]["n"] == res["draft"]["n"] == 9
    ch = res["change"]
    assert 0.0 <= ch["mean_abs_prob_change"] <= ch["max_abs_prob_change"] <= 1.0
    assert res["change_on_reduced_rows"]["max_abs_prob_change"] == ch["max_abs_prob_change"]
    assert isinstance(res["passes"], bool)


def test_score_full_decode_reads_whole_files(tmp_path: Path, test_model_path: Path) -> None:
    manifest = _manifest(tmp_path, 4)
    clf = Classifier.load(test_model_path)
    rows = split_rows(manifest, "test")
    full, draft = score(clf, rows, tmp_path, full_decode=True), score(clf, rows, tmp_path)
    assert set(full.reduced) == {1} and sorted(set(draft.reduced)) == [1, 8]
    s = summary(full)
    assert s["n"] == 5 and 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["firm_coverage"] <= 1.0
    assert compare(full, full)["max_abs_prob_change"] == 0.0
    with pytest.raises(ValueError, match="different rows"):
        compare(full, score(clf, rows[:2], tmp_path))


def test_quantized_model_loads_runs_and_says_int8(tmp_path: Path, test_model_path: Path) -> None:
    manifest = _manifest(tmp_path, 4)
    fp32 = Classifier.load(test_model_path)
    calib = quantize.calibration_inputs(fp32, manifest, tmp_path, 4)
    assert calib.shape == (4, 3, 32, 32)
    out = tmp_path / "int8.onnx"
    quantize.quantize(test_model_path, out, calib)
    int8 = Classifier.load(out)  # the app's loader: contract, metadata and sha256 sidecar
    assert int8.spec.preprocessing == fp32.spec.preprocessing
    assert int8.spec.thresholds == fp32.spec.thresholds
    q = int8.spec.provenance["quantization"]
    assert int8.spec.provenance["model_precision"] == "int8"
    assert q["fp32_sha256"] == file_sha256(test_model_path) and q["calibration_slices"] == 4
    assert model_precision(out) == "int8" and model_precision(test_model_path) == "fp32"
    s = read_first(tmp_path / "synth" / "test_0.jpg", fp32.spec.preprocessing)
    item = prepare(s.pixels, fp32.spec.preprocessing, s.colour)
    (a,), (b,) = classify(fp32, [item]), classify(int8, [item])
    assert np.isclose(b.probabilities.sum(), 1.0)
    assert np.abs(a.probabilities - b.probabilities).max() < 0.2


def test_quantize_study_decides_by_the_rule(tmp_path: Path, test_model_path: Path) -> None:
    manifest = _manifest(tmp_path, 4)
    out = tmp_path / "q" / "m_int8.onnx"
    res = quantize.study(test_model_path, out, manifest, tmp_path, ["minmax", "percentile"], 4)
    assert set(res["int8"]) == {"minmax", "percentile"}
    for m, fig in res["int8"].items():
        assert Path(fig["file"]).name == f"m_int8.{m}.onnx"
        drop_ok = fig["accuracy_drop_points"] <= quantize.MAX_ACCURACY_DROP_POINTS
        assert fig["may_ship"] is (drop_ok and fig["firm_error"] <= quantize.MAX_FIRM_ERROR)
    if res["chosen"] is None:
        assert not out.exists()
    else:
        assert Classifier.load(out).spec.provenance["model_precision"] == "int8"


def test_histogram_calibration_takes_whole_batches(tmp_path: Path, test_model_path: Path) -> None:
    """Percentile and entropy stack the calibration batches: a short last one is left out."""
    fp32 = Classifier.load(test_model_path)
    s = read_first(noisy_head_file(tmp_path), fp32.spec.preprocessing)
    one = prepare(s.pixels, fp32.spec.preprocessing, s.colour).tensor
    rng = np.random.default_rng(0)
    calib = np.stack([one * rng.uniform(0.5, 1.0) for _ in range(20)]).astype(np.float32)
    out = tmp_path / "p.onnx"
    quantize.quantize(test_model_path, out, calib, "percentile")
    q = Classifier.load(out).spec.provenance["quantization"]
    assert q["calibration_slices"] == 16 and q["calibration_method"] == "Percentile"


def test_float_convs_and_a_partly_float_model(tmp_path: Path, test_model_path: Path) -> None:
    """The test model has two Convs (a strided one, then the 1x1 heat-map one), no depthwise."""
    import shutil

    named = tmp_path / "named.onnx"
    shutil.copyfile(test_model_path, named)
    quantize._name_nodes(named)  # the factory's nodes have no names
    assert quantize.float_convs(named, "none") == []
    assert quantize.float_convs(named, "depthwise") == []
    ends = quantize.float_convs(named, "ends")
    assert len(ends) == 2 and all(e.startswith("Conv_node") for e in ends)
    with pytest.raises(ValueError, match="keep_float"):
        quantize.float_convs(named, "all")
    import onnx

    calib = np.zeros((4, 3, 32, 32), np.float32) + np.linspace(-1, 1, 32, dtype=np.float32)
    dq = {}
    for keep in ("none", "ends"):
        out = tmp_path / f"{keep}.onnx"
        quantize.quantize(test_model_path, out, calib, keep_float=keep)
        assert Classifier.load(out).spec.provenance["quantization"]["float_convs"] == keep
        ops = [n.op_type for n in onnx.load(str(out)).graph.node]
        dq[keep] = ops.count("DequantizeLinear")
    assert dq["none"] > 0 and dq["ends"] == 0  # both Convs left float: nothing quantised


def noisy_head_file(root: Path) -> Path:
    f = root / "head.png"
    cv2.imwrite(str(f), noisy_head(0, 200))
    return f


@pytest.mark.shared
def test_real_jpegs_keep_their_calls_when_reduced(shared_dir: Path) -> None:
    """Real 512 px JPEGs through the bundled model, whole and reduced: every calibrated
    probability moves by less than the bound measured on the whole test split
    (training.draft_parity.MAX_PROB_CHANGE; docs/PERFORMANCE.md)."""
    model = bundled_model_path()
    if model is None:
        pytest.skip("no bundled model")
    clf = Classifier.load(model)
    p = clf.spec.preprocessing
    files = [
        sorted((shared_dir / "data" / "figshare" / c).glob("*.jpg"))[k]
        for c in ("glioma", "meningioma", "pituitary")
        for k in (3, 40)
    ]
    whole = [read_first(f) for f in files]
    reduced = [read_first(f, p) for f in files]
    assert all(s.reduced > 1 for s in reduced)
    a = classify(clf, [prepare(s.pixels, p, s.colour) for s in whole])
    b = classify(clf, [prepare(s.pixels, p, s.colour) for s in reduced])
    diff = np.array([np.abs(x.probabilities - y.probabilities) for x, y in zip(a, b, strict=True)])
    assert diff.max() <= draft_parity.MAX_PROB_CHANGE
