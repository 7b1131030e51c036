"""The pipeline: ordered streaming, error rows, thumbnails, hashes, cancel."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import nibabel
import numpy as np
import pytest

from desktop.core.classifier import Classifier
from desktop.core.discovery import discover
from desktop.core.pipeline import Pipeline
from desktop.core.readers import read_slices
from desktop.core.results import Status
from tests.core.factories import make_dicom, write_cv, write_dicom
from tests.phantoms import picture


@pytest.fixture(scope="module")
def clf(test_model_path: Path) -> Classifier:
    return Classifier.load(test_model_path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "batch"
    root.mkdir()
    for k in range(6):
        write_cv(root / f"img_{k}.png", picture(k))
    good = write_cv(root / "zz.jpg", np.dstack([picture(2)] * 3)).read_bytes()
    (root / "img_3b_broken.jpg").write_bytes(good[: len(good) // 2])
    frames = np.stack([picture(k).astype(np.uint16) * 10 for k in range(3)])
    write_dicom(root / "multi.dcm", make_dicom(frames))
    return root


def test_rows_in_input_order_with_one_error_row(clf: Classifier, folder: Path) -> None:
    files = discover([folder]).files
    pipeline = Pipeline(clf, batch_size=4)
    rows = list(pipeline.run(files))
    expected = [(str(f), s.frame) for f in files for s in _slices_or_error(f)]
    assert [(r.path, r.frame) for r in rows] == expected
    errors = [r for r in rows if r.status is Status.ERROR]
    assert [(Path(r.path).name, r.message) for r in errors] == [
        ("img_3b_broken.jpg", "truncated JPEG")
    ]
    assert errors[0].predicted_class is None and errors[0].thumbnail is None
    classified = [r for r in rows if r.status is not Status.ERROR]
    assert len(classified) == 10  # 6 png + 1 jpg + 3 DICOM frames
    for r in classified:
        assert r.probabilities is not None and sum(r.probabilities) == pytest.approx(1.0)
        assert r.thumbnail is not None and r.thumbnail.dtype == np.uint8
        assert max(r.thumbnail.shape) <= 128 and r.cam is not None
        assert r.image_sha256 == hashlib.sha256(Path(r.path).read_bytes()).hexdigest()
        if r.status in (Status.OK, Status.UNCERTAIN):
            assert r.predicted_class in clf.spec.class_names
            assert r.confidence == max(r.probabilities)
    assert pipeline.stats.files == len(files) and pipeline.stats.unreadable_files == 1
    assert pipeline.stats.slices == 10


def _slices_or_error(path: Path) -> list:
    try:
        return list(read_slices(path))
    except Exception:  # noqa: BLE001 - the reference for an unreadable file is one row
        return [type("E", (), {"frame": 0})()]


def test_batching_does_not_change_results(clf: Classifier, folder: Path) -> None:
    files = discover([folder]).files
    a = list(Pipeline(clf, batch_size=1).run(files))
    b = list(Pipeline(clf, batch_size=16, workers=1).run(files))
    assert [(r.path, r.frame, r.status, r.predicted_class) for r in a] == [
        (r.path, r.frame, r.status, r.predicted_class) for r in b
    ]
    for x, y in zip(a, b, strict=True):
        if x.probabilities is not None:
            np.testing.assert_allclose(x.probabilities, y.probabilities, rtol=1e-5)


def test_every_kind_of_bad_input_is_one_row(clf: Classifier, tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.dcm").write_text("hello")
    nibabel.save(
        nibabel.Nifti1Image(np.zeros((8, 8, 4), np.float32), np.eye(4)), tmp_path / "z.nii"
    )
    files = [tmp_path / "empty.png", tmp_path / "missing.png", tmp_path / "text.dcm"]
    files.append(tmp_path / "z.nii")
    pipeline = Pipeline(clf)
    rows = list(pipeline.run(files))
    assert [(Path(r.path).name, r.status, r.message) for r in rows] == [
        ("empty.png", Status.ERROR, "empty file (0 bytes)"),
        ("missing.png", Status.ERROR, "file not found"),
        ("text.dcm", Status.ERROR, rows[2].message),
        ("z.nii", Status.UNSUPPORTED, "no slices to classify (4 empty slices skipped)"),
    ]
    assert "DICOM" in rows[2].message
    assert pipeline.stats.skipped_empty_slices == 4


def test_without_a_model_it_refuses() -> None:
    with pytest.raises(ValueError, match="no model"):
        Pipeline(None).run([])


@pytest.mark.shared
def test_emri_gives_fifty_rows(clf: Classifier, shared_dir: Path) -> None:
    rows = list(Pipeline(clf).run(discover([shared_dir / "dicom" / "emri_small"]).files))
    assert len(rows) == 50
    assert all(r.status is not Status.ERROR for r in rows)
    assert [r.frame for r in rows[:10]] == list(range(10))


def test_cancel_stops_within_a_second(clf: Classifier, tmp_path: Path) -> None:
    write_cv(tmp_path / "one.png", picture(1))
    files = [tmp_path / "one.png"] * 400  # many files, duplicates are fine here
    flag = threading.Event()
    rows = []
    start = time.monotonic()
    for row in Pipeline(clf, batch_size=8).run(files, cancel=flag.is_set):
        rows.append(row)
        if len(rows) == 10:
            flag.set()
            cancelled_at = time.monotonic()
    assert time.monotonic() - cancelled_at < 1.0
    assert 10 <= len(rows) < 400
    assert time.monotonic() - start < 30


def test_cancel_while_a_reader_is_slow(clf: Classifier, tmp_path: Path, monkeypatch) -> None:
    import desktop.core.pipeline as pl

    real = pl.read_file

    def slow(path: Path, target=None):  # noqa: ANN001, ANN202
        time.sleep(3.0)
        return real(path, target)

    monkeypatch.setattr(pl, "read_file", slow)
    write_cv(tmp_path / "one.png", picture(1))
    flag = threading.Event()
    threading.Timer(0.2, flag.set).start()
    start = time.monotonic()
    rows = list(Pipeline(clf).run([tmp_path / "one.png"] * 4, cancel=flag.is_set))
    assert rows == [] and time.monotonic() - start < 1.2


def test_reads_ahead_only_a_bounded_number_of_files(clf: Classifier, tmp_path: Path) -> None:
    write_cv(tmp_path / "one.png", picture(2))
    pulled = []

    def files():  # noqa: ANN202 - a lazy source, as from a long folder walk
        for k in range(200):
            pulled.append(k)
            yield tmp_path / "one.png"

    rows = Pipeline(clf, batch_size=4, files_in_flight=3).run(files())
    first = next(rows)
    assert first.status is not Status.ERROR
    assert len(pulled) <= 3 + 4 + 1  # in flight + one batch pending (+ the one just taken)
    rest = list(rows)
    assert len(rest) == 199 and len(pulled) == 200


def test_a_hanging_reader_costs_one_row(clf: Classifier, tmp_path: Path, monkeypatch) -> None:
    import desktop.core.pipeline as pl

    real = pl.read_file
    release = threading.Event()

    def sometimes_stuck(path: Path, target=None):  # noqa: ANN001, ANN202
        if path.name.startswith("stuck"):
            release.wait(20)
        return real(path, target)

    monkeypatch.setattr(pl, "read_file", sometimes_stuck)
    for k in range(4):
        write_cv(tmp_path / f"img_{k}.png", picture(k))
    write_cv(tmp_path / "stuck_a.png", picture(1))
    write_cv(tmp_path / "stuck_b.png", picture(2))
    names = ["img_0", "stuck_a", "img_1", "stuck_b", "img_2", "img_3"]
    files = [tmp_path / f"{n}.png" for n in names]
    start = time.monotonic()
    try:
        rows = list(Pipeline(clf, workers=2, file_time_limit=0.3).run(files))
    finally:
        release.set()
    assert time.monotonic() - start < 5
    assert [Path(r.path).stem for r in rows] == names
    stuck = [r for r in rows if r.status is Status.ERROR]
    assert [Path(r.path).stem for r in stuck] == ["stuck_a", "stuck_b"]
    assert stuck[0].message == "reading took longer than 0.3 s; skipped"


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("reader")]


def test_cancel_and_restart_leave_no_threads(clf: Classifier, tmp_path: Path) -> None:
    write_cv(tmp_path / "one.png", picture(1))
    pipeline = Pipeline(clf, batch_size=4)
    for _ in range(10):
        flag = threading.Event()
        rows = []
        for row in pipeline.run([tmp_path / "one.png"] * 100, cancel=flag.is_set):
            rows.append(row)
            if len(rows) == 5:
                flag.set()
        assert 5 <= len(rows) < 100
    full = list(pipeline.run([tmp_path / "one.png"] * 7))
    assert len(full) == 7 and pipeline.stats.files == 7
    deadline = time.monotonic() + 5
    while reader_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader_threads() == []


def test_no_network_connection_is_made(
    clf: Classifier, folder: Path, tmp_path: Path, monkeypatch
) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pipeline tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    from desktop.core.export import Provenance, write_csv

    rows = list(Pipeline(clf).run(discover([folder]).files))
    write_csv(rows, tmp_path / "out.csv", Provenance.for_classifier(clf))
    assert len(rows) == 11


def test_cores_are_split_between_the_network_and_the_readers() -> None:
    from desktop.core.classifier import default_threads
    from desktop.core.pipeline import default_workers

    split = {n: (default_threads(n), default_workers(n)) for n in (1, 2, 3, 4, 8, 16)}
    # 1 core: both get one thread; 2 cores: one each; onnxruntime never above 4
    assert split == {1: (1, 1), 2: (1, 1), 3: (1, 2), 4: (2, 2), 8: (4, 4), 16: (4, 12)}
