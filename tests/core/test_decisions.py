"""Reviewer decisions: persistence across restarts, agreement, summary, exports, no PHI."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from desktop.core.decisions import (
    DATA_DIR_ENV,
    DB_NAME,
    Agreement,
    Decision,
    DecisionStore,
    DecisionStoreError,
    agreement,
    default_data_dir,
    key_of,
    summarise,
)
from desktop.core.export import (
    CSV_COLUMNS,
    EXTRA_COLUMNS,
    IDENTIFIER_COLUMNS,
    REVIEW_COLUMNS,
    SLICE_CASE_COLUMNS,
    Provenance,
    read_csv,
    read_json,
    write_csv,
    write_json,
)
from desktop.core.results import SliceResult, Status
from tests.core.factories import PATIENT_ID, PATIENT_NAME, make_dicom, write_dicom

PROV = Provenance("9.9.9", "m.onnx", "ab" * 32, {"ece": 0.03}, created="2026-01-02T03:04:05+00:00")


def result(sha: str, cls: str | None, status: Status = Status.OK, frame: int = 0) -> SliceResult:
    return SliceResult(f"/d/{sha[:4]}.png", frame, status, "", cls, 0.8, None, sha)


def test_decision_survives_a_new_store(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path)
    assert not (tmp_path / DB_NAME).exists()  # nothing is written before the first decision
    d = Decision("aa" * 32, 2, "meningioma", "rim enhancing", model_class="glioma")
    store.put([d])
    store.close()  # as after a crash, the write is already on disk
    again = DecisionStore(tmp_path)
    got = again.get(("aa" * 32, 2))
    assert got == d
    assert again.get(("aa" * 32, 0)) is None and len(again) == 1
    # another class replaces; no class and no note removes it for good
    again.put([Decision("aa" * 32, 2, "glioma", "")])
    assert DecisionStore(tmp_path).get(("aa" * 32, 2)).reviewer_class == "glioma"  # type: ignore[union-attr]
    again.put([Decision("aa" * 32, 2, None, "")])
    assert DecisionStore(tmp_path).get(("aa" * 32, 2)) is None
    # a note without a class is kept
    again.put([Decision("bb" * 32, 0, None, "check the T2")])
    assert DecisionStore(tmp_path).get(("bb" * 32, 0)).note == "check the T2"  # type: ignore[union-attr]


def test_many_decisions_in_one_transaction(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path)
    store.put([Decision(f"{i:064x}", 0, "no_tumor") for i in range(50)])
    rows = sqlite3.connect(tmp_path / DB_NAME).execute("SELECT COUNT(*) FROM decisions").fetchone()
    assert rows[0] == 50
    keys = [(f"{i:064x}", 0) for i in (3, 7, 99)] + [None]
    assert set(DecisionStore(tmp_path).get_many(keys)) == {keys[0], keys[1]}


def test_a_damaged_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(DecisionStoreError, match="decisions file"):
        DecisionStore(tmp_path)


def test_data_dir_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert default_data_dir("/platform/dir") == Path("/platform/dir")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_data_dir("/platform/dir") == tmp_path


def test_agreement_cases() -> None:
    ok = result("11" * 32, "glioma")
    unsure = result("22" * 32, "pituitary", Status.UNCERTAIN)
    assert agreement(ok, None) is Agreement.NOT_REVIEWED
    assert agreement(ok, Decision("11" * 32, 0, "glioma")) is Agreement.AGREE
    assert agreement(ok, Decision("11" * 32, 0, "no_tumor")) is Agreement.DISAGREE
    assert agreement(ok, Decision("11" * 32, 0, None, "note only")) is Agreement.NOT_REVIEWED
    # an uncertain best guess is not a call, even when the reviewer picks the same class
    assert agreement(unsure, Decision("22" * 32, 0, "pituitary")) is Agreement.NO_MODEL_CALL
    assert key_of(SliceResult("/x", 0, Status.ERROR, "unreadable")) is None


def test_summary_counts_and_confusion() -> None:
    names = ("glioma", "meningioma", "no_tumor", "pituitary")
    pairs = [
        (result("01" * 32, "glioma"), Decision("01" * 32, 0, "glioma")),
        (result("02" * 32, "glioma"), Decision("02" * 32, 0, "glioma")),
        (result("03" * 32, "glioma"), Decision("03" * 32, 0, "meningioma")),
        (result("04" * 32, "pituitary"), Decision("04" * 32, 0, "pituitary")),
        (result("05" * 32, "no_tumor", Status.UNCERTAIN), Decision("05" * 32, 0, "no_tumor")),
        (result("06" * 32, "meningioma"), None),
        (result("07" * 32, "meningioma"), Decision("07" * 32, 0, None, "note")),
    ]
    s = summarise(pairs, names)
    assert (s.rows, s.reviewed) == (7, 5)
    assert s.counts[Agreement.AGREE] == 3 and s.counts[Agreement.DISAGREE] == 1
    assert s.counts[Agreement.NO_MODEL_CALL] == 1 and s.counts[Agreement.NOT_REVIEWED] == 2
    assert s.confusion == {
        ("glioma", "glioma"): 2,
        ("glioma", "meningioma"): 1,
        ("pituitary", "pituitary"): 1,
        ("", "no_tumor"): 1,
    }
    assert s.per_class("glioma") == (3, 2) and s.per_class("meningioma") == (0, 0)
    assert s.reviewer_total("meningioma") == 1
    assert s.agreement_rate is not None and math.isclose(s.agreement_rate, 3 / 4)
    assert summarise([], names).agreement_rate is None


def test_exports_carry_decisions_after_the_existing_columns(tmp_path: Path) -> None:
    rows = [result("11" * 32, "glioma"), result("22" * 32, "pituitary", frame=4)]
    d = Decision(
        "11" * 32,
        0,
        "meningioma",
        'dural tail, "broad" base',
        "glioma",
        "2026-02-03T04:05:06+00:00",
    )
    decisions = {d.key: d}
    write_csv(rows, tmp_path / "r.csv", PROV, decisions=decisions)
    out = read_csv(tmp_path / "r.csv")
    assert list(out[0]) == CSV_COLUMNS + EXTRA_COLUMNS + REVIEW_COLUMNS + SLICE_CASE_COLUMNS
    assert out[0]["reviewer_class"] == "meningioma"
    assert out[0]["reviewer_note"] == 'dural tail, "broad" base'
    assert out[0]["reviewed_at"] == "2026-02-03T04:05:06+00:00"
    assert out[0]["agreement"] == "disagree"
    assert out[1]["reviewer_class"] == "" and out[1]["agreement"] == "not_reviewed"
    assert out[0]["model_sha256"] == "ab" * 32 and "Research use only" in out[0]["notice"]
    write_json(rows, tmp_path / "r.json", PROV, decisions=decisions)
    doc = read_json(tmp_path / "r.json")
    assert doc["results"][0]["review"]["reviewer_class"] == "meningioma"
    assert doc["results"][0]["review"]["agreement"] == "disagree"
    assert doc["results"][1]["review"]["reviewer_class"] is None
    assert doc["provenance"]["identifiers_included"] is False


def test_identifiers_only_when_switched_on(tmp_path: Path) -> None:
    ds = make_dicom(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    ds.StudyDate = "20240131"
    dcm = write_dicom(tmp_path / "scan.dcm", ds)
    rows = [SliceResult(str(dcm), 0, Status.OK, "", "glioma", 0.9, None, "33" * 32)]
    rows.append(SliceResult(str(tmp_path / "plain.png"), 0, Status.OK, "", "glioma", 0.9))
    write_csv(rows, tmp_path / "off.csv", PROV)
    write_json(rows, tmp_path / "off.json", PROV)
    for name in ("off.csv", "off.json"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert PATIENT_ID not in text and "20240131" not in text and "Doe" not in text
        assert "patient_id" not in text and "study_date" not in text
    write_csv(rows, tmp_path / "on.csv", PROV, identifiers=True)
    out = read_csv(tmp_path / "on.csv")
    assert list(out[0])[-2:] == IDENTIFIER_COLUMNS
    assert (out[0]["patient_id"], out[0]["study_date"]) == (PATIENT_ID, "20240131")
    assert (out[1]["patient_id"], out[1]["study_date"]) == ("", "")
    write_json(rows, tmp_path / "on.json", PROV, identifiers=True)
    doc = read_json(tmp_path / "on.json")
    assert doc["results"][0]["patient_id"] == PATIENT_ID
    assert doc["provenance"]["identifiers_included"] is True
    # the name is never exported, even with identifiers on
    assert PATIENT_NAME not in (tmp_path / "on.csv").read_text(encoding="utf-8")


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_decisions_file_is_private(tmp_path: Path) -> None:
    """Issue 16.11: decisions.sqlite3 gets 0600, as the exports do."""
    store = DecisionStore(tmp_path)
    store.put([Decision("ab" * 32, 0, "glioma", "a note", "glioma")])
    store.close()
    assert (tmp_path / "decisions.sqlite3").stat().st_mode & 0o777 == 0o600
    (tmp_path / "decisions.sqlite3").chmod(0o644)  # made by an older version
    again = DecisionStore(tmp_path)
    again.put([Decision("cd" * 32, 0, "glioma", "", None)])
    again.close()
    assert (tmp_path / "decisions.sqlite3").stat().st_mode & 0o777 == 0o600
