"""The classifier with the test model: contract checks, calibration, CAM, statuses."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from desktop.core.classifier import Classifier, ModelLoadError, Prediction
from desktop.core.model_spec import OUTPUT_CAM, OUTPUT_OOD, Thresholds
from desktop.core.preprocess import to_batch
from desktop.core.results import Status
from tests.model_factory import make_test_model, make_test_spec, reference_outputs
from tests.phantoms import disks as images


@pytest.fixture(scope="module")
def clf(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    return Classifier.load(make_test_model(tmp_path_factory.mktemp("m") / "m.onnx"))


def test_spec_and_sha_come_from_the_file(clf: Classifier) -> None:
    assert clf.spec == make_test_spec()
    assert clf.sha256 == hashlib.sha256(clf.path.read_bytes()).hexdigest()
    assert clf.summary()["class_names"] == list(clf.spec.class_names)


def test_probabilities_are_softmax_of_logits(clf: Classifier) -> None:
    imgs = images()
    preds = clf.predict(imgs)
    ref = reference_outputs(to_batch(imgs, clf.spec.preprocessing))
    for p, logits in zip(preds, ref["logits"], strict=True):
        e = np.exp(logits - logits.max())
        np.testing.assert_allclose(p.probabilities, e / e.sum(), rtol=1e-4, atol=1e-6)
        assert sum(p.probabilities) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose([p.ood_score for p in preds], ref[OUTPUT_OOD], rtol=1e-4)
    assert len({p.top for p in preds}) > 1  # different images, different classes


def test_cam_is_the_predicted_class_normalised(clf: Classifier) -> None:
    imgs = images(4)
    preds = clf.predict(imgs)
    ref = reference_outputs(to_batch(imgs, clf.spec.preprocessing))[OUTPUT_CAM]
    for p, cams in zip(preds, ref, strict=True):
        cam = cams[p.top]
        expected = (cam - cam.min()) / (cam.max() - cam.min())
        assert p.cam.shape == (8, 8) and p.cam.dtype == np.float32
        assert p.cam.min() == 0.0 and p.cam.max() == 1.0
        np.testing.assert_allclose(p.cam, expected, atol=1e-4)


def test_batched_equals_one_by_one(clf: Classifier) -> None:
    imgs = images(5)
    batched = clf.predict(imgs)
    single = [clf.predict([i])[0] for i in imgs]
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5)
    assert clf.predict([]) == []


def test_temperature_is_applied(tmp_path: Path, clf: Classifier) -> None:
    hot = Classifier.load(make_test_model(tmp_path / "t.onnx", temperature=3.0))
    imgs = images(6)
    ref = reference_outputs(to_batch(imgs, hot.spec.preprocessing))["logits"]
    for p, q, logits in zip(hot.predict(imgs), clf.predict(imgs), ref, strict=True):
        e = np.exp((logits - logits.max()) / 3.0)
        np.testing.assert_allclose(p.probabilities, e / e.sum(), rtol=1e-4, atol=1e-6)
        assert p.top == q.top and max(p.probabilities) < max(q.probabilities)


def fake(probs: tuple[float, ...], ood: float = 0.1) -> Prediction:
    return Prediction(probs, np.zeros((8, 8), np.float32), ood)


def test_status_from_thresholds(tmp_path: Path) -> None:
    t = Thresholds(uncertain=0.7, ood_score=2.0, blank_std=0.02)
    c = Classifier.load(make_test_model(tmp_path / "s.onnx", thresholds=t))
    img = images(1)[0]
    assert c.status_of(img, fake((0.1, 0.8, 0.05, 0.05))) == (Status.OK, "")
    status, msg = c.status_of(img, fake((0.1, 0.65, 0.2, 0.05)))
    assert status is Status.UNCERTAIN and msg == "low confidence: meningioma 65%, no_tumor 20%"
    status, msg = c.status_of(img, fake((0.1, 0.8, 0.05, 0.05), ood=2.5))
    assert status is Status.UNSUPPORTED
    assert msg == "not a brain MRI slice (out-of-distribution score 2.5)"
    flat = np.full((64, 64), 0.4, np.float32)
    flat[0, 0] = 0.5
    assert c.status_of(flat, fake((0.1, 0.8, 0.05, 0.05))) == (Status.UNSUPPORTED, "blank image")


def test_real_predictions_get_statuses(clf: Classifier) -> None:
    rng = np.random.default_rng(0)
    noise = rng.random((64, 64)).astype(np.float32)
    (p,) = clf.predict([noise])
    assert p.ood_score > clf.spec.thresholds.ood_score  # noise is far from brain slices
    assert clf.status_of(noise, p)[0] is Status.UNSUPPORTED


def load_error(path: Path) -> str:
    with pytest.raises(ModelLoadError) as info:
        Classifier.load(path)
    assert "Traceback" not in str(info.value)
    return str(info.value)


def test_missing_empty_truncated(tmp_path: Path, test_model_path: Path) -> None:
    assert load_error(tmp_path / "none.onnx").startswith("model file not found")
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert load_error(tmp_path / "empty.onnx") == "model file is empty: empty.onnx"
    data = test_model_path.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in load_error(tmp_path / "cut.onnx")


def test_a_model_newer_than_onnxruntime_says_so(
    tmp_path: Path, test_model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16.4: a higher opset is "needs a newer version of the app", not "corrupt"."""
    import onnx

    m = onnx.load(str(test_model_path))
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 99  # an opset no onnxruntime has
    onnx.save(m, str(tmp_path / "newer.onnx"))
    with caplog.at_level(logging.ERROR, logger="desktop.core.classifier"):
        text = load_error(tmp_path / "newer.onnx")
    assert "needs a newer version of the app" in text and "corrupt" not in text
    # the cause is kept: onnxruntime's own words in the log, with the traceback
    (record,) = [r for r in caplog.records if r.name == "desktop.core.classifier"]
    assert record.exc_info is not None and "opset" in str(record.exc_info[1]).lower()


