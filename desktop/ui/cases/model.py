"""The case list: one row per case (a DICOM series, a NIfTI volume, a multi-frame file),
and one row per folder of loose single images, with verdicts kept up to date.

Rows follow :class:`~desktop.ui.table.case_counts.CaseCounts`, which recounts only the
cases whose slices changed: each chunk of rows costs the cases it touched, not a pass
over all rows. Loose single images are grouped by folder ("40 images"): 40 JPEGs are
one row, not 40 rows that push the volumes off the list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop.core.cases import Case, CaseKind
from desktop.core.decisions import CaseDecision, case_key
from desktop.core.verdict import CaseVerdict, Verdict
from desktop.ui.table.case_counts import CaseCounts
from desktop.ui.vocabulary import SortRole, class_label

AnyIndex = QModelIndex | QPersistentModelIndex
#: the entry of a row (CaseEntry)
EntryRole = Qt.ItemDataRole.UserRole + 10


class CaseColumn(IntEnum):
    CASE = 0
    KIND = 1
    SLICES = 2
    VERDICT = 3
    CLASS = 4
    RANGE = 5
    TUMOUR = 6
    REVIEWER = 7


HEADERS = {
    CaseColumn.CASE: "Case",
    CaseColumn.KIND: "Kind",
    CaseColumn.SLICES: "Slices",
    CaseColumn.VERDICT: "Verdict",
    CaseColumn.CLASS: "Class",
    CaseColumn.RANGE: "Suspect slices",
    CaseColumn.TUMOUR: "Tumour",
    CaseColumn.REVIEWER: "Reviewer",
}
HEADER_TIPS = {
    CaseColumn.CASE: "The volume file, the series' folder, or the folder of single images",
    CaseColumn.SLICES: "Slices classified (of the slices planned, while a series arrives)",
    CaseColumn.VERDICT: "The case verdict: one rule over the case's slices (see README, Cases)",
    CaseColumn.CLASS: "The suspected tumour class of a suspect case",
    CaseColumn.RANGE: "First to last suspect slice, numbered in anatomical order from 1",
    CaseColumn.TUMOUR: "Slices with a tumour probability at or above the case rule's threshold",
    CaseColumn.REVIEWER: "The reviewer's decision on the case (✓ confirms, ≠ overrides)",
}
KIND_WORDS = {
    CaseKind.DICOM_SERIES: "DICOM series",
    CaseKind.NIFTI_VOLUME: "NIfTI volume",
    CaseKind.MULTIFRAME: "multi-frame",
    CaseKind.IMAGE: "image",
}
VERDICT_TEXT = {
    Verdict.TUMOUR_SUSPECTED: "TUMOUR SUSPECTED",
    Verdict.UNCERTAIN: "uncertain",
    Verdict.ERROR: "error",
    Verdict.NO_TUMOUR: "no tumour",
}
#: ascending sort: suspect cases first, clear ones last
VERDICT_RANK = {
    Verdict.TUMOUR_SUSPECTED: 0,
    Verdict.UNCERTAIN: 1,
    Verdict.ERROR: 2,
    Verdict.NO_TUMOUR: 3,
}
#: (text, background) of the verdict cell: a suspect case stands out at a glance
VERDICT_COLOURS = {
    Verdict.TUMOUR_SUSPECTED: (QColor(255, 255, 255), QColor(176, 32, 48)),
    Verdict.UNCERTAIN: (QColor(92, 64, 0), QColor(255, 236, 179)),
    Verdict.ERROR: (QColor(138, 16, 32), QColor(253, 231, 233)),
    Verdict.NO_TUMOUR: (QColor(30, 100, 50), QColor(225, 243, 230)),
}
AGREE_COLOUR, DISAGREE_COLOUR = QColor(30, 120, 60), QColor(176, 32, 48)


def reviewer_words(d: CaseDecision | None) -> str:
    """The reviewer's case decision in a few words ("" without one)."""
    if d is None:
        return ""
    if d.reviewer_verdict is None:
        return "note ✎"
    if d.reviewer_verdict == Verdict.NO_TUMOUR.value:
        said = "no tumour"
    else:
        said = f"tumour ({class_label(d.reviewer_class)})" if d.reviewer_class else "tumour"
    mark = {True: "✓ ", False: "≠ ", None: ""}[d.agrees]
    return f"{mark}{said}" + (" ✎" if d.note else "")


