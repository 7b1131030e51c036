"""A missing, empty, truncated or tampered model: the CLI says why and exits 2, no traceback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.core.factories import ramp, write_cv
from tests.core.test_cli import run_cli


def broken_model(kind: str, folder: Path, good: Path) -> Path:
    """A model file damaged in one way (``good`` is the working test model)."""
    path = folder / f"{kind}.onnx"
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "tampered":  # the file changed after its hash was recorded beside it
        path.with_name(path.name + ".sha256").write_text(
            f"{hashlib.sha256(data).hexdigest()}  {path.name}\n"
        )
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif kind == "wrong hash":
        path.write_bytes(data)
        path.with_name(path.name + ".sha256").write_text("0" * 64 + "\n")
    return path  # "missing": never written


CASES = {
    "missing": "model file not found",
    "empty": "model file is empty",
    "truncated": "truncated or corrupt",
    "tampered": "does not match its recorded sha256",
    "wrong hash": "does not match its recorded sha256",
}


@pytest.mark.parametrize("kind", list(CASES))
def test_cli_refuses_a_broken_model(kind: str, tmp_path: Path, test_model_path: Path) -> None:
    write_cv(tmp_path / "slice.png", ramp())
    model = broken_model(kind, tmp_path, test_model_path)
    out = tmp_path / "out.csv"
    proc = run_cli(tmp_path / "slice.png", "--csv", out, "--model", model)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("brain-mri-review-cli: error: cannot use the model:"), last
    assert CASES[kind] in last
    assert not out.exists()
