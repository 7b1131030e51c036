"""UI test fixtures: no thread-pool work left behind, sample images, result records."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QThreadPool  # noqa: E402

from desktop.core.decisions import DATA_DIR_ENV  # noqa: E402
from desktop.core.model_spec import CLASS_NAMES  # noqa: E402
from desktop.core.results import SliceResult, Status  # noqa: E402
from tests.phantoms import brain_like  # noqa: E402, F401  (tests import it from here)


class _TrackedPool(QThreadPool):
    """QThreadPool that records itself (every pool the app makes in a test)."""

    made: list[QThreadPool] = []

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        _TrackedPool.made.append(self)


@pytest.fixture(autouse=True)
def no_dangling_thread_pool(qapp: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that leaves work running on any QThreadPool: the global one and every
    pool the app creates (napari's _dangling_qthread_pool, extended to private pools).

    A worker emits ``finished`` just before its ``run()`` returns, so a short grace is
    allowed; work still running after it is a leak.
    """
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith("desktop.ui") and getattr(module, "QThreadPool", None) is QThreadPool:
            monkeypatch.setattr(module, "QThreadPool", _TrackedPool)
    _TrackedPool.made = []
    yield
    pools = [QThreadPool.globalInstance(), *_TrackedPool.made]
    _TrackedPool.made = []
    leaked = busy_pools(pools, grace_ms=1_000)
    for pool in leaked:
        pool.waitForDone(30_000)
    if leaked:
        pytest.fail(f"the test left work running on {len(leaked)} QThreadPool(s)")


def busy_pools(pools: list[QThreadPool], grace_ms: int) -> list[QThreadPool]:
    """The pools with work still running after ``grace_ms`` each."""
    out = []
    for pool in pools:
        try:
            if not pool.waitForDone(grace_ms):
                out.append(pool)
        except RuntimeError:  # its C++ object went with its parent: nothing can run on it
            continue
    return out


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's data folder (decisions database, logs), private to the test."""
    folder = tmp_path / "appdata"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder of 6 PNG slices (one in a subfolder), a text file and a corrupt JPEG."""
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    for i in range(5):
        cv2.imwrite(str(folder / f"slice_{i:02d}.png"), brain_like(seed=i))
    cv2.imwrite(str(folder / "sub" / "deep.png"), brain_like(seed=9))
    (folder / "notes.txt").write_text("not an image")
    good = cv2.imencode(".jpg", brain_like(seed=5))[1].tobytes()
    (folder / "broken.jpg").write_bytes(good[: len(good) // 3])
    return folder


def make_result(
    name: str,
    status: Status = Status.OK,
    probs: tuple[float, ...] | None = (0.7, 0.1, 0.1, 0.1),
    frame: int = 0,
    message: str = "",
    folder: str = "/data/scans",
) -> SliceResult:
    """A SliceResult as the pipeline would make it (for model/proxy tests)."""
    best = None
    conf = None
    if probs is not None and status in (Status.OK, Status.UNCERTAIN):
        i = int(np.argmax(probs))
        best, conf = CLASS_NAMES[i], float(probs[i])
    return SliceResult(
        path=f"{folder}/{name}",
        frame=frame,
        status=status,
        message=message,
        predicted_class=best,
        confidence=conf,
        probabilities=probs if status in (Status.OK, Status.UNCERTAIN) else None,
        image_sha256="0" * 64,
        thumbnail=np.full((16, 12), 100, np.uint8),
        cam=np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8),
    )


def shown_table(qtbot, model, size: tuple[int, int] = (1000, 600)):  # type: ignore[no-untyped-def]
    """The results table over ``model`` (through the sorting/filtering proxy), shown."""
    from desktop.ui.table.proxy import ResultsProxy
    from desktop.ui.table.widgets import ResultsTable

    proxy = ResultsProxy()
    proxy.setSourceModel(model)
    view = ResultsTable()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.apply_default_widths()
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    return view


def wait_preview(qtbot: object, pane: object, timeout: int = 30_000) -> None:
    """Wait until the preview's picture (read off the GUI thread) is on screen."""
    qtbot.waitUntil(lambda: not pane.loading, timeout=timeout)  # type: ignore[attr-defined]
