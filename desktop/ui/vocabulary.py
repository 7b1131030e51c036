"""What the window's views share: item roles, class, status and agreement colours, and the
words.

The words themselves live in :mod:`desktop.core.vocabulary` (the exports and the CLI use
them too); they are re-exported here so the views import one module.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop.core.decisions import Agreement
from desktop.core.results import Status
from desktop.core.vocabulary import AGREEMENT_WORDS, STATUS_WORDS, class_label, predicted_text

__all__ = [
    "AGREEMENT_COLOURS",
    "AGREEMENT_ORDER",
    "AGREEMENT_WORDS",
    "CLASS_COLOURS",
    "STATUS_COLOURS",
    "STATUS_WORDS",
    "ResultRole",
    "SortRole",
    "ThumbnailRole",
    "class_colour",
    "class_label",
    "predicted_text",
]

SortRole = Qt.ItemDataRole.UserRole + 1
ThumbnailRole = Qt.ItemDataRole.UserRole + 2
ResultRole = Qt.ItemDataRole.UserRole + 3

#: subtle text colours by status (None: the palette's normal text colour)
STATUS_COLOURS: dict[Status, QColor | None] = {
    Status.OK: None,
    Status.UNCERTAIN: QColor(112, 112, 112),
    Status.UNSUPPORTED: QColor(156, 98, 0),
    Status.ERROR: QColor(176, 32, 48),
}

#: ascending sort: disagreements first, unreviewed rows last
AGREEMENT_ORDER = {
    Agreement.DISAGREE: 0,
    Agreement.NO_MODEL_CALL: 1,
    Agreement.AGREE: 2,
    Agreement.NOT_REVIEWED: 3,
}
AGREEMENT_COLOURS = {
    Agreement.AGREE: QColor(30, 120, 60),
    Agreement.DISAGREE: QColor(176, 32, 48),
    Agreement.NO_MODEL_CALL: QColor(90, 90, 150),
}

#: one colour per class wherever the window draws calls (the slice strip): tumour classes
#: strong and apart from one another (Okabe-Ito, readable with the common colour-vision
#: deficiencies), "no tumour" a quieter green so that tumour slices stand out
CLASS_COLOURS: dict[str, QColor] = {
    "glioma": QColor(213, 94, 0),  # vermillion
    "meningioma": QColor(204, 121, 167),  # reddish purple
    "pituitary": QColor(0, 114, 178),  # blue
    "no_tumor": QColor(120, 178, 150),  # quiet green
}
#: for the classes of a model with other names, by their place in its class list
_SPARE_COLOURS = (QColor(230, 159, 0), QColor(86, 180, 233), QColor(240, 228, 66))


def class_colour(name: str, index: int = 0) -> QColor:
    """The colour of class ``name`` (``index``: its place among the model's classes)."""
    colour = CLASS_COLOURS.get(name)
    return QColor(colour) if colour is not None else QColor(_SPARE_COLOURS[index % 3])
