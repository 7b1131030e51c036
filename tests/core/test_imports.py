"""Layering: desktop.core imports no Qt; nothing in desktop imports torch, training or cv2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
QT = {"PySide6", "PyQt5", "PyQt6", "shiboken6"}
TRAINING = {"torch", "training", "torchvision"}

PROBE = """
import importlib, json, pkgutil, sys
import {package}
names = [m.name for m in pkgutil.walk_packages({package}.__path__, "{package}.")]
for name in names:
    importlib.import_module(name)
{extra}
print(json.dumps({{"modules": names, "loaded": sorted({{m.split(".")[0] for m in sys.modules}})}}))
"""


def probe(package: str, extra: str = "") -> tuple[list[str], set[str]]:
    code = PROBE.format(package=package, extra=extra)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["modules"], set(out["loaded"])


def test_core_and_cli_import_no_qt_and_no_torch() -> None:
    modules, loaded = probe("desktop.core", "import desktop.cli")
    assert {"desktop.core.classifier", "desktop.core.pipeline", "desktop.core.export"} <= set(
        modules
    )
    assert "desktop.core.readers.dicom" in modules and "desktop.core.readers.nifti" in modules
    assert not loaded & QT, loaded & QT
    assert not loaded & TRAINING, loaded & TRAINING


def test_whole_desktop_package_imports_no_torch_and_no_opencv() -> None:
    modules, loaded = probe("desktop")
    assert "desktop.cli" in modules and "desktop.bench.slices" in modules
    assert not loaded & TRAINING, loaded & TRAINING
    assert "cv2" not in loaded  # 150 MB in the packaged app; Pillow + numpy do its work


def importlinter_config(path: Path) -> Path:
    """The contracts of pyproject.toml as an INI config with external packages included
    (forbidden third-party modules need ``include_external_packages``)."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[importlinter]", "root_packages ="]
    lines += [f"    {p}" for p in cfg["root_packages"]]
    lines += ["include_external_packages = True", ""]
    for i, contract in enumerate(cfg["contracts"]):
        lines.append(f"[importlinter:contract:{i}]")
        for key, value in contract.items():
            if isinstance(value, list):
                lines += [f"{key} ="] + [f"    {v}" for v in value]
            else:
                lines.append(f"{key} = {value}")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def test_import_linter_contracts(tmp_path: Path) -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed")
    config = importlinter_config(tmp_path / "importlinter.ini")
    proc = subprocess.run(
        [exe, "--config", str(config), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" in proc.stdout and "0 broken" in proc.stdout
