"""Export of the table through desktop.core.export, with a file dialog and plain errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from desktop.core.decisions import CaseDecision, CaseKey, Decision, Key
from desktop.core.model_spec import CaseRule
from desktop.core.results import SliceResult
from desktop.core.verdict import CaseReport


class ExportFormat(str, Enum):
    CSV = "csv"
    JSON = "json"


def export_results(
    parent: QWidget,
    results: Sequence[SliceResult],
    classifier: Any,
    fmt: ExportFormat,
    decisions: Mapping[Key, Decision] | None = None,
    identifiers: bool = False,
    folder: str | Path | None = None,
) -> str | None:
    """Ask for a file and write ``results``; the path written, or None (cancelled/failed).

    ``folder``: where the dialog starts (the last export's folder).

    The write is atomic (core); a failure is shown in a message box and nothing in the
    table changes. Every export carries the research-use notice, the provenance and the
    reviewer's decisions; patient identifiers only when ``identifiers`` is True.
    """
    from desktop.core import export

    ext = fmt.value
    start = str(Path(folder) / f"brain-mri-review.{ext}") if folder else f"brain-mri-review.{ext}"
    path, _ = QFileDialog.getSaveFileName(
        parent, f"Export {ext.upper()}", start, f"{ext.upper()} (*.{ext})"
    )
    if not path:
        return None
    confirmed = path  # the dialog asked before replacing exactly this file, no other
    if not path.lower().endswith(f".{ext}"):
        path += f".{ext}"
    writer = export.write_csv if fmt is ExportFormat.CSV else export.write_json
    try:
        if classifier is None:
            raise ValueError("no model is loaded, so there is nothing to export")
        provenance = export.Provenance.for_classifier(classifier)
        # the file dialog has already asked before replacing an existing file; a name
        # we completed with the extension was never asked about, so it is not replaced
        writer(
            results,
            path,
            provenance,
            overwrite=path == confirmed,
            decisions=decisions,
            identifiers=identifiers,
        )
    except (OSError, ValueError) as exc:  # say why; the table keeps every row
        QMessageBox.critical(parent, "Export failed", f"The results were not exported.\n\n{exc}")
        return None
    return path


def export_cases(
    parent: QWidget,
    reports: Sequence[CaseReport],
    classifier: Any,
    fmt: ExportFormat,
    rule: CaseRule,
    decisions: Mapping[CaseKey, CaseDecision] | None = None,
    folder: str | Path | None = None,
) -> str | None:
    """Ask for a file and write the cases export (one row per case, with the reviewer's
    case decisions); the path written, or None (cancelled/failed)."""
    from desktop.core import case_export, export

    ext = fmt.value
    name = f"brain-mri-review-cases.{ext}"
    start = str(Path(folder) / name) if folder else name
    path, _ = QFileDialog.getSaveFileName(
        parent, f"Export Cases {ext.upper()}", start, f"{ext.upper()} (*.{ext})"
    )
    if not path:
        return None
    confirmed = path
    if not path.lower().endswith(f".{ext}"):
        path += f".{ext}"
    writer = (
        case_export.write_cases_csv if fmt is ExportFormat.CSV else case_export.write_cases_json
    )
    try:
        if classifier is None:
            raise ValueError("no model is loaded, so there is nothing to export")
        provenance = export.Provenance.for_classifier(classifier)
        writer(reports, path, provenance, rule, overwrite=path == confirmed, decisions=decisions)
    except (OSError, ValueError) as exc:
        QMessageBox.critical(parent, "Export failed", f"The cases were not exported.\n\n{exc}")
        return None
    return path
