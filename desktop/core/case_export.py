"""The cases export (CSV and JSON), written beside the slices export.

One row per case: what it is, how many slices it has, its verdict and the counts
behind it, the reviewer's decision on the case (empty when there is none), with the
same provenance and research-use notice as the slices export,
and the case rule that made the verdicts. Written atomically like the slices export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from desktop.core.decisions import CaseDecision, CaseKey, case_key
from desktop.core.export import Provenance, _atomic_write, _finite
from desktop.core.model_spec import CaseRule
from desktop.core.results import Status
from desktop.core.verdict import CaseReport

CASE_COLUMNS = [
    "case",
    "path",
    "kind",
    "slices",
    "verdict",
    "suspected_class",
    "first_slice",
    "last_slice",
    "tumour_slices",
    "ok",
    "uncertain",
    "unsupported",
    "error",
    "reason",
]
#: the reviewer's decision on the case (always present, empty when there is none)
CASE_REVIEW_COLUMNS = ["reviewer_verdict", "reviewer_class", "reviewer_note", "reviewed_at"]
CASE_EXTRA_COLUMNS = [
    "case_rule",
    "model_sha256",
    "model_file",
    "app_version",
    "exported_at",
    "notice",
]


def rule_text(rule: CaseRule) -> str:
    """The rule's parameters in one line (for the CSV)."""
    return "; ".join(f"{k}={v}" for k, v in asdict(rule).items())


def _opt(x: object | None) -> str:
    return "" if x is None else str(x)


Decisions = Mapping[CaseKey, CaseDecision]


def _review(report: CaseReport, decisions: Decisions | None) -> dict[str, str | None]:
    d = decisions.get(case_key(report.case)) if decisions else None
    if d is None:
        return {k: None for k in CASE_REVIEW_COLUMNS}
    return {
        "reviewer_verdict": d.reviewer_verdict,
        "reviewer_class": d.reviewer_class,
        "reviewer_note": d.note,
        "reviewed_at": d.reviewed_at,
    }


def case_row(
    report: CaseReport, prov: Provenance, rule: CaseRule, decisions: Decisions | None = None
) -> dict[str, str]:
    """One case as a CSV row (all values strings)."""
    c, v = report.case, report.verdict
    row = {
        "case": c.id,
        "path": c.path,
        "kind": c.kind.value,
        "slices": str(v.slices),
        "verdict": v.verdict.value,
        "suspected_class": _opt(v.suspected_class),
        "first_slice": _opt(v.first_slice),
        "last_slice": _opt(v.last_slice),
        "tumour_slices": str(v.tumour_slices),
        "reason": v.reason,
        "case_rule": rule_text(rule),
        "model_sha256": prov.model_sha256,
        "model_file": prov.model_file,
        "app_version": prov.app_version,
        "exported_at": prov.created,
        "notice": prov.notice,
    }
    for s in Status:
        row[s.value] = str(v.counts.get(s, 0))
    row.update({k: _opt(x) for k, x in _review(report, decisions).items()})
    return row


def write_cases_csv(
    reports: Sequence[CaseReport],
    path: str | Path,
    provenance: Provenance,
    rule: CaseRule,
    overwrite: bool = False,
    decisions: Decisions | None = None,
) -> None:
    """Plain UTF-8 CSV, one row per case, the notice in every row."""
    buf = io.StringIO()
    columns = CASE_COLUMNS + CASE_REVIEW_COLUMNS + CASE_EXTRA_COLUMNS
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in reports:
        writer.writerow(case_row(r, provenance, rule, decisions))
    _atomic_write(path, buf.getvalue(), overwrite)


def case_json(report: CaseReport, decisions: Decisions | None = None) -> dict[str, Any]:
    c, v = report.case, report.verdict
    return {
        "case": c.id,
        "path": c.path,
        "kind": c.kind.value,
        "files": list(c.files),
        "slices": v.slices,
        "verdict": v.verdict.value,
        "suspected_class": v.suspected_class,
        "first_slice": v.first_slice,
        "last_slice": v.last_slice,
        "tumour_slices": v.tumour_slices,
        "counts": {s.value: v.counts.get(s, 0) for s in Status},
        "reason": v.reason,
        **_review(report, decisions),
    }


def write_cases_json(
    reports: Sequence[CaseReport],
    path: str | Path,
    provenance: Provenance,
    rule: CaseRule,
    overwrite: bool = False,
    decisions: Decisions | None = None,
) -> None:
    """``{"notice", "provenance", "case_rule", "cases": [...]}`` as strict JSON."""
    doc = {
        "notice": provenance.notice,
        "provenance": asdict(provenance),
        "case_rule": asdict(rule),
        "cases": [case_json(r, decisions) for r in reports],
    }
    text = json.dumps(_finite(doc), indent=1, ensure_ascii=False, allow_nan=False)
    _atomic_write(path, text + "\n", overwrite)
