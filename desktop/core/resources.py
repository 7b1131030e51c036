"""Find bundled resources (the model) in a source checkout and in a frozen app."""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

#: the model the app ships with, relative to the resource root
BUNDLED_MODEL = "models/brain_tumor_effnet_lite0.onnx"


def resource_root() -> Path:
    """The folder holding ``models/``: ``sys._MEIPASS`` when frozen, else the checkout."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parents[2]


def resource_path(name: str) -> Path:
    """The path of a bundled resource; ``name`` is relative, '/'-separated, without '..'."""
    if not name or name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        raise ValueError(f"resource name must be relative: {name!r}")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts or PurePosixPath(name).is_absolute():
        raise ValueError(f"resource name must not contain '..': {name!r}")
    return resource_root().joinpath(*parts)


def bundled_model_path() -> Path | None:
    """The bundled model file if it is installed, else None."""
    p = resource_path(BUNDLED_MODEL)
    return p if p.is_file() else None