def range_text(first: int | None, last: int | None, of: int) -> str:
    """Slice numbers as people count them (1-based), e.g. "41-63 of 140"."""
    if first is None or last is None:
        return ""
    span = f"{first + 1}" if first == last else f"{first + 1}–{last + 1}"
    return f"{span} of {of}"


@dataclass
class CaseEntry:
    """One row of the case list: a case, or the loose single images of one folder."""

    key: str
    #: the case keys (of CaseCounts) the row stands for
    members: list[str]
    #: the case (None: a group of single images, or a case the window has no plan for)
    case: Case | None
    kind: CaseKind
    name: str
    #: slices received, the highest slice index + 1, and the slices the plan expects
    slices: int = 0
    extent: int = 0
    expected: int | None = None
    verdict: CaseVerdict | None = None
    #: a group: its cases by verdict
    group_counts: Counter[Verdict] = field(default_factory=Counter)
    #: the case's path (a case the window has no plan for: its first slice's file)
    path: str = ""

    @property
    def is_group(self) -> bool:
        return self.kind is CaseKind.IMAGE

    @property
    def rank(self) -> Verdict | None:
        """The verdict the row sorts and colours by (a group: its most suspect case's)."""
        if not self.is_group:
            return self.verdict.verdict if self.verdict else None
        present = [v for v in VERDICT_RANK if self.group_counts[v]]
        return present[0] if present else None

    @property
    def first_suspect(self) -> int | None:
        return self.verdict.first_slice if self.verdict is not None and not self.is_group else None


def _kind_of(key: str, case: Case | None, counts: CaseCounts) -> CaseKind:
    """The kind from the plan; else guessed from the rows (windows fed without a plan)."""
    if case is not None:
        return case.kind
    rows = counts.results(key)
    if any(r.path.lower().endswith((".nii", ".nii.gz")) for r in rows):
        return CaseKind.NIFTI_VOLUME
    if len({r.path for r in rows}) > 1:
        return CaseKind.DICOM_SERIES
    if any(r.frame or r.slice_index for r in rows):
        return CaseKind.MULTIFRAME
    return CaseKind.IMAGE


def _expected(case: Case | None) -> int | None:
    """The slices a case will have, when the plan knows it (a series, an image)."""
    if case is None:
        return None
    if case.kind is CaseKind.DICOM_SERIES:
        return len(case.files)
    return 1 if case.kind is CaseKind.IMAGE else None