def test_contract_violations(tmp_path: Path) -> None:
    assert "schema version 7" in load_error(make_test_model(tmp_path / "a.onnx", schema_version=7))
    assert "lacks the output(s) ood_score" in load_error(
        make_test_model(tmp_path / "b.onnx", omit_outputs=(OUTPUT_OOD,))
    )
    assert "no 'brain_mri_review' metadata" in load_error(
        make_test_model(tmp_path / "c.onnx", metadata="")
    )
    assert "not valid JSON" in load_error(make_test_model(tmp_path / "d.onnx", metadata="{oops"))
    # issue 16.16: the table, keys 1-4 and the export columns are made for the app's classes
    five = make_test_spec(class_names=("a", "b", "c", "d", "e"))
    path = make_test_model(tmp_path / "f.onnx", metadata=five.to_json())
    assert "(a, b, c, d, e) are not the ones this app shows" in load_error(path)
    swapped = make_test_spec(class_names=("meningioma", "glioma", "no_tumor", "pituitary"))
    path = make_test_model(tmp_path / "s.onnx", metadata=swapped.to_json())
    assert "needs a newer version of the app" in load_error(path)
    wrong = json.loads(make_test_spec(64).to_json())
    path = make_test_model(tmp_path / "e.onnx", 32, metadata=json.dumps(wrong))
    assert "does not match the metadata" in load_error(path)
    rule = json.loads(make_test_spec().to_json())
    rule["preprocessing"]["grey_to_channels"] = "rgb_weights"
    path = make_test_model(tmp_path / "g.onnx", metadata=json.dumps(rule))
    assert "unknown grey-to-channels rule 'rgb_weights'" in load_error(path)
    del rule["preprocessing"]["grey_to_channels"]  # files from before the field: replicate
    path = make_test_model(tmp_path / "h.onnx", metadata=json.dumps(rule))
    assert Classifier.load(path).spec.preprocessing.grey_to_channels == "replicate"


def test_recorded_hash_must_match(tmp_path: Path) -> None:
    model = make_test_model(tmp_path / "m.onnx")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    sidecar = tmp_path / "m.onnx.sha256"
    sidecar.write_text(f"{digest}  m.onnx\n")
    assert Classifier.load(model).sha256 == digest
    sidecar.write_text("0" * 64 + "  m.onnx\n")
    assert "does not match its recorded sha256" in load_error(model)
    with pytest.raises(ModelLoadError, match="recorded sha256"):
        Classifier.load(make_test_model(tmp_path / "n.onnx"), expected_sha256="ab" * 32)


def test_colour_photographs_are_unsupported_before_the_network(tmp_path) -> None:
    """A colour picture is refused by the model's max_colour threshold; grey RGB is not."""
    import cv2

    from desktop.core.pipeline import Pipeline

    model = make_test_model(
        tmp_path / "m.onnx",
        thresholds=Thresholds(uncertain=0.0, ood_score=float("inf"), max_colour=0.1),
    )
    clf = Classifier.load(model)
    rng = np.random.default_rng(0)
    grey = (rng.random((64, 64)) * 255).astype(np.uint8)
    colour = np.dstack([grey, np.roll(grey, 7, axis=0), 255 - grey])  # strongly coloured
    cv2.imwrite(str(tmp_path / "grey_as_rgb.png"), np.dstack([grey] * 3))
    cv2.imwrite(str(tmp_path / "photo.png"), colour)
    rows = {Path(r.path).name: r for r in Pipeline(clf).run(sorted(tmp_path.glob("*.png")))}
    assert rows["photo.png"].status is Status.UNSUPPORTED
    assert "colour picture" in rows["photo.png"].message
    assert rows["grey_as_rgb.png"].status is Status.OK


def test_cams_are_normalised_map_by_map_in_one_pass() -> None:
    """Each heat map of a batch is scaled on its own; a flat map is all zeros, not NaN;
    NaN and infinities are cleaned first (as the per-map code did)."""
    from desktop.core.classifier import _normalise_cams

    ramp = np.arange(16, dtype=np.float32).reshape(4, 4)
    flat = np.full((4, 4), 3.0, np.float32)
    dirty = ramp.copy()
    dirty[0, 0], dirty[3, 3] = np.nan, -np.inf
    out = _normalise_cams(np.stack([ramp * 10 - 5, flat, dirty]))
    assert out.dtype == np.float32 and out.shape == (3, 4, 4)
    np.testing.assert_allclose(out[0], ramp / 15.0, atol=1e-6)
    assert not out[1].any() and np.isfinite(out).all()
    assert out[2].min() == 0.0 and out[2].max() == 1.0
    assert out[2][3, 3] == 0.0  # -inf became the lowest finite float, then 0
