"""Shared pytest set-up: offscreen Qt, the test model, the shared-data location."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
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


@pytest.fixture(autouse=True)
def no_dangling_executor_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that leaves threads of any ThreadPoolExecutor it created alive (the
    pipeline's readers, training's prefetching): every executor made during the test is
    tracked; its threads get a grace of 10 s to end after the test."""
    made: list[ThreadPoolExecutor] = []
    real_init = ThreadPoolExecutor.__init__

    def tracking_init(self: ThreadPoolExecutor, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(ThreadPoolExecutor, "__init__", tracking_init)
    yield
    alive = leaked_threads(made, grace=10.0)
    if alive:
        pytest.fail(f"the test left executor threads running: {alive}")


def leaked_threads(executors: list[ThreadPoolExecutor], grace: float) -> list[str]:
    """Names of the executors' threads still alive after ``grace`` seconds in all."""
    threads: list[threading.Thread] = [t for ex in executors for t in list(ex._threads)]
    deadline = time.monotonic() + grace
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    return [t.name for t in threads if t.is_alive()]
