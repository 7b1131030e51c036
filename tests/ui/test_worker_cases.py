"""The worker plans cases: a dropped DICOM series arrives as one case, in anatomical
order, whatever its file names."""

from __future__ import annotations

from pathlib import Path

from desktop.core.classifier import Classifier
from desktop.core.pipeline import Pipeline
from desktop.ui.worker import ClassifyWorker, SeenFiles
from tests.core.test_cases import write_series
from tests.ui.test_worker import run_worker


def test_a_dropped_series_is_one_case_in_anatomical_order(
    qtbot, tmp_path: Path, test_model_path: Path
) -> None:
    names = ["IM1", "IM2", "IM3", "IM10", "IM11"]  # by name: IM1, IM10, IM11, IM2, IM3
    write_series(tmp_path / "series", names, [0.0, 2.0, 4.0, 6.0, 8.0])
    pipeline = Pipeline(Classifier.load(test_model_path))
    rows = run_worker(qtbot, ClassifyWorker([tmp_path], pipeline, SeenFiles()))
    got = [(r.file_name, r.result.case, r.result.slice_index) for r in rows]
    assert got == [(n, "series", k) for k, n in enumerate(names)]
