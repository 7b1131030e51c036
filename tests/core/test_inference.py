"""The inference facade: placement, the one status rule, and the same answers as the app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from desktop.core.classifier import Classifier
from desktop.core.decide import ImageChecks, decide
from desktop.core.inference import classify, prepare, read_first
from desktop.core.model_spec import Preprocessing, Thresholds
from desktop.core.pipeline import Pipeline
from desktop.core.preprocess import geometric, geometric_placed, to_input
from desktop.core.readers import ReadError
from desktop.core.results import Status
from tests.model_factory import make_test_model

NAMES = ("glioma", "meningioma", "no_tumor", "pituitary")
T = Thresholds(uncertain=0.7, ood_score=2.0, blank_std=0.02, max_colour=0.1)


def test_decide_checks_blank_then_colour_then_ood_then_confidence() -> None:
    sure, unsure = (0.1, 0.8, 0.05, 0.05), (0.1, 0.65, 0.2, 0.05)
    ok = ImageChecks(std=0.2)
    assert decide(sure, 0.1, ok, T, NAMES).firm
    v = decide(unsure, 0.1, ok, T, NAMES)
    assert (v.status, v.message) == (
        Status.UNCERTAIN,
        "low confidence: meningioma 65%, no_tumor 20%",
    )
    assert decide(sure, 2.5, ok, T, NAMES).message.startswith("not a brain MRI slice")
    assert decide(sure, 2.5, ImageChecks(0.2, colour=0.3), T, NAMES).message.startswith(
        "a colour picture"
    )
    assert decide(sure, 2.5, ImageChecks(0.0, colour=0.3), T, NAMES).message == "blank image"
    assert not decide(sure, 2.5, ok, T, NAMES).firm


@pytest.mark.parametrize("shape", [(60, 200), (200, 60), (37, 37), (300, 250)])
@pytest.mark.parametrize("crop", [True, False])
def test_placement_maps_the_output_back_onto_the_slice(shape: tuple[int, int], crop: bool) -> None:
    h, w = shape
    img = np.zeros(shape, np.float32)
    img[h // 4 : 3 * h // 4, w // 5 : 4 * w // 5] = 0.8
    p = Preprocessing(input_size=32, crop_foreground=crop)
    out, where = geometric_placed(img, p)
    np.testing.assert_array_equal(out, geometric(img, p))  # the same numbers as before
    x, y, side, side2 = where.source_rect()
    assert side == side2 == pytest.approx(32 / where.scale)
    nh, nw = where.placed
    y0, x0 = where.offset
    assert out[y0 : y0 + nh, x0 : x0 + nw].any() and not out[:y0].any()
    t, b, left, r = where.crop
    # the crop box's corners land on the placed region's corners
    assert left == pytest.approx(x + x0 / where.scale) and t == pytest.approx(y + y0 / where.scale)
    assert max(b - t, r - left) * where.scale == pytest.approx(32)


def test_read_first_is_the_readers_first_slice_and_refuses_in_words(tmp_path: Path) -> None:
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ReadError):
        read_first(bad)


def test_facade_gives_the_pipelines_statuses(tmp_path: Path) -> None:
    from PIL import Image

    clf = Classifier.load(make_test_model(tmp_path / "m.onnx", thresholds=T))
    rng = np.random.default_rng(3)
    files = []
    for i in range(6):
        a = np.zeros((64, 80), np.uint8)
        a[10:54, 15:65] = rng.integers(0, 255 if i % 2 else 60, (44, 50))
        f = tmp_path / f"{i}.png"
        Image.fromarray(a).save(f)
        files.append(f)
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[..., 0] = 200  # a red square on green: a colour picture, not blank
    photo[16:48, 16:48] = (0, 160, 0)
    Image.fromarray(photo).save(tmp_path / "red.png")
    files.append(tmp_path / "red.png")
    rows = list(Pipeline(clf, workers=1).run(files))
    items = []
    for f in files:
        s = read_first(f)
        items.append(prepare(s.pixels, clf.spec.preprocessing, s.colour))
        np.testing.assert_array_equal(items[-1].tensor, to_input(s.pixels, clf.spec.preprocessing))
    calls = classify(clf, items)
    assert [c.verdict.status for c in calls] == [r.status for r in rows]
    assert [c.verdict.message for c in calls] == [r.message for r in rows]
    assert calls[-1].verdict.message.startswith("a colour picture")
