"""CSV / JSON exports: exact columns, round trip, atomic and refusing writes, no PHI."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from desktop import __version__
from desktop.core.classifier import Classifier
from desktop.core.export import (
    CSV_COLUMNS,
    EXTRA_COLUMNS,
    RESEARCH_NOTICE,
    REVIEW_COLUMNS,
    SLICE_CASE_COLUMNS,
    Provenance,
    read_csv,
    read_json,
    write_csv,
    write_json,
)
from desktop.core.pipeline import Pipeline
from desktop.core.results import SliceResult, Status
from tests.core.factories import PATIENT_ID, PATIENT_NAME, make_dicom, ramp, write_dicom

EXACT = [
    "path", "frame", "status", "message", "predicted_class", "best_guess", "confidence",
    "p_glioma", "p_meningioma", "p_no_tumor", "p_pituitary", "image_sha256", "model_sha256",
    "app_version",
]  # fmt: skip


def provenance() -> Provenance:
    return Provenance(
        app_version="9.9.9",
        model_file="m.onnx",
        model_sha256="ab" * 32,
        model_summary={"thresholds": {"ood_score": math.inf}, "class_names": ["a"]},
        created="2026-01-02T03:04:05+00:00",
    )


ROWS = [
    SliceResult(
        "/data/ü/a,b.png", 0, Status.OK, "", "glioma", 0.7, (0.7, 0.1, 0.1, 0.1), "11" * 32
    ),
    SliceResult(
        "/d/v.dcm", 3, Status.UNCERTAIN, 'low confidence: "x", y', "pituitary", 0.4,
        (0.3, 0.2, 0.1, 0.4), "22" * 32, thumbnail=np.zeros((4, 4), np.uint8),
    ),
    SliceResult("/d/bad.jpg", 0, Status.ERROR, "truncated JPEG"),
]  # fmt: skip


def test_csv_header_and_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write_csv(ROWS, out, provenance())
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(
        EXACT + EXTRA_COLUMNS + REVIEW_COLUMNS + SLICE_CASE_COLUMNS
    )
    assert CSV_COLUMNS == EXACT and EXTRA_COLUMNS == ["model_file", "exported_at", "notice"]
    rows = read_csv(out)
    assert len(rows) == 3
    assert [r["path"] for r in rows] == [r.path for r in ROWS]
    assert [r["status"] for r in rows] == ["ok", "uncertain", "error"]
    assert rows[1]["message"] == 'low confidence: "x", y' and rows[1]["frame"] == "3"
    assert float(rows[1]["p_pituitary"]) == pytest.approx(0.4)
    assert float(rows[0]["confidence"]) == pytest.approx(0.7)
    assert rows[2]["predicted_class"] == "" and rows[2]["p_glioma"] == ""
    # issue 16.9: a guess is never a call: the call for firm rows, the guess in its own column
    assert (rows[0]["predicted_class"], rows[0]["best_guess"]) == ("glioma", "")
    assert (rows[1]["predicted_class"], rows[1]["best_guess"]) == ("", "pituitary")
    for r in rows:
        assert r["notice"] == RESEARCH_NOTICE and "not for diagnostic use" in r["notice"].lower()
        assert r["model_sha256"] == "ab" * 32 and r["app_version"] == "9.9.9"
        assert r["exported_at"] == "2026-01-02T03:04:05+00:00" and r["model_file"] == "m.onnx"


def test_json_round_trip_is_strict_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    write_json(ROWS, out, provenance())
    doc = json.loads(out.read_text(encoding="utf-8"), parse_constant=pytest.fail)
    assert doc == read_json(out)
    assert doc["notice"] == RESEARCH_NOTICE
    assert doc["provenance"]["model_sha256"] == "ab" * 32
    assert doc["provenance"]["model_summary"]["thresholds"]["ood_score"] == "inf"
    assert [r["status"] for r in doc["results"]] == ["ok", "uncertain", "error"]
    assert doc["results"][1]["probabilities"] == {
        "glioma": 0.3, "meningioma": 0.2, "no_tumor": 0.1, "pituitary": 0.4
    }  # fmt: skip
    assert doc["results"][2]["probabilities"] is None
    uncertain = doc["results"][1]
    assert uncertain["predicted_class"] is None and uncertain["best_guess"] == "pituitary"


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("precious")
    with pytest.raises(FileExistsError):
        write_csv(ROWS, out, provenance())
    with pytest.raises(FileExistsError):
        write_json(ROWS, out, provenance())
    assert out.read_text() == "precious"
    write_csv(ROWS, out, provenance(), overwrite=True)
    assert len(read_csv(out)) == 3


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OSError, match="does not exist"):
        write_csv(ROWS, tmp_path / "no" / "such" / "r.csv", provenance())

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    out = tmp_path / "r.csv"
    out.write_text("old")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="could not write .*No space left on device"):
        write_csv(ROWS, out, provenance(), overwrite=True)
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_no_patient_identifiers_in_exports(tmp_path: Path, test_model_path: Path) -> None:
    dcm = write_dicom(tmp_path / "scan.dcm", make_dicom(ramp(dtype=np.uint16, top=900)))
    assert PATIENT_NAME.encode() in dcm.read_bytes()
    clf = Classifier.load(test_model_path)
    rows = list(Pipeline(clf).run([dcm]))
    prov = Provenance.for_classifier(clf)
    assert prov.app_version == __version__ and prov.model_sha256 == clf.sha256
    write_csv(rows, tmp_path / "r.csv", prov)
    write_json(rows, tmp_path / "r.json", prov)
    for name in ("r.csv", "r.json"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert PATIENT_NAME not in text and "Doe" not in text and PATIENT_ID not in text
        assert clf.sha256 in text
