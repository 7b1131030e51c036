"""The app's log file, and what happens to an unexpected exception.

A windowed build has no stdout/stderr, so the app logs to a rotating file in the
user's data folder (``log_dir()``, same place as ``QStandardPaths.AppLocalDataLocation``
for organisation "brain-mri-review", application "Brain MRI Review"), and an exception
nobody caught is logged and shown in a dialog naming that file instead of the window
just vanishing. The log holds no patient data: file paths in messages and in
exception texts are replaced by ``<path>`` (DICOM tags are never logged at all).
No Qt import here unless a dialog is actually shown.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import traceback
from pathlib import Path
from types import TracebackType

from desktop import __version__

#: overrides the data folder (tests, portable installs); shared with the decisions store
DATA_DIR_ENV = "BRAIN_MRI_REVIEW_DATA_DIR"
ORG_NAME = "brain-mri-review"
APP_NAME = "Brain MRI Review"
LOG_NAME = "brain-mri-review.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: absolute paths (POSIX, Windows drive, UNC); they may hold spaces (a patient's name as a
#: folder), so one ends only at a quote, ": " (the message after it) or the end of the line
_PATH = re.compile(r"""(?:(?<![\w.])/|\b[A-Za-z]:[\\/]|\\\\)[^'"\n]*?(?=: |['"\n]|$)""")


def platform_data_dir() -> Path:
    """The per-user data folder by the platform's rules (what Qt's AppLocalDataLocation gives)."""
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / ORG_NAME / APP_NAME


def data_dir() -> Path:
    """``$BRAIN_MRI_REVIEW_DATA_DIR`` if set, else :func:`platform_data_dir`."""
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(override) if override else platform_data_dir()


def log_dir() -> Path:
    return data_dir() / "logs"


def redact(text: str) -> str:
    """``text`` with every absolute file path replaced by ``<path>``."""
    return _PATH.sub("<path>", text)


class RedactingFormatter(logging.Formatter):
    """Redacts paths in messages and exception texts; keeps the program's own frames."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.msg, record.args = redact(record.getMessage()), None
        record.exc_text = None  # another handler may have cached the unredacted traceback
        return super().format(record)

    def formatException(self, ei: object) -> str:  # noqa: N802 - logging's API
        lines = super().formatException(ei).splitlines()  # type: ignore[arg-type]
        # '  File "...", line N, in f' lines name program files (kept for debugging);
        # everything else (source lines, the exception message) may quote a user's path
        return "\n".join(ln if ln.lstrip().startswith('File "') else redact(ln) for ln in lines)


def setup_logging(level: int = logging.INFO, *, stderr: bool = True) -> Path | None:
    """Log to the rotating file (and stderr when there is one); the file or None if unwritable."""
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        if getattr(h, "_brain_mri_review", False):
            root.removeHandler(h)
            h.close()
    formatter = RedactingFormatter(FORMAT)
    file = log_dir() / LOG_NAME
    path: Path | None = file
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            file, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        path = None
        handler = logging.NullHandler()
    handler.setFormatter(formatter)
    handler._brain_mri_review = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if stderr and sys.stderr is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(formatter)
        console._brain_mri_review = True  # type: ignore[attr-defined]
        root.addHandler(console)
    frozen = "frozen" if getattr(sys, "frozen", False) else "source"
    logging.getLogger("desktop").info(
        "Brain MRI Review %s starting (%s, Python %s, %s)",
        __version__,
        frozen,
        sys.version.split()[0],
        sys.platform,
    )
    return path


def crash_message(exc: BaseException, log_file: Path | None) -> str:
    """What the dialog says: the error in one line (paths redacted) and where the log is."""
    where = f"Details were written to:\n{log_file}" if log_file else "No log file could be written."
    text = redact(f"{type(exc).__name__}: {exc}")
    return (
        f"Brain MRI Review hit an unexpected error and may not work correctly.\n\n{text}\n\n{where}"
    )


def install_excepthook(log_file: Path | None) -> None:
    """Log uncaught exceptions; with a QApplication running, also show a dialog."""

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        logging.getLogger("desktop").critical("uncaught exception", exc_info=(kind, exc, tb))
        if sys.stderr is not None and log_file is None:
            traceback.print_exception(kind, exc, tb)
        _show_dialog(crash_message(exc, log_file))

    sys.excepthook = hook


_dialog_open = False


def _show_dialog(text: str) -> None:
    """One dialog at a time: an error that repeats (say, in a paint event) is only logged."""
    global _dialog_open
    qt = sys.modules.get("PySide6.QtWidgets")
    if qt is None or _dialog_open:  # never imports Qt itself (CLI, self-test)
        return
    _dialog_open = True
    try:
        if qt.QApplication.instance() is not None:
            qt.QMessageBox.critical(None, f"{APP_NAME} - unexpected error", text)
    except Exception:  # noqa: BLE001 - the hook itself must never raise
        logging.getLogger("desktop").exception("could not show the error dialog")
    finally:
        _dialog_open = False
