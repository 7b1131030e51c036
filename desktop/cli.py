"""``brain-mri-review-cli``: the same core, headless. Files/folders in, CSV (+JSON) out.

``--cases`` also writes one row per case (a DICOM series, a NIfTI volume, a multi-frame
file or one image) with its verdict; see :mod:`desktop.core.cases` and
:mod:`desktop.core.verdict`.

Exit codes: 0 done (also when some files were unreadable: they are error rows);
1 cancelled (Ctrl+C); 2 the model or the output cannot be used (message on stderr).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from desktop import __version__
from desktop.core.case_export import write_cases_csv, write_cases_json
from desktop.core.cases import plan_cases
from desktop.core.classifier import Classifier, ModelLoadError
from desktop.core.discovery import discover
from desktop.core.export import RESEARCH_NOTICE, Provenance, write_csv, write_json
from desktop.core.pipeline import Pipeline
from desktop.core.resources import bundled_model_path
from desktop.core.results import SliceResult, Status
from desktop.core.verdict import Verdict, case_reports


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="brain-mri-review-cli",
        description="Classify brain MRI slices (files or folders) and write a CSV. "
        + RESEARCH_NOTICE,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--csv", required=True, type=Path, metavar="OUT.csv", help="CSV to write")
    p.add_argument("--json", type=Path, metavar="OUT.json", help="also write JSON")
    p.add_argument(
        "--cases",
        type=Path,
        metavar="CASES.csv",
        help="also write one row per case (series, volume, multi-frame file, image) "
        "with its verdict",
    )
    p.add_argument(
        "--cases-json", type=Path, metavar="CASES.json", help="also write the cases as JSON"
    )
    p.add_argument("--model", type=Path, metavar="PATH", help="ONNX model (default: bundled)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--batch-size", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _fail(message: str) -> int:
    print(f"brain-mri-review-cli: error: {message}", file=sys.stderr)
    return 2


class _Progress:
    """A one-line progress display on stderr (updated at most ~10 times a second)."""

    def __init__(self, total_files: int, stream: TextIO = sys.stderr) -> None:
        self.total = total_files
        self.stream = stream
        self.start = time.monotonic()
        self.last = 0.0
        self.files: set[str] = set()
        self.rows = 0

    def update(self, row: SliceResult | None = None, force: bool = False) -> None:
        if row is not None:
            self.rows += 1
            self.files.add(row.path)
        now = time.monotonic()
        if force or now - self.last >= 0.1:
            self.last = now
            rate = self.rows / max(now - self.start, 1e-6)
            self.stream.write(
                f"\r{len(self.files)}/{self.total} files, {self.rows} slices, {rate:.1f}/s   "
            )
            self.stream.flush()

    def done(self) -> None:
        if self.rows:
            self.update(force=True)
            self.stream.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model_path = args.model or bundled_model_path()
    if model_path is None:
        return _fail("no model installed (pass --model PATH to use an ONNX model file)")
    outputs = [p for p in (args.csv, args.json, args.cases, args.cases_json) if p is not None]
    for out in outputs:
        if out.exists() and not args.overwrite:
            return _fail(f"{out} already exists (use --overwrite to replace it)")
        if not out.parent.resolve().is_dir():
            return _fail(f"cannot write {out}: folder {out.parent} does not exist")
    try:
        classifier = Classifier.load(model_path)
    except ModelLoadError as exc:
        return _fail(f"cannot use the model: {exc}")

    found = discover(args.paths)
    plan = plan_cases(found.files)
    print(
        f"{len(found.files)} files to read in {len(plan.cases)} cases "
        f"({found.skipped} entries skipped); model {classifier.path.name}",
        file=sys.stderr,
    )
    pipeline = Pipeline(classifier, batch_size=args.batch_size)
    progress = _Progress(len(found.files))
    results: list[SliceResult] = []
    cancelled = False
    try:
        for row in pipeline.run(plan.files, plan=plan):
            results.append(replace(row, thumbnail=None, cam=None))  # keep memory small
            progress.update(row)
    except KeyboardInterrupt:
        cancelled = True
    progress.done()

    provenance = Provenance.for_classifier(classifier)
    rule = classifier.spec.case_rule
    reports = case_reports(plan, results, classifier.spec.class_names, rule)
    try:
        write_csv(results, args.csv, provenance, overwrite=args.overwrite)
        if args.json is not None:
            write_json(results, args.json, provenance, overwrite=args.overwrite)
        if args.cases is not None:
            write_cases_csv(reports, args.cases, provenance, rule, overwrite=args.overwrite)
        if args.cases_json is not None:
            write_cases_json(reports, args.cases_json, provenance, rule, args.overwrite)
    except OSError as exc:
        return _fail(str(exc))

    counts = {s: 0 for s in Status}
    for r in results:
        counts[r.status] += 1
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Status)
    extra = pipeline.stats.skipped_empty_slices
    empty = f"; {extra} empty NIfTI slices skipped" if extra else ""
    print(f"{len(results)} rows: {summary}{empty}. Wrote {args.csv}", file=sys.stderr)
    verdicts = {v: 0 for v in Verdict}
    for rep in reports:
        verdicts[rep.verdict.verdict] += 1
    print(
        f"{len(reports)} cases: " + ", ".join(f"{verdicts[v]} {v.value}" for v in Verdict),
        file=sys.stderr,
    )
    print(RESEARCH_NOTICE, file=sys.stderr)
    if cancelled:
        print("cancelled: the files above were written with what was done", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