class CaseListModel(QAbstractTableModel):
    """Rows of :class:`CaseEntry` over a :class:`CaseCounts`; updated as slices arrive."""

    def __init__(
        self,
        counts: CaseCounts,
        decision_of: Callable[[CaseEntry], CaseDecision | None] = lambda _e: None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.counts = counts
        self.decision_of = decision_of
        self._entries: list[CaseEntry] = []
        self._row_of: dict[str, int] = {}  # entry key -> row
        self._entry_of_case: dict[str, str] = {}  # case key -> entry key
        self._last: dict[str, Verdict] = {}  # case key -> verdict counted in its group
        #: the plan's cases by id (the worker's ``planned`` signal)
        self.cases: dict[str, Case] = {}
        #: the case being classified now (its slice count is not final)
        self.running: str | None = None
        self.busy = False
        m = counts.model
        # after CaseCounts' own connections: the rows are marked, recount them now
        m.rowsInserted.connect(self._on_inserted)
        m.rowsRemoved.connect(self._refresh)
        m.modelReset.connect(self._on_reset)
        counts.recounted.connect(self._apply)
        self._on_reset()

    # -- feeding ------------------------------------------------------------------------
    def add_cases(self, cases: Iterable[Case]) -> None:
        """The cases a run planned (before their rows arrive)."""
        for c in cases:
            self.cases[c.id] = c

    def set_busy(self, busy: bool) -> None:
        """A run started or ended (while one runs, the last case to get rows is running)."""
        self.busy = busy
        if not busy and self.running is not None:
            key, self.running = self.running, None
            self._changed_rows([self._entry_of_case.get(key, "")])

    def _on_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        if self.busy:
            r = self.counts.model.row_at(last).result
            previous, self.running = self.running, r.case or r.path
            if previous is not None and previous != self.running:
                self._changed_rows([self._entry_of_case.get(previous, "")])
        self._refresh()

    def _on_reset(self) -> None:
        self.beginResetModel()
        self._entries, self._row_of, self._entry_of_case, self._last = [], {}, {}, {}
        self.running = None
        self.endResetModel()
        for key in self.counts.case_keys():  # a model that has rows already: all of them
            self.counts.mark(key)
        self._refresh()

    def _refresh(self, *_: object) -> None:
        self.counts.recount()  # its ``recounted`` brings the changed cases to _apply

    def _apply(self, changed: set[str]) -> None:
        touched: set[str] = set()
        for key in changed:
            touched.add(self._update_case(key))
        self._drop_empty(touched)
        self._changed_rows(touched)

    def _update_case(self, key: str) -> str:
        """Bring one case's entry up to date; the entry's key."""
        verdict = self.counts.verdict(key)
        entry_key = self._entry_of_case.get(key)
        if entry_key is None:
            if verdict is None:
                return ""
            case = self.cases.get(key)
            kind = _kind_of(key, case, self.counts)
            if kind is CaseKind.IMAGE:
                rows = self.counts.results(key)
                folder = str(Path(case.path).parent) if case else str(Path(rows[0].path).parent)
                entry_key = f"images\0{folder}"
                if entry_key not in self._row_of:
                    name = Path(folder).name or folder
                    self._append(CaseEntry(entry_key, [], None, kind, name))
                self._entries[self._row_of[entry_key]].members.append(key)
            else:
                name = case.id if case else key
                path = case.path if case else self.counts.results(key)[0].path
                entry = CaseEntry(key, [key], case, kind, name, expected=_expected(case))
                entry.path = path
                self._append(entry)
                entry_key = key
            self._entry_of_case[key] = entry_key
        entry = self._entries[self._row_of[entry_key]]
        if entry.is_group:
            old = self._last.pop(key, None)
            if old is not None:
                entry.group_counts[old] -= 1
            if verdict is not None:
                entry.group_counts[verdict.verdict] += 1
                self._last[key] = verdict.verdict
            else:
                entry.members.remove(key)
                del self._entry_of_case[key]
            entry.slices = len(entry.members)
        else:
            entry.verdict = verdict
            rows = self.counts.results(key)
            entry.slices = len(rows)
            entry.extent = max((r.slice_index + 1 for r in rows), default=0)
            if verdict is None:
                del self._entry_of_case[key]
        return entry_key

    def _append(self, entry: CaseEntry) -> None:
        n = len(self._entries)
        self.beginInsertRows(QModelIndex(), n, n)
        self._entries.append(entry)
        self._row_of[entry.key] = n
        self.endInsertRows()

    def _drop_empty(self, touched: set[str]) -> None:
        gone = sorted(
            (self._row_of[k] for k in touched if k in self._row_of),
            reverse=True,
        )
        for row in gone:
            e = self._entries[row]
            if (e.is_group and e.members) or (not e.is_group and e.verdict is not None):
                continue
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._entries[row]
            self._row_of = {x.key: i for i, x in enumerate(self._entries)}
            self.endRemoveRows()

    def _changed_rows(self, keys: Iterable[str]) -> None:
        rows = [self._row_of[k] for k in keys if k in self._row_of]
        if rows:
            last = len(CaseColumn) - 1
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), last))

    def decisions_changed(self) -> None:
        """Repaint the reviewer column (after a case decision)."""
        if self._entries:
            col = CaseColumn.REVIEWER
            self.dataChanged.emit(self.index(0, col), self.index(len(self._entries) - 1, col))

    # -- reading ------------------------------------------------------------------------
    def entry_at(self, row: int) -> CaseEntry:
        return self._entries[row]

    def entries(self) -> list[CaseEntry]:
        return list(self._entries)

    def entry_key_of(self, case: str) -> str | None:
        """The row (entry key) a case's slices are shown under."""
        return self._entry_of_case.get(case)

    def entry_of(self, case: str) -> CaseEntry | None:
        """The row a case's slices are shown under."""
        row = self._row_of.get(self._entry_of_case.get(case, ""))
        return self._entries[row] if row is not None else None

    def row_of(self, key: str) -> int | None:
        return self._row_of.get(key)

    # -- Qt API -------------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(CaseColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(CaseColumn):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[CaseColumn(section)]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(CaseColumn(section))
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._entries):
            return None
        e = self._entries[index.row()]
        col = CaseColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(e, col)
        if role == SortRole:
            return self._sort_key(e, col)
        if role == EntryRole:
            return e
        if role in (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole):
            return self._colour(e, col, role == Qt.ItemDataRole.BackgroundRole)
        if (
            role == Qt.ItemDataRole.FontRole
            and col == CaseColumn.VERDICT
            and e.rank is Verdict.TUMOUR_SUSPECTED
        ):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(e, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (
            CaseColumn.SLICES,
            CaseColumn.TUMOUR,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _slices_text(self, e: CaseEntry) -> str:
        if e.is_group:
            return f"{e.slices:,}"
        if e.expected is not None:
            return f"{e.slices:,} / {e.expected:,}" if e.slices < e.expected else f"{e.slices:,}"
        if e.key == self.running:
            return f"{e.slices:,} …"
        return f"{e.slices:,}"

    def _text(self, e: CaseEntry, col: CaseColumn) -> str:
        v = e.verdict
        if col == CaseColumn.CASE:
            return f"{e.slices:,} images in {e.name}" if e.is_group else e.name
        if col == CaseColumn.KIND:
            return "single images" if e.is_group else KIND_WORDS[e.kind]
        if col == CaseColumn.SLICES:
            return self._slices_text(e)
        if e.is_group:
            if col == CaseColumn.VERDICT:
                return self._group_verdict(e)
            return ""
        if v is None:
            return ""
        if col == CaseColumn.VERDICT:
            return VERDICT_TEXT[v.verdict]
        if col == CaseColumn.CLASS:
            return class_label(v.suspected_class) if v.suspected_class else ""
        if col == CaseColumn.RANGE:
            return range_text(v.first_slice, v.last_slice, max(e.extent, e.expected or 0))
        if col == CaseColumn.TUMOUR:
            return f"{v.tumour_slices:,}"
        return reviewer_words(self.decision_of(e))

    @staticmethod
    def _group_verdict(e: CaseEntry) -> str:
        """E.g. "6 of 24 suspected" (the breakdown is in the tooltip)."""
        n = sum(e.group_counts.values())
        for v, word in ((Verdict.TUMOUR_SUSPECTED, "suspected"), (Verdict.UNCERTAIN, "uncertain")):
            if e.group_counts[v]:
                return f"{e.group_counts[v]:,} of {n:,} {word}"
        if e.group_counts[Verdict.ERROR]:
            return f"{e.group_counts[Verdict.ERROR]:,} of {n:,} error"
        return "no tumour" if n else ""

    def _sort_key(self, e: CaseEntry, col: CaseColumn) -> Any:
        if col == CaseColumn.VERDICT:
            rank = VERDICT_RANK[e.rank] if e.rank is not None else 9
            return f"{rank}{int(e.is_group)}{e.name.lower()}"  # groups after cases
        if col in (CaseColumn.SLICES, CaseColumn.TUMOUR):
            if col == CaseColumn.SLICES:
                return float(e.slices)
            return float(e.verdict.tumour_slices) if e.verdict and not e.is_group else -1.0
        if col == CaseColumn.RANGE:
            first = e.first_suspect
            return float(first) if first is not None else float("inf")
        return self._text(e, col).lower()

    def _colour(self, e: CaseEntry, col: CaseColumn, background: bool) -> QColor | None:
        if col == CaseColumn.VERDICT and e.rank is not None:
            if e.is_group and e.rank is not Verdict.TUMOUR_SUSPECTED:
                return None if background else VERDICT_COLOURS[e.rank][1].darker(250)
            text, back = VERDICT_COLOURS[e.rank]
            if e.is_group:  # a group with a suspect image: red text, no red block
                return None if background else back
            return back if background else text
        if col == CaseColumn.REVIEWER and not background:
            d = self.decision_of(e)
            if d is not None and d.agrees is not None:
                return AGREE_COLOUR if d.agrees else DISAGREE_COLOUR
        return None

    def _tooltip(self, e: CaseEntry, col: CaseColumn) -> str | None:
        if col == CaseColumn.CASE:
            return e.case.path if e.case else e.name
        if col == CaseColumn.VERDICT and e.is_group:
            return "\n".join(
                f"{e.group_counts[v]:,} {VERDICT_TEXT[v].lower()}"
                for v in VERDICT_RANK
                if e.group_counts[v]
            )
        if col == CaseColumn.VERDICT and e.verdict is not None:
            return e.verdict.reason
        if col == CaseColumn.REVIEWER:
            d = self.decision_of(e)
            if d is not None:
                return (f"Note: {d.note}\n" if d.note else "") + f"Decided {d.reviewed_at}"
        return None


def entry_case_key(entry: CaseEntry) -> tuple[str, str] | None:
    """The store key of a row's case decision (None: a group of single images)."""
    if entry.is_group:
        return None
    if entry.case is not None:
        return case_key(entry.case)
    return (entry.path, "")  # as the window's cases export names a case without a plan
