"""Build the double-clickable app and smoke-test it (``scripts/build_and_smoke.sh``).

CI runs this on every push: the folder must stay under 250 MB, hold no torch, training
code or OpenCV, pass its self-test with no network, give the source CLI's rows over
``../shared/dicom`` and show its window on a virtual screen. About two minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DICOM = ROOT / ".." / "shared" / "dicom"

pytestmark = [
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        not (ROOT / ".venv" / "bin" / "pyinstaller").exists(),
        reason="PyInstaller not in .venv (scripts/bootstrap.sh --dev installs it)",
    ),
    pytest.mark.skipif(not SHARED_DICOM.is_dir(), reason="../shared/dicom is absent"),
    pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb missing (bootstrap --dev)"),
]


def test_build_and_smoke(tmp_path: Path) -> None:
    # dist/ and build/ (229 MB) in a temporary folder, not inside the checkout
    run = subprocess.run(
        ["scripts/build_and_smoke.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BUILD_ROOT": str(tmp_path)},
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "smoke: PASSED" in out
    size = re.search(r"folder size: \S+ \((\d+) MB", out)
    assert size is not None and int(size.group(1)) < 250, out[-2000:]
    assert "self-test PASSED" in out and "identical to the source checkout's CLI" in out
    assert "GUI: window appeared" in out
    assert (tmp_path / "dist" / "BrainMRIReview").is_dir()
