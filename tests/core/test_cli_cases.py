"""brain-mri-review-cli --cases: one row per case beside the slices export."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np

from desktop.core.case_export import CASE_COLUMNS
from desktop.core.export import RESEARCH_NOTICE, read_csv
from tests.core.factories import ramp, write_cv
from tests.core.test_cases import write_series
from tests.core.test_cli import run_cli


def test_cases_csv_and_json(test_model_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "study"
    write_series(src / "dicom", ["IM1", "IM2", "IM10"], [0.0, 3.0, 6.0], series_number=2)
    write_series(src / "dicom", ["IM3", "IM4"], [0.0, 3.0], series_number=5)
    vol = np.zeros((24, 24, 7), np.float32)
    vol[6:18, 6:18, 1:] = 1.0
    nibabel.save(nibabel.Nifti1Image(vol, np.eye(4)), src / "t1.nii.gz")
    write_cv(src / "single.png", ramp(64, 64))
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli(
        src,
        "--csv",
        out / "slices.csv",
        "--cases",
        out / "cases.csv",
        "--cases-json",
        out / "cases.json",
        "--model",
        test_model_path,
    )
    assert proc.returncode == 0, proc.stderr
    cases = read_csv(out / "cases.csv")
    assert list(cases[0])[: len(CASE_COLUMNS)] == CASE_COLUMNS
    # discovery order (files of a folder, then its subfolders), series at their first file
    assert [(c["case"], c["kind"], c["slices"]) for c in cases] == [
        ("single.png", "image", "1"),
        ("t1.nii.gz", "nifti_volume", "6"),  # one empty slice skipped
        ("dicom (series 2)", "dicom_series", "3"),
        ("dicom (series 5)", "dicom_series", "2"),
    ]
    assert [c["path"] for c in cases] == [
        str((src / "single.png").resolve()),
        str((src / "t1.nii.gz").resolve()),
        str((src / "dicom").resolve()),
        str((src / "dicom").resolve()),
    ]
    verdicts = {"tumour_suspected", "no_tumour", "uncertain", "error"}
    assert all(c["verdict"] in verdicts and c["notice"] == RESEARCH_NOTICE for c in cases)
    slices = read_csv(out / "slices.csv")
    series = [
        (Path(s["path"]).name, s["slice_index"]) for s in slices if s["case"] == cases[2]["case"]
    ]
    assert series == [("IM1", "0"), ("IM2", "1"), ("IM10", "2")]
    assert sum(int(c["slices"]) for c in cases) == len(slices)
    doc = json.loads((out / "cases.json").read_text(encoding="utf-8"))
    assert [c["case"] for c in doc["cases"]] == [c["case"] for c in cases]
    assert doc["notice"] == RESEARCH_NOTICE and "min_run" in doc["case_rule"]
    assert "4 cases" in proc.stderr


def test_an_existing_cases_file_is_not_overwritten(test_model_path: Path, tmp_path: Path) -> None:
    write_cv(tmp_path / "a.png", ramp(64, 64))
    (tmp_path / "cases.csv").write_text("keep")
    proc = run_cli(
        tmp_path / "a.png",
        "--csv",
        tmp_path / "s.csv",
        "--cases",
        tmp_path / "cases.csv",
        "--model",
        test_model_path,
    )
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert (tmp_path / "cases.csv").read_text() == "keep" and not (tmp_path / "s.csv").exists()
