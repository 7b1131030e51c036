"""Resources are found in a checkout and in a frozen (PyInstaller) app; names are safe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from desktop.core import resources
from desktop.core.resources import BUNDLED_MODEL, bundled_model_path, resource_path

REPO = Path(__file__).resolve().parents[2]


def test_checkout_root_is_the_repository() -> None:
    assert resource_path("models/x.onnx") == REPO / "models" / "x.onnx"
    found = bundled_model_path()
    assert found == (REPO / BUNDLED_MODEL if (REPO / BUNDLED_MODEL).is_file() else None)


@pytest.mark.parametrize("name", ["/etc/passwd", "../secret", "models/../../x", "", "\\\\srv\\x"])
def test_unsafe_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        resource_path(name)


def test_windows_drive_is_rejected() -> None:
    with pytest.raises(ValueError):
        resource_path("C:\\models\\m.onnx")


def test_frozen_app_uses_meipass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resource_root() == tmp_path
    assert bundled_model_path() is None
    model = tmp_path / "models" / "brain_tumor_effnet_lite0.onnx"
    model.parent.mkdir()
    model.write_bytes(b"onnx")
    assert bundled_model_path() == model
