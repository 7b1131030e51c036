"""``BrainMRIReview --self-test``: is this installation whole and working? No display needed.

It checks the installed model against the sha256 recorded at build time (the
``build_info.json`` the PyInstaller build writes into the bundle), then classifies
slices it makes itself (a synthetic head phantom as PNG, the same phantom as a
16-bit DICOM written with pydicom, a blank image) through the real pipeline and
export, and prints a short report. Exit 0 when every check passed, else 1 with the
reason. Nothing here imports Qt and nothing touches the network.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from desktop import __version__, samples
from desktop.samples import PHANTOM_SIZE, mr_dataset, phantom

#: written by build.spec into the bundle root; absent in a source checkout
BUILD_INFO = "build_info.json"

#: the phantom in every format the app reads; the first is the reference
PHANTOMS = ("png", "jpeg", "tiff", "dicom", "dicom-j2k")
#: they hold the same image (JPEG: nearly): their probabilities must agree this well
MAX_PROB_DIFF = 0.05
_QT = ("PySide6", "shiboken6")


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str


@dataclass
class SelfTestReport:
    """All checks in order; the first failure is the reason for exit code 1."""

    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def reason(self) -> str:
        failed = [c for c in self.checks if not c.ok]
        return f"{failed[0].name}: {failed[0].detail}" if failed else ""

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def render(self) -> str:
        lines = [f"Brain MRI Review {__version__} self-test ({platform.system()})"]
        lines += [f"  [{'PASS' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in self.checks]
        verdict = "PASSED" if self.ok else f"FAILED - {self.reason}"
        lines.append(f"self-test {verdict} ({self.seconds:.1f} s)")
        return "\n".join(lines)


def load_build_info(path: Path | None = None) -> dict[str, Any] | None:
    """The build record (``build_info.json`` in the bundle), or None from a source checkout."""
    from desktop.core.resources import resource_path

    p = path if path is not None else resource_path(BUILD_INFO)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_samples(folder: Path, size: int = PHANTOM_SIZE) -> dict[str, Path]:
    """The phantom (``size`` px) as PNG, colour JPEG, LZW TIFF, a 16-bit MR DICOM and the
    same DICOM compressed with JPEG 2000 (every decoder must be in the bundle), and a blank
    PNG."""
    from PIL import Image

    img8 = np.round(phantom(size) * 255).astype(np.uint8)
    png = folder / "phantom.png"
    blank = folder / "blank.png"
    Image.fromarray(img8).save(png)
    Image.fromarray(np.zeros_like(img8)).save(blank)
    jpeg, tiff = folder / "phantom.jpg", folder / "phantom.tif"
    Image.fromarray(img8).convert("RGB").save(jpeg, quality=95)  # colour JPEG, as most exports
    Image.fromarray(img8).save(tiff, compression="tiff_lzw")
    dcm = folder / "phantom.dcm"
    write_dicom(dcm, img8.astype(np.uint16) * 16)
    j2k = folder / "phantom_j2k.dcm"
    write_dicom(j2k, img8.astype(np.uint16) * 16, compress=True)
    return {
        "png": png,
        "jpeg": jpeg,
        "tiff": tiff,
        "dicom": dcm,
        "dicom-j2k": j2k,
        "blank": blank,
    }


def write_dicom(path: Path, pixels: NDArray[np.uint16], compress: bool = False) -> None:
    """An MR image whose window maps 0..4080 onto [0, 1]; explicit VR little endian,
    or JPEG 2000 lossless when ``compress``."""
    ds = mr_dataset(pixels, window=(2040.5, 4081), patient=("SELFTEST^PHANTOM", "SELFTEST"))
    samples.write_dicom(path, ds, compress=compress)


def _check_model(report: SelfTestReport, model: Path | None, info: dict[str, Any] | None) -> str:
    """Records the model checks; the sha256 the model must have ('' when it cannot be used)."""
    from desktop.core.classifier import file_sha256, recorded_sha256

    if info is None:
        report.add("build record", True, "none (running from a source checkout)")
    else:
        same = info.get("app_version") == __version__
        built = f"built {info.get('build_time', '?')} from commit {info.get('git_commit', '?')}"
        report.add(
            "build record",
            same,
            built if same else f"app {__version__} but the record says {info.get('app_version')}",
        )
    if model is None:
        report.add("model", False, "no model installed")
        return ""
    sha = file_sha256(model)
    if info is not None:
        recorded = (info.get("model") or {}).get("sha256")
        where = "the build record"
    else:
        recorded = recorded_sha256(model)
        where = f"{model.name}.sha256"
    if recorded is None:
        ok = info is None  # a frozen build must have recorded the model it ships
        detail = f"{model.name} sha256 {sha[:16]}... " + (
            "(no recorded hash beside it)" if ok else "was not recorded at build time"
        )
        report.add("model", ok, detail)
        return sha if ok else ""
    if str(recorded).lower() != sha:
        report.add(
            "model",
            False,
            f"{model.name} sha256 {sha[:16]}... differs from {where} "
            f"({str(recorded)[:16]}...): the file was changed or damaged",
        )
        return ""
    report.add("model", True, f"{model.name} sha256 {sha[:16]}... matches {where}")
    return sha


def _probs_ok(row: Any, k: int) -> bool:
    p = row.probabilities
    return (
        p is not None
        and len(p) == k
        and all(math.isfinite(v) for v in p)
        and (abs(sum(p) - 1.0) < 1e-4)
    )


def _check_pipeline(report: SelfTestReport, model: Path, sha: str, work: Path) -> None:
    from desktop.core.classifier import Classifier, ModelLoadError
    from desktop.core.export import Provenance, read_csv, write_csv
    from desktop.core.pipeline import Pipeline
    from desktop.core.results import Status
    from desktop.core.vocabulary import best_guess, firm_call

    try:
        t0 = time.monotonic()
        clf = Classifier.load(model, expected_sha256=sha)
    except ModelLoadError as exc:
        report.add("model loads", False, str(exc))
        return
    spec = clf.spec
    report.add(
        "model loads",
        True,
        f"{spec.architecture}, input {spec.preprocessing.input_size} px, "
        f"classes {', '.join(spec.class_names)} ({time.monotonic() - t0:.2f} s)",
    )
    # the phantoms compare decoders: the JPEG stays under twice the input size, where it is
    # decoded whole (decoding at reduced size is checked by `training draft-parity`)
    samples = write_samples(work, min(PHANTOM_SIZE, 2 * spec.preprocessing.input_size - 1))
    t0 = time.monotonic()
    rows = list(Pipeline(clf, batch_size=4, workers=1).run(list(samples.values())))
    took = time.monotonic() - t0
    by_name = {Path(r.path).name: r for r in rows}
    k = len(spec.class_names)
    for key in PHANTOMS:
        r = by_name.get(samples[key].name)
        if r is None or r.status is Status.ERROR or not _probs_ok(r, k):
            what = "no result" if r is None else f"{r.status.value} {r.message}".strip()
            report.add(f"phantom {key}", False, f"not classified: {what}")
            return
        guess = best_guess(r)
        call = firm_call(r) or (f"best guess {guess}" if guess else "no call")
        report.add(
            f"phantom {key}",
            True,
            f"{r.status.value}, {call} {max(r.probabilities or [0]):.0%} ({r.window or '-'})",
        )
    probs = {key: np.asarray(by_name[samples[key].name].probabilities) for key in PHANTOMS}
    diff = max(float(np.max(np.abs(probs["png"] - probs[k]))) for k in PHANTOMS[1:])
    report.add(
        "PNG vs the others",
        diff <= MAX_PROB_DIFF,
        f"same image, probabilities differ by at most {diff:.4f} (limit {MAX_PROB_DIFF})",
    )
    b = by_name.get(samples["blank"].name)
    report.add(
        "blank image",
        b is not None and b.status is Status.UNSUPPORTED,
        "refused as " + (f"{b.status.value}: {b.message}" if b else "missing"),
    )
    out = work / "selftest.csv"
    write_csv(rows, out, Provenance.for_classifier(clf))
    back = read_csv(out)
    same = len(back) == len(rows) and all(r["model_sha256"] == sha for r in back)
    report.add("CSV export", same, f"{len(back)} rows written and read back ({took:.2f} s run)")


def run_self_test(model: Path | None, build_info: dict[str, Any] | None) -> SelfTestReport:
    """Every check, in order, for ``model`` (None: none installed) and its build record."""
    t0 = time.monotonic()
    before = set(sys.modules)
    report = SelfTestReport()
    sha = _check_model(report, model, build_info)
    if model is not None and sha:
        try:
            with tempfile.TemporaryDirectory(prefix="brain-mri-selftest-") as tmp:
                _check_pipeline(report, model, sha, Path(tmp))
        except Exception as exc:  # noqa: BLE001 - the report must say what broke
            report.add("pipeline", False, f"{type(exc).__name__}: {exc}")
    # the self-test itself must not load Qt (a caller such as a test runner may have)
    qt = sorted(n for n in set(sys.modules) - before if n.split(".")[0] in _QT)
    report.add("no display needed", not qt, "Qt not loaded" if not qt else f"loaded {qt[:3]}")
    report.seconds = time.monotonic() - t0
    return report


def installed_self_test() -> SelfTestReport:
    """The self-test of this installation: the bundled model and the bundle's build record."""
    from desktop.core.resources import bundled_model_path

    return run_self_test(bundled_model_path(), load_build_info())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="BrainMRIReview --self-test",
        description="Check the installed model and classify generated slices offline.",
    )
    p.add_argument("--model", type=Path, help="check this ONNX file instead of the bundled one")
    args = p.parse_args(list(argv or []))
    if args.model is not None and not args.model.is_file():
        print(f"self-test FAILED - model: {args.model} not found", file=sys.stderr)
        return 1
    # a model of your own is checked against its .sha256 file, if any
    report = installed_self_test() if args.model is None else run_self_test(args.model, None)
    text = report.render()
    print(text, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
