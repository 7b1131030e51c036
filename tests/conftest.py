"""Shared pytest set-up: offscreen Qt, the test model, the shared-data location."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.model_factory import make_test_model  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT / ".." / "shared"


@pytest.fixture(scope="session")
def test_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small ONNX model following the model contract (test fixture, never shipped)."""
    return make_test_model(tmp_path_factory.mktemp("model") / "test_model.onnx")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared next to the repository; skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared (shared data) is not present next to the repository")
    return SHARED.resolve()


@pytest.fixture(autouse=True)
def _isolated_user_data(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the real user's data folder (decisions, settings, logs)."""
    monkeypatch.setenv("BRAIN_MRI_REVIEW_DATA_DIR", str(tmp_path_factory.mktemp("userdata")))
