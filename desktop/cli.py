"""``brain-mri-review-cli``: the same core, headless. Files/folders in, CSV (+JSON) out.

``--cases`` also writes one row per case (a DICOM series, a NIfTI volume, a multi-frame
file or one image) with its verdict; see :mod:`desktop.core.cases` and
:mod:`desktop.core.verdict`.

Exit codes: 0 done (also when some files were unreadable: they are error rows);
1 cancelled (Ctrl+C); 2 the model or an output cannot be used (checked before any file
is read); 3 nothing could be read (no file found, or every file unreadable). Each path
given that does not exist is named on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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
from desktop.core.vocabulary import STATUS_WORDS
from desktop.logging_setup import setup_logging


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


#: nothing could be read: no file found, or every file unreadable
EXIT_NOTHING_READ = 3


def _fail(message: str, code: int = 2) -> int:
    print(f"brain-mri-review-cli: error: {message}", file=sys.stderr)
    return code


def output_problem(out: Path, overwrite: bool) -> str | None:
    """Why ``out`` cannot be written (checked before any work), or None."""
    if out.is_dir():
        return f"cannot write {out}: it is a folder (give a file name, e.g. {out / 'results.csv'})"
    if out.exists() and not overwrite:
        return f"{out} already exists (use --overwrite to replace it)"
    folder = out.parent
    if not folder.resolve().is_dir():
        return f"cannot write {out}: folder {folder} does not exist"
    if out.exists() and not os.access(out, os.W_OK):
        return f"cannot write {out}: permission denied"
    try:  # the only sure test of a folder (permissions, read-only mounts, ACLs)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".brain-mri-review-", delete=True):
            pass
    except OSError as exc:
        return f"cannot write {out}: {exc.strerror or exc}"
    return None


class _Progress:
    """Progress on stderr: one line redrawn ~10 times a second on a terminal; else (a log
    file, a pipe) one line every ``log_every`` seconds."""

    def __init__(
        self, total_files: int, stream: TextIO = sys.stderr, log_every: float = 5.0
    ) -> None:
        self.total = total_files
        self.stream = stream
        self.start = time.monotonic()
        self.last = self.start
        self.files: set[str] = set()
        self.rows = 0
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.every = 0.1 if self.tty else log_every

    def update(self, row: SliceResult | None = None, force: bool = False) -> None:
        if row is not None:
            self.rows += 1
            self.files.add(row.path)
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            rate = self.rows / max(now - self.start, 1e-6)
            line = f"{len(self.files)}/{self.total} files, {self.rows} slices, {rate:.1f}/s"
            self.stream.write(f"\r{line}   " if self.tty else f"{line}\n")
            self.stream.flush()

    def done(self) -> None:
        if self.rows:
            self.update(force=True)
            if self.tty:
                self.stream.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # details (tracebacks) go to the log file; stderr gets the words
    setup_logging(stderr=False)
    model_path = args.model or bundled_model_path()
    if model_path is None:
        return _fail("no model installed (pass --model PATH to use an ONNX model file)")
    outputs = [p for p in (args.csv, args.json, args.cases, args.cases_json) if p is not None]
    if len({p.resolve() for p in outputs}) < len(outputs):
        return _fail("two of --csv, --json, --cases, --cases-json name the same file")
    for out in outputs:
        problem = output_problem(out, args.overwrite)
        if problem:
            return _fail(problem)
    try:
        classifier = Classifier.load(model_path)
    except ModelLoadError as exc:
        return _fail(f"cannot use the model: {exc}")

    found = discover(args.paths)
    for p in found.missing:
        print(f"brain-mri-review-cli: not found: {p}", file=sys.stderr)
    if not found.files:
        return _fail("nothing to read: no image file found in the paths given", EXIT_NOTHING_READ)
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
    summary = ", ".join(f"{counts[s]} {STATUS_WORDS[s]}" for s in Status)
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
    if found.missing:
        print(f"{len(found.missing)} path(s) not found (named above)", file=sys.stderr)
    if cancelled:
        print("cancelled: the files above were written with what was done", file=sys.stderr)
        return 1
    if results and all(r.status is Status.ERROR for r in results):
        return _fail("nothing could be read: every file was unreadable", EXIT_NOTHING_READ)
    return 0


if __name__ == "__main__":
    sys.exit(main())
