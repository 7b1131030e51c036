"""Command line, model loading for the window, and the UI's import boundaries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from desktop.ui import app

UI_DIR = Path(__file__).resolve().parents[2] / "desktop" / "ui"
#: decoding and inference belong to desktop.core; the UI only calls it
FORBIDDEN_IN_UI = {"onnxruntime", "cv2", "pydicom", "nibabel", "PIL", "torch", "training"}


def test_parser_takes_paths_and_model(tmp_path: Path) -> None:
    args = app.build_parser().parse_args(["a.dcm", "folder", "--model", str(tmp_path / "m.onnx")])
    assert args.paths == ["a.dcm", "folder"]
    assert args.model == tmp_path / "m.onnx"
    assert app.build_parser().parse_args([]).paths == []


def test_load_classifier_cases(monkeypatch, test_model_path: Path, tmp_path: Path) -> None:
    clf, err = app.load_classifier(test_model_path)
    assert err is None and clf is not None and clf.path.name == test_model_path.name
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00not an onnx model" * 10)
    clf, err = app.load_classifier(broken)
    assert clf is None and err and "broken.onnx" in err
    monkeypatch.setattr("desktop.core.resources.bundled_model_path", lambda: None)
    assert app.load_classifier(None) == (None, None)


def test_console_entry_point_exists() -> None:
    from desktop.__main__ import main

    assert callable(main)


@pytest.mark.parametrize("module", sorted(p.name for p in UI_DIR.glob("*.py")))
def test_ui_never_decodes_or_runs_onnx(module: str) -> None:
    tree = ast.parse((UI_DIR / module).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN_IN_UI


def test_the_app_builds_the_pipeline_the_window_only_uses_it(qtbot, test_model_path) -> None:
    """Issue 16.15: app.py makes classifier and pipeline; MainWindow builds neither."""
    from desktop.core.classifier import Classifier
    from desktop.core.pipeline import Pipeline
    from desktop.ui.main_window import MainWindow

    classifier = Classifier.load(test_model_path)
    bare = MainWindow(classifier)
    qtbot.addWidget(bare)
    assert bare.controller.pipeline is None and not bare.controller.can_classify
    window = app.build_window(classifier)
    qtbot.addWidget(window)
    pipeline = window.controller.pipeline
    assert isinstance(pipeline, Pipeline) and pipeline.classifier is classifier
    assert pipeline.thread_init is not None  # reader threads below the GUI's priority
