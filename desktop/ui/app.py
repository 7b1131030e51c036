"""QApplication set-up and command-line parsing for ``brain-mri-review``."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop import __version__

if TYPE_CHECKING:  # imported when used: the window opens before onnxruntime is loaded
    from desktop.core.classifier import Classifier
    from desktop.ui.main_window import MainWindow


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="brain-mri-review",
        description="Review brain MRI slices with an ONNX classifier. "
        "Research use only - not for diagnostic use.",
        epilog="Also: --cli PATHS --csv OUT.csv (headless, see --cli --help); "
        "--self-test (check the installation offline, no display needed).",
    )
    p.add_argument("paths", nargs="*", help="files or folders to classify at once")
    p.add_argument("--model", type=Path, help="ONNX model file (default: the bundled model)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def load_classifier(model: Path | None) -> tuple[Classifier | None, str | None]:
    """(classifier, error text): the given or bundled model; (None, None) when none exists."""
    from desktop.core.classifier import Classifier, ModelLoadError
    from desktop.core.resources import bundled_model_path

    path = model if model is not None else bundled_model_path()
    if path is None:
        return None, None
    from desktop.ui.priority import lower_threads, started_threads

    try:
        classifier, pool = started_threads(lambda: Classifier.load(path))
    except ModelLoadError as exc:
        return None, str(exc)
    lower_threads(pool)  # onnxruntime's compute threads: background work, below the GUI
    return classifier, None


#: how often (s) a thread running Python must hand the GIL to one that waits for it.
#: Each table repaint calls the model's Python methods ~2,000 times from C++, each
#: taking the GIL; with the default 5 ms the reader threads made one repaint wait up
#: to ~150 ms for it (docs/PERFORMANCE.md, 2026-11-29 second session).
GIL_SWITCH_INTERVAL = 0.001


def freeze_startup_objects() -> None:
    """Move the objects made so far (modules, the window) out of the collector's sight.

    A full garbage collection runs in whichever thread triggers it, holding the GIL;
    without the ~40,000 start-up objects it is about half as long (a GUI stall).
    """
    gc.collect()
    gc.freeze()


def application(argv: Sequence[str]) -> QApplication:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv))
    app.setApplicationName("Brain MRI Review")
    app.setOrganizationName("brain-mri-review")
    app.setApplicationVersion(__version__)
    _apply_icon(app)
    app.setStyle("Fusion")
    _apply_style_sheet(app)
    return app


def _apply_icon(app: QApplication) -> None:
    """Window/taskbar icon and the .desktop entry it belongs to (resources/)."""
    from desktop.core.resources import resource_path

    icon = resource_path("resources/icon.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    app.setDesktopFileName("brain-mri-review")


def _apply_style_sheet(app: QApplication) -> None:
    from desktop.core.resources import resource_path

    try:
        qss = resource_path("resources/style.qss")
    except (ValueError, FileNotFoundError):
        return
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))


def build_window(
    classifier: Classifier | None,
    model_error: str | None = None,
    data_dir: str | Path | None = None,
) -> MainWindow:
    """The main window over ``classifier``: the pipeline that runs it is made here (its
    reader threads at a lower priority than the GUI's)."""
    from desktop.core.pipeline import Pipeline
    from desktop.ui.main_window import MainWindow
    from desktop.ui.priority import lower_current_thread

    pipeline = None
    if classifier is not None:
        pipeline = Pipeline(classifier, thread_init=lower_current_thread)
    return MainWindow(classifier, pipeline, model_error=model_error, data_dir=data_dir)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, open the window, classify the given paths; the exit code."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    app = application(sys.argv[:1])
    classifier, error = load_classifier(args.model)
    window = build_window(classifier, model_error=error)
    window.show()
    QTimer.singleShot(200, freeze_startup_objects)  # after the first paint, not before
    logging.getLogger(__name__).info(
        "main window shown (model %s)", "loaded" if classifier else error or "none installed"
    )
    if error:
        QTimer.singleShot(
            0, lambda: QMessageBox.critical(window, "The model could not be loaded", error)
        )
    if args.paths:
        if classifier is None:
            window.statusBar().showMessage("No model installed - files cannot be classified")
        else:
            QTimer.singleShot(0, lambda: window.classify(args.paths))
    return int(app.exec())
