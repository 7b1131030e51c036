"""The case list panel above the slice table: the cases, and the reviewer's case decision.

Selecting a case shows only its slices in the table; "All cases" (or Ctrl+Shift+L) shows
every slice again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.core.decisions import CaseDecision
from desktop.core.verdict import Verdict
from desktop.ui.cases.model import (
    CaseColumn,
    CaseEntry,
    CaseListModel,
    EntryRole,
    range_text,
    reviewer_words,
)
from desktop.ui.review.panel import NoteEdit
from desktop.ui.vocabulary import SortRole, class_label

#: the Case column takes the width left (its names are middle-elided)
WIDTHS = {
    CaseColumn.KIND: 102,
    CaseColumn.SLICES: 54,
    CaseColumn.VERDICT: 150,
    CaseColumn.CLASS: 84,
    CaseColumn.RANGE: 98,
    CaseColumn.TUMOUR: 56,
    CaseColumn.REVIEWER: 128,
}


class CaseListProxy(QSortFilterProxyModel):
    """Sorts the case list by :data:`SortRole` (suspect cases first by default)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def entry_at(self, row: int) -> CaseEntry | None:
        value = self.index(row, 0).data(EntryRole)
        return value if isinstance(value, CaseEntry) else None


class VerdictDelegate(QStyledItemDelegate):
    """The verdict cell keeps its colour on the selected row (a suspect case stays red)."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        if index.data(Qt.ItemDataRole.BackgroundRole) is not None:
            option.state &= ~QStyle.StateFlag.State_Selected


class CaseDecisionBar(QFrame):
    """The reviewer's decision on the selected case: confirm or override, with a note."""

    #: (verdict value, class or None)
    verdict_chosen = Signal(str, object)
    confirm_requested = Signal()
    clear_requested = Signal()
    note_committed = Signal(str)
    finished = Signal()

    def __init__(self, class_names: Sequence[str], negative: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._saved_note = ""
        self.state = QLabel()
        self.state.setTextFormat(Qt.TextFormat.RichText)
        self.confirm_button = QPushButton("✓ Confirm verdict (Enter)")
        self.buttons: list[QPushButton] = []
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addWidget(QLabel("Case:"))
        row.addWidget(self.confirm_button)
        for i, name in enumerate(class_names[:9]):
            tumour = name != negative
            text = f"{i + 1} Tumour: {class_label(name)}" if tumour else f"{i + 1} No tumour"
            b = QPushButton(text)
            verdict = Verdict.TUMOUR_SUSPECTED if tumour else Verdict.NO_TUMOUR
            cls = name if tumour else None
            b.clicked.connect(
                lambda _=False, v=verdict.value, c=cls: self.verdict_chosen.emit(v, c)
            )
            b.setToolTip(f"Override: the case is {text[2:].lower()} (key {i + 1})")
            self.buttons.append(b)
            row.addWidget(b)
        self.clear_button = QPushButton("Clear (0)")
        row.addWidget(self.clear_button)
        row.addStretch(1)
        self.note = NoteEdit()
        self.note.setPlaceholderText("Case note (N to edit, Enter to save)")
        self.note.setClearButtonEnabled(True)
        for b in (self.confirm_button, *self.buttons, self.clear_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(3)
        top = QHBoxLayout()
        top.addWidget(self.state, 1)
        top.addWidget(self.note, 1)
        lay.addLayout(top)
        lay.addLayout(row)
        self.confirm_button.clicked.connect(self.confirm_requested)
        self.clear_button.clicked.connect(self.clear_requested)
        self.note.returnPressed.connect(self._commit_note)
        self.note.editingFinished.connect(self._commit_quietly)
        self.note.escaped.connect(self._revert)
        self.show_case(None, None)

    def show_case(
        self,
        entry: CaseEntry | None,
        decision: CaseDecision | None,
        why: str = "",
        keep_note: bool = False,
    ) -> None:
        """Show a case's verdict and decision (``keep_note``: leave the note field alone)."""
        usable = entry is not None and not entry.is_group and entry.verdict is not None and not why
        firm = (
            usable
            and entry is not None
            and entry.verdict is not None
            and (entry.verdict.verdict in (Verdict.TUMOUR_SUSPECTED, Verdict.NO_TUMOUR))
        )
        for w in (*self.buttons, self.note):
            w.setEnabled(usable)
        self.confirm_button.setEnabled(firm)
        self.clear_button.setEnabled(usable and decision is not None)
        if not keep_note:
            self._saved_note = decision.note if decision else ""
            self.note.blockSignals(True)
            self.note.setText(self._saved_note)
            self.note.blockSignals(False)
        if entry is None:
            self.state.setText("<span style='color:#707070'>Select a case to decide on it</span>")
        elif why or entry.is_group or entry.verdict is None:
            text = why or "single images: decide on each slice in the table (keys 1-4)"
            self.state.setText(f"<span style='color:#707070'>{text}</span>")
        else:
            v = entry.verdict
            said = reviewer_words(decision) or "not reviewed"
            model = v.verdict.value.replace("_", " ")
            if v.suspected_class:
                model += f" ({class_label(v.suspected_class)})"
            where = range_text(v.first_slice, v.last_slice, max(entry.extent, entry.expected or 0))
            where = f", slices {where}" if where else ""
            self.state.setText(f"<b>{entry.name}</b>: model {model}{where} · reviewer: {said}")

    def edit_note(self) -> None:
        if self.note.isEnabled():
            self.note.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.note.selectAll()

    def _commit_note(self) -> None:
        self._commit_quietly()
        self.finished.emit()

    def _commit_quietly(self) -> None:
        text = self.note.text().strip()
        if text != self._saved_note and self.note.isEnabled():
            self._saved_note = text
            self.note_committed.emit(text)

    def _revert(self) -> None:
        self.note.blockSignals(True)
        self.note.setText(self._saved_note)
        self.note.blockSignals(False)
        self.finished.emit()


class CasePanel(QWidget):
    """Header ("Cases" and the "All cases" button), the case list, the decision bar."""

    #: the selected row's entry (None: all cases)
    case_selected = Signal(object)

    def __init__(
        self, model: CaseListModel, class_names: Sequence[str], negative: str, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = CaseListProxy(self)
        self.proxy.setSourceModel(model)
        self.title = QLabel("<b>Cases</b>")
        self.all_button = QPushButton("All cases")
        self.all_button.setToolTip("Show the slices of every case in the table (Ctrl+Shift+L)")
        self.all_button.setEnabled(False)
        # no focus: disabling a focused button hands the focus to the list, which would
        # select its first case again
        self.all_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(CaseColumn.VERDICT, Qt.SortOrder.AscendingOrder)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setWordWrap(False)
        # "…_t1ce.nii.gz": a file name's end tells volumes of one patient apart
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setAlternatingRowColors(True)
        self.verdict_delegate = VerdictDelegate(self.view)
        self.view.setItemDelegateForColumn(CaseColumn.VERDICT, self.verdict_delegate)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(CaseColumn.CASE, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        for col, w in WIDTHS.items():
            self.view.setColumnWidth(col, w)
        self.decision = CaseDecisionBar(class_names, negative)
        top = QHBoxLayout()
        top.setContentsMargins(6, 3, 6, 3)
        top.addWidget(self.title, 1)
        top.addWidget(self.all_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.decision)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        self.all_button.clicked.connect(self.show_all)
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            sig.connect(self._update_title)
        model.dataChanged.connect(self._update_title)
        self.decision.finished.connect(lambda: self.view.setFocus(Qt.FocusReason.OtherFocusReason))

    def current_entry(self) -> CaseEntry | None:
        index = self.view.currentIndex()
        return self.proxy.entry_at(index.row()) if index.isValid() else None

    def select_key(self, key: str) -> bool:
        """Select the row of an entry key (False: no such row)."""
        row = self.model.row_of(key)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.view.selectRow(index.row())
        return True

    def show_all(self) -> None:
        self.view.selectionModel().clearSelection()
        self.view.setCurrentIndex(QModelIndex())

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        entry = self.proxy.entry_at(current.row()) if current.isValid() else None
        self.all_button.setEnabled(entry is not None)
        self.case_selected.emit(entry)

    def _update_title(self, *_: object) -> None:
        entries = self.model.entries()
        cases = sum(1 for e in entries if not e.is_group)
        images = sum(e.slices for e in entries if e.is_group)
        suspect = sum(
            1 for e in entries if not e.is_group and e.rank is Verdict.TUMOUR_SUSPECTED
        ) + sum(e.group_counts[Verdict.TUMOUR_SUSPECTED] for e in entries if e.is_group)
        parts = [f"{cases:,} case{'s' if cases != 1 else ''}"] if cases else []
        if images:
            parts.append(f"{images:,} single image{'s' if images != 1 else ''}")
        text = "<b>Cases</b>"
        if parts:
            text += " &nbsp;" + " + ".join(parts)
            colour = "#b02030" if suspect else "#1e6432"
            text += f" &nbsp;<span style='color:{colour}'><b>{suspect:,} suspect</b></span>"
        self.title.setText(text)
