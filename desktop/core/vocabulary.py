"""The words people read for statuses, classes and agreement: one place for all of them.

The window, the exports, the CLI and the README use these words and no others:
statuses ``ok``, ``uncertain``, ``unsupported``, ``error`` (the values of
:class:`Status`, which exports write); classes as the model names them, with spaces
for underscores (``glioma``, ``meningioma``, ``no tumor``, ``pituitary``); an uncertain
row's top class is its *best guess*, never a call.
"""

from __future__ import annotations

from desktop.core.decisions import Agreement
from desktop.core.results import SliceResult, Status

#: the exports' status values, word for word
STATUS_WORDS = {s: s.value for s in Status}

AGREEMENT_WORDS = {
    Agreement.AGREE: "agree",
    Agreement.DISAGREE: "disagree",
    Agreement.NO_MODEL_CALL: "reviewer only",
    Agreement.NOT_REVIEWED: "",
}


def class_label(name: str) -> str:
    """A class name for people ("no_tumor" -> "no tumor")."""
    return name.replace("_", " ")


def firm_call(r: SliceResult) -> str | None:
    """The model's call: the top class of an ``ok`` row only."""
    return r.predicted_class if r.status is Status.OK else None


def best_guess(r: SliceResult) -> str | None:
    """An ``uncertain`` row's top class: shown to the reviewer, never a call."""
    return r.predicted_class if r.status is Status.UNCERTAIN else None


def predicted_text(r: SliceResult) -> str:
    """What the class column says: the call, or the status when there is no call."""
    if r.status is Status.OK and r.predicted_class:
        return class_label(r.predicted_class)
    if r.status is Status.UNCERTAIN:
        guess = f" ({class_label(r.predicted_class)}?)" if r.predicted_class else ""
        return f"uncertain{guess}"
    # no call: say why in the column people read first (the message column has the detail)
    return f"({STATUS_WORDS[r.status]})"
