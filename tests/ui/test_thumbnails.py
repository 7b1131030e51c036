"""The bounded thumbnail cache: eviction, re-make on demand, and the table's use of it."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtGui import QImage

from desktop.core.pipeline import thumbnail
from desktop.core.readers import read_slices
from desktop.core.results import Status
from desktop.ui.table.model import Column, ResultsModel
from desktop.ui.table.thumbnails import ThumbnailCache, read_thumbnails, thumbnail_image
from desktop.ui.vocabulary import ThumbnailRole
from desktop.ui.worker import to_row
from tests.ui.conftest import brain_like, make_result


def grey(value: int, side: int = 10) -> QImage:
    img = thumbnail_image(np.full((side, side), value, np.uint8))
    assert img is not None
    return img


class CountingLoader:
    """Thumbnails from a dict {path: {frame: array}}; records every call."""

    def __init__(self, files: dict[str, dict[int, np.ndarray]]) -> None:
        self.files = files
        self.calls: list[tuple[str, set[int]]] = []
        self.lock = threading.Lock()

    def __call__(
        self, path: str, frames: Iterable[int], sha256: str | None = None
    ) -> dict[int, np.ndarray]:
        wanted = set(frames)
        with self.lock:
            self.calls.append((path, wanted))
        have = self.files.get(path, {})
        return {f: a for f, a in have.items() if f in wanted}


def test_least_recently_used_thumbnails_are_evicted() -> None:
    cache = ThumbnailCache(limit=3, loader=CountingLoader({}))
    for i in range(3):
        cache.put((f"/f{i}", 0), grey(i))
    assert cache.get(("/f0", 0)) is not None  # touched: f1 is now the oldest
    cache.put(("/f3", 0), grey(3))
    assert len(cache) == 3
    assert ("/f1", 0) not in cache
    assert all(k in cache for k in [("/f0", 0), ("/f2", 0), ("/f3", 0)])


def test_evicted_thumbnail_is_remade_once_per_file(qtbot) -> None:
    arr = {0: np.full((8, 8), 10, np.uint8), 1: np.full((8, 8), 200, np.uint8)}
    loader = CountingLoader({"/vol": arr})
    cache = ThumbnailCache(limit=10, loader=loader)
    with qtbot.waitSignal(cache.ready, timeout=5000) as ready:
        assert cache.request(("/vol", 0)) is None  # not there: queued
        assert cache.request(("/vol", 1)) is None  # same file: joins the queued job
        assert cache.request(("/vol", 0)) is None  # asked again: no second job
    cache.wait()
    qtbot.waitUntil(lambda: ("/vol", 1) in cache)
    assert sorted(ready.args[0]) == [("/vol", 0), ("/vol", 1)]
    assert sum(1 for p, _ in loader.calls if p == "/vol") == 1
    image = cache.request(("/vol", 1))
    assert image is not None and image.pixelColor(3, 3).red() == 200


def test_a_file_that_vanished_is_not_read_again(qtbot) -> None:
    loader = CountingLoader({})
    cache = ThumbnailCache(loader=loader)
    with qtbot.waitSignal(cache.ready, timeout=5000):
        cache.request(("/gone.png", 0))
    cache.wait()
    assert ("/gone.png", 0) in cache.failed
    assert cache.request(("/gone.png", 0)) is None
    cache.wait()
    assert len(loader.calls) == 1


def test_no_second_job_while_the_first_is_making_the_key(qtbot) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(path: str, frames: Iterable[int], sha256: str | None) -> dict[int, np.ndarray]:
        started.set()
        release.wait(5)
        return {f: np.full((4, 4), 9, np.uint8) for f in frames}

    cache = ThumbnailCache(loader=slow)
    cache.request(("/a.png", 0))
    assert started.wait(5)  # the job took the frame and is running
    assert cache.request(("/a.png", 0)) is None  # a repaint meanwhile: no new job
    assert cache.remakes == 1
    with qtbot.waitSignal(cache.ready, timeout=5000):
        release.set()
    cache.wait()
    assert cache.request(("/a.png", 0)) is not None and cache.remakes == 1


def test_read_thumbnails_matches_the_pipeline(tmp_path: Path) -> None:
    f = tmp_path / "a.png"
    cv2.imwrite(str(f), brain_like(200, seed=3))
    (s,) = list(read_slices(f))
    got = read_thumbnails(str(f), [0])
    assert list(got) == [0]
    np.testing.assert_array_equal(got[0], thumbnail(s.pixels))


def test_table_keeps_at_most_limit_thumbnails_and_remakes_on_demand(qtbot, tmp_path) -> None:
    files = []
    for i in range(6):
        f = tmp_path / f"s{i}.png"
        cv2.imwrite(str(f), brain_like(seed=i))
        files.append(f)
    cache = ThumbnailCache(limit=3)
    model = ResultsModel(thumbnails=cache)
    rows = []
    for f in files:
        (s,) = list(read_slices(f))
        r = replace(
            make_result(f.name, folder=str(tmp_path)),
            thumbnail=thumbnail(s.pixels),
            image_sha256=hashlib.sha256(f.read_bytes()).hexdigest(),
        )
        rows.append(to_row(r))
    model.append_rows(rows)
    assert len(cache) == 3  # the newest three
    assert all(model.row_at(i).thumbnail is None for i in range(6))  # rows hold no image
    newest = model.index(5, Column.THUMBNAIL).data(ThumbnailRole)
    assert isinstance(newest, QImage) and newest.width() == 96
    first = model.index(0, Column.THUMBNAIL)
    placeholder = first.data(ThumbnailRole)
    assert isinstance(placeholder, QImage) and placeholder.width() < 96  # grey square
    with qtbot.waitSignal(model.dataChanged, timeout=5000) as changed:
        pass
    top_left, _bottom_right, roles = changed.args
    assert top_left.row() == 0 and top_left.column() == Column.THUMBNAIL
    assert roles == [ThumbnailRole]
    remade = model.index(0, Column.THUMBNAIL).data(ThumbnailRole)
    assert isinstance(remade, QImage) and remade.width() == 96
    cache.wait()


def test_removed_rows_leave_the_cache_and_the_counts() -> None:
    model = ResultsModel()
    statuses = [Status.OK, Status.ERROR, Status.OK, Status.UNCERTAIN]
    model.append_rows([to_row(make_result(f"{i}.png", s)) for i, s in enumerate(statuses)])
    assert len(model.thumbnails) == 4
    assert model.status_counts() == Counter(statuses)
    model.remove_rows([1, 2])
    assert len(model.thumbnails) == 2
    assert model.status_counts() == Counter({Status.OK: 1, Status.UNCERTAIN: 1})
    assert model.status_counts() == Counter(r.status for r in model.results())
    model.clear()
    assert len(model.thumbnails) == 0 and model.status_counts() == Counter()


def test_a_changed_file_gets_no_remade_thumbnail(qtbot, tmp_path) -> None:
    """Issue 16.1: a re-make checks the file's sha256 against the row's."""
    f = tmp_path / "a.png"
    cv2.imwrite(str(f), brain_like(seed=1))
    (s,) = list(read_slices(f))
    r = replace(
        make_result(f.name, folder=str(tmp_path)),
        thumbnail=thumbnail(s.pixels),
        image_sha256=hashlib.sha256(f.read_bytes()).hexdigest(),
    )
    cache = ThumbnailCache(limit=1)
    model = ResultsModel(thumbnails=cache)
    model.append_rows([to_row(r)])
    cache.forget([(str(f), 0)])  # evicted
    cv2.imwrite(str(f), brain_like(seed=7))  # overwritten with another picture
    with qtbot.waitSignal(cache.ready, timeout=5000):
        model.index(0, Column.THUMBNAIL).data(ThumbnailRole)
    cache.wait()
    assert (str(f), 0) in cache.failed and len(cache) == 0
    assert model.index(0, Column.THUMBNAIL).data(ThumbnailRole) is None
