"""Set-up and build hygiene (issue 16 item 13): no setuptools warnings, no build in the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_project_metadata_builds_without_setuptools_warnings(tmp_path: Path) -> None:
    """``pip install -e .`` printed three deprecation walls for the ``license`` table."""
    code = "import setuptools.build_meta as b, sys; b.prepare_metadata_for_build_wheel(sys.argv[1])"
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = (run.stdout + run.stderr).lower()
    assert "deprecat" not in out and "warning" not in out, out[-3000:]
    (meta,) = tmp_path.glob("*.dist-info/METADATA")
    assert "License-Expression: LicenseRef-Proprietary" in meta.read_text(encoding="utf-8")


def test_the_build_script_builds_where_it_is_told(tmp_path: Path) -> None:
    """BUILD_ROOT moves dist/ and build/ out of the checkout (no build here: --no-build)."""
    before = {p.name for p in ROOT.iterdir()}
    run = subprocess.run(
        ["bash", "scripts/build_and_smoke.sh", "--no-build"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "BUILD_ROOT": str(tmp_path)},
    )
    assert run.returncode != 0  # nothing built there
    assert f"{tmp_path}/dist/BrainMRIReview/BrainMRIReview not found" in run.stderr
    assert (tmp_path / "build" / "smoke").is_dir()
    assert {p.name for p in ROOT.iterdir()} - before == set()  # no dist/ or build/ here
