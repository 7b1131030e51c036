"""What the slice strip draws, computed without painting (see :mod:`.strip`).

Cell ``k`` is the case's slice ``k`` in anatomical order (the table's "slice k+1"),
coloured by the call: the class colour of :mod:`desktop.ui.vocabulary` for firm calls,
the same pale for an uncertain slice's best guess (drawn hatched), grey for
unsupported, dark for unreadable, nothing for a slice without a row. The suspect range
is the case verdict's (:func:`desktop.core.verdict.case_verdict` with the model's rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from PySide6.QtGui import QColor

from desktop.core.model_spec import CaseRule
from desktop.core.results import SliceResult, Status
from desktop.core.verdict import CaseVerdict, Verdict, case_verdict
from desktop.ui.table.case_counts import VERDICT_WORDS, case_key
from desktop.ui.vocabulary import class_colour, class_label


class CellState(str, Enum):
    """What a cell of the strip stands for."""

    FIRM = "ok"
    UNCERTAIN = "uncertain"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    #: no row for this slice: not read yet, or skipped as empty background
    EMPTY = "empty"


#: the fill of cells without a class colour (#rrggbb)
UNSUPPORTED_FILL = "#a6a6a6"
ERROR_FILL = "#4d4d4d"
#: how much of the class colour an uncertain cell keeps (the rest is white)
PALE = 0.38

_STATE_OF = {
    Status.OK: CellState.FIRM,
    Status.UNCERTAIN: CellState.UNCERTAIN,
    Status.UNSUPPORTED: CellState.UNSUPPORTED,
    Status.ERROR: CellState.ERROR,
}


@dataclass(frozen=True)
class StripCell:
    """One slice of the strip."""

    slice_index: int
    state: CellState
    #: the fill as "#rrggbb" ("" for an empty cell)
    fill: str
    #: the class of the call (an uncertain slice: its best guess), else None
    class_name: str | None
    tooltip: str

    @property
    def hatched(self) -> bool:
        return self.state is CellState.UNCERTAIN


@dataclass(frozen=True)
class StripData:
    """Everything the strip draws for one case (cell ``k`` = slice index ``k``)."""

    case: str
    cells: tuple[StripCell, ...]
    verdict: CaseVerdict | None
    #: slice indices of the first and last suspect slice (the verdict's), or None
    suspect: tuple[int, int] | None
    #: slices with a row (the others are empty cells)
    rows: int

    @property
    def legend(self) -> list[tuple[str, bool, str]]:
        """(fill, hatched, words) of what this strip shows, as it first appears along z:
        each class of a firm call ("glioma") and of an uncertain one's best guess
        ("glioma?", as the table's "uncertain (glioma?)"), then unsupported, unreadable
        and empty cells."""
        seen: dict[tuple[str, bool, str], None] = {}
        rest: dict[CellState, None] = {}
        for c in self.cells:
            if c.class_name is not None:
                guess = "?" if c.hatched else ""
                seen.setdefault((c.fill, c.hatched, class_label(c.class_name) + guess), None)
            else:
                rest.setdefault(c.state, None)
        out = list(seen)
        for state, fill, words in (
            (CellState.UNSUPPORTED, UNSUPPORTED_FILL, "unsupported"),
            (CellState.ERROR, ERROR_FILL, "error"),
            (CellState.EMPTY, "", "no result"),
        ):
            if state in rest:
                out.append((fill, False, words))
        return out

    @property
    def headline(self) -> str:
        """The verdict, e.g. "tumour suspected (glioma), slices 42-78" ("" without one)."""
        v = self.verdict
        if v is None:
            return ""
        words = VERDICT_WORDS[v.verdict]
        if v.verdict is Verdict.TUMOUR_SUSPECTED and v.suspected_class:
            words += f" ({class_label(v.suspected_class)})"
        if self.suspect is not None:
            a, b = self.suspect
            words += f", slice {a + 1}" if a == b else f", slices {a + 1}-{b + 1}"
        return words

    @property
    def count(self) -> str:
        """E.g. "140 slices", or "12 of 140 slices classified" while some have no row."""
        n = len(self.cells)
        if self.rows < n:
            return f"{self.rows:,} of {n:,} slices classified"
        return f"{n:,} slice{'s' if n != 1 else ''}"

    @property
    def about(self) -> str:
        """The case and its slices, e.g. "brats_flair.nii.gz · 140 slices"."""
        return f"{self.case} · {self.count}"

    @property
    def caption(self) -> str:
        """E.g. "brats_flair.nii.gz · 140 slices · tumour suspected (glioma), slices 42-78"."""
        return " · ".join(x for x in (self.about, self.headline) if x)


def _hex(colour: QColor) -> str:
    return str(colour.name())


def _pale(colour: QColor, keep: float) -> QColor:
    r, g, b = colour.red(), colour.green(), colour.blue()
    return QColor(*(round(255 - (255 - c) * keep) for c in (r, g, b)))


def _cell(r: SliceResult, class_names: Sequence[str]) -> StripCell:
    k = r.slice_index
    state = _STATE_OF[r.status]
    name = r.predicted_class if state in (CellState.FIRM, CellState.UNCERTAIN) else None
    where = f"slice {k + 1}: "
    if name is not None:
        index = class_names.index(name) if name in class_names else 0
        colour = class_colour(name, index)
        if state is CellState.UNCERTAIN:
            colour = _pale(colour, PALE)
        conf = f" {r.confidence:.2f}" if r.confidence is not None else ""
        guess = "?" if state is CellState.UNCERTAIN else ""
        tip = f"{where}{class_label(name)}{guess}{conf}, {state.value}"
        return StripCell(k, state, _hex(colour), name, tip)
    fill = ERROR_FILL if state is CellState.ERROR else UNSUPPORTED_FILL
    why = f" ({r.message})" if r.message else ""
    return StripCell(k, state, fill, None, f"{where}{r.status.value}{why}")


def _empty(k: int) -> StripCell:
    tip = f"slice {k + 1}: no result (not read yet, or skipped as empty background)"
    return StripCell(k, CellState.EMPTY, "", None, tip)


def strip_data(
    results: Iterable[SliceResult],
    class_names: Sequence[str],
    rule: CaseRule,
    case: str = "",
) -> StripData:
    """The strip of one case from its slice results (any order).

    Cells run from slice 0 to the largest slice index seen: the slices without a row
    are empty cells (still to come while streaming, or empty background a NIfTI reader
    skipped). The suspect range is :func:`~desktop.core.verdict.case_verdict`'s with
    the model's ``rule``.
    """
    by_index: dict[int, SliceResult] = {}
    for r in results:
        by_index[r.slice_index] = r
    if not by_index:
        return StripData(case, (), None, None, 0)
    names = list(class_names)
    last = max(by_index)
    cells = tuple(
        _cell(by_index[k], names) if k in by_index else _empty(k) for k in range(last + 1)
    )
    verdict = case_verdict(by_index.values(), names, rule)
    suspect = None
    if verdict.first_slice is not None and verdict.last_slice is not None:
        suspect = (verdict.first_slice, verdict.last_slice)
    return StripData(case or case_key(by_index[last]), cells, verdict, suspect, len(by_index))
