"""Cases: DICOM series grouped and ordered along the slice normal, volumes, multi-frame
files and single images; ids a person reads; the pipeline tags every row."""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
from pydicom.uid import generate_uid

from desktop.core.cases import CaseKind, plan_cases
from desktop.core.classifier import Classifier
from desktop.core.pipeline import Pipeline
from tests.core.factories import make_dicom, ramp, write_cv, write_dicom

#: an oblique axial orientation (row, column direction cosines), as scanners write
OBLIQUE = (0.999, -0.0218, 0.0382, 0.0265, 0.9914, -0.1280)


def write_series(
    folder: Path,
    names: list[str],
    z: list[float] | None,
    uid: str | None = None,
    *,
    instances: list[int] | None = None,
    series_number: int = 3,
    orientation: tuple[float, ...] | list[tuple[float, ...]] = OBLIQUE,
) -> str:
    """Single-frame DICOM files of one series; slice k at ``z[k]`` mm along the normal."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = uid or generate_uid()
    row, col = np.asarray(OBLIQUE[:3]), np.asarray(OBLIQUE[3:])
    normal = np.cross(row, col)
    for k, name in enumerate(names):
        ds = make_dicom(ramp(32, 32, np.uint16, 400 + 10 * k))
        ds.SeriesInstanceUID = uid
        ds.SeriesNumber = series_number
        if instances is not None:
            ds.InstanceNumber = instances[k]
        if z is not None:
            origin = np.array([-90.0, -120.0, 10.0])
            ds.ImagePositionPatient = [float(v) for v in origin + z[k] * normal]
            o = orientation[k] if isinstance(orientation, list) else orientation
            ds.ImageOrientationPatient = list(o)
        write_dicom(folder / name, ds)
    return uid


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_series_in_anatomical_order_not_file_name_order(tmp_path: Path) -> None:
    files = [f"IM{k}" for k in range(1, 13)]  # IM1..IM12; by name: IM1, IM10, IM11, IM12, IM2
    # the anatomy runs IM1 (lowest) .. IM12 (highest); instance numbers disagree on purpose
    write_series(tmp_path / "head", files, [2.5 * k for k in range(12)], instances=[7] * 12)
    plan = plan_cases(sorted((tmp_path / "head").iterdir()))
    (case,) = plan.cases
    assert case.kind is CaseKind.DICOM_SERIES and case.id == "head"
    assert case.path == str((tmp_path / "head").resolve())
    assert [Path(f).name for f in case.files] == files
    assert names(plan.files) == files
    assert plan.locate(str(tmp_path / "head" / "IM10"), 0) == ("head", 9)


def test_without_positions_instance_number_then_name(tmp_path: Path) -> None:
    write_series(tmp_path / "a", ["x3", "x1", "x2"], None, instances=[1, 3, 2])
    write_series(tmp_path / "b", ["IM10", "IM2", "IM1"], None)
    plan = plan_cases(sorted((tmp_path / "a").iterdir()) + sorted((tmp_path / "b").iterdir()))
    a, b = plan.cases
    assert [Path(f).name for f in a.files] == ["x3", "x2", "x1"]
    assert [Path(f).name for f in b.files] == ["IM1", "IM2", "IM10"]  # numbers as numbers


def test_a_localizer_with_three_planes_is_ordered_by_instance(tmp_path: Path) -> None:
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    write_series(
        tmp_path / "loc",
        ["s1", "s2", "s3"],
        [30.0, 0.0, 10.0],
        instances=[1, 2, 3],
        orientation=[OBLIQUE, sagittal, OBLIQUE],
    )
    plan = plan_cases(sorted((tmp_path / "loc").iterdir()))
    assert names(plan.files) == ["s1", "s2", "s3"]


def test_a_folder_with_two_series_gives_two_cases(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    write_series(folder, ["a1", "a2", "a3"], [0.0, 5.0, 10.0], series_number=3)
    write_series(folder, ["b1", "b2"], [4.0, 0.0], series_number=7)
    write_cv(folder / "scout.png", ramp(40, 40))
    plan = plan_cases(sorted(folder.iterdir()))
    assert [(c.id, c.kind, len(c.files)) for c in plan.cases] == [
        ("study (series 3)", CaseKind.DICOM_SERIES, 3),
        ("study (series 7)", CaseKind.DICOM_SERIES, 2),
        ("scout.png", CaseKind.IMAGE, 1),
    ]
    assert names(plan.files) == ["a1", "a2", "a3", "b2", "b1", "scout.png"]


def test_a_series_split_across_folders_is_one_case(tmp_path: Path) -> None:
    uid = generate_uid()
    write_series(tmp_path / "s" / "part2", ["p", "q"], [20.0, 30.0], uid)
    write_series(tmp_path / "s" / "part1", ["m", "n"], [10.0, 0.0], uid)
    files = [tmp_path / "s" / "part2" / "p", tmp_path / "s" / "part1" / "m"]
    files += [tmp_path / "s" / "part2" / "q", tmp_path / "s" / "part1" / "n"]
    plan = plan_cases(files)
    (case,) = plan.cases
    assert case.path == str((tmp_path / "s").resolve()) and case.id == "s"
    assert names(plan.files) == ["n", "m", "p", "q"]


def test_volumes_multiframe_and_images_are_cases_of_their_own(tmp_path: Path) -> None:
    for patient in ("p1", "p2"):  # the same file name twice: ids must differ
        (tmp_path / patient).mkdir()
        vol = np.zeros((16, 16, 5), np.float32)
        vol[4:12, 4:12, :] = 1.0
        nibabel.save(nibabel.Nifti1Image(vol, np.eye(4)), tmp_path / patient / "flair.nii.gz")
    multi = make_dicom(np.stack([ramp(24, 24, np.uint16, 300)] * 3))
    multi.SeriesInstanceUID = generate_uid()
    write_dicom(tmp_path / "multi.dcm", multi)
    write_dicom(tmp_path / "lone.dcm", make_dicom(ramp(24, 24, np.uint16, 300)))  # no UID
    write_cv(tmp_path / "x.jpg", ramp(24, 24))
    files = [tmp_path / "p1" / "flair.nii.gz", tmp_path / "p2" / "flair.nii.gz"]
    files += [tmp_path / "multi.dcm", tmp_path / "lone.dcm", tmp_path / "x.jpg"]
    plan = plan_cases(files)
    assert [(c.id, c.kind) for c in plan.cases] == [
        ("p1/flair.nii.gz", CaseKind.NIFTI_VOLUME),
        ("p2/flair.nii.gz", CaseKind.NIFTI_VOLUME),
        ("multi.dcm", CaseKind.MULTIFRAME),
        ("lone.dcm", CaseKind.IMAGE),
        ("x.jpg", CaseKind.IMAGE),
    ]
    assert plan.files == files
    assert plan.locate(str(files[1]), 3) == ("p2/flair.nii.gz", 3)


def test_unreadable_and_missing_files_stay_in_place(tmp_path: Path) -> None:
    (tmp_path / "bad.dcm").write_bytes(b"not dicom at all")
    files = [tmp_path / "missing.png", tmp_path / "bad.dcm"]
    plan = plan_cases(files)
    assert plan.files == files and [c.kind for c in plan.cases] == [CaseKind.IMAGE] * 2


@pytest.mark.shared
def test_t1_head_axial_is_one_case_in_order(shared_dir: Path) -> None:
    folder = shared_dir / "dicom" / "t1_head_axial"
    files = sorted(folder.iterdir(), reverse=True)
    plan = plan_cases(files)
    (case,) = plan.cases
    assert case.kind is CaseKind.DICOM_SERIES and case.path == str(folder.resolve())
    # the files are numbered from the lowest slice up (position along the normal)
    assert names(plan.files) == sorted(names(files))


def test_pipeline_rows_carry_case_and_anatomical_index(
    test_model_path: Path, tmp_path: Path
) -> None:
    write_series(tmp_path / "ser", ["IM1", "IM2", "IM10"], [0.0, 3.0, 6.0])
    vol = np.zeros((20, 20, 6), np.float32)
    vol[5:15, 5:15, 1:] = np.linspace(1, 2, 5)
    nibabel.save(nibabel.Nifti1Image(vol, np.diag([-1.0, 1, 1, 1])), tmp_path / "v.nii")
    files = sorted((tmp_path / "ser").iterdir()) + [tmp_path / "v.nii"]  # IM1, IM10, IM2
    plan = plan_cases(files)
    rows = list(Pipeline(Classifier.load(test_model_path)).run(plan.files, plan=plan))
    assert [(Path(r.path).name, r.case, r.slice_index) for r in rows] == [
        ("IM1", "ser", 0),
        ("IM2", "ser", 1),
        ("IM10", "ser", 2),
        *[("v.nii", "v.nii", k) for k in range(1, 6)],  # slice 0 is empty (skipped)
    ]


def test_a_multipage_tiff_is_a_multiframe_case(tmp_path: Path) -> None:
    from PIL import Image

    pages = [Image.fromarray(ramp(32, 32)) for _ in range(3)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    pages[0].save(tmp_path / "one.tif")
    plan = plan_cases([tmp_path / "stack.tif", tmp_path / "one.tif"])
    assert [c.kind for c in plan.cases] == [CaseKind.MULTIFRAME, CaseKind.IMAGE]


def test_ids_stay_unique_across_plans_sharing_the_taken_set(tmp_path: Path) -> None:
    for d in ("a/x", "b/x", "c/y"):
        (tmp_path / d).mkdir(parents=True)
        write_cv(tmp_path / d / "scan.png", ramp(16, 16))
    taken: set[str] = set()
    first = plan_cases([tmp_path / "a/x/scan.png"], taken=taken)
    second = plan_cases([tmp_path / "b/x/scan.png", tmp_path / "c/y/scan.png"], taken=taken)
    ids = [c.id for c in first.cases + second.cases]
    assert ids == ["scan.png", "x/scan.png", "y/scan.png"]
    third = plan_cases([tmp_path / "a/x/scan.png"], taken=taken)  # the same file again
    assert third.cases[0].id == "a/x/scan.png" and taken == {*ids, "a/x/scan.png"}
