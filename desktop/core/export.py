"""CSV and JSON exports of the results, with provenance and the research notice.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), never
overwrite an existing file unless asked, and leave nothing half-written on failure.
No DICOM attribute is ever exported: only paths, our results and hashes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop import __version__
from desktop.core.model_spec import CLASS_NAMES
from desktop.core.results import SliceResult

if TYPE_CHECKING:
    from desktop.core.classifier import Classifier

RESEARCH_NOTICE = (
    "Research use only. Not for diagnostic use. The predictions are not a medical "
    "device output and must not guide the care of any patient."
)

CSV_COLUMNS = [
    "path",
    "frame",
    "status",
    "message",
    "predicted_class",
    "confidence",
    "p_glioma",
    "p_meningioma",
    "p_no_tumor",
    "p_pituitary",
    "image_sha256",
    "model_sha256",
    "app_version",
]
EXTRA_COLUMNS = ["model_file", "exported_at", "notice"]


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


def csv_row(r: SliceResult, prov: Provenance) -> dict[str, str]:
    """One result as a CSV row (all values strings)."""
    probs = _probabilities(r, prov.class_names)
    row = {
        "path": r.path,
        "frame": str(r.frame),
        "status": r.status.value,
        "message": r.message,
        "predicted_class": r.predicted_class or "",
        "confidence": _num(r.confidence),
        "image_sha256": r.image_sha256 or "",
        "model_sha256": prov.model_sha256,
        "app_version": prov.app_version,
        "model_file": prov.model_file,
        "exported_at": prov.created,
        "notice": prov.notice,
    }
    for name in CLASS_NAMES:
        row[f"p_{name}"] = _num(probs.get(name))
    return row


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
) -> None:
    """Plain UTF-8 CSV: header first, one row per result, the notice in every row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS + EXTRA_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in results:
        writer.writerow(csv_row(r, provenance))
    _atomic_write(path, buf.getvalue(), overwrite)


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def json_result(r: SliceResult, prov: Provenance) -> dict[str, Any]:
    return {
        "path": r.path,
        "frame": r.frame,
        "status": r.status.value,
        "message": r.message,
        "predicted_class": r.predicted_class,
        "confidence": r.confidence,
        "probabilities": _probabilities(r, prov.class_names) or None,
        "ood_score": r.ood_score,
        "window": r.window,
        "image_sha256": r.image_sha256,
    }


def write_json(
    results: Sequence[SliceResult],
    path: str | Path,
    provenance: Provenance,
    overwrite: bool = False,
) -> None:
    """``{"notice", "provenance", "results": [...]}`` as strict JSON (no NaN/Infinity)."""
    doc = {
        "notice": provenance.notice,
        "provenance": asdict(provenance),
        "results": [json_result(r, provenance) for r in results],
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
