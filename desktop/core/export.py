"""CSV and JSON exports of the results, with provenance and the research notice.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), never
overwrite an existing file unless asked, and leave nothing half-written on failure.
No DICOM attribute is exported (only paths, our results, hashes and reviewer
decisions) unless the caller asks for patient identifiers explicitly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import __version__
from desktop.core.decisions import Decision, Key, agreement, key_of
from desktop.core.model_spec import CLASS_NAMES
from desktop.core.results import SliceResult
from desktop.core.vocabulary import best_guess, firm_call

if TYPE_CHECKING:
    from desktop.core.classifier import Classifier

RESEARCH_NOTICE = (
    "Research use only. Not for diagnostic use. The predictions are not a medical "
    "device output and must not guide the care of any patient."
)


def probability_columns(class_names: Sequence[str] = CLASS_NAMES) -> list[str]:
    """``p_<class>`` for each class of the model, in its output order."""
    return [f"p_{name}" for name in class_names]


#: ``predicted_class`` is the model's call (``ok`` rows only); ``best_guess`` is an
#: ``uncertain`` row's top class, never a call
CSV_COLUMNS = [
    "path",
    "frame",
    "status",
    "message",
    "predicted_class",
    "best_guess",
    "confidence",
    *probability_columns(),
    "image_sha256",
    "model_sha256",
    "app_version",
]
EXTRA_COLUMNS = ["model_file", "exported_at", "notice"]
#: reviewer decisions, after the columns above (empty when a row was not reviewed)
REVIEW_COLUMNS = ["reviewer_class", "reviewer_note", "reviewed_at", "agreement"]
#: the slice's case and its place in the case's anatomical order (see desktop.core.cases)
SLICE_CASE_COLUMNS = ["case", "slice_index"]
#: patient identifiers: written only when the user switches them on explicitly
IDENTIFIER_COLUMNS = ["patient_id", "study_date"]

Decisions = Mapping[Key, Decision]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Provenance:
    """Where the results came from; carried by every export."""

    app_version: str
    model_file: str
    model_sha256: str
    model_summary: dict[str, Any]
    created: str = field(default_factory=now_iso)
    notice: str = RESEARCH_NOTICE
    #: the model's class order (how ``SliceResult.probabilities`` is laid out)
    class_names: tuple[str, ...] = CLASS_NAMES

    @classmethod
    def for_classifier(cls, classifier: Classifier) -> Provenance:
        """Provenance of a loaded :class:`desktop.core.classifier.Classifier`."""
        return cls(
            app_version=__version__,
            model_file=classifier.path.name,
            model_sha256=classifier.sha256,
            model_summary=classifier.summary(),
            class_names=tuple(classifier.spec.class_names),
        )


def _num(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.6f}"


def _probabilities(r: SliceResult, class_names: Sequence[str]) -> dict[str, float]:
    if r.probabilities is None:
        return {}
    return dict(zip(class_names, r.probabilities, strict=False))


def csv_row(r: SliceResult, prov: Provenance, decisions: Decisions | None = None) -> dict[str, str]:
    """One result as a CSV row (all values strings), with the reviewer's decision."""
    probs = _probabilities(r, prov.class_names)
    row = {
        "path": r.path,
        "frame": str(r.frame),
        "status": r.status.value,
        "message": r.message,
        "predicted_class": firm_call(r) or "",
        "best_guess": best_guess(r) or "",
        "confidence": _num(r.confidence),
        "image_sha256": r.image_sha256 or "",
        "model_sha256": prov.model_sha256,
        "app_version": prov.app_version,
        "model_file": prov.model_file,
        "exported_at": prov.created,
        "notice": prov.notice,
        "case": r.case,
        "slice_index": str(r.slice_index),
    }
    for name, column in zip(prov.class_names, probability_columns(prov.class_names), strict=True):
        row[column] = _num(probs.get(name))
    review = review_fields(r, decisions)
    row.update({k: "" if v is None else str(v) for k, v in review.items()})
    return row


