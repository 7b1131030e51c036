"""ONNX export: graph contract, checker, metadata, dynamic batch, app-path parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from desktop.core.model_spec import (
    CLASS_NAMES,
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_CAM,
    OUTPUT_LOGITS,
    OUTPUT_OOD,
    ModelSpec,
    Preprocessing,
    Thresholds,
)
from desktop.core.preprocess import to_batch
from tests.training.standin import TinyNet
from training.export import (
    PARITY_TOL,
    ExportWrapper,
    build_spec,
    export_onnx,
    parity,
    parity_slices,
    synthetic_slices,
)
from training.manifest import DEFAULT_MANIFEST
from training.onnx_io import load, read_spec
from training.ood import MultiLevelScorer, head_all

SIZE = 48


def _scorer(model: TinyNet) -> MultiLevelScorer:
    x = torch.from_numpy(to_batch(synthetic_slices(40, seed=5), Preprocessing(input_size=SIZE)))
    with torch.no_grad():
        vectors = [v.numpy() for v in head_all(model.eval(), x)[2]]
    return MultiLevelScorer.fit(vectors, np.arange(40) % 4, vectors)[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TinyNet, ExportWrapper]:
    model = TinyNet().eval()
    wrapper = ExportWrapper(model, _scorer(model)).eval()
    spec = build_spec(
        Preprocessing(input_size=SIZE),
        "tiny_standin",
        temperature=1.7,
        thresholds=Thresholds(uncertain=0.71, ood_score=3.5, blank_std=0.02),
        provenance={"manifest": {"sha256": "ab" * 32}, "code_version": "test"},
    )
    path = tmp_path_factory.mktemp("export") / "tiny.onnx"
    export_onnx(wrapper, spec, path)
    return path, model, wrapper


def test_wrapper_outputs_follow_the_contract() -> None:
    model = TinyNet().eval()
    scorer = _scorer(model)
    wrapper = ExportWrapper(model, scorer).eval()
    x = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        logits, cam, ood = wrapper(x)
        torch.testing.assert_close(logits, model(x))  # same as the network's own forward
        bias = model.classifier_linear.bias
        torch.testing.assert_close(cam.mean(dim=(2, 3)) + bias, logits)  # CAM = W . features
        vectors = head_all(model, x)[2]
        assert len(vectors) == 4 and vectors[-1].shape == (3, 12)  # layout, 2 stages, pooled
        assert vectors[0].shape == (3, 64)  # the input's 8 x 8 layout
        torch.testing.assert_close(vectors[-1], model.forward_features(x).mean(dim=(2, 3)))
        torch.testing.assert_close(ood, scorer(vectors))
    assert cam.shape == (3, 4, SIZE // 4, SIZE // 4) and ood.shape == (3,)


def test_export_passes_checker_and_carries_the_spec(
    exported: tuple[Path, TinyNet, ExportWrapper],
) -> None:
    path, _, _ = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == [INPUT_NAME]
    assert [o.name for o in proto.graph.output] == [OUTPUT_LOGITS, OUTPUT_CAM, OUTPUT_OOD]
    meta = {p.key: p.value for p in proto.metadata_props}
    spec = ModelSpec.from_json(meta[METADATA_KEY])
    assert spec.class_names == CLASS_NAMES
    assert spec.temperature == pytest.approx(1.7)
    assert spec.thresholds == Thresholds(uncertain=0.71, ood_score=3.5, blank_std=0.02)
    assert spec.preprocessing.input_size == SIZE and spec.architecture == "tiny_standin"
    assert spec.provenance["manifest"]["sha256"] == "ab" * 32
    assert read_spec(path) == spec


@pytest.mark.parametrize("n", [1, 5])
def test_dynamic_batch_and_output_shapes(
    exported: tuple[Path, TinyNet, ExportWrapper], n: int
) -> None:
    path, model, _ = exported
    x = np.random.default_rng(n).normal(0, 1, (n, 3, SIZE, SIZE)).astype(np.float32)
    logits, cam, ood = load(path).run([OUTPUT_LOGITS, OUTPUT_CAM, OUTPUT_OOD], x)
    assert logits.shape == (n, 4) and cam.shape == (n, 4, SIZE // 4, SIZE // 4)
    assert ood.shape == (n,) and np.all(ood >= 0)
    with torch.no_grad():
        np.testing.assert_allclose(logits, model(torch.from_numpy(x)).numpy(), atol=PARITY_TOL)


def test_parity_through_app_preprocessing_synthetic(
    exported: tuple[Path, TinyNet, ExportWrapper],
) -> None:
    path, model, wrapper = exported
    d = parity(path, model, wrapper, synthetic_slices(9, seed=3))
    assert d["n"] == 9
    assert d["logits"] < PARITY_TOL and d["cam"] < PARITY_TOL and d["ood_score_rel"] < 1e-4


def test_parity_on_real_files(
    exported: tuple[Path, TinyNet, ExportWrapper], shared_dir: Path
) -> None:
    if not DEFAULT_MANIFEST.is_file():
        pytest.skip("training/splits/manifest.csv is not there yet")
    slices = parity_slices(DEFAULT_MANIFEST, shared_dir / "data", n=8)
    assert len(slices) == 8 and len({s.shape for s in slices}) >= 1
    path, model, wrapper = exported
    d = parity(path, model, wrapper, slices)
    assert d["logits"] < PARITY_TOL and d["cam"] < PARITY_TOL


def test_uncalibrated_export_has_a_zero_ood_output(tmp_path: Path) -> None:
    model = TinyNet().eval()
    path = tmp_path / "plain.onnx"
    export_onnx(ExportWrapper(model), build_spec(Preprocessing(input_size=SIZE), "tiny"), path)
    x = np.zeros((2, 3, SIZE, SIZE), np.float32)
    ood = load(path).outputs(x).ood
    assert ood.shape == (2,) and not ood.any()
    assert read_spec(path).thresholds.ood_score == float("inf")
