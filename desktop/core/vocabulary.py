"""The words people read for statuses, classes and agreement: one place for all of them.

The window, the exports, the CLI and the README use these words and no others.
"""

from __future__ import annotations

from desktop.core.decisions import Agreement
from desktop.core.results import SliceResult, Status

STATUS_WORDS = {
    Status.OK: "ok",
    Status.UNCERTAIN: "uncertain",
    Status.UNSUPPORTED: "not supported",
    Status.ERROR: "error",
}

AGREEMENT_WORDS = {
    Agreement.AGREE: "agree",
    Agreement.DISAGREE: "disagree",
    Agreement.NO_MODEL_CALL: "reviewer only",
    Agreement.NOT_REVIEWED: "",
}


def class_label(name: str) -> str:
    """A class name for people ("no_tumor" -> "no tumor")."""
    return name.replace("_", " ")


def predicted_text(r: SliceResult) -> str:
    """What the class column says: the call, or the status when there is no call."""
    if r.status is Status.OK and r.predicted_class:
        return class_label(r.predicted_class)
    if r.status is Status.UNCERTAIN:
        guess = f" ({class_label(r.predicted_class)}?)" if r.predicted_class else ""
        return f"uncertain{guess}"
    # no call: say why in the column people read first (the message column has the detail)
    return f"({STATUS_WORDS[r.status]})"