def review_fields(r: SliceResult, decisions: Decisions | None) -> dict[str, str | None]:
    """The reviewer columns of one result (None where there is no decision)."""
    key = key_of(r)
    d = decisions.get(key) if decisions is not None and key is not None else None
    return {
        "reviewer_class": d.reviewer_class if d else None,
        "reviewer_note": d.note if d else None,
        "reviewed_at": d.reviewed_at if d else None,
        "agreement": agreement(r, d).value,
    }


def dicom_identifiers(path: str | Path) -> dict[str, str]:
    """PatientID and StudyDate of a DICOM file ("" for other files or when absent).

    Only called when the user has switched identifiers on for an export.
    """
    empty = dict.fromkeys(IDENTIFIER_COLUMNS, "")
    try:
        import pydicom

        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["PatientID", "StudyDate"]
        )
    except Exception:  # noqa: BLE001 - not DICOM, unreadable, gone: pydicom raises many kinds
        return empty
    return {
        "patient_id": str(ds.get("PatientID", "") or ""),
        "study_date": str(ds.get("StudyDate", "") or ""),
    }


def _identifiers(results: Sequence[SliceResult]) -> dict[str, dict[str, str]]:
    return {p: dicom_identifiers(p) for p in dict.fromkeys(r.path for r in results)}


def _atomic_write(path: str | Path, text: str, overwrite: bool) -> None:
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists (choose another name or overwrite)")
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder")
    folder = target.parent if str(target.parent) else Path(".")
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
        tmp_name = ""
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError):
            reason = f"folder {folder} does not exist"
        raise OSError(exc.errno, f"could not write {target}: {reason}") from None
    finally:
        if tmp_name:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def write_csv(
    results: Sequence[SliceResult],
    path: str | Path,
    provenance: Provenance,
    overwrite: bool = False,
    decisions: Decisions | None = None,
    identifiers: bool = False,
) -> None:
    """Plain UTF-8 CSV: header first, one row per result, the notice in every row.

    Reviewer columns follow the provenance columns, then the slice's case and index;
    ``identifiers`` adds patient_id
    and study_date (DICOM only) at the end.
    """
    columns = CSV_COLUMNS + EXTRA_COLUMNS + REVIEW_COLUMNS + SLICE_CASE_COLUMNS
    ids = _identifiers(results) if identifiers else {}
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=columns + (IDENTIFIER_COLUMNS if identifiers else []), lineterminator="\n"
    )
    writer.writeheader()
    for r in results:
        row = csv_row(r, provenance, decisions)
        if identifiers:
            row.update(ids[r.path])
        writer.writerow(row)
    _atomic_write(path, buf.getvalue(), overwrite)


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def json_result(
    r: SliceResult, prov: Provenance, decisions: Decisions | None = None
) -> dict[str, Any]:
    return {
        "path": r.path,
        "frame": r.frame,
        "status": r.status.value,
        "message": r.message,
        "predicted_class": firm_call(r),
        "best_guess": best_guess(r),
        "confidence": r.confidence,
        "probabilities": _probabilities(r, prov.class_names) or None,
        "ood_score": r.ood_score,
        "window": r.window,
        "image_sha256": r.image_sha256,
        "case": r.case,
        "slice_index": r.slice_index,
        "review": review_fields(r, decisions),
    }


def write_json(
    results: Sequence[SliceResult],
    path: str | Path,
    provenance: Provenance,
    overwrite: bool = False,
    decisions: Decisions | None = None,
    identifiers: bool = False,
) -> None:
    """``{"notice", "provenance", "results": [...]}`` as strict JSON (no NaN/Infinity).

    Each result has a ``review``; ``identifiers`` adds ``patient_id``/``study_date``.
    """
    ids = _identifiers(results) if identifiers else {}
    items = []
    for r in results:
        item = json_result(r, provenance, decisions)
        if identifiers:
            item.update(ids[r.path])
        items.append(item)
    doc = {
        "notice": provenance.notice,
        "provenance": {**asdict(provenance), "identifiers_included": identifiers},
        "results": items,
    }
    text = json.dumps(_finite(doc), indent=1, ensure_ascii=False, allow_nan=False)
    _atomic_write(path, text + "\n", overwrite)


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of an exported CSV as dicts (for round trips and tests)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_json(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc
