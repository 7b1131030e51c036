"""Rows stream slice by slice: a 620-slice volume shows rows long before it is read,
with a bounded number of slices waiting; a file failing or hanging half-way keeps the
rows it gave and ends with one error row."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import nibabel
import numpy as np
import pytest

import desktop.core.pipeline as pl
from desktop.core.cases import plan_cases
from desktop.core.classifier import Classifier
from desktop.core.pipeline import Pipeline
from desktop.core.results import Status
from tests.core.factories import ramp, write_cv

N_SLICES = 620


@pytest.fixture(scope="module")
def clf(test_model_path: Path) -> Classifier:
    return Classifier.load(test_model_path)


@pytest.fixture(scope="module")
def big_volume(tmp_path_factory: pytest.TempPathFactory) -> Path:
    yy, xx = np.mgrid[0:48, 0:48]
    head = (((yy - 24) ** 2 + (xx - 24) ** 2) < 400).astype(np.float32)
    vol = head[:, :, None] * np.linspace(1.0, 2.0, N_SLICES, dtype=np.float32)[None, None, :]
    path = tmp_path_factory.mktemp("vol") / "long.nii.gz"
    nibabel.save(nibabel.Nifti1Image(vol, np.eye(4)), path)
    return path


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the slices decoded so far (in the reader threads)."""
    decoded = [0]
    real = pl._decoded

    def wrapped(source, name, sha):  # noqa: ANN001, ANN202
        for d in real(source, name, sha):
            decoded[0] += 1
            yield d

    monkeypatch.setattr(pl, "_decoded", wrapped)
    return decoded


def test_a_long_volume_streams_rows_per_slice(
    clf: Classifier, big_volume: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = counting(monkeypatch)
    plan = plan_cases([big_volume])
    rows_iter = Pipeline(clf, batch_size=16).run(plan.files, plan=plan)
    first = next(rows_iter)
    at_first = decoded[0]
    assert first.status is not Status.ERROR and first.slice_index == 0
    # before: nothing came out until all 620 slices were read; now the reader is at most
    # about two batches ahead of the network
    assert at_first <= 2 * 16 + 16 + 2
    second_batch = [next(rows_iter) for _ in range(16)]
    assert decoded[0] < N_SLICES and len(second_batch) == 16
    rest = list(rows_iter)
    rows = [first, *second_batch, *rest]
    assert [r.slice_index for r in rows] == list(range(N_SLICES))
    assert {r.case for r in rows} == {"long.nii.gz"}


def test_a_file_failing_half_way_keeps_its_rows(
    clf: Classifier, big_volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pl._decoded

    def breaks_after_five(source, name, sha):  # noqa: ANN001, ANN202
        for k, d in enumerate(real(source, name, sha)):
            if k == 5 and name.endswith(".nii.gz"):
                raise MemoryError
            yield d

    monkeypatch.setattr(pl, "_decoded", breaks_after_five)
    after = write_cv(tmp_path / "after.png", ramp(64, 64))
    pipeline = Pipeline(clf, batch_size=4)
    rows = list(pipeline.run([big_volume, after]))
    assert [(Path(r.path).name, r.frame, r.status is Status.ERROR) for r in rows] == [
        *[("long.nii.gz", k, False) for k in range(5)],
        ("long.nii.gz", 5, True),
        ("after.png", 0, False),
    ]
    assert rows[5].message == "not enough memory to read"
    assert pipeline.stats.files == 2 and pipeline.stats.unreadable_files == 0


def test_a_reader_hanging_half_way_costs_the_rest_of_the_file(
    clf: Classifier, big_volume: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pl._decoded
    release = threading.Event()

    def hangs_after_three(source, name, sha):  # noqa: ANN001, ANN202
        for k, d in enumerate(real(source, name, sha)):
            if k == 3 and name.endswith(".nii.gz"):
                release.wait(20)
                return
            yield d

    monkeypatch.setattr(pl, "_decoded", hangs_after_three)
    after = write_cv(tmp_path / "after.png", ramp(64, 64))
    start = time.monotonic()
    try:
        rows = list(Pipeline(clf, workers=2, file_time_limit=0.5).run([big_volume, after]))
    finally:
        release.set()
    assert time.monotonic() - start < 8
    assert [(Path(r.path).name, r.frame, r.status) for r in rows][3:] == [
        ("long.nii.gz", 3, Status.ERROR),
        ("after.png", 0, rows[-1].status),
    ]
    assert rows[3].message == "reading took longer than 0.5 s; skipped"
    assert all(r.status is not Status.ERROR for r in rows[:3])


def test_cancel_during_a_long_volume_stops_quickly(clf: Classifier, big_volume: Path) -> None:
    flag = threading.Event()
    rows = []
    for row in Pipeline(clf, batch_size=8).run([big_volume], cancel=flag.is_set):
        rows.append(row)
        if len(rows) == 20:
            flag.set()
            at = time.monotonic()
    assert time.monotonic() - at < 1.0
    assert 20 <= len(rows) < N_SLICES


def test_a_file_failing_before_its_first_slice_is_one_row_with_its_hash(
    clf: Classifier, big_volume: Path, tmp_path: Path
) -> None:
    import gzip
    import hashlib

    data = gzip.decompress(big_volume.read_bytes())
    cut = tmp_path / "cut.nii"
    cut.write_bytes(data[: len(data) // 2])  # the header is fine, the data is not
    pipeline = Pipeline(clf)
    (row,) = list(pipeline.run([cut]))
    assert (row.status, row.message) == (Status.ERROR, "truncated or corrupt NIfTI data")
    assert row.image_sha256 == hashlib.sha256(cut.read_bytes()).hexdigest()
    assert pipeline.stats.unreadable_files == 1
