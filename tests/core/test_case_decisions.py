"""The reviewer's decisions on whole cases: the store keeps them beside the slice
decisions, keyed by the case's resolved path and its series; the cases export carries
them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from desktop.core.case_export import CASE_REVIEW_COLUMNS, write_cases_csv, write_cases_json
from desktop.core.cases import Case, CaseKind
from desktop.core.decisions import CaseDecision, Decision, DecisionStore, case_key
from desktop.core.export import read_csv
from desktop.core.model_spec import CLASS_NAMES
from desktop.core.results import SliceResult, Status
from desktop.core.verdict import CaseReport, case_verdict
from tests.core.test_verdict import GLIOMA, RULE, prov

SERIES_A = Case("t1 (series 3)", "/scans/p1", CaseKind.DICOM_SERIES, ("IM1", "IM2"), "1.2.3")
SERIES_B = Case("t1 (series 4)", "/scans/p1", CaseKind.DICOM_SERIES, ("IM3", "IM4"), "1.2.4")
VOLUME = Case("brain.nii.gz", "/scans/brain.nii.gz", CaseKind.NIFTI_VOLUME, ("brain.nii.gz",))


def test_two_series_in_one_folder_have_their_own_keys_without_the_uid() -> None:
    a, b = case_key(SERIES_A), case_key(SERIES_B)
    assert a[0] == b[0] == "/scans/p1" and a != b
    assert "1.2.3" not in a[1]  # a hash, not the UID
    assert case_key(VOLUME) == ("/scans/brain.nii.gz", "")


def test_case_decisions_survive_a_new_store_and_sit_beside_slice_decisions(
    tmp_path: Path,
) -> None:
    store = DecisionStore(tmp_path)
    store.put([Decision("ab" * 32, 0, "glioma")])
    d = CaseDecision(
        *case_key(SERIES_A), "no_tumour", None, "vessels", "tumour_suspected", "glioma"
    )
    store.put_case(d)
    store.close()
    again = DecisionStore(tmp_path)
    got = again.get_case(case_key(SERIES_A))
    assert got == d and got.agrees is False
    assert again.get_case(case_key(SERIES_B)) is None
    assert len(again) == 1 and len(again.all_cases()) == 1
    # cleared with no note left: gone from the file
    again.put_case(CaseDecision(*case_key(SERIES_A), None))
    again.close()
    assert DecisionStore(tmp_path).all_cases() == []


def test_a_decisions_file_from_before_case_decisions_opens(tmp_path: Path) -> None:
    """A file with only the slice table (an older version) gains the case table."""
    conn = sqlite3.connect(tmp_path / "decisions.sqlite3")
    conn.execute(
        "CREATE TABLE decisions (image_sha256 TEXT NOT NULL, frame INTEGER NOT NULL,"
        " reviewer_class TEXT, note TEXT NOT NULL DEFAULT '', model_class TEXT,"
        " reviewed_at TEXT NOT NULL, PRIMARY KEY (image_sha256, frame))"
    )
    conn.execute("INSERT INTO decisions VALUES ('cd', 1, 'glioma', '', 'glioma', 'then')")
    conn.commit()
    conn.close()
    store = DecisionStore(tmp_path)
    assert len(store) == 1 and store.all_cases() == []
    store.put_case(CaseDecision(*case_key(VOLUME), "tumour_suspected", "glioma"))
    assert DecisionStore(tmp_path).get_case(case_key(VOLUME)) is not None


@pytest.mark.parametrize(
    ("verdict", "cls", "model", "model_cls", "agrees"),
    [
        ("tumour_suspected", "glioma", "tumour_suspected", "glioma", True),
        ("tumour_suspected", None, "tumour_suspected", "glioma", True),
        ("tumour_suspected", "meningioma", "tumour_suspected", "glioma", False),
        ("no_tumour", None, "tumour_suspected", "glioma", False),
        ("no_tumour", None, "uncertain", None, None),
        (None, None, "no_tumour", None, None),
    ],
)
def test_agreement_with_the_models_verdict(verdict, cls, model, model_cls, agrees) -> None:  # type: ignore[no-untyped-def]
    assert CaseDecision("/p", "", verdict, cls, "", model, model_cls).agrees is agrees


def test_the_cases_export_carries_the_decision(tmp_path: Path) -> None:
    rows = [
        SliceResult("/scans/brain.nii.gz", i, Status.OK, probabilities=GLIOMA, slice_index=i)
        for i in range(4)
    ]
    verdict = case_verdict(rows, CLASS_NAMES, RULE)
    reports = [CaseReport(VOLUME, verdict), CaseReport(SERIES_A, verdict)]
    d = CaseDecision(*case_key(VOLUME), "no_tumour", None, "artefact", "tumour_suspected")
    decisions = {d.key: d}
    write_cases_csv(reports, tmp_path / "c.csv", prov(), RULE, decisions=decisions)
    out = read_csv(tmp_path / "c.csv")
    assert [out[0][k] for k in CASE_REVIEW_COLUMNS] == ["no_tumour", "", "artefact", d.reviewed_at]
    assert [out[1][k] for k in CASE_REVIEW_COLUMNS] == ["", "", "", ""]
    write_cases_json(reports, tmp_path / "c.json", prov(), RULE, decisions=decisions)
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["cases"][0]["reviewer_verdict"] == "no_tumour"
    assert doc["cases"][0]["reviewer_note"] == "artefact"
    assert doc["cases"][1]["reviewer_verdict"] is None
    assert "1.2.3" not in (tmp_path / "c.json").read_text()
